package instance

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/kiln-dev/kiln/internal/region"
	"github.com/kiln-dev/kiln/internal/runtime"
	"github.com/kiln-dev/kiln/internal/store"
)

// exited records an instance-initiated shutdown reported by the runtime.
func (c *Controller) exited(key store.Key, code int) {
	now := c.clk.Now()
	var nr Record
	var wrote bool
	err := c.st.Update(c.ctx, func(tx store.Tx) error {
		r, err := store.GetJSON[Record](tx, key)
		if err != nil {
			return err
		}
		if nr, wrote = Exited(r, now); !wrote {
			return nil
		}
		nr.Version++
		return store.PutJSON(tx, key, "", nr)
	})
	if err != nil {
		if c.ctx.Err() == nil && !errors.Is(err, store.ErrNotFound) {
			c.log.Error("instance: record exit", "id", key.ID, "code", code, "err", err)
		}
		return
	}
	if wrote {
		c.log.Info("instance: shut down from inside", "id", key.ID, "code", code, "state", nr.State)
		c.changed(nr)
		c.Kick(key)
	}
}

// reconcile compares every record with the runtime and the network after
// a (re)start, before the loop runs:
//
//   - records that are not terminated are tracked and marked for
//     verification: the loop adopts running tasks (and watches them again),
//     resumes interrupted launches, stops and terminations, boots again a
//     running instance whose task ended while kiln was away (desired state
//     wins, as after a host reboot), and terminates with Server.InternalError
//     an instance whose container vanished (its root disk is gone);
//   - terminated records are tracked for expiry;
//   - the runtime prunes leftovers of interrupted operations (when it
//     implements runtime.Pruner: snapshots and leases of a Create cut short);
//   - containers and network attachments of no live record (a crash in
//     mid-launch before the record committed, or mid-terminate after it)
//     are removed, and so are address leases of no live record.
func (c *Controller) reconcile(ctx context.Context) error {
	live := map[string]Record{}
	var all []Record
	err := c.st.View(ctx, func(tx store.Tx) error {
		for _, reg := range region.All {
			rs, err := store.ListJSON[Record](tx, store.Query{AllAccounts: true, Region: reg.Name, Kind: Kind})
			if err != nil {
				return err
			}
			all = append(all, rs...)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("instance: reconcile: records: %w", err)
	}
	c.mu.Lock()
	for _, r := range all {
		k := store.Key{Account: r.Account, Region: r.Region, Kind: Kind, ID: r.ID}
		c.known[r.ID] = k
		c.dirty[r.ID] = true
		if r.State != Terminated {
			live[r.ID] = r
			c.verify[r.ID] = true
		}
	}
	c.mu.Unlock()

	if p, ok := c.rt.(runtime.Pruner); ok {
		removed, err := p.Prune(ctx)
		if err != nil {
			return fmt.Errorf("instance: reconcile: prune runtime: %w", err)
		}
		for _, what := range removed {
			c.log.Info("instance: runtime leftover removed", "what", what)
		}
	}
	cs, err := c.rt.List(ctx)
	if err != nil {
		return fmt.Errorf("instance: reconcile: runtime: %w", err)
	}
	for _, s := range cs {
		if _, ok := live[s.ID]; ok || !isInstanceID(s.ID) {
			continue
		}
		c.log.Info("instance: removing orphaned container", "id", s.ID)
		if err := c.rt.Delete(ctx, s.ID); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			return fmt.Errorf("instance: reconcile: delete orphan %s: %w", s.ID, err)
		}
	}
	atts, err := c.nn.List(ctx)
	if err != nil {
		return fmt.Errorf("instance: reconcile: network: %w", err)
	}
	for _, id := range atts {
		if _, ok := live[id]; ok {
			continue
		}
		c.log.Info("instance: removing orphaned network attachment", "id", id)
		if err := c.nn.Detach(ctx, id); err != nil {
			return fmt.Errorf("instance: reconcile: detach orphan %s: %w", id, err)
		}
	}
	return c.st.Update(ctx, func(tx store.Tx) error {
		leases, err := tx.List(store.Query{Kind: LeaseKind})
		if err != nil {
			return err
		}
		for _, lr := range leases {
			l, err := store.GetJSON[Lease](tx, lr.Key)
			if err != nil {
				return err
			}
			r, err := store.GetJSON[Record](tx, store.Key{Account: l.Account, Region: l.Region, Kind: Kind, ID: l.Instance})
			if err == nil && r.State != Terminated && r.PrivateIP == lr.ID {
				continue
			} else if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			c.log.Info("instance: releasing orphaned address lease", "ip", lr.ID, "instance", l.Instance)
			if err := tx.Delete(lr.Key); err != nil {
				return err
			}
		}
		return nil
	})
}

func isInstanceID(id string) bool { return strings.HasPrefix(id, "i-") }
