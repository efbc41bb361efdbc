package seal_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/kiln-dev/kiln/internal/seal"
	"github.com/kiln-dev/kiln/internal/seal/sealtest"
)

const (
	arnA = "arn:aws:kms:us-east-1:123456789012:key/1111aaaa-0000-4000-8000-000000000001"
	arnB = "arn:aws:kms:eu-west-1:123456789012:key/2222bbbb-0000-4000-8000-000000000002"
)

const chunk = 64 << 10 // age's plaintext chunk size

func random(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// sealBytes seals data in writes of at most piece bytes.
func sealBytes(t testing.TB, kr seal.Keyring, data []byte, piece int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := seal.Seal(context.Background(), &buf, kr)
	if err != nil {
		t.Fatal(err)
	}
	for p := data; len(p) > 0; {
		n := min(piece, len(p))
		if _, err := w.Write(p[:n]); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func openAll(kr seal.Keyring, sealed []byte) ([]byte, error) {
	r, err := seal.Open(context.Background(), bytes.NewReader(sealed), kr)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func TestRoundTrip(t *testing.T) {
	kr := sealtest.New(arnA)
	for _, tc := range []struct {
		name  string
		size  int
		piece int
	}{
		{"empty", 0, 1},
		{"one byte", 1, 1},
		{"chunk-1", chunk - 1, 4096},
		{"chunk", chunk, chunk},
		{"chunk+1", chunk + 1, 1000},
		{"two chunks", 2 * chunk, 3 * chunk},
		{"several MB", 5<<20 + 17, 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := random(tc.size)
			sealed := sealBytes(t, kr, data, tc.piece)
			if bytes.Contains(sealed, data[:min(len(data), 64)]) && tc.size >= 16 {
				t.Fatal("ciphertext contains the plaintext")
			}
			got, err := openAll(kr, sealed)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("round trip: got %d bytes, want %d", len(got), len(data))
			}
			// One-byte reads exercise the reader's buffering.
			r, err := seal.Open(context.Background(), iotest.HalfReader(bytes.NewReader(sealed)), kr)
			if err != nil {
				t.Fatal(err)
			}
			if err := iotest.TestReader(r, data); err != nil {
				t.Fatal(err)
			}
			arn, err := seal.KeyARN(bytes.NewReader(sealed))
			if err != nil || arn != arnA {
				t.Fatalf("KeyARN = %q, %v", arn, err)
			}
		})
	}
}

// headerLen is the length of the age header (through the MAC line).
func headerLen(t *testing.T, sealed []byte) int {
	i := bytes.Index(sealed, []byte("\n--- "))
	if i < 0 {
		t.Fatal("no MAC line")
	}
	j := bytes.IndexByte(sealed[i+1:], '\n')
	return i + 1 + j + 1
}

func TestTampering(t *testing.T) {
	kr := sealtest.New(arnA)
	data := random(3*chunk + 100) // four chunks
	sealed := sealBytes(t, kr, data, 1<<20)
	hl := headerLen(t, sealed)
	flip := func(i int) func([]byte) []byte {
		return func(b []byte) []byte { b[i] ^= 0x01; return b }
	}
	last := len(sealed) - 1
	for _, tc := range []struct {
		name string
		mod  func([]byte) []byte
	}{
		{"intro", flip(3)},
		{"stanza type", flip(bytes.Index(sealed, []byte(seal.StanzaType)) + 1)},
		{"wrapped key", flip(bytes.Index(sealed, []byte(arnA)) + len(arnA) + 5)},
		{"header MAC", flip(hl - 10)},
		{"stream nonce", flip(hl + 3)},
		{"first chunk", flip(hl + 16 + 100)},
		{"second chunk", flip(hl + 16 + chunk + 16 + 7)},
		{"last chunk", flip(last - 20)},
		{"last chunk tag", flip(last)},
		{"truncated by one byte", func(b []byte) []byte { return b[:last] }},
		{"last chunk dropped", func(b []byte) []byte { return b[:hl+16+3*(chunk+16)] }},
		{"truncated in the header", func(b []byte) []byte { return b[:hl/2] }},
		{"header only", func(b []byte) []byte { return b[:hl] }},
		{"header and nonce only", func(b []byte) []byte { return b[:hl+16] }},
		{"one byte appended", func(b []byte) []byte { return append(b, 0) }},
		{"chunk appended", func(b []byte) []byte { return append(b, b[hl+16:hl+16+chunk+16]...) }},
		{"chunks swapped", func(b []byte) []byte {
			c1 := bytes.Clone(b[hl+16 : hl+16+chunk+16])
			copy(b[hl+16:], b[hl+16+chunk+16:hl+16+2*(chunk+16)])
			copy(b[hl+16+chunk+16:], c1)
			return b
		}},
		{"empty", func(b []byte) []byte { return nil }},
		{"plaintext", func(b []byte) []byte { return data }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := openAll(kr, tc.mod(bytes.Clone(sealed)))
			if !errors.Is(err, seal.ErrTampered) {
				t.Fatalf("err = %v (%d bytes read), want ErrTampered", err, len(got))
			}
		})
	}
}

// Every byte of the header is protected: by age's MAC, by the keyring's
// authentication of the wrapped key, or (the key ARN) by the key lookup.
func TestTamperingEveryHeaderByte(t *testing.T) {
	kr := sealtest.New(arnA)
	sealed := sealBytes(t, kr, random(1000), 1000)
	hl := headerLen(t, sealed)
	arnAt := bytes.Index(sealed, []byte(arnA))
	for i := range hl {
		b := bytes.Clone(sealed)
		b[i] ^= 0x20
		_, err := openAll(kr, b)
		switch {
		case err == nil:
			t.Errorf("byte %d (%q) flipped: opened", i, sealed[i])
		case i >= arnAt && i < arnAt+len(arnA):
			if !errors.Is(err, seal.ErrTampered) && !errors.Is(err, sealtest.ErrUnknownKey) {
				t.Errorf("byte %d of the ARN flipped: %v", i, err)
			}
		case !errors.Is(err, seal.ErrTampered):
			t.Errorf("byte %d (%q) flipped: %v, want ErrTampered", i, sealed[i], err)
		}
	}
}

func TestWrongKeyring(t *testing.T) {
	kr := sealtest.New(arnA)
	sealed := sealBytes(t, kr, []byte("secret layer"), 100)
	for _, tc := range []struct {
		name string
		kr   seal.Keyring
		want error
	}{
		{"other key", sealtest.New(arnB), sealtest.ErrUnknownKey},
		{"same ARN, other key material", sealtest.New(arnA), seal.ErrTampered},
		{"nil", nil, seal.ErrNoKeyring},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := openAll(tc.kr, sealed)
			if !errors.Is(err, tc.want) || got != nil {
				t.Fatalf("err = %v, got %q; want %v", err, got, tc.want)
			}
		})
	}
	if _, err := seal.Seal(context.Background(), io.Discard, nil); !errors.Is(err, seal.ErrNoKeyring) {
		t.Fatalf("Seal(nil keyring) = %v", err)
	}
}

// failingKeyring fails every call.
type failingKeyring struct{ err error }

func (f failingKeyring) Wrap(context.Context, []byte) (string, []byte, error) { return "", nil, f.err }
func (f failingKeyring) Unwrap(context.Context, string, []byte) ([]byte, error) {
	return nil, f.err
}

func TestKeyringErrorsPassThrough(t *testing.T) {
	denied := errors.New("AccessDeniedException")
	if _, err := seal.Seal(context.Background(), io.Discard, failingKeyring{denied}); !errors.Is(err, denied) {
		t.Fatalf("Seal = %v", err)
	}
	sealed := sealBytes(t, sealtest.New(arnA), []byte("x"), 1)
	_, err := openAll(failingKeyring{denied}, sealed)
	if !errors.Is(err, denied) || errors.Is(err, seal.ErrTampered) {
		t.Fatalf("Open = %v", err)
	}
}

func TestKeyARN(t *testing.T) {
	sealed := sealBytes(t, sealtest.New(arnB), random(100), 100)
	for _, tc := range []struct {
		name string
		in   io.Reader
		want string
		err  error
	}{
		{"sealed", bytes.NewReader(sealed), arnB, nil},
		{"header only", bytes.NewReader(sealed[:bytes.Index(sealed, []byte("\n---"))+60]), arnB, nil},
		{"plain tar", bytes.NewReader(make([]byte, 1024)), "", seal.ErrTampered},
		{"empty", strings.NewReader(""), "", seal.ErrTampered},
		{"other age recipient", strings.NewReader("age-encryption.org/v1\n-> X25519 abc\nYWJj\n--- AAAA\n"), "", seal.ErrTampered},
		{"read error", iotest.ErrReader(io.ErrClosedPipe), "", io.ErrClosedPipe},
	} {
		t.Run(tc.name, func(t *testing.T) {
			arn, err := seal.KeyARN(tc.in)
			if arn != tc.want || !errors.Is(err, tc.err) {
				t.Fatalf("KeyARN = %q, %v; want %q, %v", arn, err, tc.want, tc.err)
			}
		})
	}
}

func TestReadErrorsAreNotTampering(t *testing.T) {
	kr := sealtest.New(arnA)
	sealed := sealBytes(t, kr, random(3*chunk), 1<<20)
	r, err := seal.Open(context.Background(), io.MultiReader(bytes.NewReader(sealed[:chunk]), iotest.ErrReader(io.ErrClosedPipe)), kr)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(r)
	if !errors.Is(err, io.ErrClosedPipe) || errors.Is(err, seal.ErrTampered) {
		t.Fatalf("err = %v, want the source's error", err)
	}
}

func TestContext(t *testing.T) {
	kr := sealtest.New(arnA)
	data := random(4 * chunk)
	sealed := sealBytes(t, kr, data, 1<<20)

	ctx, cancel := context.WithCancel(context.Background())
	w, err := seal.Seal(ctx, io.Discard, kr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data[:chunk]); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := w.Write(data[chunk:]); !errors.Is(err, context.Canceled) {
		t.Fatalf("Write after cancel = %v", err)
	}
	if err := w.Close(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close after cancel = %v", err)
	}

	ctx, cancel = context.WithCancel(context.Background())
	r, err := seal.Open(ctx, bytes.NewReader(sealed), kr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(r, make([]byte, chunk)); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := io.ReadAll(r); !errors.Is(err, context.Canceled) {
		t.Fatalf("Read after cancel = %v", err)
	}
	if _, err := seal.Seal(ctx, io.Discard, kr); !errors.Is(err, context.Canceled) {
		t.Fatalf("Seal with a cancelled context = %v", err)
	}
	if _, err := seal.Open(ctx, bytes.NewReader(sealed), kr); !errors.Is(err, context.Canceled) {
		t.Fatalf("Open with a cancelled context = %v", err)
	}
}
