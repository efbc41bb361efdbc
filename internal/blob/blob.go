// Package blob defines kiln's content-addressed blob stores: image layers
// and snapshots, addressed by the SHA-256 of their bytes. Every region has
// its own store (so copying an image between regions really moves bytes).
// Writes stream into a temporary file and are renamed into place only once
// the digest is known and verified; reads verify the digest at EOF.
//
// Backends live in sub-packages (disk; later s3) and must pass the
// conformance suite in blobtest.
package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"regexp"
	"time"
)

// Errors.
var (
	ErrNotFound       = errors.New("blob: not found")
	ErrDigestMismatch = errors.New("blob: digest mismatch")
	ErrInvalidDigest  = errors.New("blob: invalid digest")
)

// Digest is "sha256:<64 hex>".
type Digest string

var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// Validate checks the digest's form.
func (d Digest) Validate() error {
	if !digestRE.MatchString(string(d)) {
		return ErrInvalidDigest
	}
	return nil
}

// Hex is the digest without its algorithm prefix.
func (d Digest) Hex() string { return string(d)[len("sha256:"):] }

// Desc describes a stored blob.
type Desc struct {
	Digest Digest `json:"digest"`
	Size   int64  `json:"size"`
}

// Store is one region's blob store.
type Store interface {
	// Put streams r into the store. When expected is non-empty the bytes
	// must hash to it (ErrDigestMismatch otherwise, and nothing is stored).
	// Putting an existing blob is cheap and succeeds.
	Put(ctx context.Context, r io.Reader, expected Digest) (Desc, error)
	// Open returns the blob's bytes; the reader returns ErrDigestMismatch
	// at EOF if the stored bytes no longer match their digest.
	Open(ctx context.Context, d Digest) (io.ReadCloser, error)
	// Stat returns the blob's size, or ErrNotFound.
	Stat(ctx context.Context, d Digest) (Desc, error)
	// Delete removes a blob; ErrNotFound if absent.
	Delete(ctx context.Context, d Digest) error
	// Walk calls fn for every blob.
	Walk(ctx context.Context, fn func(Desc) error) error
}

// Regions gives each region's store.
type Regions interface {
	Region(name string) (Store, error)
}

// Linker is implemented by stores that can add a blob from another store
// of the same kind without copying bytes (hard links on one filesystem).
type Linker interface {
	Link(ctx context.Context, from Store, d Digest) (Desc, error)
}

// Ager is implemented by stores that know when each blob was last stored:
// written, or Put or Linked again while it already existed (which must
// refresh the time, since the caller is about to reference the blob). The
// garbage collector (package blobgc) collects only from stores that
// implement it, and leaves recently stored blobs alone: an operation that
// has stored a blob but not yet written the record naming it must not lose
// it.
type Ager interface {
	// WalkAged is Walk with the time each blob was last stored.
	WalkAged(ctx context.Context, fn func(d Desc, stored time.Time) error) error
	// DeleteIfOlder removes d only if it was last stored before t, and
	// reports whether it did. It is atomic with respect to Put and Link,
	// also in other processes: a blob that a concurrent Put or Link reports
	// as stored is never removed. ErrNotFound if d is absent.
	DeleteIfOlder(ctx context.Context, d Digest, t time.Time) (bool, error)
}

// TempSweeper is implemented by stores that stage writes in temporary
// files.
type TempSweeper interface {
	// SweepTemp removes temporary files whose writer is gone and that were
	// last written before t (and any older than a day); it reports how many
	// files and bytes it removed.
	SweepTemp(ctx context.Context, t time.Time) (files int, bytes int64, err error)
}

// FromHash is the digest of a finished SHA-256 sum.
func FromHash(sum []byte) Digest {
	return Digest("sha256:" + hex.EncodeToString(sum))
}

// FromBytes is the digest of b.
func FromBytes(b []byte) Digest {
	s := sha256.Sum256(b)
	return FromHash(s[:])
}

// LocalPather is implemented by stores that keep blobs as local files, so
// that consumers on the same machine (the containerd runtime hydrating a
// layer) can read them without streaming through the store. The file must
// be treated as read-only.
type LocalPather interface {
	// Path returns the blob's file, or ErrNotFound.
	Path(d Digest) (string, error)
}

// Layer is one filesystem layer of an image, snapshot or volume: an
// uncompressed tar identified by the digest and size of its plaintext
// (Desc, the layer's identity in the runtime). An unencrypted layer is
// stored as that blob; an encrypted one is stored as another blob, Sealed,
// the ciphertext (see package seal), whose header names the KMS key that
// wraps its data key.
type Layer struct {
	Desc
	Sealed *Desc `json:"sealed,omitempty"`
}

// Stored is the blob that holds the layer's bytes in a store.
func (l Layer) Stored() Desc {
	if l.Sealed != nil {
		return *l.Sealed
	}
	return l.Desc
}

// Plain wraps unencrypted layer descriptors.
func Plain(ds ...Desc) []Layer {
	out := make([]Layer, len(ds))
	for i, d := range ds {
		out[i] = Layer{Desc: d}
	}
	return out
}
