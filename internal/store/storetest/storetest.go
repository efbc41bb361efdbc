// Package storetest is the conformance suite every store.Store backend must
// pass: each method and error, name uniqueness, tag semantics, list filters,
// pagination and ordering, whole-store walks, rollback, concurrent updates,
// readers during writes, snapshot reads and durability across Close and
// reopen.
package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/kiln-dev/kiln/internal/store"
)

// Open returns a store for t. The first call for a given t must return an
// empty store and arrange for it to be closed when t ends (Close must be
// idempotent). Calling Open again with the same t after closing the first
// store must reopen the same data: the durability test relies on it.
type Open func(t *testing.T) store.Store

// Run runs the whole suite as subtests of t.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, Open)
	}{
		{"CreateGet", testCreateGet},
		{"CreateConflicts", testCreateConflicts},
		{"KeyIsolation", testKeyIsolation},
		{"GetByName", testGetByName},
		{"NameUniqueness", testNameUniqueness},
		{"Put", testPut},
		{"Delete", testDelete},
		{"Invalid", testInvalid},
		{"Body", testBody},
		{"ListOrderAndFilters", testList},
		{"ListAllAccounts", testListAllAccounts},
		{"ListPagination", testListPagination},
		{"Walk", testWalk},
		{"WalkSnapshot", testWalkSnapshot},
		{"Tags", testTags},
		{"TagFilters", testTagFilters},
		{"DeleteRemovesTags", testDeleteRemovesTags},
		{"JSON", testJSON},
		{"ReadYourWrites", testReadYourWrites},
		{"Rollback", testRollback},
		{"PanicRollsBack", testPanic},
		{"ReadOnlyView", testReadOnlyView},
		{"TxAfterReturn", testTxAfterReturn},
		{"ContextCanceled", testContextCanceled},
		{"ConcurrentUpdates", testConcurrentUpdates},
		{"ReadersDuringWrite", testReadersDuringWrite},
		{"SnapshotView", testSnapshotView},
		{"Durability", testDurability},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

// Helpers.

var bg = context.Background()

const (
	acct   = "111111111111"
	acct2  = "222222222222"
	region = "us-east-1"
)

func key(kind, id string) store.Key {
	return store.Key{Account: acct, Region: region, Kind: kind, ID: id}
}

func rec(kind, id, name, body string) store.Record {
	return store.Record{Key: key(kind, id), Name: name, Body: []byte(body)}
}

func update(t *testing.T, s store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := s.Update(context.Background(), fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func view(t *testing.T, s store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := s.View(context.Background(), fn); err != nil {
		t.Fatalf("View: %v", err)
	}
}

func create(t *testing.T, s store.Store, rs ...store.Record) {
	t.Helper()
	update(t, s, func(tx store.Tx) error {
		for _, r := range rs {
			if err := tx.Create(r); err != nil {
				return err
			}
		}
		return nil
	})
}

func get(t *testing.T, s store.Store, k store.Key) (store.Record, error) {
	t.Helper()
	var r store.Record
	var gerr error
	view(t, s, func(tx store.Tx) error {
		r, gerr = tx.Get(k)
		return nil
	})
	return r, gerr
}

func list(t *testing.T, s store.Store, q store.Query) []store.Record {
	t.Helper()
	var rs []store.Record
	view(t, s, func(tx store.Tx) error {
		var err error
		rs, err = tx.List(q)
		return err
	})
	return rs
}

func ids(rs []store.Record) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

func noErr(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func wantIDs(t *testing.T, what string, rs []store.Record, want ...string) {
	t.Helper()
	if got := ids(rs); !equalStrings(got, want) && !(len(got) == 0 && len(want) == 0) {
		t.Fatalf("%s: got IDs %v, want %v", what, got, want)
	}
}

func sameRecord(t *testing.T, what string, got, want store.Record) {
	t.Helper()
	if got.Key != want.Key || got.Name != want.Name || string(got.Body) != string(want.Body) {
		t.Fatalf("%s: got %+v (body %q), want %+v (body %q)", what, got.Key, got.Body, want.Key, want.Body)
	}
	if got.Name != want.Name {
		t.Fatalf("%s: got name %q, want %q", what, got.Name, want.Name)
	}
}
