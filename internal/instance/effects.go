package instance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/kiln-dev/kiln/internal/image"
	"github.com/kiln-dev/kiln/internal/netns"
	"github.com/kiln-dev/kiln/internal/runtime"
	"github.com/kiln-dev/kiln/internal/seal"
)

// errVanished: the runtime no longer has the container of an instance that
// booted before (see Vanished).
var errVanished = errors.New("instance: container vanished")

// rollbackTimeout bounds a rollback, which runs on a fresh context so that
// a cancelled request or a shutdown cannot leave half a launch behind.
const rollbackTimeout = 30 * time.Second

// perform does act's side effects. Every step is idempotent: after a crash
// the same action runs again from the top.
func (c *Controller) perform(ctx context.Context, r Record, act Action) error {
	switch act {
	case Launch, Ensure:
		return c.up(ctx, r)
	case Reboot:
		c.unwatch(r.ID)
		if err := c.rt.Stop(ctx, r.ID, c.cfg.StopGrace); errors.Is(err, runtime.ErrNotFound) {
			return errVanished
		} else if err != nil {
			return fmt.Errorf("reboot: stop: %w", err)
		}
		return c.up(ctx, r)
	case Stop, EnsureStop:
		c.unwatch(r.ID)
		grace := c.cfg.StopGrace
		if r.ForceStop {
			grace = 0
		}
		if err := c.rt.Stop(ctx, r.ID, grace); errors.Is(err, runtime.ErrNotFound) {
			return errVanished
		} else if err != nil {
			return fmt.Errorf("stop: %w", err)
		}
		return nil
	case Terminate:
		c.unwatch(r.ID)
		if c.cfg.BeforeDelete != nil {
			if err := c.cfg.BeforeDelete(ctx, r); err != nil {
				return fmt.Errorf("terminate: volumes: %w", err)
			}
		}
		if err := c.rt.Delete(ctx, r.ID); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			return fmt.Errorf("terminate: delete: %w", err)
		}
		if err := c.nn.Detach(ctx, r.ID); err != nil {
			return fmt.Errorf("terminate: detach: %w", err)
		}
		return nil
	case Expire:
		return nil
	}
	return fmt.Errorf("instance: unknown action %v", act)
}

// up makes the instance run: network attached, container created (first
// boot only: a booted instance's container holds its root disk and is
// never re-created) or resized to the record's limits if they changed,
// task started, exit watched.
func (c *Controller) up(ctx context.Context, r Record) (err error) {
	addr, err := r.Prefix()
	if err != nil {
		return err
	}
	mac, err := net.ParseMAC(r.MAC)
	if err != nil {
		return fmt.Errorf("instance %s: mac %q: %w", r.ID, r.MAC, err)
	}
	st, serr := c.rt.Status(ctx, r.ID)
	exists := serr == nil
	switch {
	case errors.Is(serr, runtime.ErrNotFound):
		if r.Booted() {
			return errVanished
		}
	case serr != nil:
		return fmt.Errorf("status: %w", serr)
	}
	if exists && st.Running {
		c.watchExit(r.ID)
		return nil
	}
	// A new instance's network and container are independent until its
	// task starts: prepare them concurrently when the network can name the
	// namespace before creating it.
	var att netns.Attachment
	created := false
	defer func() {
		if err == nil {
			return
		}
		// Roll back what this call did, on a fresh context. A booted
		// instance's container is kept (it is the root disk).
		rctx, cancel := context.WithTimeout(context.Background(), rollbackTimeout)
		defer cancel()
		if created {
			if derr := c.rt.Delete(rctx, r.ID); derr != nil && !errors.Is(derr, runtime.ErrNotFound) {
				c.log.Warn("instance: rollback delete", "id", r.ID, "err", derr)
			}
		}
		if !r.Booted() {
			if derr := c.nn.Detach(rctx, r.ID); derr != nil {
				c.log.Warn("instance: rollback detach", "id", r.ID, "err", derr)
			}
		}
	}()
	create := func(netnsPath string) error {
		spec, err := c.spec(r, netnsPath)
		if err != nil {
			return err
		}
		if err := c.checkKeys(ctx, r); err != nil {
			return err
		}
		switch err := c.rt.Create(ctx, spec); {
		case err == nil:
			created = true
		case !errors.Is(err, runtime.ErrAlreadyExists):
			return fmt.Errorf("create: %w", err)
		}
		return nil
	}
	attach := func() (err error) {
		att, err = c.nn.Attach(ctx, r.ID, addr, mac)
		if err != nil {
			return fmt.Errorf("attach: %w", err)
		}
		return nil
	}
	namer, concurrent := c.nn.(interface{ NetNSPath(id string) string })
	switch {
	case exists:
		if err := attach(); err != nil {
			return err
		}
	case concurrent:
		errc := make(chan error, 1)
		go func() { errc <- attach() }()
		cerr := create(namer.NetNSPath(r.ID))
		if aerr := <-errc; aerr != nil {
			return aerr
		}
		if cerr != nil {
			return cerr
		}
		if att.NetNSPath != namer.NetNSPath(r.ID) {
			return fmt.Errorf("instance %s: namespace %s, expected %s", r.ID, att.NetNSPath, namer.NetNSPath(r.ID))
		}
	default:
		if err := attach(); err != nil {
			return err
		}
		if err := create(att.NetNSPath); err != nil {
			return err
		}
	}
	if !created && r.resized() {
		// The existing container holds the limits of its last boot; the
		// instance type changed since (or they are unknown).
		if rz, ok := c.rt.(runtime.Resizer); ok {
			if err := rz.Resize(ctx, r.ID, r.VCPUs, r.MemoryMiB); err != nil {
				return fmt.Errorf("resize: %w", err)
			}
		} else {
			c.log.Warn("instance: runtime cannot resize; old limits kept", "id", r.ID, "vcpus", r.VCPUs, "memoryMiB", r.MemoryMiB)
		}
	}
	if c.cfg.BeforeStart != nil {
		if err := c.cfg.BeforeStart(ctx, r); err != nil {
			return fmt.Errorf("start: volumes: %w", err)
		}
	}
	if err := c.rt.Start(ctx, r.ID); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	c.watchExit(r.ID)
	return nil
}

// spec is the runtime spec of the instance's container.
func (c *Controller) spec(r Record, netnsPath string) (runtime.Spec, error) {
	s := runtime.Spec{
		ID:          r.ID,
		Hostname:    Hostname(r.PrivateIP),
		VCPUs:       r.VCPUs,
		MemoryMiB:   r.MemoryMiB,
		NetNSPath:   netnsPath,
		InitPath:    c.cfg.InitPath,
		ConsolePath: c.ConsolePath(r.ID),
		Labels:      r.Labels(),
		Mounts:      append([]runtime.Mount(nil), c.cfg.Mounts...),
	}
	switch {
	case r.Init == image.InitImage:
		s.Args = []string{"/sbin/init"}
	case len(c.cfg.InitArgs) > 0:
		s.Args = append([]string(nil), c.cfg.InitArgs...)
	}
	if len(r.Layers) > 0 {
		if c.cfg.Blobs == nil {
			return s, errors.New("instance: no blob store configured")
		}
		bs, err := c.cfg.Blobs.Region(r.Region)
		if err != nil {
			return s, fmt.Errorf("blob store of %s: %w", r.Region, err)
		}
		var kr seal.Keyring
		if c.cfg.Keys != nil {
			kr = c.cfg.Keys(r.Account, r.Region)
		}
		for _, l := range r.Layers {
			s.Layers = append(s.Layers, runtime.Layer{
				Digest: l.Digest, Size: l.Size,
				Open: func(ctx context.Context) (io.ReadCloser, error) { return seal.OpenLayer(ctx, bs, l, kr) },
			})
		}
	}
	return s, nil
}

// checkKeys makes sure the instance's account may use the keys of its
// encrypted layers, by unwrapping each sealed layer's data key: the
// runtime reads layers it already holds (unpacked for another launch)
// without asking.
func (c *Controller) checkKeys(ctx context.Context, r Record) error {
	var kr seal.Keyring
	for _, l := range r.Layers {
		if l.Sealed == nil {
			continue
		}
		if kr == nil {
			if c.cfg.Keys == nil {
				return &ClientError{Reason: ReasonInvalidKMSKey, Err: errors.New("kiln has no KMS")}
			}
			kr = c.cfg.Keys(r.Account, r.Region)
		}
		bs, err := c.cfg.Blobs.Region(r.Region)
		if err != nil {
			return err
		}
		rc, err := seal.OpenLayer(ctx, bs, l, kr)
		if err != nil {
			return fmt.Errorf("encrypted layer %s: %w", l.Digest, err)
		}
		rc.Close()
	}
	return nil
}

// watchExit follows the instance's current task: when it ends by itself
// the record moves to stopping or shutting-down (Exited).
func (c *Controller) watchExit(id string) {
	c.mu.Lock()
	if _, ok := c.watch[id]; ok {
		c.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(c.ctx)
	w := &watcher{cancel: cancel}
	c.watch[id] = w
	key, known := c.known[id]
	c.mu.Unlock()
	ch, err := c.rt.Exited(ctx, id)
	if err != nil || !known {
		c.log.Warn("instance: watch exit", "id", id, "err", err)
		c.dropWatch(id, w)
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		select {
		case <-ctx.Done():
			return
		case code, ok := <-ch:
			if !c.dropWatch(id, w) {
				return // the controller itself ended the task
			}
			if !ok {
				// Closed without a code: the task may have ended before
				// the watch began. Ask.
				st, err := c.rt.Status(c.ctx, id)
				if err != nil || st.Running {
					return
				}
				code = st.ExitCode
			}
			c.exited(key, code)
		}
	}()
}

// dropWatch removes w if it is still the instance's watcher.
func (c *Controller) dropWatch(id string, w *watcher) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	w.cancel()
	if c.watch[id] != w {
		return false
	}
	delete(c.watch, id)
	return true
}

// unwatch stops following the instance's task: the controller itself is
// about to end it.
func (c *Controller) unwatch(id string) {
	c.mu.Lock()
	w := c.watch[id]
	delete(c.watch, id)
	c.mu.Unlock()
	if w != nil {
		w.cancel()
	}
}
