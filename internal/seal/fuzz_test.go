package seal_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/kiln-dev/kiln/internal/seal"
	"github.com/kiln-dev/kiln/internal/seal/sealtest"
)

// FuzzOpen feeds arbitrary bytes to Open. Whatever they are, Open and the
// reader must not panic, must fail only with ErrTampered or the keyring's
// own error, and must never yield a plaintext other than one that was
// really sealed (forging one would mean breaking the AEAD).
func FuzzOpen(f *testing.F) {
	kr := sealtest.NewWithKey(arnA, bytes.Repeat([]byte{7}, 32))
	plaintexts := [][]byte{nil, []byte("x"), bytes.Repeat([]byte("kiln"), 50)} // small: minimising large inputs would eat the fuzz time
	for _, p := range plaintexts {
		f.Add(sealBytes(f, kr, p, 1<<20))
	}
	f.Add([]byte("age-encryption.org/v1\n-> kiln-kms arn\nAAAA\n--- AAAA\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := seal.Open(context.Background(), bytes.NewReader(in), kr)
		var got []byte
		if err == nil {
			got, err = io.ReadAll(r)
		}
		if err != nil {
			if !errors.Is(err, seal.ErrTampered) && !errors.Is(err, sealtest.ErrUnknownKey) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		for _, p := range plaintexts {
			if bytes.Equal(got, p) {
				return
			}
		}
		t.Fatalf("opened to a plaintext that was never sealed (%d bytes)", len(got))
	})
}
