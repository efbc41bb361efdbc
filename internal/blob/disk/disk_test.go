package disk_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/kiln-dev/kiln/internal/blob"
	"github.com/kiln-dev/kiln/internal/blob/blobtest"
	"github.com/kiln-dev/kiln/internal/blob/disk"
)

func newStore(t *testing.T) blob.Store {
	s, err := disk.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Failed or interrupted Puts leave no temp files behind.
		ents, _ := os.ReadDir(filepath.Join(s.Root(), "tmp"))
		if len(ents) != 0 {
			t.Errorf("temp files left: %v", ents)
		}
	})
	return s
}

func TestConformance(t *testing.T) { blobtest.Run(t, newStore) }

func TestLayout(t *testing.T) {
	dir := t.TempDir()
	s, err := disk.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := s.Put(context.Background(), bytes.NewReader([]byte("hello")), "")
	if err != nil {
		t.Fatal(err)
	}
	h := desc.Digest.Hex()
	p := filepath.Join(dir, "sha256", h[:2], h)
	if got, err := s.Path(desc.Digest); err != nil || got != p {
		t.Fatalf("Path = %q, %v; want %q", got, err, p)
	}
	if b, err := os.ReadFile(p); err != nil || string(b) != "hello" {
		t.Fatalf("file = %q, %v", b, err)
	}
}

func TestLinkSharesInode(t *testing.T) {
	r := disk.NewRegions(t.TempDir())
	a, err := r.Disk("us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.Disk("eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	desc, err := a.Put(context.Background(), bytes.NewReader([]byte("layer")), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Link(context.Background(), a, desc.Digest); err != nil {
		t.Fatal(err)
	}
	pa, _ := a.Path(desc.Digest)
	pb, _ := b.Path(desc.Digest)
	fa, _ := os.Stat(pa)
	fb, _ := os.Stat(pb)
	if !os.SameFile(fa, fb) {
		t.Fatal("Link copied instead of hard-linking")
	}
	if _, err := r.Region("../etc"); err == nil {
		t.Fatal("Region accepted a path")
	}
}

func TestStartupCleansStaleTemp(t *testing.T) {
	dir := t.TempDir()
	if _, err := disk.New(dir); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "tmp")
	dead := filepath.Join(tmp, "put-999999999-123") // no such process
	live := filepath.Join(tmp, "put-1-456")         // init: alive
	odd := filepath.Join(tmp, "leftover")
	for _, p := range []string{dead, live, odd} {
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := disk.New(dir); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]bool{dead: false, live: true, odd: false} {
		_, err := os.Stat(p)
		if (err == nil) != want {
			t.Errorf("%s exists=%v, want %v", filepath.Base(p), err == nil, want)
		}
	}
}

// benchSize is the blob size of the throughput benchmarks.
var benchSize = func() int {
	if v, err := strconv.Atoi(os.Getenv("KILN_BLOB_BENCH_MB")); err == nil && v > 0 {
		return v << 20
	}
	return 256 << 20
}()

func benchData(b *testing.B) string {
	p := filepath.Join(b.TempDir(), "src")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.CopyN(f, rand.Reader, int64(benchSize)); err != nil {
		b.Fatal(err)
	}
	f.Close()
	return p
}

// BenchmarkPut streams a file into the store (hash, write, fsync, rename);
// the MB/s it reports compares with cp.
func BenchmarkPut(b *testing.B) {
	src := benchData(b)
	s, err := disk.New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.SetBytes(int64(benchSize))
	b.ResetTimer()
	for b.Loop() {
		f, err := os.Open(src)
		if err != nil {
			b.Fatal(err)
		}
		desc, err := s.Put(ctx, f, "")
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		_ = s.Delete(ctx, desc.Digest)
		b.StartTimer()
	}
}

// BenchmarkOpen reads a blob back, verifying its digest.
func BenchmarkOpen(b *testing.B) {
	src := benchData(b)
	s, err := disk.New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	f, _ := os.Open(src)
	desc, err := s.Put(ctx, f, "")
	f.Close()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(desc.Size)
	b.ResetTimer()
	for b.Loop() {
		rc, err := s.Open(ctx, desc.Digest)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			b.Fatal(err)
		}
		rc.Close()
	}
}
