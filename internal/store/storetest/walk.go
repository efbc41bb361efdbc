package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/store"
)

// walkAll returns every record Walk reports in a View, by Key.
func walkAll(t *testing.T, s store.Store) map[store.Key]store.Record {
	t.Helper()
	out := map[store.Key]store.Record{}
	view(t, s, func(tx store.Tx) error {
		return tx.Walk(func(r store.Record) error {
			if _, dup := out[r.Key]; dup {
				return fmt.Errorf("Walk reported %+v twice", r.Key)
			}
			out[r.Key] = r
			return nil
		})
	})
	return out
}

func wantWalk(t *testing.T, what string, got map[store.Key]store.Record, want ...store.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: Walk reported %d records, want %d", what, len(got), len(want))
	}
	for _, w := range want {
		g, ok := got[w.Key]
		if !ok {
			t.Fatalf("%s: Walk missed %+v", what, w.Key)
		}
		sameRecord(t, what, g, w)
	}
}

func testWalk(t *testing.T, open Open) {
	s := open(t)
	if got := walkAll(t, s); len(got) != 0 {
		t.Fatalf("empty store: Walk reported %d records", len(got))
	}
	mk := func(account, region, kind, id, name, body string) store.Record {
		return store.Record{Key: store.Key{Account: account, Region: region, Kind: kind, ID: id}, Name: name, Body: []byte(body)}
	}
	all := []store.Record{
		mk(acct, region, "image", "ami-1", "web", `{"layers":["sha256:aa"]}`),
		mk(acct, "eu-west-1", "image", "ami-1", "web", `{}`), // same ID, other region
		mk(acct2, region, "image", "ami-2", "", `{"n":2}`),   // other account
		mk(acct, region, "snapshot", "snap-1", "", `{"n":3}`),
		mk("", "", "account", "111111111111", "admin", `{"n":4}`), // global
		mk("", "", "image-quickstart", "kiln-minimal", "", ``),    // empty body
	}
	create(t, s, all...)
	wantWalk(t, "Walk", walkAll(t, s), all...)

	// fn's error stops the walk and comes back unchanged.
	stop := errors.New("stop")
	n := 0
	err := s.View(bg, func(tx store.Tx) error {
		return tx.Walk(func(store.Record) error { n++; return stop })
	})
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("Walk with failing fn: err %v after %d calls, want stop after 1", err, n)
	}

	// The Tx may not be used from fn, and works again after the walk.
	view(t, s, func(tx store.Tx) error {
		var inner error
		if err := tx.Walk(func(r store.Record) error {
			_, inner = tx.Get(r.Key)
			return nil
		}); err != nil {
			return err
		}
		if inner == nil {
			return errors.New("Get inside Walk's fn succeeded")
		}
		_, err := tx.Get(all[0].Key)
		return err
	})

	// An Update's walk sees its own uncommitted writes and deletes.
	extra := mk(acct2, "ap-south-1", "volume", "vol-9", "", `{"n":9}`)
	rollback := errors.New("roll back")
	err = s.Update(bg, func(tx store.Tx) error {
		if err := tx.Create(extra); err != nil {
			return err
		}
		if err := tx.Delete(all[3].Key); err != nil {
			return err
		}
		seen := map[store.Key]bool{}
		if err := tx.Walk(func(r store.Record) error { seen[r.Key] = true; return nil }); err != nil {
			return err
		}
		if !seen[extra.Key] || seen[all[3].Key] || len(seen) != len(all) {
			return fmt.Errorf("Walk in Update saw %v", seen)
		}
		return rollback
	})
	wantErr(t, "Update", err, rollback)
	wantWalk(t, "after rollback", walkAll(t, s), all...)
}

// testWalkSnapshot: a View's Walk reports the records as they were when the
// walk began, even when an Update commits changes half-way through.
func testWalkSnapshot(t *testing.T, open Open) {
	s := open(t)
	const n = 300
	var want []store.Record
	update(t, s, func(tx store.Tx) error {
		for i := range n {
			r := rec("snapshot", fmt.Sprintf("snap-%04d", i), "", fmt.Sprintf(`{"v":%d}`, i))
			want = append(want, r)
			if err := tx.Create(r); err != nil {
				return err
			}
		}
		return nil
	})
	got := map[store.Key]store.Record{}
	err := s.View(bg, func(tx store.Tx) error {
		return tx.Walk(func(r store.Record) error {
			if len(got) == 0 {
				// Change, delete and add records the walk has not reached.
				ctx, cancel := context.WithTimeout(bg, 10*time.Second)
				defer cancel()
				err := s.Update(ctx, func(w store.Tx) error {
					for _, o := range want {
						if o.Key == r.Key {
							continue
						}
						if err := w.Delete(o.Key); err != nil {
							return err
						}
					}
					return w.Create(rec("snapshot", "snap-new", "", `{}`))
				})
				if err != nil {
					return fmt.Errorf("concurrent Update: %w", err)
				}
			}
			got[r.Key] = r
			return nil
		})
	})
	noErr(t, "View", err)
	wantWalk(t, "Walk during a commit", got, want...)
	if after := walkAll(t, s); len(after) != 2 {
		t.Fatalf("after the commit Walk reports %d records, want 2", len(after))
	}
}
