// Package sealtest provides an in-memory seal.Keyring for tests and
// benchmarks: one KMS-like key (an ARN and a random AES-256 key) that wraps
// data keys with AES-GCM, binding the key's ARN as associated data, as a
// KMS ciphertext blob is bound to its key.
package sealtest

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/kiln-dev/kiln/internal/seal"
)

// ErrUnknownKey is Unwrap's error for a key ARN other than the keyring's.
var ErrUnknownKey = errors.New("sealtest: unknown KMS key")

// Keyring is a fake KMS key. Its methods are safe for concurrent use.
type Keyring struct {
	arn  string
	aead cipher.AEAD

	// Wraps and Unwraps count successful calls.
	Wraps, Unwraps atomic.Int64
}

var _ seal.Keyring = (*Keyring)(nil)

// New returns a keyring for a new random key named arn.
func New(arn string) *Keyring {
	var key [32]byte
	if _, err := rand.Read(key[:]); err != nil {
		panic(err)
	}
	return NewWithKey(arn, key[:])
}

// NewWithKey returns a keyring for the AES-256 key named arn (fuzz targets
// use a fixed key).
func NewWithKey(arn string, key []byte) *Keyring {
	b, err := aes.NewCipher(key)
	if err != nil {
		panic(err)
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		panic(err)
	}
	return &Keyring{arn: arn, aead: g}
}

// ARN is the key's ARN.
func (k *Keyring) ARN() string { return k.arn }

// Wrap encrypts dataKey: a random nonce followed by the AES-GCM ciphertext.
func (k *Keyring) Wrap(ctx context.Context, dataKey []byte) (string, []byte, error) {
	if err := ctx.Err(); err != nil {
		return "", nil, err
	}
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(dataKey)+k.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", nil, err
	}
	k.Wraps.Add(1)
	return k.arn, k.aead.Seal(nonce, nonce, dataKey, []byte(k.arn)), nil
}

// Unwrap decrypts a data key wrapped by this keyring (ErrUnknownKey for
// another ARN, seal.ErrTampered when wrapped does not authenticate).
func (k *Keyring) Unwrap(ctx context.Context, keyARN string, wrapped []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if keyARN != k.arn {
		return nil, fmt.Errorf("%w: %s", ErrUnknownKey, keyARN)
	}
	ns := k.aead.NonceSize()
	if len(wrapped) < ns+k.aead.Overhead() {
		return nil, fmt.Errorf("%w: wrapped key too short", seal.ErrTampered)
	}
	key, err := k.aead.Open(nil, wrapped[:ns], wrapped[ns:], []byte(keyARN))
	if err != nil {
		return nil, fmt.Errorf("%w: wrapped key: %v", seal.ErrTampered, err)
	}
	k.Unwraps.Add(1)
	return key, nil
}
