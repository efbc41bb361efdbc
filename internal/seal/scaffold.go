// Package seal: SCAFFOLD for the integrator's branch only — replaced by the
// real package (branch seal) at merge. Plain layers only.
package seal

import (
	"context"
	"errors"
	"io"

	"github.com/kiln-dev/kiln/internal/blob"
)

// Keyring wraps and unwraps data keys with one KMS key on behalf of a caller.
type Keyring interface {
	Wrap(ctx context.Context, dataKey []byte) (keyARN string, wrapped []byte, err error)
	Unwrap(ctx context.Context, keyARN string, wrapped []byte) ([]byte, error)
}

var errScaffold = errors.New("seal: scaffold")

func Put(ctx context.Context, bs blob.Store, plain io.Reader, expected blob.Digest, kr Keyring) (blob.Layer, error) {
	if kr != nil {
		return blob.Layer{}, errScaffold
	}
	d, err := bs.Put(ctx, plain, expected)
	return blob.Layer{Desc: d}, err
}

func OpenLayer(ctx context.Context, bs blob.Store, l blob.Layer, kr Keyring) (io.ReadCloser, error) {
	if l.Sealed != nil {
		return nil, errScaffold
	}
	return bs.Open(ctx, l.Digest)
}

func Copy(ctx context.Context, src, dst blob.Store, l blob.Layer, srcKr, dstKr Keyring) (blob.Layer, error) {
	if l.Sealed != nil || dstKr != nil {
		return blob.Layer{}, errScaffold
	}
	rc, err := src.Open(ctx, l.Digest)
	if err != nil {
		return blob.Layer{}, err
	}
	defer rc.Close()
	return Put(ctx, dst, rc, l.Digest, nil)
}

func KeyARN(src io.Reader) (string, error) { return "", errScaffold }
