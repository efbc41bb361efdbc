package runtimetest

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"
)

// FindPlaintext looks for any of the markers in every regular file under
// dir, except below the paths in skip (mount points that show decrypted
// data, stores allowed to hold plaintext), reading only the data of
// sparse files. It returns the first file and marker found ("" when
// none). Sync what should be on disk first.
func FindPlaintext(dir string, skip []string, markers ...string) (path, marker string, err error) {
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if slices.Contains(skip, p) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return nil // gone meanwhile
		}
		defer f.Close()
		m, err := fileContains(f, markers)
		if err != nil {
			return err
		}
		if m != "" {
			path, marker = p, m
			return fs.SkipAll
		}
		return nil
	})
	return path, marker, err
}

// fileContains reports which of the markers f holds, reading only its
// data (a sparse file's holes are skipped).
func fileContains(f *os.File, markers []string) (string, error) {
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	const overlap = 256
	buf := make([]byte, 4<<20)
	for off := int64(0); off < fi.Size(); {
		data, err := unix.Seek(int(f.Fd()), off, unix.SEEK_DATA)
		if err != nil {
			return "", nil // no more data
		}
		hole, err := unix.Seek(int(f.Fd()), data, unix.SEEK_HOLE)
		if err != nil {
			return "", err
		}
		// Overlapping pieces: a marker across two is seen.
		for p := max(0, data-overlap); p < hole; p += int64(len(buf)) - overlap {
			n, _ := f.ReadAt(buf[:min(int64(len(buf)), hole-p)], p)
			for _, m := range markers {
				if bytes.Contains(buf[:n], []byte(m)) {
					return m, nil
				}
			}
		}
		off = hole
	}
	return "", nil
}
