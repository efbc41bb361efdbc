package fake

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/runtime"
	"github.com/kiln-dev/kiln/internal/runtime/runtimetest"
)

var layers = []runtime.Layer{runtimetest.Layer([]byte("layer"), nil)}

func TestConformance(t *testing.T) {
	f := New()
	runtimetest.Conformance(t, f, layers, nil, "i-fake", runtimetest.WithLimits(func(_ context.Context, id string) (int, int64, error) {
		s, ok := f.Spec(id)
		if !ok {
			return 0, 0, runtime.ErrNotFound
		}
		return s.VCPUs, s.MemoryMiB, nil
	}))
}

func TestScripting(t *testing.T) {
	ctx := context.Background()
	f := New()
	f.BootOutput = "booted %s\n"
	console := filepath.Join(t.TempDir(), "c.log")
	boom := errors.New("boom")
	f.FailNext(OpCreate, boom)
	spec := runtime.Spec{ID: "i-1", Layers: layers, ConsolePath: console}
	if err := f.Create(ctx, spec); !errors.Is(err, boom) {
		t.Fatalf("scripted failure: %v", err)
	}
	if err := f.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	f.SetDelay(OpStart, 50*time.Millisecond)
	cctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if err := f.Start(cctx, "i-1"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("delayed start with short ctx: %v", err)
	}
	start := time.Now()
	if err := f.Start(ctx, "i-1"); err != nil || time.Since(start) < 50*time.Millisecond {
		t.Fatalf("delayed start: %v after %v", err, time.Since(start))
	}
	b, _ := os.ReadFile(console)
	if !strings.Contains(string(b), "booted i-1") {
		t.Fatalf("console = %q", b)
	}
	ch, _ := f.Exited(ctx, "i-1")
	if err := f.Exit("i-1", 3); err != nil {
		t.Fatal(err)
	}
	if code, ok := <-ch; !ok || code != 3 {
		t.Fatalf("exit = %d %v", code, ok)
	}
	if st, _ := f.Status(ctx, "i-1"); st.Running || st.ExitCode != 3 {
		t.Fatalf("status %+v", st)
	}
	if f.Boots("i-1") != 1 || len(f.Calls()) < 5 {
		t.Fatalf("boots %d calls %v", f.Boots("i-1"), f.Calls())
	}
}

func TestCapture(t *testing.T) {
	ctx := context.Background()
	f := New()
	if err := f.Create(ctx, runtime.Spec{ID: "i-c", Layers: layers}); err != nil {
		t.Fatal(err)
	}
	f.SetDiff("i-c", map[string]string{"etc/motd": "hi\n"})
	var buf strings.Builder
	n, err := f.Capture(ctx, "i-c", &buf)
	if err != nil || n != int64(buf.Len()) || !strings.Contains(buf.String(), "etc/motd") {
		t.Fatalf("capture %d %v", n, err)
	}
	if err := f.Pause(ctx, "i-c"); err == nil {
		t.Fatal("pausing a stopped instance succeeded")
	}
	f.Start(ctx, "i-c")
	if err := f.Pause(ctx, "i-c"); err != nil || !f.Paused("i-c") {
		t.Fatal(err)
	}
}

func TestVolumes(t *testing.T) {
	ctx := context.Background()
	f := New()
	if err := f.Create(ctx, runtime.Spec{ID: "i-v", Layers: layers}); err != nil {
		t.Fatal(err)
	}
	if err := f.CreateVolume(ctx, "vol-1", layers); err != nil {
		t.Fatal(err)
	}
	if err := f.AttachVolume(ctx, "i-v", "vol-1", "sdf"); err != nil {
		t.Fatal(err)
	}
	if got := f.Attachments(); len(got) != 1 || got[0] != (Attachment{InstanceID: "i-v", VolumeID: "vol-1", Name: "sdf"}) {
		t.Fatalf("attachments %+v", got)
	}
	if l, ok := f.VolumeLayers("vol-1"); !ok || len(l) != 1 {
		t.Fatalf("layers %v %v", l, ok)
	}
	if err := f.SetVolumeDiff("vol-1", map[string]string{"b/y": "2", "a/x": "1"}, "/c/z"); err != nil {
		t.Fatal(err)
	}
	var b1, b2 strings.Builder
	d1, err := f.CaptureVolume(ctx, "vol-1", &b1)
	if err != nil {
		t.Fatal(err)
	}
	d2, _ := f.CaptureVolume(ctx, "vol-1", &b2)
	if d1 != d2 || b1.String() != b2.String() {
		t.Fatal("CaptureVolume is not deterministic")
	}
	for _, want := range []string{"a/x", "b/y", "c/.wh.z"} {
		if !strings.Contains(b1.String(), want) {
			t.Errorf("capture lacks %s", want)
		}
	}
	if err := f.Delete(ctx, "i-v"); err != nil {
		t.Fatal(err)
	}
	if got := f.Attachments(); len(got) != 0 {
		t.Fatalf("attachments after Delete: %+v", got)
	}
}
