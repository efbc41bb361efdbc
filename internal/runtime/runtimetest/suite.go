package runtimetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/runtime"
)

// Option adds checks to Conformance.
type Option func(*options)

type options struct {
	limits LimitsFunc
}

// LimitsFunc reports the CPU and memory limits a running instance's task
// has (for example read from its cgroup), in Spec's units.
type LimitsFunc func(ctx context.Context, id string) (vcpus int, memoryMiB int64, err error)

// WithLimits makes Conformance check the limits that Create and Resize
// give to running instances with f.
func WithLimits(f LimitsFunc) Option { return func(o *options) { o.limits = f } }

// Conformance checks the lifecycle semantics every Runtime shares. layer
// must hold a root in which args runs until killed (for example a busybox
// layer and ["/bin/sh", "-c", "exec sleep 1000"]). IDs are prefixed with
// prefix so that parallel suites do not collide. Runtimes that implement
// runtime.Resizer or runtime.Volumer are checked for them too.
func Conformance(t *testing.T, rt runtime.Runtime, layers []runtime.Layer, args []string, prefix string, opts ...Option) {
	ctx := context.Background()
	id := func(s string) string { return fmt.Sprintf("%s-%s", prefix, s) }
	var o options
	for _, f := range opts {
		f(&o)
	}
	checkLimits := func(t *testing.T, id string, vcpus int, memoryMiB int64) {
		t.Helper()
		if o.limits == nil {
			return
		}
		c, m, err := o.limits(ctx, id)
		if err != nil {
			t.Fatalf("limits of %s: %v", id, err)
		}
		if c != vcpus || m != memoryMiB {
			t.Fatalf("limits of %s = %d vCPUs, %d MiB; want %d, %d", id, c, m, vcpus, memoryMiB)
		}
	}

	if rz, ok := rt.(runtime.Resizer); ok {
		t.Run("Resize", func(t *testing.T) {
			if err := rz.Resize(ctx, id("missing"), 1, 64); !errors.Is(err, runtime.ErrNotFound) {
				t.Errorf("Resize of a missing instance: %v, want ErrNotFound", err)
			}
			spec := runtime.Spec{ID: id("resize"), Layers: layers, Args: args, VCPUs: 1, MemoryMiB: 64}
			if err := rt.Create(ctx, spec); err != nil {
				t.Fatal(err)
			}
			defer rt.Delete(ctx, spec.ID)
			if err := rt.Start(ctx, spec.ID); err != nil {
				t.Fatal(err)
			}
			checkLimits(t, spec.ID, 1, 64)
			if err := rz.Resize(ctx, spec.ID, 2, 96); !errors.Is(err, runtime.ErrRunning) {
				t.Fatalf("Resize of a running instance: %v, want ErrRunning", err)
			}
			checkLimits(t, spec.ID, 1, 64)
			if err := rt.Stop(ctx, spec.ID, 0); err != nil {
				t.Fatal(err)
			}
			for range 2 { // resizing to the same limits again is harmless
				if err := rz.Resize(ctx, spec.ID, 2, 96); err != nil {
					t.Fatalf("Resize of a stopped instance: %v", err)
				}
			}
			if err := rt.Start(ctx, spec.ID); err != nil {
				t.Fatalf("start after Resize: %v", err)
			}
			if st, err := rt.Status(ctx, spec.ID); err != nil || !st.Running {
				t.Fatalf("after Resize and Start: %+v, %v", st, err)
			}
			checkLimits(t, spec.ID, 2, 96)
			// Shrinking works too.
			if err := rt.Stop(ctx, spec.ID, 0); err != nil {
				t.Fatal(err)
			}
			if err := rz.Resize(ctx, spec.ID, 1, 80); err != nil {
				t.Fatal(err)
			}
			if err := rt.Start(ctx, spec.ID); err != nil {
				t.Fatal(err)
			}
			checkLimits(t, spec.ID, 1, 80)
		})
	}

	if vr, ok := rt.(runtime.Volumer); ok {
		t.Run("Volumes", func(t *testing.T) { volumes(t, rt, vr, layers, args, prefix) })
	}

	t.Run("MissingInstance", func(t *testing.T) {
		missing := id("missing")
		if err := rt.Start(ctx, missing); !errors.Is(err, runtime.ErrNotFound) {
			t.Errorf("Start: %v, want ErrNotFound", err)
		}
		if err := rt.Stop(ctx, missing, 0); !errors.Is(err, runtime.ErrNotFound) {
			t.Errorf("Stop: %v, want ErrNotFound", err)
		}
		if err := rt.Delete(ctx, missing); !errors.Is(err, runtime.ErrNotFound) {
			t.Errorf("Delete: %v, want ErrNotFound", err)
		}
		if _, err := rt.Status(ctx, missing); !errors.Is(err, runtime.ErrNotFound) {
			t.Errorf("Status: %v, want ErrNotFound", err)
		}
		if _, err := rt.Exited(ctx, missing); !errors.Is(err, runtime.ErrNotFound) {
			t.Errorf("Exited: %v, want ErrNotFound", err)
		}
	})

	t.Run("Lifecycle", func(t *testing.T) {
		spec := runtime.Spec{ID: id("life"), Layers: layers, Args: args, Labels: map[string]string{"owner": "suite"}}
		if err := rt.Create(ctx, spec); err != nil {
			t.Fatal(err)
		}
		defer rt.Delete(ctx, spec.ID)
		if err := rt.Create(ctx, spec); !errors.Is(err, runtime.ErrAlreadyExists) {
			t.Fatalf("second Create: %v, want ErrAlreadyExists", err)
		}
		st, err := rt.Status(ctx, spec.ID)
		if err != nil || st.Running || st.ID != spec.ID || st.Labels["owner"] != "suite" {
			t.Fatalf("created: %+v, %v", st, err)
		}
		if ch, err := rt.Exited(ctx, spec.ID); err != nil {
			t.Fatal(err)
		} else if _, ok := <-ch; ok {
			t.Fatal("Exited of a never-started instance delivered a code")
		}
		for range 2 { // starting a running instance is a no-op
			if err := rt.Start(ctx, spec.ID); err != nil {
				t.Fatal(err)
			}
		}
		st, err = rt.Status(ctx, spec.ID)
		if err != nil || !st.Running || st.Pid == 0 {
			t.Fatalf("started: %+v, %v", st, err)
		}
		list, err := rt.List(ctx)
		if err != nil || !slices.ContainsFunc(list, func(s runtime.Status) bool { return s.ID == spec.ID && s.Running }) {
			t.Fatalf("List = %+v, %v", list, err)
		}
		ch, err := rt.Exited(ctx, spec.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := rt.Stop(ctx, spec.ID, 100*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		select {
		case c, ok := <-ch:
			if ok {
				t.Fatalf("Exited delivered %d for a runtime Stop", c)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Exited channel not closed after Stop")
		}
		if err := rt.Stop(ctx, spec.ID, 0); err != nil {
			t.Fatalf("stopping a stopped instance: %v", err)
		}
		if st, err := rt.Status(ctx, spec.ID); err != nil || st.Running {
			t.Fatalf("stopped: %+v, %v", st, err)
		}
		if err := rt.Start(ctx, spec.ID); err != nil {
			t.Fatalf("restart: %v", err)
		}
		if err := rt.Delete(ctx, spec.ID); err != nil {
			t.Fatalf("delete running: %v", err)
		}
		if _, err := rt.Status(ctx, spec.ID); !errors.Is(err, runtime.ErrNotFound) {
			t.Fatalf("after Delete: %v", err)
		}
		list, _ = rt.List(ctx)
		if slices.ContainsFunc(list, func(s runtime.Status) bool { return s.ID == spec.ID }) {
			t.Fatal("deleted instance still listed")
		}
	})
}

// volumes checks the runtime.Volumer contract (not the data: that needs a
// real runtime): attachments to stopped and running instances, their
// idempotence and conflicts, deletion rules, captures.
func volumes(t *testing.T, rt runtime.Runtime, vr runtime.Volumer, layers []runtime.Layer, args []string, prefix string) {
	ctx := context.Background()
	vol := func(s string) string { return fmt.Sprintf("vol-%s-%s", prefix, s) }
	a, b := prefix+"-vola", prefix+"-volb"
	for _, id := range []string{a, b} {
		if err := rt.Create(ctx, runtime.Spec{ID: id, Layers: layers, Args: args}); err != nil {
			t.Fatal(err)
		}
		defer rt.Delete(ctx, id)
	}
	data, _, err := FileLayer(map[string]string{"data/a.txt": "a\n"})
	if err != nil {
		t.Fatal(err)
	}
	v1, v2 := vol("1"), vol("2")
	if err := vr.CreateVolume(ctx, v1, nil); err != nil {
		t.Fatal(err)
	}
	defer vr.DeleteVolume(ctx, v1)
	if err := vr.CreateVolume(ctx, v2, []runtime.Layer{Layer(data, nil)}); err != nil {
		t.Fatal(err)
	}
	defer vr.DeleteVolume(ctx, v2)
	if err := vr.CreateVolume(ctx, v1, nil); !errors.Is(err, runtime.ErrAlreadyExists) {
		t.Fatalf("second CreateVolume: %v, want ErrAlreadyExists", err)
	}
	if list, err := vr.Volumes(ctx); err != nil || !slices.Contains(list, v1) || !slices.Contains(list, v2) {
		t.Fatalf("Volumes = %v, %v", list, err)
	}

	if err := vr.AttachVolume(ctx, prefix+"-missing", v1, "sdf"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("attach to a missing instance: %v, want ErrNotFound", err)
	}
	if err := vr.AttachVolume(ctx, a, vol("missing"), "sdf"); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("attach of a missing volume: %v, want ErrNotFound", err)
	}
	// Attached while stopped, then booted.
	for range 2 {
		if err := vr.AttachVolume(ctx, a, v1, "sdf"); err != nil {
			t.Fatalf("attach (twice): %v", err)
		}
	}
	if err := vr.AttachVolume(ctx, b, v1, "sdf"); !errors.Is(err, runtime.ErrVolumeInUse) {
		t.Errorf("attach of a volume attached elsewhere: %v, want ErrVolumeInUse", err)
	}
	if err := vr.AttachVolume(ctx, a, v1, "sdg"); !errors.Is(err, runtime.ErrVolumeInUse) {
		t.Errorf("attach under a second name: %v, want ErrVolumeInUse", err)
	}
	if err := vr.AttachVolume(ctx, a, v2, "sdf"); !errors.Is(err, runtime.ErrAlreadyExists) {
		t.Errorf("attach under a taken name: %v, want ErrAlreadyExists", err)
	}
	if err := vr.DeleteVolume(ctx, v1); !errors.Is(err, runtime.ErrVolumeInUse) {
		t.Errorf("DeleteVolume of an attached volume: %v, want ErrVolumeInUse", err)
	}
	if err := rt.Start(ctx, a); err != nil {
		t.Fatalf("start with a volume attached: %v", err)
	}
	// Attached while running.
	if err := vr.AttachVolume(ctx, a, v2, "sdh"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := vr.DetachVolume(ctx, a, v1, "sdf"); err != nil {
			t.Fatalf("detach (twice): %v", err)
		}
	}
	if err := vr.DetachVolume(ctx, b, v2, "sdh"); err != nil {
		t.Fatalf("detach from an instance it is not attached to: %v", err)
	}
	if err := vr.AttachVolume(ctx, b, v1, "sdf"); err != nil {
		t.Fatalf("attach to another instance after detach: %v", err)
	}
	if err := vr.DetachVolume(ctx, b, v1, ""); err != nil {
		t.Fatal(err)
	}
	if err := vr.DeleteVolume(ctx, v1); err != nil {
		t.Fatalf("DeleteVolume of a detached volume: %v", err)
	}
	if err := vr.DeleteVolume(ctx, v1); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("second DeleteVolume: %v, want ErrNotFound", err)
	}
	// Deleting the instance ends its attachments, not the volume.
	if err := rt.Delete(ctx, a); err != nil {
		t.Fatal(err)
	}
	if list, err := vr.Volumes(ctx); err != nil || !slices.Contains(list, v2) || slices.Contains(list, v1) {
		t.Fatalf("Volumes after deletes = %v, %v", list, err)
	}
	var buf bytes.Buffer
	n, err := vr.CaptureVolume(ctx, v2, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) {
		t.Errorf("CaptureVolume = %d for %d bytes", n, buf.Len())
	}
	if _, err := vr.CaptureVolume(ctx, vol("missing"), io.Discard); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("CaptureVolume of a missing volume: %v, want ErrNotFound", err)
	}
	if err := vr.DeleteVolume(ctx, v2); err != nil {
		t.Fatalf("DeleteVolume after its instance's Delete: %v", err)
	}
}
