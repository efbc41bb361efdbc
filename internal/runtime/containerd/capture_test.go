package containerd

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kiln-dev/kiln/internal/runtime"
	"github.com/kiln-dev/kiln/internal/runtime/runtimetest"
)

// TestCaptureDirectMatchesDiffService: the direct capture from the overlay
// upper directory and containerd's diff service (what a runtime without a
// DataDir uses) capture the same changes: a modified file, a deleted file
// and directory, a directory replaced wholesale (overlay's opaque
// directory), added files, a hard link and a symlink. Each capture, as
// the top layer of a new image, boots to the same tree.
func TestCaptureDirectMatchesDiffService(t *testing.T) {
	requireHost(t)
	ctx := context.Background()
	dir := shortDir(t)
	r := newRuntime(t, dir)
	viaDiff, err := New(ctx, Options{Address: r.Address()}) // no DataDir: diff service
	if err != nil {
		t.Fatal(err)
	}
	defer viaDiff.Close()

	baseTar, _, err := runtimetest.FileLayer(map[string]string{
		"srv/mod": "old\n", "srv/gone": "x\n", "srv/keep": "keep\n",
		"srv/old/a": "a\n", "srv/old/b": "b\n", "srv/dirgone/f": "f\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	base := []runtime.Layer{busybox(t), runtimetest.Layer(baseTar, nil)}
	console := filepath.Join(dir, "src.log")
	spec := runtime.Spec{ID: "i-src", Layers: base, ConsolePath: console,
		Args: []string{"/bin/sh", "-c", "echo new > /srv/mod; rm /srv/gone; rm -rf /srv/dirgone /srv/old; " +
			"mkdir /srv/old; echo c > /srv/old/c; mkdir -p /opt/app; echo built > /opt/app/version; " +
			"ln /opt/app/version /opt/app/hard; ln -s version /opt/app/soft; echo ready; exec sleep 1000"}}
	boot(t, r, spec)
	waitFor(t, "ready", 10*time.Second, func() bool { return strings.Contains(readFile(console), "ready") })
	if err := r.Pause(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	capture := func(rt *Runtime) string {
		var buf strings.Builder
		n, err := rt.Capture(ctx, spec.ID, &buf)
		if err != nil {
			t.Fatal(err)
		}
		if n != int64(buf.Len()) {
			t.Fatalf("Capture = %d for %d bytes", n, buf.Len())
		}
		return buf.String()
	}
	direct, diffed := capture(r), capture(viaDiff)
	if err := r.Resume(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	names := tarNames(t, direct)
	// Only the upper directory knows the directory was replaced whole.
	for _, want := range []string{"srv/old/.wh..wh..opq", "srv/.wh.gone", "srv/.wh.dirgone", "srv/mod", "opt/app/hard"} {
		if !slices.Contains(names, want) {
			t.Errorf("direct capture lacks %s: %v", want, names)
		}
	}
	for _, not := range []string{"bin/busybox", "srv/keep", "srv/old/a"} {
		if slices.Contains(names, not) {
			t.Errorf("direct capture holds unchanged %s: %v", not, names)
		}
	}
	if slices.Contains(tarNames(t, diffed), "srv/old/.wh..wh..opq") {
		t.Fatal("the external runtime captured directly, not through the diff service")
	}
	if ents, _ := os.ReadDir(r.captureRoot); len(ents) != 0 {
		t.Errorf("capture views left: %v", ents)
	}

	// Both boot to the same tree.
	show := "cd /; find srv opt | sort; cat srv/mod srv/keep srv/old/c opt/app/soft; stat -c '%h %F %N' opt/app/version opt/app/soft; echo end"
	boot := func(id, layer string) string {
		log := filepath.Join(dir, id+".log")
		child := runtime.Spec{ID: id, Layers: append(slices.Clone(base), runtimetest.Layer([]byte(layer), nil)),
			ConsolePath: log, Args: []string{"/bin/sh", "-c", show}}
		boot(t, r, child)
		waitFor(t, id+" output", 10*time.Second, func() bool { return strings.Contains(readFile(log), "end") })
		return readFile(log)
	}
	got, want := boot("i-direct", direct), boot("i-diffed", diffed)
	if got != want {
		t.Fatalf("direct capture boots to\n%s\ndiff service capture to\n%s", got, want)
	}
	wantTree := "opt\nopt/app\nopt/app/hard\nopt/app/soft\nopt/app/version\nsrv\nsrv/keep\nsrv/mod\nsrv/old\nsrv/old/c\nnew\nkeep\nc\nbuilt\n"
	if !strings.HasPrefix(strings.ReplaceAll(got, "\r", ""), wantTree) || !strings.Contains(got, "2 regular file") {
		t.Fatalf("captured tree:\n%s\nwant it to start with\n%s", got, wantTree)
	}
}

// TestPruneCaptureViews: a parent view left mounted by a capture of a
// killed process is unmounted and removed by the next process's Prune;
// this process's own views are left alone.
func TestPruneCaptureViews(t *testing.T) {
	requireHost(t)
	ctx := context.Background()
	dir := shortDir(t)
	r := newRuntime(t, dir)
	stale := filepath.Join(r.captureRoot, "deadbeef-1")
	own := filepath.Join(r.captureRoot, r.token+"-1")
	for _, d := range []string{stale, own} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mount("tmpfs", d, "tmpfs", 0, ""); err != nil {
			t.Fatal(err)
		}
	}
	defer unmountCapture(own)
	removed, err := r.Prune(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(removed, "capture view "+stale) {
		t.Errorf("Prune removed %v, not the stale view", removed)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale view still there: %v", err)
	}
	if mounted(t, stale) || !mounted(t, own) {
		t.Errorf("after Prune: stale mounted %v, own mounted %v", mounted(t, stale), mounted(t, own))
	}
}

func mounted(t *testing.T, dir string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && f[4] == dir {
			return true
		}
	}
	return false
}

// TestPauseFreezes: Pause stops every process of the instance until
// Resume; a Stop or Start of an instance a crashed capture left frozen
// thaws it first (containerd itself believes the task running).
func TestPauseFreezes(t *testing.T) {
	requireHost(t)
	ctx := context.Background()
	dir := shortDir(t)
	r := newRuntime(t, dir)
	console := filepath.Join(dir, "tick.log")
	spec := runtime.Spec{ID: "i-tick", Layers: []runtime.Layer{busybox(t)}, ConsolePath: console,
		Args: []string{"/bin/sh", "-c", "trap 'echo bye; exit 0' TERM; while true; do echo tick; sleep 0.01; done"}}
	boot(t, r, spec)
	size := func() int { return len(readFile(console)) }
	waitFor(t, "ticks", 10*time.Second, func() bool { return size() > 0 })
	if err := r.Pause(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	before := size()
	time.Sleep(200 * time.Millisecond)
	if after := size(); after != before {
		t.Fatalf("the paused instance wrote %d bytes", after-before)
	}
	if err := r.Resume(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "ticks after Resume", 10*time.Second, func() bool { return size() > before })

	// Left frozen (kiln killed mid-capture): Start thaws it.
	if err := r.Pause(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	mark := size()
	waitFor(t, "ticks after Start", 10*time.Second, func() bool { return size() > mark })
	// And Stop of a frozen instance ends it, gracefully.
	if err := r.Pause(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	if err := r.Stop(ctx, spec.ID, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if st, err := r.Status(ctx, spec.ID); err != nil || st.Running {
		t.Fatalf("after Stop: %+v %v", st, err)
	}
	if !strings.Contains(readFile(console), "bye") {
		t.Errorf("the frozen instance did not get its SIGTERM: %q", readFile(console)[max(0, size()-100):])
	}
}
