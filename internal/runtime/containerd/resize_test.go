package containerd

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/kiln-dev/kiln/internal/runtime"
)

// cgroupLimits reads the CPU and memory limits of the instance's cgroup
// (v1 or v2) in Spec's units; 0 for no limit.
func cgroupLimits(_ context.Context, id string) (int, int64, error) {
	var quota, period int64 = -1, cpuPeriod
	var mem int64 = -1
	if v := strings.TrimSpace(readFile(filepath.Join("/sys/fs/cgroup/memory", CgroupPath(id), "memory.limit_in_bytes"))); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("memory.limit_in_bytes %q: %w", v, err)
		}
		mem = n
	} else if v := strings.TrimSpace(readFile(filepath.Join("/sys/fs/cgroup", CgroupPath(id), "memory.max"))); v != "" && v != "max" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("memory.max %q: %w", v, err)
		}
		mem = n
	} else if v == "" {
		return 0, 0, fmt.Errorf("no memory cgroup for %s", id)
	}
	if v := strings.TrimSpace(readFile(filepath.Join("/sys/fs/cgroup/cpu", CgroupPath(id), "cpu.cfs_quota_us"))); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("cpu.cfs_quota_us %q: %w", v, err)
		}
		quota = n
		if p := strings.TrimSpace(readFile(filepath.Join("/sys/fs/cgroup/cpu", CgroupPath(id), "cpu.cfs_period_us"))); p != "" {
			period, _ = strconv.ParseInt(p, 10, 64)
		}
	} else if f := strings.Fields(readFile(filepath.Join("/sys/fs/cgroup", CgroupPath(id), "cpu.max"))); len(f) == 2 {
		if f[0] != "max" {
			quota, _ = strconv.ParseInt(f[0], 10, 64)
		}
		period, _ = strconv.ParseInt(f[1], 10, 64)
	} else {
		return 0, 0, fmt.Errorf("no cpu cgroup for %s", id)
	}
	vcpus := 0
	if quota > 0 && period > 0 {
		vcpus = int(quota / period)
	}
	var mib int64
	if mem > 0 && mem < 1<<50 { // v1 reports "no limit" as a huge number
		mib = mem >> 20
	}
	return vcpus, mib, nil
}

// TestResize: a stopped instance resized boots with the new cgroup limits
// and keeps its root disk; a running one is refused.
func TestResize(t *testing.T) {
	requireHost(t)
	dir := shortDir(t)
	r := newRuntime(t, dir)
	ctx := context.Background()
	console := filepath.Join(dir, "console", "i-rs.log")
	id := fmt.Sprintf("i-rs%d", time.Now().UnixNano()%100000)
	spec := runtime.Spec{
		ID: id, Layers: []runtime.Layer{busybox(t)}, VCPUs: 1, MemoryMiB: 64,
		Args:        []string{"/bin/sh", "-c", `if [ -f /root/mark ]; then echo "second boot"; else touch /root/mark; fi; exec sleep 1000`},
		ConsolePath: console,
	}
	if err := r.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	defer r.Delete(ctx, id)
	if err := r.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	if c, m, err := cgroupLimits(ctx, id); err != nil || c != 1 || m != 64 {
		t.Fatalf("limits at create = %d vCPUs, %d MiB, %v; want 1, 64", c, m, err)
	}
	if err := r.Resize(ctx, id, 2, 128); !errors.Is(err, runtime.ErrRunning) {
		t.Fatalf("Resize of a running instance: %v, want ErrRunning", err)
	}
	if err := r.Stop(ctx, id, 0); err != nil {
		t.Fatal(err)
	}
	if err := r.Resize(ctx, id, 2, 128); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	mem := readFile(filepath.Join("/sys/fs/cgroup/memory", CgroupPath(id), "memory.limit_in_bytes"))
	if mem == "" {
		mem = readFile(filepath.Join("/sys/fs/cgroup", CgroupPath(id), "memory.max"))
	}
	if strings.TrimSpace(mem) != fmt.Sprint(128<<20) {
		t.Fatalf("memory limit after Resize = %q, want %d", mem, 128<<20)
	}
	if c, m, err := cgroupLimits(ctx, id); err != nil || c != 2 || m != 128 {
		t.Fatalf("limits after Resize = %d vCPUs, %d MiB, %v; want 2, 128", c, m, err)
	}
	waitFor(t, "second boot on the same disk", 10*time.Second, func() bool { return strings.Contains(readFile(console), "second boot") })

	// A task created but never started (Start cut short by a crash) is
	// replaced, so the new limits apply.
	if err := r.Stop(ctx, id, 0); err != nil {
		t.Fatal(err)
	}
	nctx := namespaces.WithNamespace(ctx, Namespace)
	c, err := r.client.LoadContainer(nctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.NewTask(nctx, cio.NullIO); err != nil {
		t.Fatal(err)
	}
	if err := r.Resize(ctx, id, 1, 96); err != nil {
		t.Fatalf("Resize with a created task: %v", err)
	}
	if err := r.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	if c, m, err := cgroupLimits(ctx, id); err != nil || c != 1 || m != 96 {
		t.Fatalf("limits after Resize over a created task = %d vCPUs, %d MiB, %v; want 1, 96", c, m, err)
	}

	if err := r.Resize(ctx, "i-rs-missing", 1, 64); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("Resize of a missing instance: %v, want ErrNotFound", err)
	}
}
