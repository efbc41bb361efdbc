package exec

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	osexec "os/exec"
	"strings"
)

// OSEnv answers condition questions from the real file system and PATH.
type OSEnv struct{}

// BinaryExists reports whether name resolves on PATH (like `type name`).
func (OSEnv) BinaryExists(name string) bool {
	_, err := osexec.LookPath(name)
	return err == nil
}

// Stat reports whether path is a regular file or a directory (symlinks
// are followed).
func (OSEnv) Stat(path string) (bool, bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return false, false
	}
	return fi.Mode().IsRegular(), fi.IsDir()
}

// HashFile returns the hex digest of a file.
func (OSEnv) HashFile(alg, path string) (string, error) {
	return HashFile(alg, path)
}

// NewHash returns the hash for an algorithm name (md5, sha1, sha256,
// sha512; case-insensitive).
func NewHash(alg string) (hash.Hash, error) {
	switch strings.ToLower(alg) {
	case "md5":
		return md5.New(), nil
	case "sha1":
		return sha1.New(), nil
	case "sha256":
		return sha256.New(), nil
	case "sha512":
		return sha512.New(), nil
	}
	return nil, fmt.Errorf("unsupported hash algorithm %q", alg)
}

// HashFile returns the lower-case hex digest of the file at path.
func HashFile(alg, path string) (string, error) {
	h, err := NewHash(alg)
	if err != nil {
		return "", err
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hashing %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
