package seal

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"

	"github.com/kiln-dev/kiln/internal/blob"
)

// bufSize is the size of the read buffers and of the buffer between the
// encryptor and the store: large enough that syscalls, hashing and pipe
// hand-offs run in long strides, small enough that a layer of any size
// costs a few MiB.
const bufSize = 1 << 20

// Put stores plain (a layer's uncompressed tar) in bs sealed under kr,
// hashing the plaintext on the way: the result's Desc is the plaintext
// digest/size and Sealed the stored ciphertext blob. If expected is
// non-empty the plaintext must hash to it (blob.ErrDigestMismatch, nothing
// stored). A nil kr stores the layer unencrypted (Sealed is nil).
//
// The plaintext streams through the encryptor into bs.Put: the stream is
// failed before its end when the plaintext digest does not match, so the
// store discards its temp file. Cancelling ctx aborts the same way.
func Put(ctx context.Context, bs blob.Store, plain io.Reader, expected blob.Digest, kr Keyring) (blob.Layer, error) {
	if expected != "" {
		if err := expected.Validate(); err != nil {
			return blob.Layer{}, err
		}
	}
	if kr == nil {
		d, err := bs.Put(ctx, plain, expected)
		if err != nil {
			return blob.Layer{}, err
		}
		return blob.Layer{Desc: d}, nil
	}

	pr, pw := io.Pipe()
	type result struct {
		d   blob.Desc
		err error
	}
	done := make(chan result, 1)
	go func() {
		d, err := bs.Put(ctx, pr, "")
		// Unblocks the encryptor if the store gave up early.
		if err != nil {
			pr.CloseWithError(err)
		} else {
			pr.CloseWithError(errStoreDone)
		}
		done <- result{d, err}
	}()
	pd, err := sealTo(ctx, pw, plain, expected, kr)
	pw.CloseWithError(err) // nil: the store reads EOF and commits
	res := <-done
	if err != nil {
		return blob.Layer{}, err
	}
	if res.err != nil {
		return blob.Layer{}, res.err
	}
	return blob.Layer{Desc: pd, Sealed: &res.d}, nil
}

// errStoreDone is what the encryptor sees if the store returned before the
// end of the stream (it reads to EOF, so only a broken store would).
var errStoreDone = errors.New("seal: store finished before the stream ended")

// sealTo encrypts plain into w through a large buffer, hashing the
// plaintext; it fails (before the sealed stream is complete in w's eyes,
// since the caller closes w with the error) when the digest is not
// expected.
func sealTo(ctx context.Context, w io.Writer, plain io.Reader, expected blob.Digest, kr Keyring) (blob.Desc, error) {
	bw := bufio.NewWriterSize(w, bufSize)
	sw, err := Seal(ctx, bw, kr)
	if err != nil {
		return blob.Desc{}, err
	}
	h := sha256.New()
	n, err := blob.CopyHashing(ctx, sw, h, plain, nil)
	if err != nil {
		return blob.Desc{}, err
	}
	d := blob.Desc{Digest: blob.FromHash(h.Sum(nil)), Size: n}
	if expected != "" && d.Digest != expected {
		return blob.Desc{}, fmt.Errorf("%w: expected %s, got %s", blob.ErrDigestMismatch, expected, d.Digest)
	}
	if err := sw.Close(); err != nil {
		return blob.Desc{}, err
	}
	if err := bw.Flush(); err != nil {
		return blob.Desc{}, err
	}
	return d, nil
}

// OpenLayer returns the layer's plaintext from bs (decrypting sealed layers
// with kr, which may be nil for plain layers); the reader verifies the
// plaintext digest and size at EOF (blob.ErrDigestMismatch). Damage to a
// sealed layer's ciphertext reads as ErrTampered.
func OpenLayer(ctx context.Context, bs blob.Store, l blob.Layer, kr Keyring) (io.ReadCloser, error) {
	if l.Sealed == nil {
		// The store verifies the digest; only the size is left.
		rc, err := bs.Open(ctx, l.Digest)
		if err != nil {
			return nil, err
		}
		return &checker{ctx: ctx, r: rc, c: rc, want: l.Desc}, nil
	}
	if kr == nil {
		return nil, ErrNoKeyring
	}
	return openSealed(ctx, bs, l, kr)
}

// openSealed decrypts a sealed layer and verifies its plaintext.
func openSealed(ctx context.Context, bs blob.Store, l blob.Layer, kr Keyring) (io.ReadCloser, error) {
	rc, err := openRaw(ctx, bs, *l.Sealed)
	if err != nil {
		return nil, err
	}
	r, err := Open(ctx, bufio.NewReaderSize(rc, bufSize), kr)
	if err != nil {
		rc.Close()
		return nil, err
	}
	return &checker{ctx: ctx, r: r, c: rc, h: sha256.New(), want: l.Desc}, nil
}

// openRaw opens a stored blob without the store's own digest check
// when the store keeps blobs as local files (blob.LocalPather), for callers
// that verify the content themselves: age authenticates every chunk of a
// sealed blob and the plaintext digest is checked after decryption, and a
// plain copy is checked by the destination's Put, so hashing the stored
// bytes as well would only cost time. Other stores verify as usual.
func openRaw(ctx context.Context, bs blob.Store, d blob.Desc) (io.ReadCloser, error) {
	if lp, ok := bs.(blob.LocalPather); ok {
		p, err := lp.Path(d.Digest)
		if err != nil {
			return nil, err
		}
		return os.Open(p)
	}
	return bs.Open(ctx, d.Digest)
}

// checker counts (and, with h, hashes) what is read and checks it against
// want at EOF. Without h the source verifies the digest itself.
type checker struct {
	ctx  context.Context
	r    io.Reader
	c    io.Closer
	h    hash.Hash
	want blob.Desc
	n    int64
	err  error // sticky
}

func (c *checker) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.h != nil {
		c.h.Write(p[:n])
	}
	if c.n > c.want.Size {
		err = fmt.Errorf("%w: %s is longer than %d bytes", blob.ErrDigestMismatch, c.want.Digest, c.want.Size)
	}
	switch {
	case err == io.EOF:
		c.err = c.finish()
		err = c.err
	case err != nil:
		c.err = err
	}
	return n, err
}

func (c *checker) finish() error {
	if c.n != c.want.Size {
		return fmt.Errorf("%w: %s is %d bytes, want %d", blob.ErrDigestMismatch, c.want.Digest, c.n, c.want.Size)
	}
	if c.h != nil {
		if got := blob.FromHash(c.h.Sum(nil)); got != c.want.Digest {
			return fmt.Errorf("%w: layer %s reads as %s", blob.ErrDigestMismatch, c.want.Digest, got)
		}
	}
	return io.EOF
}

func (c *checker) Close() error { return c.c.Close() }

// Copy moves a layer from one store to another, as CopyImage and
// CopySnapshot do across regions, always moving bytes (never hard links:
// regions are separate stores). The plaintext digest is verified end to
// end, in one streaming pass with bounded memory:
//
//   - plain, dstKr nil: plain copy (dst.Put with the expected digest);
//   - plain, dstKr set: sealed under dstKr;
//   - sealed, dstKr set: decrypted with srcKr and re-sealed under dstKr
//     (a new data key; dstKr may wrap with the same KMS key as srcKr);
//   - sealed, dstKr nil: refused with ErrDecryptRefused — a sealed layer's
//     copy is always sealed, and the caller must name the destination's
//     key (KMS keys are regional, so srcKr's key is no default).
//
// srcKr is needed only for sealed layers (ErrNoKeyring). It returns the new
// layer: the same Desc, and a new Sealed blob when sealed.
func Copy(ctx context.Context, src, dst blob.Store, l blob.Layer, srcKr, dstKr Keyring) (blob.Layer, error) {
	if err := l.Digest.Validate(); err != nil {
		return blob.Layer{}, err
	}
	var rc io.ReadCloser
	var err error
	switch {
	case l.Sealed != nil && dstKr == nil:
		return blob.Layer{}, ErrDecryptRefused
	case l.Sealed != nil && srcKr == nil:
		return blob.Layer{}, ErrNoKeyring
	case l.Sealed != nil:
		// The plaintext is verified by Put's expected digest; size below.
		rc, err = openRaw(ctx, src, *l.Sealed)
		if err != nil {
			return blob.Layer{}, err
		}
		defer rc.Close()
		var r io.Reader
		r, err = Open(ctx, bufio.NewReaderSize(rc, bufSize), srcKr)
		if err != nil {
			return blob.Layer{}, err
		}
		return putChecked(ctx, dst, r, l.Desc, dstKr)
	default:
		// Put verifies the expected digest, so the source need not.
		rc, err = openRaw(ctx, src, l.Desc)
		if err != nil {
			return blob.Layer{}, err
		}
		defer rc.Close()
		return putChecked(ctx, dst, rc, l.Desc, dstKr)
	}
}

// putChecked is Put with want's digest expected and its size checked
// while streaming, so that a wrong size fails before anything is stored.
func putChecked(ctx context.Context, dst blob.Store, r io.Reader, want blob.Desc, kr Keyring) (blob.Layer, error) {
	nl, err := Put(ctx, dst, &checker{ctx: ctx, r: r, want: want}, want.Digest, kr)
	if err != nil {
		return blob.Layer{}, err
	}
	if nl.Size != want.Size {
		// The digest matched, so the layer record's size is wrong.
		return blob.Layer{}, fmt.Errorf("%w: %s is %d bytes, the layer says %d", blob.ErrDigestMismatch, want.Digest, nl.Size, want.Size)
	}
	return nl, nil
}
