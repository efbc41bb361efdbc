package disk

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/kiln-dev/kiln/internal/blob"
)

// A blob's age is its file's modification time. Put and Link refresh it
// when the blob already exists, so it always tells when the blob was last
// stored; hard links share it between regions (refreshing one region's
// copy refreshes them all, which only delays their collection).
//
// The store's lock (flock(2) on its root directory, so it holds between
// processes and adds no file) orders the collector against writers: refresh (touch, then
// check the file is there) and install (rename a new blob into place) hold
// it shared, DeleteIfOlder (check the time, then remove) exclusively. So
// a blob Put or Link reports as stored after DeleteIfOlder's cutoff is
// never removed, and there is no moment when such a blob is missing.

var (
	_ blob.Ager        = (*Store)(nil)
	_ blob.TempSweeper = (*Store)(nil)
)

// lock takes the store's lock, shared or exclusive, and returns its
// release. Each call opens the directory anew: flock locks belong to an
// open file, so sharing one between callers would not exclude them.
func (s *Store) lock(exclusive bool) (func(), error) {
	f, err := os.Open(s.root)
	if err != nil {
		return nil, err
	}
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	for {
		err = syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil // closing releases the lock
}

// refresh marks an existing blob as stored now and reports whether it is
// in place.
func (s *Store) refresh(d blob.Digest) (blob.Desc, bool) {
	unlock, err := s.lock(false)
	if err != nil {
		return blob.Desc{}, false
	}
	defer unlock()
	p := s.path(d)
	now := time.Now()
	if err := os.Chtimes(p, now, now); err != nil {
		return blob.Desc{}, false
	}
	fi, err := os.Stat(p)
	if err != nil {
		return blob.Desc{}, false
	}
	return blob.Desc{Digest: d, Size: fi.Size()}, true
}

// DeleteIfOlder removes d if its file was last modified before t.
func (s *Store) DeleteIfOlder(ctx context.Context, d blob.Digest, t time.Time) (bool, error) {
	if err := d.Validate(); err != nil {
		return false, err
	}
	unlock, err := s.lock(true)
	if err != nil {
		return false, err
	}
	defer unlock()
	p := s.path(d)
	fi, err := os.Stat(p)
	if err != nil {
		return false, notFound(err, d)
	}
	if !fi.ModTime().Before(t) {
		return false, nil
	}
	if err := os.Remove(p); err != nil {
		return false, notFound(err, d)
	}
	return true, nil
}

// SweepTemp removes temp files of writers that are gone and that were last
// written before t, and any temp file older than a day.
func (s *Store) SweepTemp(ctx context.Context, t time.Time) (int, int64, error) {
	ents, err := os.ReadDir(s.tmpDir())
	if err != nil {
		return 0, 0, err
	}
	var n int
	var bytes int64
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return n, bytes, err
		}
		fi, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		if !abandoned(e.Name(), fi.ModTime(), t) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(s.tmpDir(), e.Name())); err == nil {
			n++
			bytes += fi.Size()
		}
	}
	return n, bytes, nil
}

// abandoned reports whether the temp file name, last modified at mod, is
// no longer being written: its writer (named in the file name) is gone and
// it is older than t, or it is older than staleAge whoever wrote it.
func abandoned(name string, mod, t time.Time) bool {
	if time.Since(mod) > staleAge {
		return true
	}
	if m := tempRE.FindStringSubmatch(name); m != nil {
		pid, _ := strconv.Atoi(m[1])
		if pid == os.Getpid() || alive(pid) {
			return false
		}
	}
	return mod.Before(t)
}
