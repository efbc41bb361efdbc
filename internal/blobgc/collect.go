package blobgc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/kiln-dev/kiln/internal/blob"
	"github.com/kiln-dev/kiln/internal/clock"
	"github.com/kiln-dev/kiln/internal/store"
)

// Regions is what the collector needs of the regional blob stores.
type Regions interface {
	// Region returns a region's store.
	Region(name string) (blob.Store, error)
	// Names lists the regions that have a store.
	Names() ([]string, error)
}

// Config configures a Collector.
type Config struct {
	// Store holds the records whose digests keep blobs alive.
	Store store.Store
	// Blobs are the stores collected.
	Blobs Regions
	// Clock measures blob ages. Blob times are the host's (file
	// modification times for the disk store), so this is the host's clock
	// (default clock.Real), not a clock that tests move.
	Clock clock.Clock
	// Grace: blobs stored more recently are kept (0: DefaultGrace;
	// negative: none, for tests).
	Grace time.Duration
	// BusySince, when set, returns when the oldest operation under way
	// that may hold blobs it stored but has not recorded yet began, by
	// Clock (zero: none runs). Blobs stored since then are kept too, so
	// work that outlasts the grace period loses nothing.
	BusySince func() time.Time
	// Log receives what each collection did (default: discard).
	Log *slog.Logger
}

// Stats is what one collection found and did.
type Stats struct {
	Records int // records read by the mark
	Live    int // distinct digests they name

	Regions    int   // stores walked
	Blobs      int   // blobs seen
	Bytes      int64 // their size
	Referenced int   // blobs kept because a record names them
	Young      int   // blobs kept because they are recent
	Deleted    int   // blobs deleted
	Freed      int64 // their size (a blob hard-linked into another region's store gives its space back with the last link)

	TempFiles int   // abandoned temporary files removed
	TempBytes int64 // their size

	Unaged []string // regions whose store cannot tell blob ages (not collected)
}

// Collector deletes the blobs no record names. Its methods are safe for
// concurrent use; collections run one at a time.
type Collector struct {
	cfg Config
	mu  sync.Mutex
}

// New returns a collector.
func New(cfg Config) *Collector {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Grace == 0 {
		cfg.Grace = DefaultGrace
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Collector{cfg: cfg}
}

// Collect runs one collection: it fixes the cutoff, marks, then sweeps
// every region's store. A failure in one region does not stop the others;
// the errors are joined.
func (c *Collector) Collect(ctx context.Context) (Stats, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	start := time.Now()
	// The cutoff comes first: a blob stored after it is kept even if the
	// record naming it is written after the mark's snapshot.
	cutoff := Cutoff(c.cfg.Clock.Now(), c.cfg.Grace)
	if c.cfg.BusySince != nil {
		cutoff = Fence(cutoff, c.cfg.BusySince())
	}
	var st Stats
	live, n, err := Mark(ctx, c.cfg.Store)
	if err != nil {
		return st, fmt.Errorf("blobgc: mark: %w", err)
	}
	st.Records, st.Live = n, live.Len()
	names, err := c.cfg.Blobs.Names()
	if err != nil {
		return st, fmt.Errorf("blobgc: listing regions: %w", err)
	}
	var errs []error
	for _, name := range names {
		if err := c.sweep(ctx, name, live, cutoff, &st); err != nil {
			errs = append(errs, fmt.Errorf("blobgc: %s: %w", name, err))
		}
		if ctx.Err() != nil {
			break
		}
	}
	err = errors.Join(errs...)
	c.report(st, time.Since(start), err)
	return st, err
}

// sweep deletes region's garbage and abandoned temporary files.
func (c *Collector) sweep(ctx context.Context, region string, live *Live, cutoff time.Time, st *Stats) error {
	bs, err := c.cfg.Blobs.Region(region)
	if err != nil {
		return err
	}
	ager, ok := bs.(blob.Ager)
	if !ok {
		st.Unaged = append(st.Unaged, region)
		return nil
	}
	st.Regions++
	var errs []error
	err = ager.WalkAged(ctx, func(d blob.Desc, stored time.Time) error {
		b := Blob{Desc: d, Stored: stored}
		st.Blobs++
		st.Bytes += d.Size
		switch Judge(b, live, cutoff) {
		case Referenced:
			st.Referenced++
			return nil
		case Young:
			st.Young++
			return nil
		}
		gone, err := ager.DeleteIfOlder(ctx, d.Digest, cutoff)
		switch {
		case errors.Is(err, blob.ErrNotFound):
		case err != nil:
			errs = append(errs, fmt.Errorf("deleting %s: %w", d.Digest, err))
		case gone:
			st.Deleted++
			st.Freed += d.Size
		default:
			st.Young++ // stored again since the walk saw it
		}
		return nil
	})
	if err != nil {
		errs = append(errs, err)
	}
	if ts, ok := bs.(blob.TempSweeper); ok {
		n, bytes, err := ts.SweepTemp(ctx, cutoff)
		st.TempFiles += n
		st.TempBytes += bytes
		if err != nil {
			errs = append(errs, fmt.Errorf("temporary files: %w", err))
		}
	}
	return errors.Join(errs...)
}

func (c *Collector) report(st Stats, took time.Duration, err error) {
	attrs := []any{
		"deleted", st.Deleted, "freed_bytes", st.Freed,
		"temp_files", st.TempFiles, "temp_bytes", st.TempBytes,
		"blobs", st.Blobs, "referenced", st.Referenced, "young", st.Young,
		"records", st.Records, "digests", st.Live, "regions", st.Regions,
		"took", took.Round(time.Millisecond).String(),
	}
	if len(st.Unaged) > 0 {
		attrs = append(attrs, "not_collectable", st.Unaged)
	}
	switch {
	case err != nil:
		c.cfg.Log.Warn("blobgc: collection failed", append(attrs, "err", err)...)
	case st.Deleted > 0 || st.TempFiles > 0:
		c.cfg.Log.Info("blobgc: collected unreferenced blobs", attrs...)
	default:
		c.cfg.Log.Debug("blobgc: nothing to collect", attrs...)
	}
}
