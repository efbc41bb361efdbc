package blobtest

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/blob"
)

// settle lets the clock move past the modification time of what was just
// written (file systems stamp times from a coarse clock).
func settle() { time.Sleep(20 * time.Millisecond) }

// testAger checks blob.Ager: ages, refresh on Put and Link, and that
// DeleteIfOlder never removes a blob a concurrent Put reported as stored.
func testAger(t *testing.T, newStore func(t *testing.T) blob.Store) {
	ctx := context.Background()
	s := newStore(t)
	a, ok := s.(blob.Ager)
	if !ok {
		t.Skip("backend does not implement blob.Ager")
	}
	before := time.Now().Add(-time.Second)
	data := random(4096)
	desc, err := s.Put(ctx, bytes.NewReader(data), "")
	if err != nil {
		t.Fatal(err)
	}
	settle()
	var seen []time.Time
	err = a.WalkAged(ctx, func(d blob.Desc, stored time.Time) error {
		if d != desc {
			t.Errorf("WalkAged reported %+v, want %+v", d, desc)
		}
		seen = append(seen, stored)
		return nil
	})
	if err != nil || len(seen) != 1 {
		t.Fatalf("WalkAged: %d blobs, %v", len(seen), err)
	}
	if seen[0].Before(before) || seen[0].After(time.Now()) {
		t.Fatalf("WalkAged: stored at %v, want between %v and now", seen[0], before)
	}
	if gone, err := a.DeleteIfOlder(ctx, desc.Digest, before); err != nil || gone {
		t.Fatalf("DeleteIfOlder before it was stored = %v, %v; want kept", gone, err)
	}

	// Putting it again (with or without the expected digest) refreshes it.
	for _, expected := range []blob.Digest{desc.Digest, ""} {
		cutoff := time.Now()
		if _, err := s.Put(ctx, bytes.NewReader(data), expected); err != nil {
			t.Fatal(err)
		}
		if gone, err := a.DeleteIfOlder(ctx, desc.Digest, cutoff); err != nil || gone {
			t.Fatalf("DeleteIfOlder after a re-Put (expected %q) = %v, %v; want kept", expected, gone, err)
		}
		settle()
	}

	if l, ok := newStore(t).(blob.Linker); ok {
		cutoff := time.Now()
		if _, err := l.Link(ctx, s, desc.Digest); err != nil {
			t.Fatal(err)
		}
		if gone, err := l.(blob.Ager).DeleteIfOlder(ctx, desc.Digest, cutoff); err != nil || gone {
			t.Fatalf("DeleteIfOlder after Link = %v, %v; want kept", gone, err)
		}
		settle()
	}

	gone, err := a.DeleteIfOlder(ctx, desc.Digest, time.Now())
	if err != nil || !gone {
		t.Fatalf("DeleteIfOlder of an old blob = %v, %v; want deleted", gone, err)
	}
	if _, err := s.Stat(ctx, desc.Digest); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Stat after DeleteIfOlder: %v", err)
	}
	if _, err := a.DeleteIfOlder(ctx, desc.Digest, time.Now()); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("DeleteIfOlder of an absent blob: %v", err)
	}
	if _, err := a.DeleteIfOlder(ctx, "sha256:nope", time.Now()); !errors.Is(err, blob.ErrInvalidDigest) {
		t.Fatalf("DeleteIfOlder of an invalid digest: %v", err)
	}

	t.Run("RacesPut", func(t *testing.T) { testAgerRace(t, s, a) })
}

// testAgerRace runs DeleteIfOlder against Puts of the same blob: once a Put
// has reported the blob stored after the cutoff, it must stay.
func testAgerRace(t *testing.T, s blob.Store, a blob.Ager) {
	ctx := context.Background()
	for round := range 20 {
		data := random(64 << 10)
		desc, err := s.Put(ctx, bytes.NewReader(data), "")
		if err != nil {
			t.Fatal(err)
		}
		settle()
		cutoff := time.Now()
		var wg sync.WaitGroup
		stop := make(chan struct{})
		var deleted int
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if gone, err := a.DeleteIfOlder(ctx, desc.Digest, cutoff); err == nil && gone {
					deleted++
				}
			}
		})
		expected := desc.Digest
		if round%2 == 1 {
			expected = ""
		}
		for range 50 {
			if _, err := s.Put(ctx, bytes.NewReader(data), expected); err != nil {
				close(stop)
				wg.Wait()
				t.Fatal(err)
			}
			if _, err := s.Stat(ctx, desc.Digest); err != nil {
				close(stop)
				wg.Wait()
				t.Fatalf("round %d: blob gone right after a Put reported it stored: %v", round, err)
			}
		}
		close(stop)
		wg.Wait()
		if deleted > 1 {
			t.Fatalf("round %d: the blob was deleted %d times after the cutoff, at most once (before the first Put) is allowed", round, deleted)
		}
		if !bytes.Equal(readAll(t, s, desc.Digest), data) {
			t.Fatalf("round %d: blob damaged", round)
		}
	}
}
