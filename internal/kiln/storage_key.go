package kiln

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// storageKeyAD binds the sealed storage key to its purpose.
var storageKeyAD = []byte("kiln: containerd storage key")

// storageKey is the key that encrypts containerd's root on disk (every
// unpacked layer, instance and volume filesystem; see docs/runtime.md):
// 64 random bytes made on first use, kept in <DataDir>/storage.key sealed
// with kiln's root key.
func (k *Kiln) storageKey() ([]byte, error) {
	path := filepath.Join(k.opts.DataDir, "storage.key")
	sealed, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key := make([]byte, 64)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := writeFileSynced(path, k.box.Seal(key, storageKeyAD)); err != nil {
			return nil, fmt.Errorf("storage key: %w", err)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("storage key: %w", err)
	}
	key, err := k.box.Open(sealed, storageKeyAD)
	if err != nil {
		return nil, fmt.Errorf("storage key %s: %w", path, err)
	}
	return key, nil
}

// writeFileSynced writes a file whole under a temporary name, syncs it and
// renames it into place.
func writeFileSynced(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
