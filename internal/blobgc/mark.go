package blobgc

import (
	"context"

	"github.com/kiln-dev/kiln/internal/store"
)

// Mark reads every record of every account, region and kind in one
// snapshot of st and returns the digests they name, with the number of
// records read. Memory grows with the number of distinct digests, not with
// the number or size of records.
func Mark(ctx context.Context, st store.Store) (*Live, int, error) {
	var live *Live
	var n int
	err := st.View(ctx, func(tx store.Tx) error {
		live, n = NewLive(), 0 // View may run fn again
		return tx.Walk(func(r store.Record) error {
			n++
			live.Scan(r.Body)
			live.Scan([]byte(r.ID))
			live.Scan([]byte(r.Name))
			return ctx.Err()
		})
	})
	if err != nil {
		return nil, 0, err
	}
	return live, n, nil
}
