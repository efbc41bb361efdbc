// Package sqlite is kiln's default state store: store.Store on SQLite (the
// pure-Go modernc.org/sqlite driver, so kiln builds with CGO_ENABLED=0),
// built on the generic sqlstore layer.
//
// The database runs in WAL mode with one write connection, whose
// transactions begin IMMEDIATE, and a pool of read-only connections that
// read concurrently with it. All pragmas come from Settings.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/kiln-dev/kiln/internal/store"
	"github.com/kiln-dev/kiln/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Store is a SQLite-backed store.Store.
type Store struct {
	*sqlstore.Store
	path string
}

var _ store.Store = (*Store)(nil)

// Path returns the database file's path.
func (s *Store) Path() string { return s.path }

// Open opens (creating if needed, with its parent directory) the database at
// path and applies any pending migrations.
func Open(path string, opts ...Option) (*Store, error) {
	set := DefaultSettings()
	for _, o := range opts {
		o(&set)
	}
	if path == "" || strings.ContainsAny(path, "?#") || strings.HasPrefix(path, "file:") || path == ":memory:" {
		return nil, fmt.Errorf("sqlite: unsupported database path %q (want a file path)", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	// The database holds credentials: create it private. SQLite gives the
	// -wal and -shm files the database file's mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	f.Close()

	migFS := set.migrations
	if migFS == nil {
		migFS = migrationFS
	}
	ms, err := sqlstore.LoadMigrations(migFS, "migrations")
	if err != nil {
		return nil, err
	}

	ctx := context.Background()
	writer, err := sql.Open("sqlite", set.writerDSN(path))
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)
	if _, err := sqlstore.Migrate(ctx, writer, dialect{}, ms); err != nil {
		writer.Close()
		return nil, fmt.Errorf("sqlite: %s: %w", path, err)
	}

	// Readers open after the writer has put the database in WAL mode.
	reader, err := sql.Open("sqlite", set.readerDSN(path))
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	n := max(1, set.ReadConns)
	reader.SetMaxOpenConns(n)
	reader.SetMaxIdleConns(n)
	reader.SetConnMaxLifetime(0)
	reader.SetConnMaxIdleTime(0)

	s, err := sqlstore.New(ctx, sqlstore.Config{
		Dialect: dialect{},
		Writer:  writer,
		Reader:  reader,
		Retry:   set.Retry,
	})
	if err != nil {
		err = errors.Join(err, reader.Close(), writer.Close())
		return nil, fmt.Errorf("sqlite: %s: %w", path, err)
	}
	return &Store{Store: s, path: path}, nil
}
