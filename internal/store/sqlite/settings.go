package sqlite

import (
	"fmt"
	"io/fs"
	"net/url"
	"runtime"
	"time"

	"github.com/kiln-dev/kiln/internal/store/sqlstore"
)

// Settings are every SQLite knob kiln uses, in one place. The connection
// strings below are built from them and nothing else sets a pragma.
type Settings struct {
	// BusyTimeout is how long a connection waits for a lock held by
	// another connection (another kiln process, or a checkpoint) before
	// SQLITE_BUSY. Update then retries per Retry.
	BusyTimeout time.Duration
	// ReadConns is the size of the read-only connection pool. WAL mode
	// lets all of them read while the single write connection writes.
	ReadConns int
	// Synchronous is PRAGMA synchronous. NORMAL in WAL mode is durable
	// across process crashes and never corrupts; on power loss the last
	// transactions before the crash may roll back.
	Synchronous string
	// CacheSizeKiB is PRAGMA cache_size (negative form), per connection.
	CacheSizeKiB int
	// Retry bounds how transactions are retried on SQLITE_BUSY/LOCKED.
	Retry sqlstore.Retry

	// migrations overrides the embedded migrations (tests only).
	migrations fs.FS
}

// DefaultSettings returns the settings Open uses.
func DefaultSettings() Settings {
	return Settings{
		BusyTimeout:  5 * time.Second,
		ReadConns:    max(4, runtime.GOMAXPROCS(0)),
		Synchronous:  "NORMAL",
		CacheSizeKiB: 16 << 10,
		Retry:        sqlstore.DefaultRetry,
	}
}

// Option changes a setting.
type Option func(*Settings)

// WithSettings replaces all settings.
func WithSettings(s Settings) Option { return func(dst *Settings) { *dst = s } }

// WithBusyTimeout sets Settings.BusyTimeout.
func WithBusyTimeout(d time.Duration) Option { return func(s *Settings) { s.BusyTimeout = d } }

// WithReadConns sets Settings.ReadConns.
func WithReadConns(n int) Option { return func(s *Settings) { s.ReadConns = n } }

// WithRetry sets Settings.Retry.
func WithRetry(r sqlstore.Retry) Option { return func(s *Settings) { s.Retry = r } }

// writerDSN: the one write connection. Transactions begin IMMEDIATE, taking
// the write lock up front, so two writers never both read and then fail to
// upgrade (which SQLite reports as SQLITE_BUSY without waiting).
func (s Settings) writerDSN(path string) string {
	q := url.Values{}
	q.Add("_txlock", "immediate")
	s.common(q)
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous("+s.Synchronous+")")
	return path + "?" + q.Encode()
}

// readerDSN: the read-only pool. query_only makes a stray write fail.
func (s Settings) readerDSN(path string) string {
	q := url.Values{}
	s.common(q)
	q.Add("_pragma", "query_only(1)")
	return path + "?" + q.Encode()
}

func (s Settings) common(q url.Values) {
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", s.BusyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", fmt.Sprintf("cache_size(%d)", -s.CacheSizeKiB))
}
