package seal_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/kiln-dev/kiln/internal/blob"
	"github.com/kiln-dev/kiln/internal/blob/disk"
	"github.com/kiln-dev/kiln/internal/seal"
	"github.com/kiln-dev/kiln/internal/seal/sealtest"
)

func newStore(t *testing.T) *disk.Store {
	t.Helper()
	s, err := disk.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// files lists every regular file under the store's root (blobs and temp
// files alike).
func files(t *testing.T, s *disk.Store) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(s.Root(), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			out = append(out, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func readLayer(t *testing.T, s blob.Store, l blob.Layer, kr seal.Keyring) []byte {
	t.Helper()
	rc, err := seal.OpenLayer(context.Background(), s, l, kr)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// noLeak fails the test if goroutines started during it are still running
// shortly after it.
func noLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(2 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<16)
			t.Errorf("%d goroutines left running:\n%s", n-before, buf[:runtime.Stack(buf, true)])
		}
	})
}

func TestPutOpenLayer(t *testing.T) {
	ctx := context.Background()
	kr := sealtest.New(arnA)
	for _, size := range []int{0, 1, chunk - 1, chunk + 1, 3<<20 + 5} {
		for _, sealed := range []bool{false, true} {
			name := map[bool]string{false: "plain", true: "sealed"}[sealed]
			t.Run(name+"/"+itoa(size), func(t *testing.T) {
				noLeak(t)
				s := newStore(t)
				data := random(size)
				var k seal.Keyring
				if sealed {
					k = kr
				}
				l, err := seal.Put(ctx, s, bytes.NewReader(data), blob.FromBytes(data), k)
				if err != nil {
					t.Fatal(err)
				}
				if l.Digest != blob.FromBytes(data) || l.Size != int64(size) {
					t.Fatalf("layer %+v, want %s/%d", l.Desc, blob.FromBytes(data), size)
				}
				if (l.Sealed != nil) != sealed {
					t.Fatalf("Sealed = %v", l.Sealed)
				}
				st, err := s.Stat(ctx, l.Stored().Digest)
				if err != nil || st != l.Stored() {
					t.Fatalf("Stat(stored) = %+v, %v; want %+v", st, err, l.Stored())
				}
				if sealed {
					if _, err := s.Stat(ctx, l.Digest); !errors.Is(err, blob.ErrNotFound) {
						t.Fatalf("the plaintext blob is stored too: %v", err)
					}
					rc, _ := s.Open(ctx, l.Sealed.Digest)
					arn, err := seal.KeyARN(rc)
					rc.Close()
					if err != nil || arn != arnA {
						t.Fatalf("KeyARN(stored) = %q, %v", arn, err)
					}
				}
				if got := readLayer(t, s, l, k); !bytes.Equal(got, data) {
					t.Fatalf("OpenLayer: %d bytes, want %d", len(got), len(data))
				}
				if n := len(files(t, s)); n != 1 {
					t.Fatalf("%d files in the store, want 1", n)
				}
			})
		}
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func TestPutWrongDigestStoresNothing(t *testing.T) {
	ctx := context.Background()
	data := random(2<<20 + 3)
	for _, tc := range []struct {
		name string
		kr   seal.Keyring
	}{{"plain", nil}, {"sealed", sealtest.New(arnA)}} {
		t.Run(tc.name, func(t *testing.T) {
			noLeak(t)
			s := newStore(t)
			_, err := seal.Put(ctx, s, bytes.NewReader(data), blob.FromBytes([]byte("other")), tc.kr)
			if !errors.Is(err, blob.ErrDigestMismatch) {
				t.Fatalf("err = %v, want ErrDigestMismatch", err)
			}
			if f := files(t, s); len(f) != 0 {
				t.Fatalf("files left: %v", f)
			}
			if _, err := seal.Put(ctx, s, bytes.NewReader(data), "sha256:nope", tc.kr); !errors.Is(err, blob.ErrInvalidDigest) {
				t.Fatalf("invalid expected digest: %v", err)
			}
		})
	}
}

// The stored ciphertext never contains the plaintext: a layer made of a
// recognisable marker is put, copied and re-encrypted, and no file of any
// store contains the marker (or a 16-byte piece of it).
func TestCiphertextNeverContainsPlaintext(t *testing.T) {
	ctx := context.Background()
	marker := "KILN-PLAINTEXT-MARKER-0123456789/"
	data := []byte(strings.Repeat(marker, (3<<20)/len(marker)))
	krA, krB := sealtest.New(arnA), sealtest.New(arnB)
	src, dst, dst2 := newStore(t), newStore(t), newStore(t)
	l, err := seal.Put(ctx, src, bytes.NewReader(data), "", krA)
	if err != nil {
		t.Fatal(err)
	}
	l2, err := seal.Copy(ctx, src, dst, l, krA, krB)
	if err != nil {
		t.Fatal(err)
	}
	plainStore := newStore(t)
	pl, err := seal.Put(ctx, plainStore, bytes.NewReader(data), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := seal.Copy(ctx, plainStore, dst2, pl, nil, krB); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*disk.Store{src, dst, dst2} {
		fs := files(t, s)
		if len(fs) != 1 {
			t.Fatalf("%d files in %s", len(fs), s.Root())
		}
		b, err := os.ReadFile(fs[0])
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(marker[:16])) || bytes.Contains(b, []byte(marker[16:])) {
			t.Fatalf("%s contains the plaintext", fs[0])
		}
	}
	// The check itself works: the plain store's file has the marker.
	b, _ := os.ReadFile(files(t, plainStore)[0])
	if !bytes.Contains(b, []byte(marker)) {
		t.Fatal("the plain layer lacks the marker")
	}
	if got := readLayer(t, dst, l2, krB); !bytes.Equal(got, data) {
		t.Fatal("re-encrypted layer differs")
	}
}

func TestCopy(t *testing.T) {
	ctx := context.Background()
	krA, krB := sealtest.New(arnA), sealtest.New(arnB)
	data := random(2<<20 + 77)
	for _, tc := range []struct {
		name         string
		sealed       bool // source layer
		srcKr, dstKr seal.Keyring
		wantARN      string // "" = plain result
		err          error
	}{
		{"plain to plain", false, nil, nil, "", nil},
		{"plain to sealed", false, nil, krB, arnB, nil},
		{"sealed to sealed, other key", true, krA, krB, arnB, nil},
		{"sealed to sealed, same key", true, krA, krA, arnA, nil},
		{"sealed to plain refused", true, krA, nil, "", seal.ErrDecryptRefused},
		{"sealed without source keyring", true, nil, krB, "", seal.ErrNoKeyring},
		{"sealed with the wrong source keyring", true, krB, krB, "", sealtest.ErrUnknownKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeak(t)
			src, dst := newStore(t), newStore(t)
			var putKr seal.Keyring
			if tc.sealed {
				putKr = krA
			}
			l, err := seal.Put(ctx, src, bytes.NewReader(data), "", putKr)
			if err != nil {
				t.Fatal(err)
			}
			nl, err := seal.Copy(ctx, src, dst, l, tc.srcKr, tc.dstKr)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				if f := files(t, dst); len(f) != 0 {
					t.Fatalf("files left in dst: %v", f)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if nl.Desc != l.Desc {
				t.Fatalf("copy's Desc %+v, want %+v", nl.Desc, l.Desc)
			}
			if (nl.Sealed != nil) != (tc.wantARN != "") {
				t.Fatalf("copy's Sealed = %v", nl.Sealed)
			}
			if nl.Sealed != nil {
				if l.Sealed != nil && *nl.Sealed == *l.Sealed {
					t.Fatal("re-encryption kept the same ciphertext")
				}
				rc, err := dst.Open(ctx, nl.Sealed.Digest)
				if err != nil {
					t.Fatal(err)
				}
				arn, err := seal.KeyARN(rc)
				rc.Close()
				if arn != tc.wantARN || err != nil {
					t.Fatalf("KeyARN = %q, %v; want %q", arn, err, tc.wantARN)
				}
			}
			if got := readLayer(t, dst, nl, tc.dstKr); !bytes.Equal(got, data) {
				t.Fatal("copied layer differs")
			}
			if n := len(files(t, dst)); n != 1 {
				t.Fatalf("%d files in dst, want 1", n)
			}
		})
	}
}

// corrupt flips a byte of a stored blob behind the store's back.
func corrupt(t *testing.T, s *disk.Store, d blob.Digest, off int64) {
	t.Helper()
	p, err := s.Path(d)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x80
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func TestCorruptSource(t *testing.T) {
	ctx := context.Background()
	krA, krB := sealtest.New(arnA), sealtest.New(arnB)
	data := random(1<<20 + 9)
	for _, tc := range []struct {
		name   string
		kr     seal.Keyring
		dstKr  seal.Keyring
		off    int64
		want   error
		resize int64 // added to the layer's recorded size instead of corrupting
	}{
		{"plain", nil, nil, 5000, blob.ErrDigestMismatch, 0},
		{"plain to sealed", nil, krB, 5000, blob.ErrDigestMismatch, 0},
		{"sealed body", krA, krB, 300000, seal.ErrTampered, 0},
		{"sealed header", krA, krB, 2, seal.ErrTampered, 0},
		{"plain, wrong recorded size", nil, nil, -1, blob.ErrDigestMismatch, 1},
		{"sealed, wrong recorded size", krA, krB, -1, blob.ErrDigestMismatch, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeak(t)
			src, dst := newStore(t), newStore(t)
			l, err := seal.Put(ctx, src, bytes.NewReader(data), "", tc.kr)
			if err != nil {
				t.Fatal(err)
			}
			if tc.off >= 0 {
				corrupt(t, src, l.Stored().Digest, tc.off)
			}
			l.Size += tc.resize
			rc, err := seal.OpenLayer(ctx, src, l, tc.kr)
			if err == nil {
				_, err = io.Copy(io.Discard, rc)
				rc.Close()
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("OpenLayer: err = %v, want %v", err, tc.want)
			}
			_, err = seal.Copy(ctx, src, dst, l, tc.kr, tc.dstKr)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Copy: err = %v, want %v", err, tc.want)
			}
			if f := files(t, dst); len(f) != 0 {
				t.Fatalf("files left in dst: %v", f)
			}
		})
	}
}

func TestOpenLayerErrors(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	l, err := seal.Put(ctx, s, bytes.NewReader([]byte("layer")), "", sealtest.New(arnA))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := seal.OpenLayer(ctx, s, l, nil); !errors.Is(err, seal.ErrNoKeyring) {
		t.Fatalf("nil keyring: %v", err)
	}
	missing := blob.Layer{Desc: blob.Desc{Digest: blob.FromBytes([]byte("x")), Size: 1}}
	if _, err := seal.OpenLayer(ctx, s, missing, nil); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("missing plain layer: %v", err)
	}
	missing.Sealed = &blob.Desc{Digest: blob.FromBytes([]byte("y")), Size: 300}
	if _, err := seal.OpenLayer(ctx, s, missing, sealtest.New(arnA)); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("missing sealed layer: %v", err)
	}
}

// cancelAfter cancels a context once n bytes have been read through it.
type cancelAfter struct {
	r      io.Reader
	n      int64
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.n -= int64(n); c.n <= 0 {
		c.cancel()
	}
	return n, err
}

// cancellingStore cancels the context mid-Put, after n bytes.
type cancellingStore struct {
	*disk.Store
	n      int64
	cancel context.CancelFunc
}

func (s cancellingStore) Put(ctx context.Context, r io.Reader, d blob.Digest) (blob.Desc, error) {
	return s.Store.Put(ctx, &cancelAfter{r, s.n, s.cancel}, d)
}

// failingStore fails after reading n bytes of a Put.
type failingStore struct {
	*disk.Store
	n int64
}

var errDiskFull = errors.New("no space left on device")

func (s failingStore) Put(ctx context.Context, r io.Reader, d blob.Digest) (blob.Desc, error) {
	if _, err := io.CopyN(io.Discard, r, s.n); err != nil {
		return blob.Desc{}, err
	}
	return blob.Desc{}, errDiskFull
}

func TestAbortedPutLeavesNothing(t *testing.T) {
	data := random(8 << 20)
	krA, krB := sealtest.New(arnA), sealtest.New(arnB)
	for _, tc := range []struct {
		name string
		run  func(ctx context.Context, cancel context.CancelFunc, dst *disk.Store) error
		want error
	}{
		{"Put sealed, cancelled mid-stream", func(ctx context.Context, cancel context.CancelFunc, dst *disk.Store) error {
			_, err := seal.Put(ctx, dst, &cancelAfter{bytes.NewReader(data), 3 << 20, cancel}, "", krA)
			return err
		}, context.Canceled},
		{"Put plain, cancelled mid-stream", func(ctx context.Context, cancel context.CancelFunc, dst *disk.Store) error {
			_, err := seal.Put(ctx, dst, &cancelAfter{bytes.NewReader(data), 3 << 20, cancel}, "", nil)
			return err
		}, context.Canceled},
		{"Put sealed, plaintext read error", func(ctx context.Context, cancel context.CancelFunc, dst *disk.Store) error {
			_, err := seal.Put(ctx, dst, io.MultiReader(bytes.NewReader(data), iotest.ErrReader(io.ErrClosedPipe)), "", krA)
			return err
		}, io.ErrClosedPipe},
		{"Put sealed, store fails early", func(ctx context.Context, cancel context.CancelFunc, dst *disk.Store) error {
			_, err := seal.Put(ctx, failingStore{dst, 1 << 20}, bytes.NewReader(data), "", krA)
			return err
		}, errDiskFull},
		{"Copy sealed to sealed, cancelled mid-stream", func(ctx context.Context, cancel context.CancelFunc, dst *disk.Store) error {
			src := newStore(t)
			l, err := seal.Put(ctx, src, bytes.NewReader(data), "", krA)
			if err != nil {
				return err
			}
			_, err = seal.Copy(ctx, src, cancellingStore{dst, 3 << 20, cancel}, l, krA, krB)
			return err
		}, context.Canceled},
		{"Copy plain to sealed, cancelled mid-stream", func(ctx context.Context, cancel context.CancelFunc, dst *disk.Store) error {
			src := newStore(t)
			l, err := seal.Put(ctx, src, bytes.NewReader(data), "", nil)
			if err != nil {
				return err
			}
			_, err = seal.Copy(ctx, src, cancellingStore{dst, 3 << 20, cancel}, l, nil, krB)
			return err
		}, context.Canceled},
		{"Copy plain, cancelled mid-stream", func(ctx context.Context, cancel context.CancelFunc, dst *disk.Store) error {
			src := newStore(t)
			l, err := seal.Put(ctx, src, bytes.NewReader(data), "", nil)
			if err != nil {
				return err
			}
			_, err = seal.Copy(ctx, src, cancellingStore{dst, 3 << 20, cancel}, l, nil, nil)
			return err
		}, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeak(t)
			dst := newStore(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			err := tc.run(ctx, cancel, dst)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if f := files(t, dst); len(f) != 0 {
				t.Fatalf("files left: %v", f)
			}
		})
	}
}

func TestOpenLayerCancel(t *testing.T) {
	noLeak(t)
	s := newStore(t)
	kr := sealtest.New(arnA)
	l, err := seal.Put(context.Background(), s, bytes.NewReader(random(4<<20)), "", kr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rc, err := seal.OpenLayer(ctx, s, l, kr)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	_, err = io.Copy(io.Discard, &cancelAfter{rc, 1 << 20, cancel})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}
