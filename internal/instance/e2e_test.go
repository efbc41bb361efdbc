package instance_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/blob"
	"github.com/kiln-dev/kiln/internal/clock"
	"github.com/kiln-dev/kiln/internal/instance"
	"github.com/kiln-dev/kiln/internal/netns"
	"github.com/kiln-dev/kiln/internal/runtime"
	"github.com/kiln-dev/kiln/internal/runtime/containerd"
	"github.com/kiln-dev/kiln/internal/runtime/runtimetest"
	"github.com/kiln-dev/kiln/internal/store"
	"github.com/kiln-dev/kiln/internal/store/sqlite"
)

// TestEndToEnd drives a real instance with real containerd, runc and
// network namespaces: launch, reach its web server from the host, stop,
// start, a controller restart that must not touch it, terminate.
func TestEndToEnd(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("precondition: needs root to run containerd, runc and network namespaces")
	}
	for _, bin := range []string{"containerd", "runc", "containerd-shim-runc-v2", "nft"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("precondition: %s not installed", bin)
		}
	}
	if _, err := os.Stat(runtimetest.BusyboxPath); err != nil {
		t.Skip("precondition: /bin/busybox missing (apt-get install busybox-static)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	dir, err := os.MkdirTemp("", "kie")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	rt, err := containerd.New(ctx, containerd.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if list, err := rt.List(context.Background()); err == nil {
			for _, s := range list {
				_ = rt.Delete(context.Background(), s.ID)
			}
		}
		pid := rt.DaemonPid()
		rt.Close()
		if pid > 0 {
			_ = syscall.Kill(pid, syscall.SIGTERM)
			time.Sleep(200 * time.Millisecond)
		}
	}()
	var rb [3]byte
	_, _ = rand.Read(rb[:])
	tag := "ki" + hex.EncodeToString(rb[:])
	nn, err := netns.New(netns.Options{Bridge: tag, Table: tag, Prefix: tag + "-"})
	if err != nil {
		t.Fatal(err)
	}
	defer nn.Teardown(context.Background())
	// A subnet of its own, so that a kiln running on this host (kiln0 with
	// 172.31.0.0/20) is not disturbed.
	subnet := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 213, rb[0], 0}), 24)

	layer, digest, err := runtimetest.BusyboxLayer("")
	if err != nil {
		t.Fatal(err)
	}
	blobs := memBlobs{data: map[blob.Digest][]byte{digest: layer}}
	st := sqlite.OpenTemp(t)
	clk := clock.Real{}
	newController := func() *instance.Controller {
		c, err := instance.New(instance.Config{
			Store: st, Runtime: rt, Network: nn, Blobs: blobs, Clock: clk, DataDir: dir,
			InitPath: runtimetest.BusyboxPath, Subnets: []netip.Prefix{subnet}, StopGrace: 2 * time.Second,
			InitArgs: []string{"/bin/sh", "-c",
				`echo booted $(hostname); mkdir -p /www; echo hello from $(hostname) > /www/index.html; exec httpd -f -p 80 -h /www`},
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := newController()
	defer func() { c.Close() }()

	id := "i-0e2e" + hex.EncodeToString(rb[:]) + "0000000"
	k := store.Key{Account: "111111111111", Region: "us-east-1", Kind: instance.Kind, ID: id}
	now := clk.Now()
	r := instance.Record{
		ID: id, Account: k.Account, Region: k.Region, ReservationID: "r-1", ImageID: "ami-1",
		Layers: blob.Plain(blob.Desc{Digest: digest, Size: int64(len(layer))}), Init: "kiln", InstanceType: "t3.micro", VCPUs: 2, MemoryMiB: 256,
		SubnetCIDR: subnet.String(), MAC: "0e:00:00:00:e2:e2", State: instance.Pending, RootDeviceType: "ebs",
		ShutdownBehavior: instance.ShutdownStop, Created: now, LaunchTime: now, Changed: now,
	}
	err = st.Update(ctx, func(tx store.Tx) error {
		a, err := instance.AllocateAddress(tx, subnet, netip.Addr{}, instance.Lease{Instance: id, Account: k.Account, Region: k.Region})
		r.PrivateIP = a.String()
		if err != nil {
			return err
		}
		return store.CreateJSON(tx, k, "", r)
	})
	if err != nil {
		t.Fatal(err)
	}
	get := func() instance.Record {
		var out instance.Record
		_ = st.View(ctx, func(tx store.Tx) error {
			var err error
			out, err = store.GetJSON[instance.Record](tx, k)
			return err
		})
		return out
	}
	waitState := func(state string) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			if s := get(); s.State == state {
				return
			} else if s.LastErr != "" {
				t.Logf("last error: %s", s.LastErr)
			}
			time.Sleep(20 * time.Millisecond)
		}
		console, _ := os.ReadFile(dir + "/console/" + id + ".log")
		t.Fatalf("state %s (last error %q, reason %+v), want %s; console:\n%s", get().State, get().LastErr, get().Reason, state, console)
	}
	request := func(fn func(instance.Record, time.Time) (instance.Record, error)) {
		t.Helper()
		err := st.Update(ctx, func(tx store.Tx) error {
			cur, err := store.GetJSON[instance.Record](tx, k)
			if err != nil {
				return err
			}
			cur, err = fn(cur, clk.Now())
			if err != nil {
				return err
			}
			cur.Version++
			return store.PutJSON(tx, k, "", cur)
		})
		if err != nil {
			t.Fatal(err)
		}
		c.Kick(k)
	}
	fetch := func() (string, error) {
		cl := http.Client{Timeout: time.Second}
		resp, err := cl.Get("http://" + r.PrivateIP + "/")
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	waitPage := func() {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		var err error
		for time.Now().Before(deadline) {
			var body string
			if body, err = fetch(); err == nil && strings.Contains(body, "hello from "+instance.Hostname(r.PrivateIP)) {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("page at %s not reachable: %v", r.PrivateIP, err)
	}

	start := time.Now()
	c.Kick(k)
	waitState(instance.Running)
	t.Logf("pending → running in %v", time.Since(start))
	waitPage()
	console, _ := os.ReadFile(c.ConsolePath(id))
	if !strings.Contains(string(console), "booted "+instance.Hostname(r.PrivateIP)) {
		t.Fatalf("console %q", console)
	}

	request(func(r instance.Record, now time.Time) (instance.Record, error) {
		return instance.RequestStop(r, now, false)
	})
	waitState(instance.Stopped)
	if _, err := fetch(); err == nil {
		t.Fatal("page still served by a stopped instance")
	}
	request(instance.RequestStart)
	waitState(instance.Running)
	waitPage()

	// kiln restarts (kill -9 of the controller): the instance keeps running
	// and is adopted, not restarted.
	before, err := rt.Status(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	c = newController()
	if err := c.Idle(ctx); err != nil {
		t.Fatal(err)
	}
	after, err := rt.Status(ctx, id)
	if err != nil || !after.Running || after.Pid != before.Pid {
		t.Fatalf("after restart: %+v (%v), before pid %d", after, err, before.Pid)
	}
	waitPage()

	request(instance.RequestTerminate)
	waitState(instance.Terminated)
	if _, err := rt.Status(ctx, id); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("container after terminate: %v", err)
	}
	ids, err := nn.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range ids {
		if a == id {
			t.Fatal("network attachment after terminate")
		}
	}
}
