package fake

import (
	"context"
	"fmt"
	"io"

	"github.com/kiln-dev/kiln/internal/runtime"
	"github.com/kiln-dev/kiln/internal/runtime/runtimetest"
)

// Operation names of the Capturer methods.
const (
	OpCapture = "Capture"
	OpPause   = "Pause"
	OpResume  = "Resume"
)

var _ runtime.Capturer = (*Runtime)(nil)

// SetDiff sets the files (path → content) Capture reports as the
// instance's disk changes.
func (f *Runtime) SetDiff(id string, files map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.diffs == nil {
		f.diffs = map[string]map[string]string{}
	}
	f.diffs[id] = files
}

// Paused reports whether the instance is paused.
func (f *Runtime) Paused(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.paused[id]
}

// Capture writes the files given to SetDiff as a tar layer.
func (f *Runtime) Capture(ctx context.Context, id string, w io.Writer) (int64, error) {
	if err := f.begin(ctx, OpCapture, id); err != nil {
		return 0, err
	}
	f.mu.Lock()
	_, ok := f.inst[id]
	files := f.diffs[id]
	f.mu.Unlock()
	if !ok {
		return 0, notFound(id)
	}
	b, _, err := runtimetest.FileLayer(files)
	if err != nil {
		return 0, err
	}
	n, err := w.Write(b)
	return int64(n), err
}

// Pause marks a running instance paused.
func (f *Runtime) Pause(ctx context.Context, id string) error {
	return f.setPaused(ctx, OpPause, id, true)
}

// Resume clears the paused mark.
func (f *Runtime) Resume(ctx context.Context, id string) error {
	return f.setPaused(ctx, OpResume, id, false)
}

func (f *Runtime) setPaused(ctx context.Context, op, id string, v bool) error {
	if err := f.begin(ctx, op, id); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	in, ok := f.inst[id]
	if !ok {
		return notFound(id)
	}
	if !in.running {
		return fmt.Errorf("fake: %s is not running", id)
	}
	if f.paused == nil {
		f.paused = map[string]bool{}
	}
	f.paused[id] = v
	return nil
}

var _ runtime.Pruner = (*Runtime)(nil)

// Prune has nothing to clean in memory; it is recorded as "Prune".
func (f *Runtime) Prune(ctx context.Context) ([]string, error) {
	return nil, f.begin(ctx, "Prune", "")
}
