// Package fake is an in-memory runtime.Runtime for API and service tests:
// instances are records, "booting" optionally appends a line to the console
// file, and tests can script failures, delays and exits from inside.
package fake

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/kiln-dev/kiln/internal/runtime"
)

// Operation names, for FailNext, SetDelay and Calls.
const (
	OpCreate = "Create"
	OpStart  = "Start"
	OpStop   = "Stop"
	OpDelete = "Delete"
	OpStatus = "Status"
	OpList   = "List"
	OpExited = "Exited"
	OpResize = "Resize"
)

// Call is one recorded call.
type Call struct {
	Op string
	ID string
}

type instance struct {
	spec     runtime.Spec
	running  bool
	pid      int
	exitCode int
	boots    int
	waiters  []chan int
}

// Runtime is the fake. The zero value is not usable; call New.
type Runtime struct {
	// BootOutput, when set, is appended to the console file on every
	// Start (with "%s" replaced by the instance ID).
	BootOutput string

	mu      sync.Mutex
	inst    map[string]*instance
	fail    map[string][]error
	delay   map[string]time.Duration
	calls   []Call
	nextPid int
	closed  bool
	diffs   map[string]map[string]string
	paused  map[string]bool
	vols    map[string]*volume
}

var (
	_ runtime.Runtime = (*Runtime)(nil)
	_ runtime.Resizer = (*Runtime)(nil)
)

// New returns an empty fake runtime.
func New() *Runtime {
	return &Runtime{
		inst:    map[string]*instance{},
		fail:    map[string][]error{},
		delay:   map[string]time.Duration{},
		vols:    map[string]*volume{},
		nextPid: 1000,
	}
}

// FailNext makes the next call of op return err (queued: several calls
// fail in order).
func (f *Runtime) FailNext(op string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[op] = append(f.fail[op], err)
}

// SetDelay makes every call of op take d (honouring ctx cancellation).
func (f *Runtime) SetDelay(op string, d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.delay[op] = d
}

// Calls returns the calls made so far.
func (f *Runtime) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// Spec returns the spec an instance was created with, with the limits of
// its last Resize.
func (f *Runtime) Spec(id string) (runtime.Spec, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, ok := f.inst[id]
	if !ok {
		return runtime.Spec{}, false
	}
	return in.spec, true
}

// Boots is how many times the instance was started.
func (f *Runtime) Boots(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if in, ok := f.inst[id]; ok {
		return in.boots
	}
	return 0
}

// Exit simulates the instance shutting down from inside with code: its
// task ends and Exited channels receive the code.
func (f *Runtime) Exit(id string, code int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, ok := f.inst[id]
	if !ok {
		return fmt.Errorf("%w: %s", runtime.ErrNotFound, id)
	}
	if !in.running {
		return fmt.Errorf("fake: %s is not running", id)
	}
	in.running, in.pid, in.exitCode = false, 0, code
	for _, w := range in.waiters {
		w <- code
		close(w)
	}
	in.waiters = nil
	return nil
}

// begin records the call, applies the scripted delay and failure.
func (f *Runtime) begin(ctx context.Context, op, id string) error {
	f.mu.Lock()
	f.calls = append(f.calls, Call{Op: op, ID: id})
	d := f.delay[op]
	var err error
	if q := f.fail[op]; len(q) > 0 {
		err, f.fail[op] = q[0], q[1:]
	}
	closed := f.closed
	f.mu.Unlock()
	if closed {
		return fmt.Errorf("fake: runtime closed")
	}
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return err
}

func notFound(id string) error { return fmt.Errorf("%w: %s", runtime.ErrNotFound, id) }

// Create records the instance.
func (f *Runtime) Create(ctx context.Context, s runtime.Spec) error {
	if err := f.begin(ctx, OpCreate, s.ID); err != nil {
		return err
	}
	if s.ID == "" || len(s.Layers) == 0 {
		return fmt.Errorf("fake: spec needs an ID and layers")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.inst[s.ID]; ok {
		return fmt.Errorf("%w: %s", runtime.ErrAlreadyExists, s.ID)
	}
	s.Labels = maps.Clone(s.Labels)
	f.inst[s.ID] = &instance{spec: s}
	return nil
}

// Start marks the instance running and appends BootOutput to its console.
func (f *Runtime) Start(ctx context.Context, id string) error {
	if err := f.begin(ctx, OpStart, id); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	in, ok := f.inst[id]
	if !ok {
		return notFound(id)
	}
	if in.running {
		return nil
	}
	f.nextPid++
	in.running, in.pid = true, f.nextPid
	in.boots++
	if f.BootOutput != "" && in.spec.ConsolePath != "" {
		_ = os.MkdirAll(filepath.Dir(in.spec.ConsolePath), 0o755)
		fh, err := os.OpenFile(in.spec.ConsolePath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err == nil {
			fmt.Fprintf(fh, f.BootOutput, id)
			fh.Close()
		}
	}
	return nil
}

// Stop marks the instance stopped; Exited channels close without a code.
func (f *Runtime) Stop(ctx context.Context, id string, grace time.Duration) error {
	if err := f.begin(ctx, OpStop, id); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	in, ok := f.inst[id]
	if !ok {
		return notFound(id)
	}
	f.stopLocked(in, 137)
	return nil
}

func (f *Runtime) stopLocked(in *instance, code int) {
	if !in.running {
		return
	}
	in.running, in.pid, in.exitCode = false, 0, code
	for _, w := range in.waiters {
		close(w)
	}
	in.waiters = nil
}

// Delete removes the instance and its volume attachments (the volumes
// stay).
func (f *Runtime) Delete(ctx context.Context, id string) error {
	if err := f.begin(ctx, OpDelete, id); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	in, ok := f.inst[id]
	if !ok {
		return notFound(id)
	}
	f.stopLocked(in, 137)
	f.detachInstanceLocked(id)
	delete(f.inst, id)
	return nil
}

func (in *instance) status() runtime.Status {
	return runtime.Status{ID: in.spec.ID, Running: in.running, Pid: in.pid, ExitCode: in.exitCode, Labels: maps.Clone(in.spec.Labels)}
}

// Status reports the instance.
func (f *Runtime) Status(ctx context.Context, id string) (runtime.Status, error) {
	if err := f.begin(ctx, OpStatus, id); err != nil {
		return runtime.Status{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	in, ok := f.inst[id]
	if !ok {
		return runtime.Status{}, notFound(id)
	}
	return in.status(), nil
}

// List reports every instance, sorted by ID.
func (f *Runtime) List(ctx context.Context) ([]runtime.Status, error) {
	if err := f.begin(ctx, OpList, ""); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]runtime.Status, 0, len(f.inst))
	for _, id := range slices.Sorted(maps.Keys(f.inst)) {
		out = append(out, f.inst[id].status())
	}
	return out, nil
}

// Exited returns a channel receiving the code passed to Exit; it is closed
// without a value when the instance is stopped or deleted. With no running
// task it is closed at once.
func (f *Runtime) Exited(ctx context.Context, id string) (<-chan int, error) {
	if err := f.begin(ctx, OpExited, id); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	in, ok := f.inst[id]
	if !ok {
		return nil, notFound(id)
	}
	ch := make(chan int, 1)
	if !in.running {
		close(ch)
		return ch, nil
	}
	in.waiters = append(in.waiters, ch)
	return ch, nil
}

// Resize sets the limits in the instance's spec; a running instance is
// refused with runtime.ErrRunning.
func (f *Runtime) Resize(ctx context.Context, id string, vcpus int, memoryMiB int64) error {
	if err := f.begin(ctx, OpResize, id); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	in, ok := f.inst[id]
	if !ok {
		return notFound(id)
	}
	if in.running {
		return fmt.Errorf("%w: %s", runtime.ErrRunning, id)
	}
	in.spec.VCPUs, in.spec.MemoryMiB = vcpus, memoryMiB
	return nil
}

// Close makes every later call fail.
func (f *Runtime) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}
