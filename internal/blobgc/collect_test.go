package blobgc_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/blob"
	"github.com/kiln-dev/kiln/internal/blob/disk"
	"github.com/kiln-dev/kiln/internal/blobgc"
	"github.com/kiln-dev/kiln/internal/clock"
	"github.com/kiln-dev/kiln/internal/ebs"
	"github.com/kiln-dev/kiln/internal/image"
	"github.com/kiln-dev/kiln/internal/store"
	"github.com/kiln-dev/kiln/internal/store/sqlite"
)

const acct = "123456789012"

var ctx = context.Background()

// world is a state store and regional disk stores in a temp directory.
type world struct {
	t       *testing.T
	st      store.Store
	regions *disk.Regions
}

func newWorld(t *testing.T) *world {
	return &world{t: t, st: sqlite.OpenTemp(t), regions: disk.NewRegions(filepath.Join(t.TempDir(), "blobs"))}
}

// put stores data in region with the given age (file time).
func (w *world) put(region, data string, age time.Duration) blob.Desc {
	w.t.Helper()
	s, err := w.regions.Disk(region)
	if err != nil {
		w.t.Fatal(err)
	}
	d, err := s.Put(ctx, bytes.NewReader([]byte(data)), "")
	if err != nil {
		w.t.Fatal(err)
	}
	p, _ := s.Path(d.Digest)
	mt := time.Now().Add(-age)
	if err := os.Chtimes(p, mt, mt); err != nil {
		w.t.Fatal(err)
	}
	return d
}

func (w *world) has(region string, d blob.Desc) bool {
	s, err := w.regions.Disk(region)
	if err != nil {
		w.t.Fatal(err)
	}
	_, err = s.Stat(ctx, d.Digest)
	return err == nil
}

func (w *world) record(k store.Key, v any) {
	w.t.Helper()
	err := w.st.Update(ctx, func(tx store.Tx) error { return store.PutJSON(tx, k, "", v) })
	if err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) delete(k store.Key) {
	w.t.Helper()
	if err := w.st.Update(ctx, func(tx store.Tx) error { return tx.Delete(k) }); err != nil {
		w.t.Fatal(err)
	}
}

func TestCollect(t *testing.T) {
	w := newWorld(t)
	const east, west = "us-east-1", "us-west-2"
	old := 3 * time.Hour
	shared := w.put(east, "shared layer", old)      // two images
	only := w.put(east, "only layer", old)          // one image, deregistered below
	ciphertext := w.put(east, "sealed layer", old)  // stored blob of an encrypted layer
	source := w.put(east, "copy source", old)       // named only by a pending copy in west
	future := w.put(east, "future kind", old)       // named by a record kind nobody knows yet
	garbage := w.put(east, "garbage", old)          // named by nothing
	fresh := w.put(east, "fresh", 10*time.Minute)   // named by nothing, but recent
	westGarbage := w.put(west, "west garbage", old) // another region
	plaintext := blob.Desc{Digest: blob.FromBytes([]byte("sealed plaintext")), Size: 16}

	imgKey := func(id string) store.Key { return store.Key{Account: acct, Region: east, Kind: image.Kind, ID: id} }
	w.record(imgKey("ami-1"), image.Image{ID: "ami-1", Layers: blob.Plain(shared, only)})
	w.record(imgKey("ami-2"), image.Image{ID: "ami-2", Layers: []blob.Layer{{Desc: shared}, {Desc: plaintext, Sealed: &ciphertext}}})
	w.record(store.Key{Account: "210987654321", Region: west, Kind: ebs.SnapshotKind, ID: "snap-1"},
		ebs.Snapshot{ID: "snap-1", State: ebs.SnapshotPending, Work: &ebs.Work{Kind: ebs.CopyLayers, FromRegion: east, FromLayers: blob.Plain(source)}})
	w.record(store.Key{Kind: "some-future-kind", ID: "x"}, map[string]any{"deep": []any{map[string]string{"ref": string(future.Digest)}}})

	// A temp file a dead writer left, and one being written.
	eastStore, _ := w.regions.Disk(east)
	tmp := filepath.Join(eastStore.Root(), "tmp")
	dead, live := filepath.Join(tmp, "put-999999999-1"), filepath.Join(tmp, "put-1-1")
	for _, p := range []string{dead, live} {
		if err := os.WriteFile(p, []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
		mt := time.Now().Add(-old)
		os.Chtimes(p, mt, mt)
	}

	clk := clock.NewFake(time.Now())
	c := blobgc.New(blobgc.Config{Store: w.st, Blobs: w.regions, Clock: clk})
	st, err := c.Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[blob.Desc]bool{shared: true, only: true, ciphertext: true, source: true, future: true, garbage: false, fresh: true}
	for d, keep := range want {
		if got := w.has(east, d); got != keep {
			t.Errorf("first collection: %s present=%v, want %v", d.Digest, got, keep)
		}
	}
	if w.has(west, westGarbage) {
		t.Error("garbage in the other region kept")
	}
	if st.Deleted != 2 || st.Freed != garbage.Size+westGarbage.Size || st.Young != 1 || st.Referenced != 5 || st.Blobs != 8 || st.Regions != 2 {
		t.Errorf("first collection stats = %+v", st)
	}
	if st.Records != 4 || st.Live != 6 || st.TempFiles != 1 || st.TempBytes != int64(len("partial")) {
		t.Errorf("first collection mark/temp stats = %+v", st)
	}
	if _, err := os.Stat(dead); err == nil {
		t.Error("dead writer's temp file kept")
	}
	if _, err := os.Stat(live); err != nil {
		t.Error("live writer's temp file removed")
	}

	// Deregistering ami-1 frees its own layer, not the one ami-2 shares;
	// the copy finishing (its work cleared) frees its source.
	w.delete(imgKey("ami-1"))
	w.record(store.Key{Account: "210987654321", Region: west, Kind: ebs.SnapshotKind, ID: "snap-1"}, ebs.Snapshot{ID: "snap-1", State: ebs.SnapshotCompleted})
	st, err = c.Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if w.has(east, only) || w.has(east, source) || !w.has(east, shared) || !w.has(east, ciphertext) || !w.has(east, fresh) {
		t.Errorf("second collection: only=%v source=%v shared=%v ciphertext=%v fresh=%v",
			w.has(east, only), w.has(east, source), w.has(east, shared), w.has(east, ciphertext), w.has(east, fresh))
	}
	if st.Deleted != 2 || st.Freed != only.Size+source.Size {
		t.Errorf("second collection stats = %+v", st)
	}

	// An hour later the fresh blob is past the grace period.
	clk.Advance(time.Hour)
	if st, err = c.Collect(ctx); err != nil || st.Deleted != 1 || w.has(east, fresh) {
		t.Errorf("an hour later: %+v, %v, fresh kept=%v", st, err, w.has(east, fresh))
	}
	// Deleting the last image frees the rest.
	w.delete(imgKey("ami-2"))
	if st, err = c.Collect(ctx); err != nil || st.Deleted != 2 || w.has(east, shared) || w.has(east, ciphertext) || !w.has(east, future) {
		t.Errorf("after the last image: %+v, %v", st, err)
	}
}

// TestCollectKeepsRestoredBlob: a garbage blob that is Put again (same
// content, e.g. an unchanged capture) after the cutoff is kept, although
// no record names it yet.
func TestCollectKeepsRestoredBlob(t *testing.T) {
	w := newWorld(t)
	d := w.put("us-east-1", "empty layer", 5*time.Hour)
	s, _ := w.regions.Disk("us-east-1")
	clk := clock.NewFake(time.Now())
	if _, err := s.Put(ctx, bytes.NewReader([]byte("empty layer")), d.Digest); err != nil {
		t.Fatal(err)
	}
	st, err := blobgc.New(blobgc.Config{Store: w.st, Blobs: w.regions, Clock: clk}).Collect(ctx)
	if err != nil || st.Deleted != 0 || st.Young != 1 || !w.has("us-east-1", d) {
		t.Fatalf("collect after a re-Put: %+v, %v", st, err)
	}
}

// TestCollectBusySince: while an operation that began three hours ago runs
// (a long copy holding layers it has not recorded), blobs stored since
// then are kept although they are past the grace period.
func TestCollectBusySince(t *testing.T) {
	w := newWorld(t)
	before := w.put("us-east-1", "before the copy", 4*time.Hour)
	during := w.put("us-east-1", "copied two hours ago", 2*time.Hour)
	busy := time.Now().Add(-3 * time.Hour)
	c := blobgc.New(blobgc.Config{Store: w.st, Blobs: w.regions, BusySince: func() time.Time { return busy }})
	st, err := c.Collect(ctx)
	if err != nil || st.Deleted != 1 || w.has("us-east-1", before) || !w.has("us-east-1", during) {
		t.Fatalf("collect during the copy: %+v, %v", st, err)
	}
	busy = time.Time{} // the copy ended (and would have recorded its layers)
	if st, err := c.Collect(ctx); err != nil || st.Deleted != 1 || w.has("us-east-1", during) {
		t.Fatalf("collect after the copy: %+v, %v", st, err)
	}
}

// plainStore hides the disk store's ages: such stores are not collected.
type plainStore struct{ blob.Store }

type plainRegions struct{ *disk.Regions }

func (r plainRegions) Region(name string) (blob.Store, error) {
	s, err := r.Regions.Region(name)
	return plainStore{s}, err
}

func TestCollectSkipsStoresWithoutAges(t *testing.T) {
	w := newWorld(t)
	d := w.put("eu-west-1", "garbage", 5*time.Hour)
	st, err := blobgc.New(blobgc.Config{Store: w.st, Blobs: plainRegions{w.regions}, Grace: -1}).Collect(ctx)
	if err != nil || st.Deleted != 0 || len(st.Unaged) != 1 || st.Unaged[0] != "eu-west-1" || !w.has("eu-west-1", d) {
		t.Fatalf("collect = %+v, %v", st, err)
	}
}

func TestCollectCancelled(t *testing.T) {
	w := newWorld(t)
	w.put("eu-west-1", "garbage", 5*time.Hour)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := blobgc.New(blobgc.Config{Store: w.st, Blobs: w.regions}).Collect(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled collect: %v", err)
	}
}
