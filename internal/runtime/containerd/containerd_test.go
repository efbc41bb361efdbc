package containerd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	client "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"golang.org/x/sys/unix"

	"github.com/kiln-dev/kiln/internal/runtime"
	"github.com/kiln-dev/kiln/internal/runtime/runtimetest"
)

// requireHost skips unless the test can run real containers.
func requireHost(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("precondition: needs root to run containerd and runc")
	}
	for _, bin := range []string{"containerd", "runc", "containerd-shim-runc-v2"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("precondition: %s not installed (apt-get install containerd runc)", bin)
		}
	}
	if _, err := os.Stat(runtimetest.BusyboxPath); err != nil {
		t.Skip("precondition: /bin/busybox missing (apt-get install busybox-static)")
	}
}

// shortDir is a per-test data directory with a short path (unix socket
// paths are limited to 108 bytes).
func shortDir(t testing.TB) string {
	dir, err := os.MkdirTemp("", "kct")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		killUnder(dir)
		runtimetest.UnmountUnder(dir)
		os.RemoveAll(dir)
	})
	return dir
}

// killUnder ends every containerd whose configuration lies under dir (a
// supervisor may have restarted one after the test's own kill).
func killUnder(dir string) {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || !isContainerd(pid) {
			continue
		}
		if strings.Contains(readFile(fmt.Sprintf("/proc/%d/cmdline", pid)), dir+"/") {
			_ = syscall.Kill(pid, syscall.SIGTERM)
			waitGone(pid, 10*time.Second)
		}
	}
}

// newRuntime starts a Runtime with its own containerd, killed at cleanup.
// testStorageKey encrypts the tests' containerd roots, as kiln's does.
var testStorageKey = bytes.Repeat([]byte{0x6b}, 64)

func newRuntime(t testing.TB, dir string) *Runtime {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := New(ctx, Options{DataDir: dir, StorageKey: testStorageKey, StorageSize: minStoreSize})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Remove every container left, then end containerd (the one in
		// use now: the supervisor may have replaced the first).
		if list, err := r.List(context.Background()); err == nil {
			for _, s := range list {
				_ = r.Delete(context.Background(), s.ID)
			}
		}
		r.Close()
		if pid := r.DaemonPid(); pid > 0 && isContainerd(pid) {
			_ = syscall.Kill(pid, syscall.SIGTERM)
			waitGone(pid, 10*time.Second)
		}
	})
	return r
}

var layerOpens atomic.Int64

func busybox(t testing.TB) runtime.Layer {
	t.Helper()
	l, _, err := busyboxBytes()
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func busyboxBytes() (runtime.Layer, []byte, error) {
	b, _, err := runtimetest.BusyboxLayer("")
	if err != nil {
		return runtime.Layer{}, nil, err
	}
	return runtimetest.Layer(b, &layerOpens), b, nil
}

// boot creates and starts an instance.
func boot(t testing.TB, r *Runtime, spec runtime.Spec) {
	t.Helper()
	ctx := context.Background()
	if err := r.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t testing.TB, what string, max time.Duration, f func() bool) {
	t.Helper()
	end := time.Now().Add(max)
	for time.Now().Before(end) {
		if f() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

func procAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	if err != nil {
		return false
	}
	// a zombie is not alive
	st := readFile(fmt.Sprintf("/proc/%d/stat", pid))
	if i := strings.LastIndexByte(st, ')'); i > 0 && len(st) > i+2 {
		return st[i+2] != 'Z'
	}
	return true
}

func TestLifecycle(t *testing.T) {
	requireHost(t)
	dir := shortDir(t)
	r := newRuntime(t, dir)
	ctx := context.Background()
	console := filepath.Join(dir, "console", "i-life.log")
	id := fmt.Sprintf("i-life%d", time.Now().UnixNano()%100000)
	spec := runtime.Spec{
		ID:          id,
		Layers:      []runtime.Layer{busybox(t)},
		Hostname:    "ip-10-0-0-9",
		VCPUs:       1,
		MemoryMiB:   64,
		Args:        []string{"/bin/sh", "-c", `echo "hello from $(hostname)"; if [ -f /root/mark ]; then echo "second boot: $(cat /root/mark)"; else echo persisted > /root/mark; fi; exec sleep 1000`},
		ConsolePath: console,
		Labels:      map[string]string{"kiln.instance": "yes"},
	}
	if err := r.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := r.Create(ctx, spec); !errors.Is(err, runtime.ErrAlreadyExists) {
		t.Fatalf("second Create: %v, want ErrAlreadyExists", err)
	}
	st, err := r.Status(ctx, id)
	if err != nil || st.Running || st.Labels["kiln.instance"] != "yes" {
		t.Fatalf("status before start: %+v %v", st, err)
	}
	if err := r.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "console hello", 10*time.Second, func() bool { return strings.Contains(readFile(console), "hello from ip-10-0-0-9") })
	st, err = r.Status(ctx, id)
	if err != nil || !st.Running || st.Pid == 0 {
		t.Fatalf("status after start: %+v %v", st, err)
	}
	pid1 := st.Pid

	// cgroup limits
	cg := readFile(fmt.Sprintf("/proc/%d/cgroup", pid1))
	if !strings.Contains(cg, CgroupPath(id)) {
		t.Fatalf("task not in cgroup %s: %s", CgroupPath(id), cg)
	}
	mem := readFile(filepath.Join("/sys/fs/cgroup/memory", CgroupPath(id), "memory.limit_in_bytes"))
	if mem == "" {
		mem = readFile(filepath.Join("/sys/fs/cgroup", CgroupPath(id), "memory.max"))
	}
	if strings.TrimSpace(mem) != fmt.Sprint(64<<20) {
		t.Fatalf("memory limit = %q, want %d", mem, 64<<20)
	}
	quota := readFile(filepath.Join("/sys/fs/cgroup/cpu", CgroupPath(id), "cpu.cfs_quota_us"))
	if quota != "" && strings.TrimSpace(quota) != "100000" {
		t.Fatalf("cpu quota = %q", quota)
	}

	// Stop: every process ends, the task is gone.
	start := time.Now()
	if err := r.Stop(ctx, id, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	t.Logf("stop took %v", time.Since(start))
	if procAlive(pid1) {
		t.Fatalf("pid %d still alive after Stop", pid1)
	}
	if out, _ := exec.Command("pgrep", "-f", "sleep 1000").Output(); len(out) > 0 {
		for _, p := range strings.Fields(string(out)) {
			if strings.Contains(readFile("/proc/"+p+"/cgroup"), CgroupPath(id)) {
				t.Fatalf("process %s of the instance survived Stop", p)
			}
		}
	}
	st, _ = r.Status(ctx, id)
	if st.Running {
		t.Fatalf("running after stop: %+v", st)
	}
	if err := r.Stop(ctx, id, time.Second); err != nil {
		t.Fatalf("stopping a stopped instance: %v", err)
	}

	// Start again: boots again, the disk kept the file; the console is
	// appended.
	if err := r.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "second boot", 10*time.Second, func() bool { return strings.Contains(readFile(console), "second boot: persisted") })
	if n := strings.Count(readFile(console), "hello from"); n != 2 {
		t.Fatalf("console has %d boots, want 2:\n%s", n, readFile(console))
	}

	// Delete removes container and snapshot.
	if err := r.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Status(ctx, id); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("status after delete: %v", err)
	}
	if err := r.Delete(ctx, id); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	nctx := namespaces.WithNamespace(ctx, Namespace)
	if _, err := r.client.SnapshotService(Snapshotter).Stat(nctx, id); err == nil {
		t.Fatal("snapshot survived Delete")
	}
}

func TestExited(t *testing.T) {
	requireHost(t)
	dir := shortDir(t)
	r := newRuntime(t, dir)
	ctx := context.Background()
	spec := runtime.Spec{ID: "i-exit", Layers: []runtime.Layer{busybox(t)}, Args: []string{"/bin/sh", "-c", "sleep 0.3; exit 7"}}
	if err := r.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	ch, err := r.Exited(ctx, spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case code, ok := <-ch:
		if !ok || code != 7 {
			t.Fatalf("exit = %d, %v; want 7", code, ok)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit reported")
	}
	st, _ := r.Status(ctx, spec.ID)
	if st.Running || st.ExitCode != 7 {
		t.Fatalf("status %+v", st)
	}
	// Starting again deletes the old task first.
	if err := r.Start(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	ch, err = r.Exited(ctx, spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	// A Stop by kiln closes the channel without a code.
	if err := r.Stop(ctx, spec.ID, 0); err != nil {
		t.Fatal(err)
	}
	select {
	case code, ok := <-ch:
		if ok {
			t.Fatalf("Exited reported %d for a kiln stop", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("channel not closed after Stop")
	}
}

func TestCreateErrorsAndLayerReuse(t *testing.T) {
	requireHost(t)
	dir := shortDir(t)
	r := newRuntime(t, dir)
	ctx := context.Background()
	bb, _, _ := runtimetest.BusyboxLayer("")
	top, _, _ := runtimetest.FileLayer(map[string]string{"etc/motd": "from the top layer\n"})
	var opens atomic.Int64
	layers := []runtime.Layer{runtimetest.Layer(bb, &opens), runtimetest.Layer(top, &opens)}
	for i := range 3 {
		id := fmt.Sprintf("i-reuse%d", i)
		if err := r.Create(ctx, runtime.Spec{ID: id, Layers: layers, Args: []string{"/bin/cat", "/etc/motd"}}); err != nil {
			t.Fatal(err)
		}
	}
	if n := opens.Load(); n != 2 {
		t.Fatalf("layers read %d times for 3 instances, want 2 (once each)", n)
	}
	if err := r.Start(ctx, "i-nope"); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("start missing: %v", err)
	}
	if err := r.Stop(ctx, "i-nope", 0); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("stop missing: %v", err)
	}
	if _, err := r.Exited(ctx, "i-nope"); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("exited missing: %v", err)
	}
	bad := runtime.Layer{Digest: runtimetest.DigestOf([]byte("x")), Size: 3, Open: layers[1].Open}
	if err := r.Create(ctx, runtime.Spec{ID: "i-bad", Layers: []runtime.Layer{bad}}); err == nil {
		t.Fatal("Create with a layer whose bytes do not match its digest succeeded")
	}
	if _, err := r.Status(ctx, "i-bad"); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("failed Create left a container: %v", err)
	}
	nctx := namespaces.WithNamespace(ctx, Namespace)
	if _, err := r.client.SnapshotService(Snapshotter).Stat(nctx, "i-bad"); err == nil {
		t.Fatal("failed Create left a snapshot")
	}
	list, err := r.List(ctx)
	if err != nil || len(list) != 3 {
		t.Fatalf("list = %+v, %v", list, err)
	}
}

// TestRestartAdoption simulates kiln restarting: a second Runtime on the
// same data directory re-uses the running containerd, sees the running
// task and stops it.
func TestRestartAdoption(t *testing.T) {
	requireHost(t)
	dir := shortDir(t)
	ctx := context.Background()
	r1 := newRuntime(t, dir)
	pid := r1.DaemonPid()
	spec := runtime.Spec{ID: "i-adopt", Layers: []runtime.Layer{busybox(t)}, Args: []string{"/bin/sh", "-c", "echo up; exec sleep 1000"}, ConsolePath: filepath.Join(dir, "adopt.log")}
	if err := r1.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := r1.Start(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	st1, _ := r1.Status(ctx, spec.ID)
	if err := r1.Close(); err != nil {
		t.Fatal(err)
	}
	if !isContainerd(pid) {
		t.Fatal("containerd ended with Close")
	}
	if !procAlive(st1.Pid) {
		t.Fatal("instance ended with Close")
	}

	r2 := newRuntime(t, dir)
	if r2.DaemonPid() != pid {
		t.Fatalf("second runtime started containerd %d, want re-use of %d", r2.DaemonPid(), pid)
	}
	list, err := r2.List(ctx)
	if err != nil || len(list) != 1 || !list[0].Running || list[0].Pid != st1.Pid {
		t.Fatalf("adopted list = %+v, %v", list, err)
	}
	ch, err := r2.Exited(ctx, spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := r2.Stop(ctx, spec.ID, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if procAlive(st1.Pid) {
		t.Fatal("adopted instance survived Stop")
	}
	if _, ok := <-ch; ok {
		t.Fatal("Exited reported a kiln stop")
	}
	if err := r2.Delete(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
}

// TestSupervisor: containerd outlives the Runtime, is restarted when it
// dies, and a running instance survives containerd's restart.
func TestSupervisor(t *testing.T) {
	requireHost(t)
	dir := shortDir(t)
	ctx := context.Background()
	r, err := New(ctx, Options{DataDir: dir, SuperviseEvery: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	pid := r.DaemonPid()
	t.Cleanup(func() {
		_ = r.Delete(context.Background(), "i-super")
		r.Close()
		if p := r.DaemonPid(); p > 0 && isContainerd(p) {
			_ = syscall.Kill(p, syscall.SIGTERM)
			waitGone(p, 10*time.Second)
		}
	})
	// containerd is in its own session, not kiln's.
	sid, _ := unix.Getsid(pid)
	if sid != pid {
		t.Fatalf("containerd session %d, want its own (%d)", sid, pid)
	}
	spec := runtime.Spec{ID: "i-super", Layers: []runtime.Layer{busybox(t)}, Args: []string{"/bin/sh", "-c", "exec sleep 1000"}}
	if err := r.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	st, _ := r.Status(ctx, spec.ID)

	_ = syscall.Kill(pid, syscall.SIGKILL)
	waitFor(t, "containerd restarted", 20*time.Second, func() bool {
		p := r.DaemonPid()
		return p != pid && p > 0 && serving(ctx, r.Address())
	})
	if !procAlive(st.Pid) {
		t.Fatal("instance died with containerd")
	}
	var st2 runtime.Status
	waitFor(t, "task visible after restart", 10*time.Second, func() bool {
		st2, err = r.Status(ctx, spec.ID)
		return err == nil && st2.Running
	})
	if st2.Pid != st.Pid {
		t.Fatalf("pid after restart %d, want %d", st2.Pid, st.Pid)
	}
	// An Exited waiter survives another containerd restart and still
	// reports the instance's own exit.
	ch, err := r.Exited(ctx, spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	pid2 := r.DaemonPid()
	_ = syscall.Kill(pid2, syscall.SIGKILL)
	waitFor(t, "containerd restarted again", 20*time.Second, func() bool {
		p := r.DaemonPid()
		return p != pid2 && p > 0 && serving(ctx, r.Address())
	})
	_ = syscall.Kill(st.Pid, syscall.SIGKILL) // the instance "powers off"
	select {
	case code, ok := <-ch:
		if !ok || code != 137 {
			t.Fatalf("exit after containerd restart = %d, %v; want 137", code, ok)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no exit reported after containerd restart")
	}
}

var _ = client.Running

func TestConformance(t *testing.T) {
	requireHost(t)
	dir := shortDir(t)
	r := newVolRuntime(t, dir)
	runtimetest.Conformance(t, r, []runtime.Layer{busybox(t)}, []string{"/bin/sh", "-c", "exec sleep 1000"}, "i-conf",
		runtimetest.WithLimits(cgroupLimits))
}
