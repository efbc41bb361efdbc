package instance_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/blob"
	"github.com/kiln-dev/kiln/internal/clock"
	"github.com/kiln-dev/kiln/internal/instance"
	"github.com/kiln-dev/kiln/internal/instance/insttest"
	"github.com/kiln-dev/kiln/internal/runtime"
	rfake "github.com/kiln-dev/kiln/internal/runtime/fake"
	"github.com/kiln-dev/kiln/internal/store"
	"github.com/kiln-dev/kiln/internal/store/sqlite"
)

// memBlobs is a one-layer blob store for every region.
type memBlobs struct{ data map[blob.Digest][]byte }

func (m memBlobs) Region(string) (blob.Store, error) { return m, nil }
func (m memBlobs) Put(context.Context, io.Reader, blob.Digest) (blob.Desc, error) {
	return blob.Desc{}, errors.New("read-only")
}
func (m memBlobs) Open(_ context.Context, d blob.Digest) (io.ReadCloser, error) {
	b, ok := m.data[d]
	if !ok {
		return nil, blob.ErrNotFound
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}
func (m memBlobs) Stat(_ context.Context, d blob.Digest) (blob.Desc, error) {
	b, ok := m.data[d]
	if !ok {
		return blob.Desc{}, blob.ErrNotFound
	}
	return blob.Desc{Digest: d, Size: int64(len(b))}, nil
}
func (m memBlobs) Delete(context.Context, blob.Digest) error         { return errors.New("read-only") }
func (m memBlobs) Walk(context.Context, func(blob.Desc) error) error { return nil }

type harness struct {
	t     *testing.T
	st    store.Store
	rt    *insttest.Runtime
	nn    *insttest.Network
	clk   *clock.Fake
	c     *instance.Controller
	layer blob.Desc
	blobs memBlobs
	dir   string
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	layer := []byte("layer bytes")
	sum := sha256.Sum256(layer)
	d := blob.Digest("sha256:" + hex.EncodeToString(sum[:]))
	h := &harness{
		t: t, st: sqlite.OpenTemp(t), rt: insttest.NewRuntime(), nn: insttest.NewNetwork(),
		clk:   clock.NewFake(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)),
		layer: blob.Desc{Digest: d, Size: int64(len(layer))},
		blobs: memBlobs{data: map[blob.Digest][]byte{d: layer}},
		dir:   t.TempDir(),
	}
	h.start()
	return h
}

// start (re)starts the controller over the same store, runtime and network:
// a kiln restart.
func (h *harness) start() {
	h.t.Helper()
	if h.c != nil {
		h.c.Close()
	}
	c, err := instance.New(instance.Config{
		Store: h.st, Runtime: h.rt, Network: h.nn, Blobs: h.blobs, Clock: h.clk,
		DataDir: h.dir, InitPath: "/usr/bin/kiln", Tick: time.Hour,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		h.t.Fatal(err)
	}
	h.c = c
	h.t.Cleanup(func() { c.Close() })
	h.idle()
}

func (h *harness) idle() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.c.Idle(ctx); err != nil {
		h.t.Fatal("controller never idle:", err)
	}
}

func key(id string) store.Key {
	return store.Key{Account: "111111111111", Region: "us-east-1", Kind: instance.Kind, ID: id}
}

// launch stores a pending instance with a lease, as RunInstances does.
func (h *harness) launch(id string, mut func(*instance.Record)) instance.Record {
	h.t.Helper()
	now := h.clk.Now()
	r := instance.Record{
		ID: id, Account: "111111111111", Region: "us-east-1", ReservationID: "r-1", ImageID: "ami-1",
		Layers: blob.Plain(h.layer), Init: "kiln", InstanceType: "t3.micro", VCPUs: 2, MemoryMiB: 1024,
		SubnetCIDR: "172.31.0.0/20", MAC: "0e:00:00:00:00:01", State: instance.Pending, RootDeviceType: "ebs",
		ShutdownBehavior: instance.ShutdownStop, Created: now, LaunchTime: now, Changed: now,
	}
	if mut != nil {
		mut(&r)
	}
	err := h.st.Update(context.Background(), func(tx store.Tx) error {
		a, err := instance.AllocateAddress(tx, netip.MustParsePrefix(r.SubnetCIDR), netip.Addr{}, instance.Lease{Instance: id, Account: r.Account, Region: r.Region})
		if err != nil {
			return err
		}
		r.PrivateIP = a.String()
		return store.CreateJSON(tx, key(id), "", r)
	})
	if err != nil {
		h.t.Fatal(err)
	}
	h.c.Kick(key(id))
	h.idle()
	return h.get(id)
}

func (h *harness) get(id string) instance.Record {
	h.t.Helper()
	var r instance.Record
	err := h.st.View(context.Background(), func(tx store.Tx) error {
		var err error
		r, err = store.GetJSON[instance.Record](tx, key(id))
		return err
	})
	if err != nil {
		h.t.Fatalf("get %s: %v", id, err)
	}
	return r
}

func (h *harness) exists(id string) bool {
	err := h.st.View(context.Background(), func(tx store.Tx) error { _, err := tx.Get(key(id)); return err })
	return err == nil
}

// request applies an API request to the stored record and kicks the loop.
func (h *harness) request(id string, fn func(instance.Record, time.Time) (instance.Record, error)) {
	h.t.Helper()
	err := h.st.Update(context.Background(), func(tx store.Tx) error {
		r, err := store.GetJSON[instance.Record](tx, key(id))
		if err != nil {
			return err
		}
		r, err = fn(r, h.clk.Now())
		if err != nil {
			return err
		}
		r.Version++
		return store.PutJSON(tx, key(id), "", r)
	})
	if err != nil {
		h.t.Fatal(err)
	}
	h.c.Kick(key(id))
	h.idle()
}

func (h *harness) leases() map[string]instance.Lease {
	out := map[string]instance.Lease{}
	_ = h.st.View(context.Background(), func(tx store.Tx) error {
		ls, err := store.ListJSON[instance.Lease](tx, store.Query{Kind: instance.LeaseKind})
		for _, l := range ls {
			out[l.Instance] = l
		}
		return err
	})
	return out
}

func wantState(t *testing.T, r instance.Record, state string) {
	t.Helper()
	if r.State != state {
		t.Fatalf("%s: state %s (last error %q), want %s", r.ID, r.State, r.LastErr, state)
	}
}

func TestLifecycle(t *testing.T) {
	h := newHarness(t)
	id := "i-00000000000000001"
	r := h.launch(id, nil)
	wantState(t, r, instance.Running)
	if !r.FirstBoot.Equal(h.clk.Now()) || r.Reason != nil {
		t.Fatalf("first boot %v reason %v", r.FirstBoot, r.Reason)
	}
	spec, ok := h.rt.Spec(id)
	if !ok || !h.rt.Running(id) {
		t.Fatal("no running container")
	}
	if spec.Hostname != instance.Hostname(r.PrivateIP) || spec.VCPUs != 2 || spec.MemoryMiB != 1024 ||
		spec.InitPath != "/usr/bin/kiln" || spec.ConsolePath != h.c.ConsolePath(id) ||
		spec.NetNSPath != "/var/run/netns/kiln-"+id || spec.Labels["kiln.instance-id"] != id ||
		spec.Labels["kiln.account"] != "111111111111" || len(spec.Layers) != 1 || spec.Layers[0].Digest != h.layer.Digest {
		t.Fatalf("spec %+v", spec)
	}
	att, ok := h.nn.Attachment(id)
	if !ok || att.Address.String() != r.PrivateIP+"/20" || att.MAC.String() != r.MAC {
		t.Fatalf("attachment %+v", att)
	}
	if len(h.nn.Subnets) != 3 {
		t.Fatalf("bridge subnets %v", h.nn.Subnets)
	}

	h.request(id, func(r instance.Record, now time.Time) (instance.Record, error) {
		return instance.RequestStop(r, now, false)
	})
	r = h.get(id)
	wantState(t, r, instance.Stopped)
	if h.rt.Running(id) || !h.rt.Exists(id) {
		t.Fatal("stop must end the task and keep the container (root disk)")
	}
	if _, ok := h.nn.Attachment(id); !ok || h.leases()[id].Instance != id {
		t.Fatal("a stopped instance keeps its address")
	}

	h.clk.Advance(time.Minute)
	h.request(id, instance.RequestStart)
	r = h.get(id)
	wantState(t, r, instance.Running)
	if !h.rt.Running(id) || !r.LaunchTime.Equal(h.clk.Now()) {
		t.Fatal("start boots again with a new launch time")
	}

	h.rt.Calls = nil
	h.request(id, instance.RequestReboot)
	r = h.get(id)
	wantState(t, r, instance.Running)
	if r.Rebooted != 1 || !h.rt.Running(id) || len(h.rt.Calls) < 2 {
		t.Fatalf("reboot: rebooted=%d calls=%v", r.Rebooted, h.rt.Calls)
	}

	h.request(id, instance.RequestTerminate)
	r = h.get(id)
	wantState(t, r, instance.Terminated)
	if h.rt.Exists(id) {
		t.Fatal("terminate deletes the container")
	}
	if _, ok := h.nn.Attachment(id); ok {
		t.Fatal("terminate detaches")
	}
	if _, ok := h.leases()[id]; ok {
		t.Fatal("terminate releases the address")
	}

	// Terminated instances stay an hour.
	h.clk.Advance(instance.Retention - time.Second)
	h.c.Tick()
	h.idle()
	if !h.exists(id) {
		t.Fatal("expired too early")
	}
	h.clk.Advance(time.Second)
	h.c.Tick()
	h.idle()
	if h.exists(id) {
		t.Fatal("terminated record kept past an hour")
	}
}

func TestInstanceInitiatedShutdown(t *testing.T) {
	h := newHarness(t)
	a := h.launch("i-0000000000000000a", nil)
	b := h.launch("i-0000000000000000b", func(r *instance.Record) { r.ShutdownBehavior = instance.ShutdownTerminate })
	h.rt.Shutdown(a.ID, 0)
	h.rt.Shutdown(b.ID, 0)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && (h.get(a.ID).State != instance.Stopped || h.get(b.ID).State != instance.Terminated) {
		time.Sleep(2 * time.Millisecond)
		h.idle()
	}
	ra, rb := h.get(a.ID), h.get(b.ID)
	wantState(t, ra, instance.Stopped)
	wantState(t, rb, instance.Terminated)
	if *ra.Reason != instance.ReasonInstanceShutdown || *rb.Reason != instance.ReasonInstanceShutdown {
		t.Fatalf("reasons %v %v", ra.Reason, rb.Reason)
	}
	if h.rt.Exists(b.ID) || !h.rt.Exists(a.ID) {
		t.Fatal("terminate behaviour deletes, stop behaviour keeps")
	}
	// A stop by the user is not an instance-initiated shutdown.
	c := h.launch("i-0000000000000000c", nil)
	h.request(c.ID, func(r instance.Record, now time.Time) (instance.Record, error) {
		return instance.RequestStop(r, now, true)
	})
	if r := h.get(c.ID); *r.Reason != instance.ReasonUserShutdown {
		t.Fatalf("reason %v", r.Reason)
	}
}

func TestLaunchFailures(t *testing.T) {
	h := newHarness(t)
	boom := errors.New("boom")
	// One failure: retried after the backoff, then runs.
	h.rt.FailNext("start", boom)
	r := h.launch("i-0000000000000000d", nil)
	wantState(t, r, instance.Pending)
	if r.Failures != 1 || h.rt.Exists(r.ID) {
		t.Fatalf("failures %d; rollback must delete the new container", r.Failures)
	}
	if _, ok := h.nn.Attachment(r.ID); ok {
		t.Fatal("rollback must detach")
	}
	h.clk.Advance(instance.Backoff(1))
	h.c.Tick()
	h.idle()
	wantState(t, h.get(r.ID), instance.Running)

	// Persistent failure: the new instance terminates with
	// Server.InternalError and leaves nothing behind.
	for range instance.MaxLaunchAttempts {
		h.rt.FailNext("create", boom)
	}
	r = h.launch("i-0000000000000000e", nil)
	for i := 0; i < instance.MaxLaunchAttempts && h.get(r.ID).State == instance.Pending; i++ {
		h.clk.Advance(time.Minute)
		h.c.Tick()
		h.idle()
	}
	r = h.get(r.ID)
	wantState(t, r, instance.Terminated)
	if *r.Reason != instance.ReasonLaunchError || h.rt.Exists(r.ID) {
		t.Fatalf("reason %v", r.Reason)
	}
	if _, ok := h.leases()[r.ID]; ok {
		t.Fatal("lease kept")
	}
	// A failing terminate is retried until it works.
	h.nn.FailNext("detach", boom)
	h.request("i-0000000000000000d", instance.RequestTerminate)
	wantState(t, h.get("i-0000000000000000d"), instance.ShuttingDown)
	h.clk.Advance(time.Second)
	h.c.Tick()
	h.idle()
	wantState(t, h.get("i-0000000000000000d"), instance.Terminated)
}

func TestReconcileAfterCrash(t *testing.T) {
	h := newHarness(t)
	running := h.launch("i-00000000000000010", nil)   // keeps running across the restart
	killed := h.launch("i-00000000000000011", nil)    // its task ended while kiln was away
	stopped := h.launch("i-00000000000000012", nil)   // stopped, container kept
	vanished := h.launch("i-00000000000000013", nil)  // container wiped while kiln was away
	terminate := h.launch("i-00000000000000014", nil) // kiln died mid-terminate
	h.request(stopped.ID, func(r instance.Record, now time.Time) (instance.Record, error) {
		return instance.RequestStop(r, now, false)
	})
	h.c.Close() // kill -9: the loop is gone, the runtime keeps running

	// Mid-terminate: the record says shutting-down, the container is
	// already deleted, the attachment not yet.
	_ = h.st.Update(context.Background(), func(tx store.Tx) error {
		r, _ := store.GetJSON[instance.Record](tx, key(terminate.ID))
		r, _ = instance.RequestTerminate(r, h.clk.Now())
		return store.PutJSON(tx, key(terminate.ID), "", r)
	})
	_ = h.rt.Delete(context.Background(), terminate.ID)
	h.rt.Kill(killed.ID)
	h.rt.Forget(vanished.ID)
	h.rt.Inject("i-000000000000000ff", true) // launched, record never committed
	h.nn.Inject("i-000000000000000fe")
	_ = h.st.Update(context.Background(), func(tx store.Tx) error {
		_, err := instance.AllocateAddress(tx, netip.MustParsePrefix("172.31.0.0/20"), netip.MustParseAddr("172.31.9.9"), instance.Lease{Instance: "i-000000000000000fd", Account: "111111111111", Region: "us-east-1"})
		return err
	})
	h.rt.Calls = nil

	h.start()
	h.idle()

	wantState(t, h.get(running.ID), instance.Running)
	for _, c := range h.rt.Calls {
		if c == "start "+running.ID || c == "stop "+running.ID || c == "create "+running.ID {
			t.Fatalf("a running instance was touched: %v", h.rt.Calls)
		}
	}
	if !h.rt.Running(running.ID) {
		t.Fatal("running instance not adopted")
	}
	wantState(t, h.get(killed.ID), instance.Running)
	if !h.rt.Running(killed.ID) {
		t.Fatal("desired running: booted again")
	}
	wantState(t, h.get(stopped.ID), instance.Stopped)
	if h.rt.Running(stopped.ID) {
		t.Fatal("stopped instance started")
	}
	v := h.get(vanished.ID)
	wantState(t, v, instance.Terminated)
	if *v.Reason != instance.ReasonVanished {
		t.Fatalf("vanished reason %v", v.Reason)
	}
	wantState(t, h.get(terminate.ID), instance.Terminated)
	if _, ok := h.nn.Attachment(terminate.ID); ok {
		t.Fatal("mid-terminate attachment left")
	}
	if h.rt.Exists("i-000000000000000ff") {
		t.Fatal("orphan container left")
	}
	if _, ok := h.nn.Attachment("i-000000000000000fe"); ok {
		t.Fatal("orphan attachment left")
	}
	ls := h.leases()
	if _, ok := ls["i-000000000000000fd"]; ok {
		t.Fatal("orphan lease left")
	}
	if len(ls) != 3 {
		t.Fatalf("leases %v, want those of the running, killed and stopped instances", ls)
	}
	// The adopted instance's exit is watched again.
	h.rt.Shutdown(running.ID, 0)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && h.get(running.ID).State != instance.Stopped {
		time.Sleep(2 * time.Millisecond)
	}
	wantState(t, h.get(running.ID), instance.Stopped)
}

func TestReconcileMidLaunch(t *testing.T) {
	h := newHarness(t)
	h.c.Close() // kill -9 after Create, before Start
	id := "i-00000000000000020"
	h.rt.Inject(id, false)
	r := h.launch(id, nil) // the kick reaches no loop: the record just commits
	wantState(t, r, instance.Pending)
	h.rt.Calls = nil
	h.start()
	wantState(t, h.get(id), instance.Running)
	for _, c := range h.rt.Calls {
		if c == "create "+id {
			t.Fatal("the existing container is reused")
		}
	}
	if !h.rt.Running(id) {
		t.Fatal("not started")
	}
}

func TestAddressesUnique(t *testing.T) {
	st := sqlite.OpenTemp(t)
	seen := map[string]bool{}
	sn := netip.MustParsePrefix("172.31.0.0/28") // 11 usable addresses
	for i := range 11 {
		err := st.Update(context.Background(), func(tx store.Tx) error {
			a, err := instance.AllocateAddress(tx, sn, netip.Addr{}, instance.Lease{Instance: "i-" + string(rune('a'+i))})
			if err != nil {
				return err
			}
			if seen[a.String()] || !sn.Contains(a) || a.As4()[3] < 4 || a.As4()[3] == 15 {
				t.Errorf("address %s (seen %v)", a, seen[a.String()])
			}
			seen[a.String()] = true
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	err := st.Update(context.Background(), func(tx store.Tx) error {
		_, err := instance.AllocateAddress(tx, sn, netip.Addr{}, instance.Lease{Instance: "i-full"})
		return err
	})
	if !errors.Is(err, instance.ErrNoAddress) {
		t.Fatalf("full subnet: %v", err)
	}
	err = st.Update(context.Background(), func(tx store.Tx) error {
		for ip := range seen {
			_, err := instance.AllocateAddress(tx, sn, netip.MustParseAddr(ip), instance.Lease{Instance: "i-x"})
			return err
		}
		return nil
	})
	if !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("taken address: %v", err)
	}
}

// TestWithRuntimeFake runs the lifecycle against the shared scriptable
// runtime fake (internal/runtime/fake), whose Exited channels close on a
// stop, as the containerd runtime's do.
func TestWithRuntimeFake(t *testing.T) {
	st := sqlite.OpenTemp(t)
	rt := rfake.New()
	nn := insttest.NewNetwork()
	clk := clock.NewFake(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC))
	base := newHarness(t) // for its layer and blobs
	c, err := instance.New(instance.Config{Store: st, Runtime: rt, Network: nn, Blobs: base.blobs, Clock: clk, DataDir: t.TempDir(), InitPath: "/kiln", Tick: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h := &harness{t: t, st: st, clk: clk, c: c, nn: nn, layer: base.layer, blobs: base.blobs}
	id := "i-00000000000000030"
	wantState(t, h.launch(id, nil), instance.Running)
	h.request(id, func(r instance.Record, now time.Time) (instance.Record, error) {
		return instance.RequestStop(r, now, false)
	})
	wantState(t, h.get(id), instance.Stopped)
	h.request(id, instance.RequestStart)
	wantState(t, h.get(id), instance.Running)
	h.request(id, instance.RequestReboot)
	wantState(t, h.get(id), instance.Running)
	if rt.Boots(id) != 3 {
		t.Fatalf("boots %d, want 3 (launch, start, reboot)", rt.Boots(id))
	}
	if err := rt.Exit(id, 0); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && h.get(id).State != instance.Stopped {
		time.Sleep(2 * time.Millisecond)
	}
	r := h.get(id)
	wantState(t, r, instance.Stopped)
	if *r.Reason != instance.ReasonInstanceShutdown {
		t.Fatalf("reason %v", r.Reason)
	}
	h.request(id, instance.RequestTerminate)
	wantState(t, h.get(id), instance.Terminated)
	if _, err := rt.Status(context.Background(), id); err == nil {
		t.Fatal("container left")
	}
}

// noResizer hides the runtime's Resize (a runtime without runtime.Resizer).
type noResizer struct{ runtime.Runtime }

// TestResizeOnStart: an instance type changed while stopped reaches the
// container before the next boot; unchanged starts do not resize.
func TestResizeOnStart(t *testing.T) {
	h := newHarness(t)
	id := "i-00000000000000020"
	r := h.launch(id, nil)
	wantState(t, r, instance.Running)
	if r.AppliedVCPUs != 2 || r.AppliedMemoryMiB != 1024 {
		t.Fatalf("applied limits after launch: %d, %d", r.AppliedVCPUs, r.AppliedMemoryMiB)
	}
	if slices.Contains(h.rt.Calls, "resize "+id) {
		t.Fatal("a new container is created with its limits, not resized")
	}
	stop := func(r instance.Record, now time.Time) (instance.Record, error) {
		return instance.RequestStop(r, now, false)
	}
	// modify is ModifyInstanceAttribute InstanceType (stopped only).
	modify := func(vcpus int, mib int64) func(instance.Record, time.Time) (instance.Record, error) {
		return func(r instance.Record, _ time.Time) (instance.Record, error) {
			if r.State != instance.Stopped {
				t.Fatalf("modify in state %s", r.State)
			}
			r.InstanceType, r.VCPUs, r.MemoryMiB = "t3.other", vcpus, mib
			return r, nil
		}
	}
	resizedBeforeStart := func() bool {
		ri, si := slices.Index(h.rt.Calls, "resize "+id), slices.Index(h.rt.Calls, "start "+id)
		return ri >= 0 && si > ri
	}

	tests := []struct {
		name       string
		vcpus      int
		mib        int64
		failResize bool
		wantResize bool
	}{
		{"type changed", 2, 8192, false, true},
		{"unchanged", 2, 8192, false, false},
		{"resize fails then retried", 4, 16384, true, true},
		{"back to the first type", 2, 1024, false, true},
	}
	for _, tc := range tests {
		h.request(id, stop)
		wantState(t, h.get(id), instance.Stopped)
		h.request(id, modify(tc.vcpus, tc.mib))
		h.rt.Calls = nil
		if tc.failResize {
			h.rt.FailNext("resize", errors.New("boom"))
		}
		h.request(id, instance.RequestStart)
		if tc.failResize {
			r := h.get(id)
			wantState(t, r, instance.Pending)
			if r.Failures != 1 || r.AppliedMemoryMiB == tc.mib || h.rt.Running(id) {
				t.Fatalf("%s: failed resize: failures %d applied %d running %v", tc.name, r.Failures, r.AppliedMemoryMiB, h.rt.Running(id))
			}
			if !h.rt.Exists(id) {
				t.Fatalf("%s: a failed resize must keep the booted container", tc.name)
			}
			h.rt.Calls = nil
			h.clk.Advance(instance.Backoff(1))
			h.c.Tick()
			h.idle()
		}
		r := h.get(id)
		wantState(t, r, instance.Running)
		spec, _ := h.rt.Spec(id)
		if spec.VCPUs != tc.vcpus || spec.MemoryMiB != tc.mib {
			t.Fatalf("%s: container limits %d, %d; want %d, %d", tc.name, spec.VCPUs, spec.MemoryMiB, tc.vcpus, tc.mib)
		}
		if r.AppliedVCPUs != tc.vcpus || r.AppliedMemoryMiB != tc.mib {
			t.Fatalf("%s: applied %d, %d", tc.name, r.AppliedVCPUs, r.AppliedMemoryMiB)
		}
		if got := slices.Contains(h.rt.Calls, "resize "+id); got != tc.wantResize || (got && !resizedBeforeStart()) {
			t.Fatalf("%s: calls %v (want resize: %v, before start)", tc.name, h.rt.Calls, tc.wantResize)
		}
		if slices.Contains(h.rt.Calls, "create "+id) {
			t.Fatalf("%s: a booted container must never be re-created: %v", tc.name, h.rt.Calls)
		}
	}

	// A record from before the applied limits were kept resizes once, on
	// its next boot (here a reboot: the task is stopped first).
	h.request(id, func(r instance.Record, _ time.Time) (instance.Record, error) {
		r.AppliedVCPUs, r.AppliedMemoryMiB = 0, 0
		return r, nil
	})
	h.rt.Calls = nil
	h.request(id, instance.RequestReboot)
	if r := h.get(id); r.Rebooted != 1 || r.AppliedVCPUs != 2 || r.AppliedMemoryMiB != 1024 || !resizedBeforeStart() {
		t.Fatalf("legacy reboot: applied %d, %d, calls %v", r.AppliedVCPUs, r.AppliedMemoryMiB, h.rt.Calls)
	}

	// A runtime that cannot resize: the start still succeeds (old limits).
	h.c.Close()
	c, err := instance.New(instance.Config{
		Store: h.st, Runtime: noResizer{h.rt}, Network: h.nn, Blobs: h.blobs, Clock: h.clk,
		DataDir: h.dir, InitPath: "/usr/bin/kiln", Tick: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	h.c = c
	h.idle()
	h.request(id, stop)
	h.request(id, modify(8, 32768))
	h.rt.Calls = nil
	h.request(id, instance.RequestStart)
	wantState(t, h.get(id), instance.Running)
	if spec, _ := h.rt.Spec(id); spec.MemoryMiB != 1024 || slices.Contains(h.rt.Calls, "resize "+id) {
		t.Fatalf("without Resizer: spec %d MiB, calls %v", spec.MemoryMiB, h.rt.Calls)
	}
}
