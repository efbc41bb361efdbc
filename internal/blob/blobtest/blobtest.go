// Package blobtest is the conformance suite every blob.Store backend
// passes: round trips, digest verification on write and on read,
// concurrent writers, Walk, Delete, interrupted writes and, when the
// backend implements them, blob.Linker and blob.Ager.
package blobtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"sort"
	"sync"
	"testing"

	"github.com/kiln-dev/kiln/internal/blob"
)

// Option adjusts the suite.
type Option func(*options)

type options struct {
	corrupt func(s blob.Store, d blob.Digest) error
}

// Corrupt supplies a way to damage a stored blob behind the store's back.
// Without it the suite uses blob.LocalPather when the store implements it
// and otherwise skips the corruption test.
func Corrupt(fn func(s blob.Store, d blob.Digest) error) Option {
	return func(o *options) { o.corrupt = fn }
}

// Run runs the suite; newStore returns an empty store (each call a new one).
func Run(t *testing.T, newStore func(t *testing.T) blob.Store, opts ...Option) {
	var o options
	for _, f := range opts {
		f(&o)
	}
	if o.corrupt == nil {
		o.corrupt = corruptLocal
	}
	ctx := context.Background()

	t.Run("RoundTrip", func(t *testing.T) {
		s := newStore(t)
		for _, size := range []int{0, 1, 4096, 3<<20 + 17} {
			data := random(size)
			want := blob.FromBytes(data)
			desc, err := s.Put(ctx, bytes.NewReader(data), "")
			if err != nil {
				t.Fatalf("Put %d bytes: %v", size, err)
			}
			if desc.Digest != want || desc.Size != int64(size) {
				t.Fatalf("Put = %+v, want %s/%d", desc, want, size)
			}
			st, err := s.Stat(ctx, want)
			if err != nil || st != desc {
				t.Fatalf("Stat = %+v, %v", st, err)
			}
			if got := readAll(t, s, want); !bytes.Equal(got, data) {
				t.Fatalf("read back %d bytes, want %d", len(got), size)
			}
			// Again, with the expected digest: cheap and successful.
			desc2, err := s.Put(ctx, bytes.NewReader(data), want)
			if err != nil || desc2 != desc {
				t.Fatalf("second Put = %+v, %v", desc2, err)
			}
		}
	})

	t.Run("ExpectedDigest", func(t *testing.T) {
		s := newStore(t)
		data := random(100 << 10)
		want := blob.FromBytes(data)
		desc, err := s.Put(ctx, bytes.NewReader(data), want)
		if err != nil || desc.Digest != want {
			t.Fatalf("Put with right digest = %+v, %v", desc, err)
		}
	})

	t.Run("DigestMismatchStoresNothing", func(t *testing.T) {
		s := newStore(t)
		data := random(200 << 10)
		wrong := blob.FromBytes([]byte("something else"))
		if _, err := s.Put(ctx, bytes.NewReader(data), wrong); !errors.Is(err, blob.ErrDigestMismatch) {
			t.Fatalf("Put with wrong digest: %v, want ErrDigestMismatch", err)
		}
		for _, d := range []blob.Digest{wrong, blob.FromBytes(data)} {
			if _, err := s.Stat(ctx, d); !errors.Is(err, blob.ErrNotFound) {
				t.Fatalf("Stat %s after failed Put: %v, want ErrNotFound", d, err)
			}
		}
		if n := count(t, s); n != 0 {
			t.Fatalf("Walk sees %d blobs after failed Put", n)
		}
	})

	t.Run("InvalidDigest", func(t *testing.T) {
		s := newStore(t)
		for _, d := range []blob.Digest{"sha256:abc", "md5:00", "sha256:" + blob.Digest(bytes.Repeat([]byte("G"), 64)), "sha256:../../../../etc/passwd"} {
			if _, err := s.Put(ctx, bytes.NewReader(nil), d); !errors.Is(err, blob.ErrInvalidDigest) {
				t.Errorf("Put(%q): %v, want ErrInvalidDigest", d, err)
			}
			if _, err := s.Open(ctx, d); !errors.Is(err, blob.ErrInvalidDigest) {
				t.Errorf("Open(%q): %v, want ErrInvalidDigest", d, err)
			}
			if _, err := s.Stat(ctx, d); !errors.Is(err, blob.ErrInvalidDigest) {
				t.Errorf("Stat(%q): %v, want ErrInvalidDigest", d, err)
			}
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		s := newStore(t)
		d := blob.FromBytes([]byte("absent"))
		if _, err := s.Open(ctx, d); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("Open: %v", err)
		}
		if _, err := s.Stat(ctx, d); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("Stat: %v", err)
		}
		if err := s.Delete(ctx, d); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("Delete: %v", err)
		}
	})

	t.Run("CorruptionDetectedAtRead", func(t *testing.T) {
		s := newStore(t)
		data := random(1 << 20)
		desc, err := s.Put(ctx, bytes.NewReader(data), "")
		if err != nil {
			t.Fatal(err)
		}
		if err := o.corrupt(s, desc.Digest); err != nil {
			if errors.Is(err, errSkip) {
				t.Skip("backend offers no way to corrupt a blob")
			}
			t.Fatal(err)
		}
		rc, err := s.Open(ctx, desc.Digest)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		if _, err := io.Copy(io.Discard, rc); !errors.Is(err, blob.ErrDigestMismatch) {
			t.Fatalf("reading a corrupted blob (io.Copy): %v, want ErrDigestMismatch", err)
		}
		rc2, err := s.Open(ctx, desc.Digest)
		if err != nil {
			t.Fatal(err)
		}
		defer rc2.Close()
		buf := make([]byte, 4096)
		for {
			_, err = rc2.Read(buf)
			if err != nil {
				break
			}
		}
		if !errors.Is(err, blob.ErrDigestMismatch) {
			t.Fatalf("reading a corrupted blob (Read): %v, want ErrDigestMismatch", err)
		}
	})

	t.Run("ConcurrentPutsOfOneBlob", func(t *testing.T) {
		s := newStore(t)
		data := random(2 << 20)
		want := blob.FromBytes(data)
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for i := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				exp := blob.Digest("")
				if i%2 == 0 {
					exp = want
				}
				desc, err := s.Put(ctx, bytes.NewReader(data), exp)
				if err == nil && desc.Digest != want {
					err = errors.New("wrong digest " + string(desc.Digest))
				}
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if got := readAll(t, s, want); !bytes.Equal(got, data) {
			t.Fatal("content differs after concurrent Puts")
		}
		if n := count(t, s); n != 1 {
			t.Fatalf("Walk sees %d blobs, want 1", n)
		}
	})

	t.Run("Walk", func(t *testing.T) {
		s := newStore(t)
		var want []blob.Desc
		for i := range 5 {
			data := random(1000 * (i + 1))
			desc, err := s.Put(ctx, bytes.NewReader(data), "")
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, desc)
		}
		var got []blob.Desc
		if err := s.Walk(ctx, func(d blob.Desc) error { got = append(got, d); return nil }); err != nil {
			t.Fatal(err)
		}
		sort.Slice(want, func(i, j int) bool { return want[i].Digest < want[j].Digest })
		sort.Slice(got, func(i, j int) bool { return got[i].Digest < got[j].Digest })
		if len(got) != len(want) {
			t.Fatalf("Walk = %v, want %v", got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("Walk = %v, want %v", got, want)
			}
		}
		stop := errors.New("stop")
		calls := 0
		if err := s.Walk(ctx, func(blob.Desc) error { calls++; return stop }); !errors.Is(err, stop) || calls != 1 {
			t.Fatalf("Walk with failing fn: %v after %d calls", err, calls)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		s := newStore(t)
		data := random(10 << 10)
		keep, err := s.Put(ctx, bytes.NewReader(random(10)), "")
		if err != nil {
			t.Fatal(err)
		}
		desc, err := s.Put(ctx, bytes.NewReader(data), "")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, desc.Digest); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Stat(ctx, desc.Digest); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("Stat after Delete: %v", err)
		}
		if _, err := s.Open(ctx, desc.Digest); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("Open after Delete: %v", err)
		}
		if err := s.Delete(ctx, desc.Digest); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("second Delete: %v", err)
		}
		if _, err := s.Stat(ctx, keep.Digest); err != nil {
			t.Fatalf("other blob after Delete: %v", err)
		}
		// Put again after Delete works.
		if _, err := s.Put(ctx, bytes.NewReader(data), desc.Digest); err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, s, desc.Digest); !bytes.Equal(got, data) {
			t.Fatal("content differs after re-Put")
		}
	})

	t.Run("InterruptedPutLeavesNothing", func(t *testing.T) {
		s := newStore(t)
		boom := errors.New("connection reset")
		r := io.MultiReader(bytes.NewReader(random(3<<20)), errReader{boom})
		if _, err := s.Put(ctx, r, ""); !errors.Is(err, boom) {
			t.Fatalf("Put from a failing reader: %v, want the reader's error", err)
		}
		cctx, cancel := context.WithCancel(ctx)
		cr := &cancelReader{r: bytes.NewReader(random(8 << 20)), after: 2 << 20, cancel: cancel}
		if _, err := s.Put(cctx, cr, ""); !errors.Is(err, context.Canceled) {
			t.Fatalf("Put with a cancelled context: %v, want context.Canceled", err)
		}
		if n := count(t, s); n != 0 {
			t.Fatalf("Walk sees %d blobs after interrupted Puts", n)
		}
	})

	t.Run("Link", func(t *testing.T) {
		a, b := newStore(t), newStore(t)
		l, ok := b.(blob.Linker)
		if !ok {
			t.Skip("backend does not implement blob.Linker")
		}
		data := random(1 << 20)
		desc, err := a.Put(ctx, bytes.NewReader(data), "")
		if err != nil {
			t.Fatal(err)
		}
		got, err := l.Link(ctx, a, desc.Digest)
		if err != nil || got != desc {
			t.Fatalf("Link = %+v, %v", got, err)
		}
		if got, err := l.Link(ctx, a, desc.Digest); err != nil || got != desc {
			t.Fatalf("second Link = %+v, %v", got, err)
		}
		if !bytes.Equal(readAll(t, b, desc.Digest), data) {
			t.Fatal("linked blob differs")
		}
		// Deleting from the source leaves the linked copy.
		if err := a.Delete(ctx, desc.Digest); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(readAll(t, b, desc.Digest), data) {
			t.Fatal("linked blob lost with its source")
		}
		if _, err := l.Link(ctx, a, blob.FromBytes([]byte("absent"))); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("Link of an absent blob: %v", err)
		}
	})

	t.Run("Ager", func(t *testing.T) { testAger(t, newStore) })
}

var errSkip = errors.New("skip")

func corruptLocal(s blob.Store, d blob.Digest) error {
	lp, ok := s.(blob.LocalPather)
	if !ok {
		return errSkip
	}
	p, err := lp.Path(d)
	if err != nil {
		return err
	}
	// Replace the file (blobs may be read-only, and hard-linked elsewhere).
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	b[len(b)/2] ^= 0xff
	tmp := p + ".corrupt"
	if err := os.WriteFile(tmp, b, 0o444); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

func random(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func readAll(t *testing.T, s blob.Store, d blob.Digest) []byte {
	t.Helper()
	rc, err := s.Open(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %s: %v", d, err)
	}
	return b
}

func count(t *testing.T, s blob.Store) int {
	t.Helper()
	n := 0
	if err := s.Walk(context.Background(), func(blob.Desc) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// cancelReader cancels its context once after bytes have been read.
type cancelReader struct {
	r      io.Reader
	n      int
	after  int
	cancel func()
}

func (c *cancelReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	if c.n >= c.after {
		c.cancel()
	}
	return n, err
}
