// Package disk keeps S3 object data on local disk: one immutable file per
// object (or multipart part), named by a random ID. Files are written into
// a temporary directory on the same filesystem, fsynced and renamed into
// place, so a file under data/ is always complete; which files make up
// which object is recorded elsewhere (the S3 service's metadata in the
// state store). A crash can leave temporary files, removed by Open, and
// unreferenced data files, removed by Sweep.
package disk

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// ErrNotFound is returned for a data ID with no file.
var ErrNotFound = errors.New("disk: no such data file")

// Dir is an open data directory.
type Dir struct {
	root string
}

// Open opens (creating when needed) the data directory at root and removes
// temporary files left by an interrupted process.
func Open(root string) (*Dir, error) {
	d := &Dir{root: root}
	if err := os.RemoveAll(d.tmpDir()); err != nil {
		return nil, fmt.Errorf("disk: clean temp: %w", err)
	}
	for _, p := range []string{d.tmpDir(), d.dataDir()} {
		if err := os.MkdirAll(p, 0o700); err != nil {
			return nil, fmt.Errorf("disk: %w", err)
		}
	}
	return d, nil
}

func (d *Dir) tmpDir() string  { return filepath.Join(d.root, "tmp") }
func (d *Dir) dataDir() string { return filepath.Join(d.root, "data") }

// path is where the data file with id lives: data/<2 hex>/<id>.
func (d *Dir) path(id string) (string, error) {
	if !validID(id) {
		return "", fmt.Errorf("%w: bad id %q", ErrNotFound, id)
	}
	return filepath.Join(d.dataDir(), id[:2], id), nil
}

func validID(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Temp is a data file being written. Write to it, then Commit or Abort.
type Temp struct {
	*os.File
	d    *Dir
	done bool
}

// Create starts a new data file.
func (d *Dir) Create() (*Temp, error) {
	f, err := os.CreateTemp(d.tmpDir(), "w-")
	if err != nil {
		return nil, fmt.Errorf("disk: %w", err)
	}
	return &Temp{File: f, d: d}, nil
}

// Commit makes the file durable and visible under a new ID, which it
// returns. The Temp is closed either way.
func (t *Temp) Commit() (string, error) {
	if t.done {
		return "", errors.New("disk: temp already finished")
	}
	t.done = true
	name := t.Name()
	err := t.Sync()
	if cerr := t.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(name)
		return "", fmt.Errorf("disk: commit: %w", err)
	}
	id := newID()
	p, _ := t.d.path(id)
	err = os.Rename(name, p)
	if errors.Is(err, fs.ErrNotExist) {
		if err = os.MkdirAll(filepath.Dir(p), 0o700); err == nil {
			err = os.Rename(name, p)
		}
	}
	if err != nil {
		_ = os.Remove(name)
		return "", fmt.Errorf("disk: commit: %w", err)
	}
	return id, nil
}

// Abort discards the file. It is safe to call after Commit (a no-op), so
// callers can defer it.
func (t *Temp) Abort() {
	if t.done {
		return
	}
	t.done = true
	name := t.Name()
	_ = t.Close()
	_ = os.Remove(name)
}

// Open opens a data file for reading; ErrNotFound if it does not exist.
func (d *Dir) Open(id string) (*os.File, error) {
	p, err := d.path(id)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return f, err
}

// Remove deletes data files; missing ones are ignored.
func (d *Dir) Remove(ids ...string) error {
	var errs []error
	for _, id := range ids {
		p, err := d.path(id)
		if err != nil {
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Sweep removes data files last modified before cutoff whose ID
// referenced reports false, and returns how many it removed. Files written
// after cutoff are never touched, so Sweep may run while new data is being
// written if cutoff precedes every write whose reference is not yet in the
// snapshot referenced was built from.
func (d *Dir) Sweep(cutoff time.Time, referenced func(id string) bool) (int, error) {
	n := 0
	err := filepath.WalkDir(d.dataDir(), func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if e.IsDir() || !validID(e.Name()) || referenced(e.Name()) {
			return nil
		}
		info, err := e.Info()
		if err != nil || !info.ModTime().Before(cutoff) {
			return nil
		}
		if os.Remove(p) == nil {
			n++
		}
		return nil
	})
	return n, err
}
