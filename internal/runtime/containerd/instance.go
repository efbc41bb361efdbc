package containerd

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/containerd/api/types/runc/options"
	client "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs"

	"github.com/kiln-dev/kiln/internal/runtime"
)

const runcShim = "io.containerd.runc.v2"

// Create unpacks the layers that are not yet unpacked, prepares the
// instance's writable snapshot (named after the instance) over them and
// creates its container. Objects are created under an expiring lease and a
// failure rolls back what was made (with a fresh context), so an
// interrupted Create leaks nothing for long.
func (r *Runtime) Create(ctx context.Context, s runtime.Spec) (retErr error) {
	ctx = r.ns(ctx)
	if s.ID == "" {
		return errors.New("containerd: instance ID is required")
	}
	if len(s.Layers) == 0 {
		return fmt.Errorf("containerd: %s: no layers", s.ID)
	}
	defer r.beginCreate(s.ID)()
	if _, err := r.client.LoadContainer(ctx, s.ID); err == nil {
		return fmt.Errorf("%w: %s", runtime.ErrAlreadyExists, s.ID)
	} else if !errdefs.IsNotFound(err) {
		return mapErr(s.ID, err)
	}
	return r.withLease(ctx, func(ctx context.Context) error {
		parent, err := r.unpack(ctx, s.Layers)
		if err != nil {
			return err
		}
		sn := r.client.SnapshotService(Snapshotter)
		if _, err := sn.Prepare(ctx, s.ID, parent); err != nil {
			if !errdefs.IsAlreadyExists(err) {
				return fmt.Errorf("containerd: %s: prepare root: %w", s.ID, err)
			}
			// A snapshot without a container: left by an interrupted
			// Create. Replace it.
			if err := sn.Remove(ctx, s.ID); err != nil {
				return fmt.Errorf("containerd: %s: remove stale root: %w", s.ID, err)
			}
			if _, err := sn.Prepare(ctx, s.ID, parent); err != nil {
				return fmt.Errorf("containerd: %s: prepare root: %w", s.ID, err)
			}
		}
		defer func() {
			if retErr != nil {
				cctx, cancel := cleanupCtx(ctx)
				defer cancel()
				_ = sn.Remove(cctx, s.ID)
			}
		}()
		attachDir := ""
		if r.attachRoot != "" {
			attachDir = r.attachDir(s.ID)
			if err := r.ensureAttachDir(s.ID); err != nil {
				return err
			}
			defer func() {
				if retErr != nil {
					_ = r.detachAll(s.ID) // nothing is attached yet
				}
			}()
		}
		labels := maps.Clone(s.Labels)
		if labels == nil {
			labels = map[string]string{}
		}
		labels[labelManaged] = "true"
		if s.ConsolePath != "" {
			labels[labelConsole] = s.ConsolePath
		}
		var runtimeOpts any
		if r.runcDir != "" {
			runtimeOpts = &options.Options{Root: r.runcDir}
		}
		_, err = r.client.NewContainer(ctx, s.ID,
			client.WithSnapshotter(Snapshotter),
			client.WithSnapshot(s.ID),
			client.WithRuntime(runcShim, runtimeOpts),
			client.WithContainerLabels(labels),
			client.WithNewSpec(specOpts(s, r.caps, attachDir)...),
		)
		return mapErr(s.ID, err)
	})
}

// Start boots the instance: a new task running PID 1, its output appended
// to the console file by the shim itself (so it keeps being written while
// kiln is down). A stopped task left from the previous boot is deleted
// first; starting a running instance does nothing.
func (r *Runtime) Start(ctx context.Context, id string) (retErr error) {
	ctx = r.ns(ctx)
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return mapErr(id, err)
	}
	if t, err := c.Task(ctx, nil); err == nil {
		r.thawLeftover(ctx, id)
		st, err := t.Status(ctx)
		if err != nil {
			return mapErr(id, err)
		}
		switch st.Status {
		case client.Running, client.Pausing:
			return nil
		case client.Paused:
			return mapErr(id, t.Resume(ctx))
		case client.Created:
			return mapErr(id, t.Start(ctx))
		}
		if _, err := t.Delete(ctx, client.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return mapErr(id, err)
		}
	} else if !errdefs.IsNotFound(err) {
		return mapErr(id, err)
	}
	labels, err := c.Labels(ctx)
	if err != nil {
		return mapErr(id, err)
	}
	if r.attachRoot != "" {
		// runc bind-mounts it at runtime.VolumeDir; re-establish it if
		// it went missing (host reboot, cleaned-up data directory).
		if err := r.ensureAttachDir(id); err != nil {
			return err
		}
	}
	ioc := cio.NullIO
	if p := labels[labelConsole]; p != "" {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		ioc = cio.LogFile(p)
	}
	t, err := c.NewTask(ctx, ioc)
	if err != nil {
		return fmt.Errorf("containerd: %s: new task: %w", id, err)
	}
	defer func() {
		if retErr != nil {
			cctx, cancel := cleanupCtx(ctx)
			defer cancel()
			_, _ = t.Delete(cctx, client.WithProcessKill)
		}
	}()
	if err := t.Start(ctx); err != nil {
		return fmt.Errorf("containerd: %s: start: %w", id, err)
	}
	return nil
}

// Stop ends the instance's processes: SIGTERM to PID 1, up to grace to
// exit, then SIGKILL to every process of the container; the task is
// deleted and the root filesystem kept.
func (r *Runtime) Stop(ctx context.Context, id string, grace time.Duration) error {
	ctx = r.ns(ctx)
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return mapErr(id, err)
	}
	t, err := c.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return nil
	} else if err != nil {
		return mapErr(id, err)
	}
	r.thawLeftover(ctx, id) // a frozen task would never see its signals
	st, err := t.Status(ctx)
	if err != nil && !errdefs.IsNotFound(err) {
		return mapErr(id, err)
	}
	if st.Status != client.Stopped {
		r.markKilled(id, t.Pid())
		waitC, err := t.Wait(ctx)
		if err != nil {
			return mapErr(id, err)
		}
		if st.Status == client.Paused {
			_ = t.Resume(ctx)
		}
		exited := false
		if grace > 0 && st.Status != client.Created {
			if err := t.Kill(ctx, syscall.SIGTERM); err != nil && !errdefs.IsNotFound(err) {
				r.log.Warn("SIGTERM failed", "id", id, "err", err)
			}
			timer := time.NewTimer(grace)
			select {
			case <-waitC:
				exited = true
			case <-timer.C:
			case <-ctx.Done():
				timer.Stop()
				return ctx.Err()
			}
			timer.Stop()
		}
		if !exited {
			if err := t.Kill(ctx, syscall.SIGKILL, client.WithKillAll); err != nil && !errdefs.IsNotFound(err) {
				return fmt.Errorf("containerd: %s: kill: %w", id, err)
			}
			select {
			case <-waitC:
			case <-time.After(30 * time.Second):
				return fmt.Errorf("containerd: %s: processes did not end after SIGKILL", id)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	es, err := t.Delete(ctx)
	if err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("containerd: %s: delete task: %w", id, err)
	}
	if es != nil {
		_, _ = c.SetLabels(ctx, map[string]string{labelExit: strconv.Itoa(int(es.ExitCode()))})
	}
	return nil
}

// Delete stops the instance (no grace), unmounts its volume attachments
// (never touching the volumes' data) and removes its attachment directory,
// its container and its writable snapshot.
func (r *Runtime) Delete(ctx context.Context, id string) error {
	ctx = r.ns(ctx)
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return mapErr(id, err)
	}
	if err := r.Stop(ctx, id, 0); err != nil && !errors.Is(err, runtime.ErrNotFound) {
		return err
	}
	// Attachments go first (the volumes' data stays), so that a crash
	// here leaves an instance that a repeated Delete removes.
	if err := r.detachAll(id); err != nil {
		return err
	}
	if err := c.Delete(ctx, client.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return mapErr(id, err)
	}
	time.AfterFunc(time.Minute, func() { r.forgetKilled(id) })
	return nil
}

// Status reports the instance's container and task.
func (r *Runtime) Status(ctx context.Context, id string) (runtime.Status, error) {
	ctx = r.ns(ctx)
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return runtime.Status{}, mapErr(id, err)
	}
	return r.status(ctx, c)
}

func (r *Runtime) status(ctx context.Context, c client.Container) (runtime.Status, error) {
	id := c.ID()
	labels, err := c.Labels(ctx)
	if err != nil {
		return runtime.Status{}, mapErr(id, err)
	}
	s := runtime.Status{ID: id, Labels: map[string]string{}}
	for k, v := range labels {
		if !strings.HasPrefix(k, labelPrefix) {
			s.Labels[k] = v
		}
	}
	if v, ok := labels[labelExit]; ok {
		s.ExitCode, _ = strconv.Atoi(v)
	}
	t, err := c.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return s, nil
	} else if err != nil {
		return runtime.Status{}, mapErr(id, err)
	}
	st, err := t.Status(ctx)
	if errdefs.IsNotFound(err) {
		return s, nil
	} else if err != nil {
		return runtime.Status{}, mapErr(id, err)
	}
	switch st.Status {
	case client.Running, client.Paused, client.Pausing:
		s.Running = true
		s.Pid = int(t.Pid())
	case client.Stopped:
		s.ExitCode = int(st.ExitStatus)
	}
	return s, nil
}

// List reports every kiln instance container in the namespace.
func (r *Runtime) List(ctx context.Context) ([]runtime.Status, error) {
	ctx = r.ns(ctx)
	cs, err := r.client.Containers(ctx, fmt.Sprintf("labels.%q==true", labelManaged))
	if err != nil {
		return nil, fmt.Errorf("containerd: list: %w", err)
	}
	out := make([]runtime.Status, 0, len(cs))
	for _, c := range cs {
		s, err := r.status(ctx, c)
		if errors.Is(err, runtime.ErrNotFound) {
			continue // deleted meanwhile
		} else if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// Exited returns a channel that receives the exit code of the instance's
// current task if it ends by itself. When kiln stops or deletes the
// instance, or the runtime is closed, the channel is closed without a
// value. With no task, the channel is closed at once; a task that already
// ended by itself (and was not yet cleaned up) delivers its code at once.
func (r *Runtime) Exited(ctx context.Context, id string) (<-chan int, error) {
	ctx = r.ns(ctx)
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return nil, mapErr(id, err)
	}
	ch := make(chan int, 1)
	t, err := c.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		close(ch)
		return ch, nil
	} else if err != nil {
		return nil, mapErr(id, err)
	}
	pid := t.Pid()
	waitC, err := t.Wait(r.ns(r.bg))
	if err != nil {
		return nil, mapErr(id, err)
	}
	go func() {
		defer close(ch)
		for {
			select {
			case es := <-waitC:
				if es.Error() == nil {
					if !r.wasKilled(id, pid) {
						ch <- int(es.ExitCode())
					}
					return
				}
			case <-r.bg.Done():
				return
			}
			// The wait failed (containerd restarting): wait again on the
			// same task once containerd answers.
			if waitC = r.rewait(id, pid); waitC == nil {
				return
			}
		}
	}()
	return ch, nil
}

// rewait waits on the task of id again after a failed wait; nil when the
// task is gone, replaced or the runtime closed.
func (r *Runtime) rewait(id string, pid uint32) <-chan client.ExitStatus {
	ctx := r.ns(r.bg)
	for {
		select {
		case <-r.bg.Done():
			return nil
		case <-time.After(500 * time.Millisecond):
		}
		c, err := r.client.LoadContainer(ctx, id)
		if errdefs.IsNotFound(err) {
			return nil
		} else if err != nil {
			continue
		}
		t, err := c.Task(ctx, nil)
		if errdefs.IsNotFound(err) {
			return nil
		} else if err != nil {
			continue
		}
		if t.Pid() != pid {
			return nil
		}
		if waitC, err := t.Wait(ctx); err == nil {
			return waitC
		}
	}
}

func (r *Runtime) markKilled(id string, pid uint32) {
	r.killedMu.Lock()
	defer r.killedMu.Unlock()
	r.killed[id] = pid
}

func (r *Runtime) wasKilled(id string, pid uint32) bool {
	r.killedMu.Lock()
	defer r.killedMu.Unlock()
	return r.killed[id] == pid
}

func (r *Runtime) forgetKilled(id string) {
	r.killedMu.Lock()
	defer r.killedMu.Unlock()
	delete(r.killed, id)
}
