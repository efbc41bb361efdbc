package sqlite

import (
	"path/filepath"
	"sync"
	"testing"
)

var tempPaths sync.Map // testing.TB → database path

// OpenTemp opens a store in a temporary directory owned by t and closes it
// when t ends. Calling it again with the same t opens the same database, so
// a test can Close and reopen to check durability.
func OpenTemp(t testing.TB, opts ...Option) *Store {
	t.Helper()
	p, ok := tempPaths.Load(t)
	if !ok {
		p = filepath.Join(t.TempDir(), "kiln.db")
		tempPaths.Store(t, p)
		t.Cleanup(func() { tempPaths.Delete(t) })
	}
	s, err := Open(p.(string), opts...)
	if err != nil {
		t.Fatalf("sqlite.OpenTemp: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
