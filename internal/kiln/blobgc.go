package kiln

import (
	"context"
	"errors"
	"time"

	"github.com/kiln-dev/kiln/internal/blob/disk"
	"github.com/kiln-dev/kiln/internal/blobgc"
	"github.com/kiln-dev/kiln/internal/clock"
)

// BlobGCOptions schedules the garbage collection of the regional blob
// stores (docs/blobgc.md). Zero fields take the defaults.
type BlobGCOptions struct {
	// Grace: blobs stored more recently are never collected (default 1 h;
	// negative: none, for tests).
	Grace time.Duration
	// Delay is the wait before the first collection after the server
	// starts (default 1 min).
	Delay time.Duration
	// Interval is the time between collections (default 10 min;
	// negative: only after deletions).
	Interval time.Duration
	// Debounce is how soon after an image, snapshot or volume is deleted
	// a collection runs (default 30 s).
	Debounce time.Duration
}

// setupBlobGC creates the collector of regions' unreferenced blobs; the
// first Handler starts it.
func (k *Kiln) setupBlobGC(regions *disk.Regions) {
	o := k.opts.BlobGC
	k.gcc = blobgc.New(blobgc.Config{
		Store: k.Store, Blobs: regions, Grace: o.Grace,
		// A copy records its layers only when all are copied.
		BusySince: k.ebs.BusySince,
		// Blob ages are file times, stamped by the host's clock whatever
		// clock the services are given.
		Clock: clock.Real{},
		Log:   k.opts.Log.With("component", "blobgc"),
	})
	k.gc = blobgc.NewRunner(k.gcc, blobgc.Schedule{Delay: o.Delay, Interval: o.Interval, Debounce: o.Debounce})
}

// CollectBlobs runs a collection of unreferenced blobs now and reports
// what it did.
func (k *Kiln) CollectBlobs(ctx context.Context) (blobgc.Stats, error) {
	if k.gcc == nil {
		return blobgc.Stats{}, errors.New("kiln: the blob stores are unavailable")
	}
	return k.gcc.Collect(ctx)
}
