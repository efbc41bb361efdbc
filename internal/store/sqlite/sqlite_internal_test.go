package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/kiln-dev/kiln/internal/store"
	"github.com/kiln-dev/kiln/internal/store/sqlstore"
)

var bg = context.Background()

func withMigrations(fsys fstest.MapFS) Option {
	return func(s *Settings) { s.migrations = fsys }
}

func embedded(t *testing.T) fstest.MapFS {
	t.Helper()
	b, err := migrationFS.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	return fstest.MapFS{"migrations/0001_init.sql": {Data: b}}
}

func rawDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func versions(t *testing.T, path string) []int {
	t.Helper()
	rows, err := rawDB(t, path).Query("SELECT version FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var vs []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	return vs
}

// TestMigrateOldDatabase opens a database written at schema version 1 with
// a program that knows version 2: the new migration is applied once, the
// data survives, and an older program then refuses the database.
func TestMigrateOldDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "dir", "kiln.db")
	v1 := embedded(t)
	s, err := Open(path, withMigrations(v1))
	if err != nil {
		t.Fatal(err)
	}
	err = s.Update(bg, func(tx store.Tx) error {
		if err := tx.Create(store.Record{Key: store.Key{Account: "1", Region: "r", Kind: "k", ID: "a"}, Name: "n", Body: []byte(`{}`)}); err != nil {
			return err
		}
		return tx.PutTag(store.Tag{Account: "1", Region: "r", ResourceID: "a", ResourceType: "k", Key: "Name", Value: "v"})
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if got := versions(t, path); len(got) != 1 || got[0] != 1 {
		t.Fatalf("versions after v1 = %v", got)
	}

	v2 := embedded(t)
	v2["migrations/0002_extra.sql"] = &fstest.MapFile{Data: []byte(`
		-- a later migration: new column with a default, new table
		ALTER TABLE records ADD COLUMN extra TEXT NOT NULL DEFAULT 'x';
		CREATE TABLE things (id TEXT PRIMARY KEY);
		INSERT INTO things (id) SELECT id FROM records;
	`)}
	for range 2 { // the second open finds nothing to do
		s, err = Open(path, withMigrations(v2))
		if err != nil {
			t.Fatal(err)
		}
		err = s.View(bg, func(tx store.Tx) error {
			r, err := tx.GetByName("1", "r", "k", "n")
			if err != nil || r.ID != "a" {
				return errors.Join(err, errors.New("record lost in migration"))
			}
			tags, err := tx.ListTags(store.TagQuery{Account: "1", Region: "r"})
			if err != nil || len(tags) != 1 {
				return errors.Join(err, errors.New("tag lost in migration"))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		if got := versions(t, path); len(got) != 2 || got[1] != 2 {
			t.Fatalf("versions after v2 = %v", got)
		}
	}
	var n int
	if err := rawDB(t, path).QueryRow("SELECT COUNT(*) FROM things").Scan(&n); err != nil || n != 1 {
		t.Fatalf("migration 0002 ran %d times (err %v)", n, err)
	}

	if _, err := Open(path, withMigrations(v1)); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("opening a newer database with an older program: %v", err)
	}
}

func TestBadMigrations(t *testing.T) {
	for name, fsys := range map[string]fstest.MapFS{
		"gap":       {"migrations/0001_a.sql": {Data: []byte("SELECT 1")}, "migrations/0003_c.sql": {Data: []byte("SELECT 1")}},
		"duplicate": {"migrations/0001_a.sql": {Data: []byte("SELECT 1")}, "migrations/0001_b.sql": {Data: []byte("SELECT 1")}},
		"misnamed":  {"migrations/0001_a.sql": {Data: []byte("SELECT 1")}, "migrations/2_b.sql": {Data: []byte("SELECT 1")}},
		"bad sql":   {"migrations/0001_a.sql": {Data: []byte("CREATE TABLE")}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Open(filepath.Join(t.TempDir(), "kiln.db"), withMigrations(fsys)); err == nil {
				t.Fatal("Open succeeded")
			}
		})
	}
}

// TestSettingsApplied checks that the connection strings built from
// Settings really configure the connections.
func TestSettingsApplied(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kiln.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	set := DefaultSettings()
	set.BusyTimeout = 1234 * time.Millisecond

	pragma := func(db *sql.DB, name string) string {
		t.Helper()
		var v string
		if err := db.QueryRow("PRAGMA " + name).Scan(&v); err != nil {
			t.Fatalf("PRAGMA %s: %v", name, err)
		}
		return v
	}
	w := rawDB(t, set.writerDSN(path))
	for name, want := range map[string]string{
		"journal_mode": "wal", "busy_timeout": "1234", "foreign_keys": "1",
		"synchronous": "1", "cache_size": "-16384", "query_only": "0",
	} {
		if got := pragma(w, name); got != want {
			t.Errorf("writer PRAGMA %s = %s, want %s", name, got, want)
		}
	}
	r := rawDB(t, set.readerDSN(path))
	for name, want := range map[string]string{"busy_timeout": "1234", "query_only": "1", "foreign_keys": "1"} {
		if got := pragma(r, name); got != want {
			t.Errorf("reader PRAGMA %s = %s, want %s", name, got, want)
		}
	}
	if _, err := r.Exec("CREATE TABLE nope (x)"); err == nil {
		t.Error("reader connection could write")
	}

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("database mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestBadPath(t *testing.T) {
	for _, p := range []string{"", ":memory:", "file:x.db", filepath.Join(t.TempDir(), "a?b.db")} {
		if s, err := Open(p); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", p)
		}
	}
}

// TestBusyRetry runs two stores on one file, as two processes would. While
// one holds the write lock the other's Update sees SQLITE_BUSY: it retries,
// and reports store.ErrConflict once its attempts are used up.
func TestBusyRetry(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kiln.db")
	a, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	hold := func(d time.Duration) (started chan struct{}, done chan error) {
		started, done = make(chan struct{}), make(chan error, 1)
		var once sync.Once
		go func() {
			done <- a.Update(bg, func(tx store.Tx) error {
				err := tx.Put(store.Record{Key: store.Key{Kind: "k", ID: "held"}, Body: []byte(`{}`)})
				once.Do(func() { close(started) })
				time.Sleep(d)
				return err
			})
		}()
		<-started
		return started, done
	}
	put := func(s *Store) error {
		return s.Update(bg, func(tx store.Tx) error {
			return tx.Put(store.Record{Key: store.Key{Kind: "k", ID: "b"}, Body: []byte(`{}`)})
		})
	}

	impatient, err := Open(path, WithBusyTimeout(10*time.Millisecond),
		WithRetry(sqlstore.Retry{Attempts: 3, Base: time.Millisecond, Max: 2 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	defer impatient.Close()
	_, done := hold(500 * time.Millisecond)
	err = put(impatient)
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Update against a held lock = %v, want ErrConflict", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	patient, err := Open(path, WithBusyTimeout(10*time.Millisecond),
		WithRetry(sqlstore.Retry{Attempts: 100, Base: 5 * time.Millisecond, Max: 20 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	defer patient.Close()
	_, done = hold(150 * time.Millisecond)
	if err := put(patient); err != nil {
		t.Fatalf("Update retried past a briefly held lock: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestUniqueViolation checks the dialect's error translation, the backstop
// behind the layer's explicit checks.
func TestUniqueViolation(t *testing.T) {
	db := rawDB(t, filepath.Join(t.TempDir(), "x.db"))
	if _, err := db.Exec("CREATE TABLE t (a TEXT PRIMARY KEY, b TEXT UNIQUE); INSERT INTO t VALUES ('1', 'x')"); err != nil {
		t.Fatal(err)
	}
	d := dialect{}
	_, err := db.Exec("INSERT INTO t VALUES ('1', 'y')")
	if !d.IsUniqueViolation(err) || d.IsRetryable(err) {
		t.Errorf("primary key violation %v not classified", err)
	}
	_, err = db.Exec("INSERT INTO t VALUES ('2', 'x')")
	if !d.IsUniqueViolation(err) {
		t.Errorf("unique violation %v not classified", err)
	}
	_, err = db.Exec("INSERT INTO t VALUES (NULL, NULL, NULL)")
	if err == nil || d.IsUniqueViolation(err) || d.IsRetryable(err) {
		t.Errorf("other error %v misclassified", err)
	}
}
