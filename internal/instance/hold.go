package instance

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kiln-dev/kiln/internal/store"
)

// ErrGone: Hold found no instance that is alive (missing or terminated).
var ErrGone = errors.New("instance: no such live instance")

// Hold runs fn while the loop leaves the instance alone (CreateImage and
// CreateSnapshot of a root volume). With stop, a running instance's task
// is stopped gracefully first and booted again afterwards — the reboot
// that makes a capture consistent; running tells fn whether the task runs
// during fn. Requests that change the instance meanwhile are performed
// after fn. A crash inside Hold leaves the record as it was: the next
// start boots a running instance whose task is gone, as after any crash.
func (c *Controller) Hold(ctx context.Context, account, region, id string, stop bool, fn func(ctx context.Context, running bool) error) error {
	key := store.Key{Account: account, Region: region, Kind: Kind, ID: id}
	if err := c.acquire(ctx, id); err != nil {
		return err
	}
	defer func() {
		c.mu.Lock()
		delete(c.busy, id)
		c.dirty[id] = true
		c.mu.Unlock()
		c.poke()
	}()
	var r Record
	err := c.st.View(ctx, func(tx store.Tx) error {
		var err error
		r, err = store.GetJSON[Record](tx, key)
		return err
	})
	if errors.Is(err, store.ErrNotFound) || (err == nil && (r.State == Terminated || r.State == ShuttingDown)) {
		return fmt.Errorf("%w: %s", ErrGone, id)
	}
	if err != nil {
		return err
	}
	running := false
	if st, err := c.rt.Status(ctx, id); err == nil {
		running = st.Running
	}
	if running && stop {
		c.unwatch(id)
		if err := c.rt.Stop(ctx, id, c.cfg.StopGrace); err != nil {
			return fmt.Errorf("stop for capture: %w", err)
		}
		defer func() {
			if err := c.up(context.WithoutCancel(ctx), r); err != nil {
				c.log.Error("instance: boot after capture", "id", id, "err", err)
			}
		}()
		running = false
	}
	return fn(ctx, running)
}

// acquire marks the instance busy once no worker handles it.
func (c *Controller) acquire(ctx context.Context, id string) error {
	for {
		c.mu.Lock()
		if !c.busy[id] {
			c.busy[id] = true
			c.mu.Unlock()
			return nil
		}
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}
