package blobgc_test

import (
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/blobgc"
)

func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRunnerKick: with no scheduled collections, a Kick collects after the
// debounce time, and not before.
func TestRunnerKick(t *testing.T) {
	w := newWorld(t)
	d := w.put("us-east-1", "garbage", 2*time.Hour)
	r := blobgc.NewRunner(blobgc.New(blobgc.Config{Store: w.st, Blobs: w.regions}), blobgc.Schedule{Interval: -1, Delay: time.Millisecond, Debounce: 300 * time.Millisecond})
	r.Start()
	defer r.Close()
	time.Sleep(100 * time.Millisecond)
	if !w.has("us-east-1", d) {
		t.Fatal("collected without a Kick while scheduled collections are off")
	}
	kicked := time.Now()
	r.Kick()
	r.Kick() // a burst: one collection
	time.Sleep(100 * time.Millisecond)
	if time.Since(kicked) < 250*time.Millisecond && !w.has("us-east-1", d) {
		t.Fatal("collected before the debounce time")
	}
	eventually(t, "the kicked collection", func() bool { return !w.has("us-east-1", d) })
}

// TestRunnerSchedule: the first collection runs after Delay, then every
// Interval; Close stops the loop.
func TestRunnerSchedule(t *testing.T) {
	w := newWorld(t)
	first := w.put("us-east-1", "first", 2*time.Hour)
	r := blobgc.NewRunner(blobgc.New(blobgc.Config{Store: w.st, Blobs: w.regions}), blobgc.Schedule{Delay: 10 * time.Millisecond, Interval: 50 * time.Millisecond})
	r.Start()
	eventually(t, "the first collection", func() bool { return !w.has("us-east-1", first) })
	second := w.put("us-east-1", "second", 2*time.Hour)
	eventually(t, "a periodic collection", func() bool { return !w.has("us-east-1", second) })
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	third := w.put("us-east-1", "third", 2*time.Hour)
	time.Sleep(150 * time.Millisecond)
	if !w.has("us-east-1", third) {
		t.Fatal("collected after Close")
	}
}
