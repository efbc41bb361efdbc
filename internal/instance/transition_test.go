package instance

import (
	"errors"
	"testing"
	"time"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func rec(state string) Record {
	return Record{ID: "i-0123456789abcdef0", State: state, RootDeviceType: "ebs", ShutdownBehavior: ShutdownStop, Changed: t0.Add(-time.Minute)}
}

func TestRequests(t *testing.T) {
	now := t0
	type req func(Record, time.Time) (Record, error)
	stop := func(r Record, now time.Time) (Record, error) { return RequestStop(r, now, false) }
	cases := []struct {
		name   string
		req    req
		in     Record
		want   string // state after, "" when refused
		err    error
		reason *Reason
	}{
		{"stop running", stop, rec(Running), Stopping, nil, &ReasonUserShutdown},
		{"stop stopping", stop, rec(Stopping), Stopping, nil, nil},
		{"stop stopped", stop, rec(Stopped), Stopped, nil, nil},
		{"stop pending", stop, rec(Pending), "", ErrIncorrectState, nil},
		{"stop shutting-down", stop, rec(ShuttingDown), "", ErrIncorrectState, nil},
		{"stop terminated", stop, rec(Terminated), "", ErrIncorrectState, nil},
		{"stop instance-store", stop, func() Record { r := rec(Running); r.RootDeviceType = "instance-store"; return r }(), "", ErrUnsupported, nil},
		{"stop disableApiStop", stop, func() Record { r := rec(Running); r.DisableAPIStop = true; return r }(), "", ErrNotPermitted, nil},
		{"start stopped", RequestStart, rec(Stopped), Pending, nil, &ReasonPending},
		{"start pending", RequestStart, rec(Pending), Pending, nil, nil},
		{"start running", RequestStart, rec(Running), Running, nil, nil},
		{"start stopping", RequestStart, rec(Stopping), "", ErrIncorrectState, nil},
		{"start shutting-down", RequestStart, rec(ShuttingDown), "", ErrIncorrectState, nil},
		{"start terminated", RequestStart, rec(Terminated), "", ErrIncorrectState, nil},
		{"terminate pending", RequestTerminate, rec(Pending), ShuttingDown, nil, &ReasonUserShutdown},
		{"terminate running", RequestTerminate, rec(Running), ShuttingDown, nil, &ReasonUserShutdown},
		{"terminate stopping", RequestTerminate, rec(Stopping), ShuttingDown, nil, &ReasonUserShutdown},
		{"terminate stopped", RequestTerminate, rec(Stopped), ShuttingDown, nil, &ReasonUserShutdown},
		{"terminate shutting-down", RequestTerminate, rec(ShuttingDown), ShuttingDown, nil, nil},
		{"terminate terminated", RequestTerminate, rec(Terminated), Terminated, nil, nil},
		{"terminate protected", RequestTerminate, func() Record { r := rec(Running); r.DisableAPITermination = true; return r }(), "", ErrNotPermitted, nil},
		{"reboot running", RequestReboot, rec(Running), Running, nil, nil},
		{"reboot terminated ignored", RequestReboot, rec(Terminated), Terminated, nil, nil},
		{"reboot stopped", RequestReboot, rec(Stopped), "", ErrIncorrectState, nil},
		{"reboot pending", RequestReboot, rec(Pending), "", ErrIncorrectState, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := tc.req(tc.in, now)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				var se *StateError
				if !errors.As(err, &se) || se.ID != tc.in.ID || se.State != tc.in.State {
					t.Fatalf("err %v is not a StateError of the instance", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out.State != tc.want {
				t.Fatalf("state = %s, want %s", out.State, tc.want)
			}
			if tc.reason != nil && (out.Reason == nil || *out.Reason != *tc.reason) {
				t.Fatalf("reason = %v, want %v", out.Reason, tc.reason)
			}
			if out.State != tc.in.State && !out.Changed.Equal(now) {
				t.Fatalf("changed = %v, want %v", out.Changed, now)
			}
			if out.State == tc.in.State && !out.Changed.Equal(tc.in.Changed) {
				t.Fatal("changed moved without a state change")
			}
		})
	}
}

func TestRequestDetails(t *testing.T) {
	r, _ := RequestStop(rec(Running), t0, true)
	if r.TransitionReason != "User initiated (2025-01-02 03:04:05 GMT)" || !r.ForceStop {
		t.Fatalf("stop: %q force=%v", r.TransitionReason, r.ForceStop)
	}
	r, _ = RequestStop(rec(Stopping), t0, true)
	if !r.ForceStop {
		t.Fatal("force on a stopping instance is kept")
	}
	r, _ = RequestStart(rec(Stopped), t0)
	if !r.LaunchTime.Equal(t0) || r.TransitionReason != "" {
		t.Fatalf("start: launch %v reason %q", r.LaunchTime, r.TransitionReason)
	}
	r, _ = RequestReboot(rec(Running), t0)
	if r.Reboots != 1 || Next(r, t0, false) != Reboot {
		t.Fatalf("reboot: %d %v", r.Reboots, Next(r, t0, false))
	}
	r, _ = RequestReboot(r, t0) // twice before the loop runs: one reboot
	if r.Reboots != 1 {
		t.Fatalf("reboots = %d", r.Reboots)
	}
}

func TestNext(t *testing.T) {
	term := rec(Terminated)
	term.Changed = t0
	reboot := rec(Running)
	reboot.Reboots = 1
	meta := rec(Running)
	meta.MetadataPending = true
	cases := []struct {
		r      Record
		now    time.Time
		verify bool
		want   Action
	}{
		{rec(Pending), t0, false, Launch},
		{rec(Running), t0, false, None},
		{rec(Running), t0, true, Ensure},
		{meta, t0, false, Ensure},
		{reboot, t0, false, Reboot},
		{reboot, t0, true, Reboot},
		{rec(Stopping), t0, false, Stop},
		{rec(Stopped), t0, false, None},
		{rec(Stopped), t0, true, EnsureStop},
		{rec(ShuttingDown), t0, false, Terminate},
		{term, t0, false, None},
		{term, t0.Add(Retention - time.Second), true, None},
		{term, t0.Add(Retention), false, Expire},
	}
	for _, tc := range cases {
		if got := Next(tc.r, tc.now, tc.verify); got != tc.want {
			t.Errorf("Next(%s, +%v, verify=%v) = %v, want %v", tc.r.State, tc.now.Sub(t0), tc.verify, got, tc.want)
		}
	}
	if d := Due(term); !d.Equal(t0.Add(Retention)) {
		t.Errorf("Due(terminated) = %v", d)
	}
	if d := Due(rec(Running)); !d.IsZero() {
		t.Errorf("Due(running) = %v", d)
	}
}

func TestComplete(t *testing.T) {
	now := t0
	cases := []struct {
		name  string
		r     Record
		act   Action
		from  string
		want  string
		wrote bool
	}{
		{"launch", rec(Pending), Launch, Pending, Running, true},
		{"launch overtaken by terminate", rec(ShuttingDown), Launch, Pending, ShuttingDown, false},
		{"stop", rec(Stopping), Stop, Stopping, Stopped, true},
		{"stop overtaken by terminate", rec(ShuttingDown), Stop, Stopping, ShuttingDown, false},
		{"terminate", rec(ShuttingDown), Terminate, ShuttingDown, Terminated, true},
		{"ensure, nothing to record", rec(Running), Ensure, Running, Running, false},
		{"ensure-stop", rec(Stopped), EnsureStop, Stopped, Stopped, false},
		{"reboot", func() Record { r := rec(Running); r.Reboots = 2; r.Rebooted = 1; return r }(), Reboot, Running, Running, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, wrote := Complete(tc.r, tc.act, tc.from, 2, now)
			if out.State != tc.want || wrote != tc.wrote {
				t.Fatalf("got %s wrote=%v, want %s wrote=%v", out.State, wrote, tc.want, tc.wrote)
			}
		})
	}
	resized := rec(Pending)
	resized.VCPUs, resized.MemoryMiB, resized.AppliedVCPUs, resized.AppliedMemoryMiB = 2, 8192, 2, 1024
	if !resized.resized() {
		t.Fatal("a changed memory size needs a resize")
	}
	r, _ := Complete(resized, Launch, Pending, 0, now)
	if !r.FirstBoot.Equal(now) || r.Reason != nil || !r.Changed.Equal(now) {
		t.Fatalf("launch: first boot %v reason %v changed %v", r.FirstBoot, r.Reason, r.Changed)
	}
	if r.AppliedVCPUs != 2 || r.AppliedMemoryMiB != 8192 || r.resized() {
		t.Fatalf("launch records the applied limits: %d, %d", r.AppliedVCPUs, r.AppliedMemoryMiB)
	}
	if f, _ := Fail(resized, Launch, Pending, errors.New("boom"), now); f.AppliedMemoryMiB != 1024 {
		t.Fatal("a failed launch must not record the limits as applied")
	}
	r.State = Pending
	r2, _ := Complete(r, Launch, Pending, 0, now.Add(time.Hour))
	if !r2.FirstBoot.Equal(now) {
		t.Fatal("first boot moved on a restart")
	}
	meta := rec(Running)
	meta.MetadataPending = true
	if r, ok := Complete(meta, Ensure, Running, 0, now); !ok || r.MetadataPending {
		t.Fatal("ensure applies metadata options")
	}
	rb := rec(Running)
	rb.Reboots, rb.Rebooted = 3, 1
	if r, _ := Complete(rb, Reboot, Running, 2, now); r.Rebooted != 2 || Next(r, now, false) != Reboot {
		t.Fatal("a reboot requested during a reboot runs again")
	}
	st := rec(Stopping)
	st.ForceStop = true
	if r, _ := Complete(st, Stop, Stopping, 0, now); r.ForceStop {
		t.Fatal("force stop cleared after the stop")
	}
}

func TestFail(t *testing.T) {
	boom := errors.New("boom")
	r := rec(Pending)
	for i := 1; i < MaxLaunchAttempts; i++ {
		var ok bool
		r, ok = Fail(r, Launch, Pending, boom, t0)
		if !ok || r.State != Pending || r.Failures != i || !r.FailedAt.Equal(t0) {
			t.Fatalf("attempt %d: %+v", i, r)
		}
		if d := Due(r); !d.Equal(t0.Add(Backoff(i))) {
			t.Fatalf("due = %v", d)
		}
	}
	r, _ = Fail(r, Launch, Pending, boom, t0)
	if r.State != ShuttingDown || r.Reason == nil || *r.Reason != ReasonLaunchError || r.Failures != 0 {
		t.Fatalf("new instance after %d failures: %+v", MaxLaunchAttempts, r)
	}
	// A restart that keeps failing returns to stopped: its disk is kept.
	r = rec(Pending)
	r.FirstBoot = t0.Add(-time.Hour)
	for range MaxLaunchAttempts {
		r, _ = Fail(r, Launch, Pending, boom, t0)
	}
	if r.State != Stopped || *r.Reason != ReasonLaunchError {
		t.Fatalf("restart: %+v", r)
	}
	// Other actions retry forever.
	r = rec(ShuttingDown)
	for range 10 {
		r, _ = Fail(r, Terminate, ShuttingDown, boom, t0)
	}
	if r.State != ShuttingDown || r.Failures != 10 || r.LastErr != "boom" {
		t.Fatalf("terminate: %+v", r)
	}
	if _, ok := Fail(rec(Running), Launch, Pending, boom, t0); ok {
		t.Fatal("failure of a superseded action recorded")
	}
	if Backoff(1) != time.Second || Backoff(3) != 4*time.Second || Backoff(20) != time.Minute {
		t.Fatal("backoff")
	}
}

func TestExitedAndVanished(t *testing.T) {
	r, ok := Exited(rec(Running), t0)
	if !ok || r.State != Stopping || *r.Reason != ReasonInstanceShutdown {
		t.Fatalf("exit with stop behaviour: %+v", r)
	}
	if r.TransitionReason != "Client.InstanceInitiatedShutdown: Instance initiated shutdown (2025-01-02 03:04:05 GMT)" {
		t.Fatalf("transition reason %q", r.TransitionReason)
	}
	term := rec(Running)
	term.ShutdownBehavior = ShutdownTerminate
	if r, ok := Exited(term, t0); !ok || r.State != ShuttingDown {
		t.Fatalf("exit with terminate behaviour: %+v", r)
	}
	for _, s := range []string{Pending, Stopping, Stopped, ShuttingDown, Terminated} {
		if _, ok := Exited(rec(s), t0); ok {
			t.Errorf("exit in %s recorded", s)
		}
	}
	rb := rec(Running)
	rb.Reboots = 1
	if _, ok := Exited(rb, t0); ok {
		t.Error("exit during a reboot recorded")
	}

	for _, s := range []string{Running, Stopping, Stopped} {
		r, ok := Vanished(rec(s), t0)
		if !ok || r.State != ShuttingDown || *r.Reason != ReasonVanished {
			t.Errorf("vanished in %s: %+v", s, r)
		}
	}
	if _, ok := Vanished(rec(Pending), t0); ok {
		t.Error("a new instance's missing container is created, not vanished")
	}
	p := rec(Pending)
	p.FirstBoot = t0
	if r, ok := Vanished(p, t0); !ok || r.State != ShuttingDown {
		t.Error("a restarting instance's missing container is vanished")
	}
	for _, s := range []string{ShuttingDown, Terminated} {
		if _, ok := Vanished(rec(s), t0); ok {
			t.Errorf("vanished in %s recorded", s)
		}
	}
}

func TestNames(t *testing.T) {
	if Hostname("172.31.5.9") != "ip-172-31-5-9" {
		t.Fatal(Hostname("172.31.5.9"))
	}
	if DNSName("172.31.5.9", "us-east-1") != "ip-172-31-5-9.ec2.internal" || DNSName("172.31.5.9", "eu-west-1") != "ip-172-31-5-9.eu-west-1.compute.internal" {
		t.Fatal("dns names")
	}
	for s, c := range map[string]int32{Pending: 0, Running: 16, ShuttingDown: 32, Terminated: 48, Stopping: 64, Stopped: 80} {
		if StateCode(s) != c {
			t.Errorf("code of %s", s)
		}
	}
}
