// Package disk is the local-filesystem blob store: one directory per
// region, blobs at <root>/sha256/<hex[:2]>/<hex>, written through a temp
// file in <root>/tmp that is hashed as it is written, fsynced and renamed
// into place once its digest is verified. Blobs are read-only files, so
// other stores on the same filesystem can hard-link them (Link). A blob's
// modification time is when it was last stored (Put and Link refresh it),
// which the garbage collector's grace period measures; a lock on the
// store's directory orders the collector's deletions against writers (see
// age.go).
package disk

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kiln-dev/kiln/internal/blob"
)

// bufSize is the copy buffer: large enough that syscalls and hashing run in
// long strides.
const bufSize = 1 << 20

var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

// staleAge is how old a temp file of a live process must be before startup
// cleanup removes it anyway.
const staleAge = 24 * time.Hour

// Store is one directory of blobs.
type Store struct {
	root string
}

var (
	_ blob.Store       = (*Store)(nil)
	_ blob.Linker      = (*Store)(nil)
	_ blob.LocalPather = (*Store)(nil)
)

// New opens (creating when needed) the store rooted at dir and removes temp
// files left by processes that died mid-Put.
func New(dir string) (*Store, error) {
	s := &Store{root: dir}
	for _, d := range []string{s.root, filepath.Join(s.root, "sha256"), s.tmpDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	if err := s.cleanTemp(); err != nil {
		return nil, err
	}
	return s, nil
}

// Root is the store's directory.
func (s *Store) Root() string { return s.root }

func (s *Store) tmpDir() string { return filepath.Join(s.root, "tmp") }

func (s *Store) path(d blob.Digest) string {
	h := d.Hex()
	return filepath.Join(s.root, "sha256", h[:2], h)
}

// Path returns the file holding d.
func (s *Store) Path(d blob.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", err
	}
	p := s.path(d)
	if _, err := os.Stat(p); err != nil {
		return "", notFound(err, d)
	}
	return p, nil
}

func notFound(err error, d blob.Digest) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s", blob.ErrNotFound, d)
	}
	return err
}

// tempPrefix names temp files after the writing process, so that startup
// cleanup leaves other live processes' writes alone.
func tempPrefix() string { return "put-" + strconv.Itoa(os.Getpid()) + "-" }

var tempRE = regexp.MustCompile(`^put-([0-9]+)-`)

// cleanTemp removes temp files whose writer is gone (or that are very old).
func (s *Store) cleanTemp() error {
	ents, err := os.ReadDir(s.tmpDir())
	if err != nil {
		return err
	}
	for _, e := range ents {
		m := tempRE.FindStringSubmatch(e.Name())
		stale := m == nil
		if m != nil {
			pid, _ := strconv.Atoi(m[1])
			stale = pid == os.Getpid() || !alive(pid)
		}
		if !stale {
			if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > staleAge {
				stale = true
			}
		}
		if stale {
			_ = os.RemoveAll(filepath.Join(s.tmpDir(), e.Name()))
		}
	}
	return nil
}

func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Put streams r into a temp file, hashing as it writes, and renames it into
// place once the digest is known (and matches expected, when given).
func (s *Store) Put(ctx context.Context, r io.Reader, expected blob.Digest) (blob.Desc, error) {
	if expected != "" {
		if err := expected.Validate(); err != nil {
			return blob.Desc{}, err
		}
		if desc, ok := s.refresh(expected); ok {
			return desc, nil
		}
	}
	f, err := os.CreateTemp(s.tmpDir(), tempPrefix()+"*")
	if err != nil {
		return blob.Desc{}, err
	}
	tmp := f.Name()
	committed := false
	defer func() {
		if !committed {
			f.Close()
			os.Remove(tmp)
		}
	}()
	h := sha256.New()
	n, err := copyHashing(ctx, f, h, r)
	if err != nil {
		return blob.Desc{}, err
	}
	d := blob.FromHash(h.Sum(nil))
	if expected != "" && d != expected {
		return blob.Desc{}, fmt.Errorf("%w: expected %s, got %s", blob.ErrDigestMismatch, expected, d)
	}
	desc := blob.Desc{Digest: d, Size: n}
	if err := f.Chmod(0o444); err != nil {
		return blob.Desc{}, err
	}
	if err := f.Sync(); err != nil {
		return blob.Desc{}, err
	}
	if err := f.Close(); err != nil {
		return blob.Desc{}, err
	}
	if _, ok := s.refresh(d); ok {
		return desc, nil // a concurrent or earlier Put got there first
	}
	if err := s.install(tmp, s.path(d)); err != nil {
		return blob.Desc{}, err
	}
	committed = true
	return desc, nil
}

// install renames tmp to dst, creating the shard directory, and syncs the
// directory so that the name survives a crash. The blob's modification
// time is the moment it was installed.
func (s *Store) install(tmp, dst string) error {
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// Stamp the commit time from the same clock refresh uses (the file
	// system's own times come from a coarser one).
	now := time.Now()
	if err := os.Chtimes(tmp, now, now); err != nil {
		return err
	}
	unlock, err := s.lock(false) // see age.go
	if err != nil {
		return err
	}
	err = os.Rename(tmp, dst)
	unlock()
	if err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// copyHashing copies r to f and into h in one pass (blob.CopyHashing),
// asking the kernel to start writing back every few megabytes so that the
// final fsync has little left to do.
func copyHashing(ctx context.Context, f *os.File, h hash.Hash, r io.Reader) (int64, error) {
	var flushed int64
	return blob.CopyHashing(ctx, f, h, r, func(n int64) {
		if n-flushed >= writebackStride {
			startWriteback(f, flushed, n-flushed)
			flushed = n
		}
	})
}

// writebackStride is how much is written between writeback hints.
const writebackStride = 8 << 20

// Open returns a reader that verifies the digest at EOF.
func (s *Store) Open(ctx context.Context, d blob.Digest) (io.ReadCloser, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	f, err := os.Open(s.path(d))
	if err != nil {
		return nil, notFound(err, d)
	}
	return &verifier{f: f, h: sha256.New(), want: d}, nil
}

// verifier hashes what is read and turns EOF into ErrDigestMismatch when
// the bytes no longer match.
type verifier struct {
	f    *os.File
	h    hash.Hash
	want blob.Digest
	err  error // sticky final error
}

func (v *verifier) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.f.Read(p)
	v.h.Write(p[:n])
	if err == io.EOF {
		err = v.finish()
	}
	return n, err
}

// WriteTo lets io.Copy use the large buffer.
func (v *verifier) WriteTo(w io.Writer) (int64, error) {
	if v.err != nil {
		return 0, v.err
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	var n int64
	for {
		m, err := v.f.Read(buf)
		if m > 0 {
			v.h.Write(buf[:m])
			if _, werr := w.Write(buf[:m]); werr != nil {
				return n, werr
			}
			n += int64(m)
		}
		if err == io.EOF {
			if ferr := v.finish(); ferr != io.EOF {
				return n, ferr
			}
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

func (v *verifier) finish() error {
	if got := blob.FromHash(v.h.Sum(nil)); got != v.want {
		v.err = fmt.Errorf("%w: %s reads as %s", blob.ErrDigestMismatch, v.want, got)
	} else {
		v.err = io.EOF
	}
	return v.err
}

func (v *verifier) Close() error { return v.f.Close() }

// Stat returns the blob's size.
func (s *Store) Stat(ctx context.Context, d blob.Digest) (blob.Desc, error) {
	if err := d.Validate(); err != nil {
		return blob.Desc{}, err
	}
	fi, err := os.Stat(s.path(d))
	if err != nil {
		return blob.Desc{}, notFound(err, d)
	}
	return blob.Desc{Digest: d, Size: fi.Size()}, nil
}

// Delete removes the blob.
func (s *Store) Delete(ctx context.Context, d blob.Digest) error {
	if err := d.Validate(); err != nil {
		return err
	}
	if err := os.Remove(s.path(d)); err != nil {
		return notFound(err, d)
	}
	return nil
}

// Walk calls fn for every blob, in digest order.
func (s *Store) Walk(ctx context.Context, fn func(blob.Desc) error) error {
	return s.WalkAged(ctx, func(d blob.Desc, _ time.Time) error { return fn(d) })
}

// WalkAged calls fn for every blob, in digest order, with the time it was
// last stored (its file's modification time).
func (s *Store) WalkAged(ctx context.Context, fn func(blob.Desc, time.Time) error) error {
	base := filepath.Join(s.root, "sha256")
	shards, err := os.ReadDir(base)
	if err != nil {
		return err
	}
	for _, sh := range shards {
		if !sh.IsDir() || len(sh.Name()) != 2 {
			continue
		}
		ents, err := os.ReadDir(filepath.Join(base, sh.Name()))
		if err != nil {
			return err
		}
		for _, e := range ents {
			if err := ctx.Err(); err != nil {
				return err
			}
			d := blob.Digest("sha256:" + e.Name())
			if d.Validate() != nil || !strings.HasPrefix(e.Name(), sh.Name()) {
				continue
			}
			fi, err := e.Info()
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					continue // deleted meanwhile
				}
				return err
			}
			if err := fn(blob.Desc{Digest: d, Size: fi.Size()}, fi.ModTime()); err != nil {
				return err
			}
		}
	}
	return nil
}

// Link adds d from another store: a hard link when from is a disk store on
// the same filesystem, else a verified copy.
func (s *Store) Link(ctx context.Context, from blob.Store, d blob.Digest) (blob.Desc, error) {
	if err := d.Validate(); err != nil {
		return blob.Desc{}, err
	}
	if desc, ok := s.refresh(d); ok {
		return desc, nil
	}
	// Refresh the source first: a link shares its inode, hence its
	// modification time, which must be recent once the link exists.
	if src, ok := from.(*Store); ok {
		if desc, ok := src.refresh(d); ok {
			dst := s.path(d)
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return blob.Desc{}, err
			}
			err := os.Link(src.path(d), dst)
			if err == nil {
				_ = syncDir(filepath.Dir(dst))
				return desc, nil
			}
			if errors.Is(err, fs.ErrExist) {
				if desc, ok := s.refresh(d); ok {
					return desc, nil // linked or put meanwhile
				}
			}
			// EXDEV (another filesystem) or a filesystem without hard
			// links: fall back to copying.
		}
	}
	rc, err := from.Open(ctx, d)
	if err != nil {
		return blob.Desc{}, err
	}
	defer rc.Close()
	return s.Put(ctx, rc, d)
}
