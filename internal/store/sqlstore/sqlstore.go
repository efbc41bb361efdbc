// Package sqlstore is the generic SQL implementation of store.Store shared by
// kiln's SQL backends (sqlite, later postgres), in the manner of kine: the
// logic, statements, transaction handling, retries and migrations live here;
// a backend supplies a Dialect (placeholders, upsert syntax, list binding,
// error classification), its connections and its migration files.
//
// Writes go through Config.Writer, reads through Config.Reader, which may be
// a separate pool (SQLite in WAL mode: one write connection, many read-only
// ones). Every statement is prepared once per handle when the store opens.
//
// Adding PostgreSQL means a package with: a Dialect (RebindDollar;
// InList "column = ANY(?)" with a text[] argument; the Standard upsert
// helpers; unique violation = SQLSTATE 23505; retryable = 40001 and
// 40P01), migrations of its own (BYTEA for body, COLLATE "C" on id columns
// so ID order matches SQLite's byte order), ReadTx {ReadOnly, Isolation:
// sql.LevelRepeatableRead} so a View is one snapshot, WriteTx {Isolation:
// sql.LevelSerializable}, and a test that runs storetest.Run.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/kiln-dev/kiln/internal/store"
)

// Config describes the databases and dialect of a Store.
type Config struct {
	Dialect Dialect
	// Writer runs Update transactions. For a serialized store (SQLite) it
	// is limited to one connection and begins transactions with the write
	// lock taken (BEGIN IMMEDIATE).
	Writer *sql.DB
	// Reader runs View transactions. It may be the same handle as Writer.
	Reader *sql.DB
	// WriteTx and ReadTx are the options for BeginTx; nil ReadTx means
	// read-only.
	WriteTx, ReadTx *sql.TxOptions
	// Retry bounds how Update (and View) retry transient failures.
	Retry Retry
}

// Retry is the retry policy for transient errors (Dialect.IsRetryable).
type Retry struct {
	Attempts int           // total tries, ≥ 1 (0 means DefaultRetry's)
	Base     time.Duration // first backoff; doubled per attempt, with jitter
	Max      time.Duration // backoff cap
}

// DefaultRetry is used for zero fields of Config.Retry.
var DefaultRetry = Retry{Attempts: 8, Base: 2 * time.Millisecond, Max: 250 * time.Millisecond}

// Store implements store.Store over database/sql.
type Store struct {
	d       Dialect
	writer  *sql.DB
	reader  *sql.DB
	wstmts  *stmts
	rstmts  *stmts
	writeTx *sql.TxOptions
	readTx  *sql.TxOptions
	retry   Retry

	closeOnce sync.Once
	closeErr  error
}

var _ store.Store = (*Store)(nil)

// New prepares the statements and returns the Store. The schema must
// already be migrated (see Migrate). The Store owns both handles and closes
// them in Close.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Dialect == nil || cfg.Writer == nil {
		return nil, errors.New("sqlstore: Config needs Dialect and Writer")
	}
	if cfg.Reader == nil {
		cfg.Reader = cfg.Writer
	}
	if cfg.ReadTx == nil {
		cfg.ReadTx = &sql.TxOptions{ReadOnly: true}
	}
	if cfg.Retry.Attempts <= 0 {
		cfg.Retry.Attempts = DefaultRetry.Attempts
	}
	if cfg.Retry.Base <= 0 {
		cfg.Retry.Base = DefaultRetry.Base
	}
	if cfg.Retry.Max <= 0 {
		cfg.Retry.Max = DefaultRetry.Max
	}
	text := buildSQL(cfg.Dialect)
	s := &Store{
		d: cfg.Dialect, writer: cfg.Writer, reader: cfg.Reader,
		writeTx: cfg.WriteTx, readTx: cfg.ReadTx, retry: cfg.Retry,
	}
	var err error
	if s.wstmts, err = prepareAll(ctx, cfg.Writer, &text); err != nil {
		return nil, fmt.Errorf("sqlstore: %w", err)
	}
	if cfg.Reader == cfg.Writer {
		s.rstmts = s.wstmts
	} else if s.rstmts, err = prepareAll(ctx, cfg.Reader, &text); err != nil {
		s.wstmts.close()
		return nil, fmt.Errorf("sqlstore: %w", err)
	}
	return s, nil
}

// View implements store.Store.
func (s *Store) View(ctx context.Context, fn func(store.Tx) error) error {
	return s.run(ctx, false, fn)
}

// Update implements store.Store.
func (s *Store) Update(ctx context.Context, fn func(store.Tx) error) error {
	return s.run(ctx, true, fn)
}

// Close closes the statements and both database handles. It is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if s.rstmts != s.wstmts {
			s.rstmts.close()
		}
		s.wstmts.close()
		var errs []error
		if s.reader != s.writer {
			errs = append(errs, s.reader.Close())
		}
		errs = append(errs, s.writer.Close())
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

func (s *Store) run(ctx context.Context, write bool, fn func(store.Tx) error) error {
	backoff := s.retry.Base
	for attempt := 1; ; attempt++ {
		err := s.once(ctx, write, fn)
		var re *retryableError
		if err == nil || !errors.As(err, &re) {
			return err
		}
		if attempt >= s.retry.Attempts {
			return fmt.Errorf("sqlstore: giving up after %d attempts: %w", attempt, err)
		}
		// Full jitter keeps competing processes from retrying in step.
		wait := backoff/2 + rand.N(backoff/2+1)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, s.retry.Max)
	}
}

// once runs fn in one transaction.
func (s *Store) once(ctx context.Context, write bool, fn func(store.Tx) error) (err error) {
	db, opts, st := s.reader, s.readTx, s.rstmts
	if write {
		db, opts, st = s.writer, s.writeTx, s.wstmts
	}
	sqlTx, err := db.BeginTx(ctx, opts)
	if err != nil {
		return s.translate("begin", err)
	}
	t := &tx{ctx: ctx, s: s, sqlTx: sqlTx, st: st, write: write}
	finished := false
	defer func() {
		t.done = true
		if !finished {
			// fn panicked: release the connection (for SQLite the only
			// write connection) before the panic propagates.
			sqlTx.Rollback()
		}
	}()
	err = fn(t)
	finished = true
	if err != nil {
		sqlTx.Rollback()
		return err
	}
	if !write {
		// Nothing to commit; ending a read transaction cannot lose data.
		sqlTx.Rollback()
		return nil
	}
	return s.translate("commit", sqlTx.Commit())
}

// retryableError marks a transient database error. It matches
// store.ErrConflict, which is what callers see once retries run out.
type retryableError struct{ err error }

func (e *retryableError) Error() string        { return "store: conflict: " + e.err.Error() }
func (e *retryableError) Unwrap() []error      { return []error{store.ErrConflict, e.err} }
func (e *retryableError) Is(target error) bool { return target == store.ErrConflict }

// translate maps a driver error into the store vocabulary.
func (s *Store) translate(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return err
	case s.d.IsRetryable(err):
		return &retryableError{err: err}
	case s.d.IsUniqueViolation(err):
		return fmt.Errorf("%w (%s: %v)", store.ErrAlreadyExists, op, err)
	}
	return fmt.Errorf("sqlstore: %s %s: %w", s.d.Name(), op, err)
}
