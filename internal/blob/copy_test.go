package blob

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"testing"
)

// TestCopyHashing: the bytes and the hash match the input whatever its
// size against the buffers, wrote sees every running total, and a
// cancelled context stops the copy.
func TestCopyHashing(t *testing.T) {
	for _, size := range []int{0, 1, copyBuf - 1, copyBuf, 5*copyBuf + 7} {
		in := make([]byte, size)
		rand.Read(in)
		var out bytes.Buffer
		h := sha256.New()
		var totals []int64
		n, err := CopyHashing(context.Background(), &out, h, bytes.NewReader(in), func(t int64) { totals = append(totals, t) })
		if err != nil || n != int64(size) || !bytes.Equal(out.Bytes(), in) {
			t.Fatalf("size %d: n=%d err=%v equal=%v", size, n, err, bytes.Equal(out.Bytes(), in))
		}
		if want := sha256.Sum256(in); !bytes.Equal(h.Sum(nil), want[:]) {
			t.Fatalf("size %d: hash differs", size)
		}
		if size > 0 && totals[len(totals)-1] != int64(size) {
			t.Fatalf("size %d: totals %v", size, totals)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := CopyHashing(ctx, &bytes.Buffer{}, sha256.New(), bytes.NewReader(make([]byte, 10)), nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}
