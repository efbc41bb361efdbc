package sigv4

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// The AWS S3 documentation example "Signature Calculations for the
// Authorization Header: Transferring Payload in Multiple Chunks": a PUT of
// 66560 bytes of 'a' as a 64 KiB chunk, a 1 KiB chunk and the final empty one.
const (
	docSecret    = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	docSeed      = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
	docChunk1Sig = "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
	docChunk2Sig = "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"
	docFinalSig  = "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"
)

func docBody() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "10000;chunk-signature=%s\r\n%s\r\n", docChunk1Sig, bytes.Repeat([]byte("a"), 65536))
	fmt.Fprintf(&b, "400;chunk-signature=%s\r\n%s\r\n", docChunk2Sig, bytes.Repeat([]byte("a"), 1024))
	fmt.Fprintf(&b, "0;chunk-signature=%s\r\n\r\n", docFinalSig)
	return b.Bytes()
}

// docRequest is the documented seed request as a server receives it.
func docRequest(body []byte) *http.Request {
	r := httptest.NewRequest("PUT", "/examplebucket/chunkObject.txt", bytes.NewReader(body))
	r.Host = "s3.amazonaws.com"
	r.Header.Set("X-Amz-Date", "20130524T000000Z")
	r.Header.Set("X-Amz-Storage-Class", "REDUCED_REDUNDANCY")
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"+
		"SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,"+
		"Signature="+docSeed)
	r.Header.Set("X-Amz-Content-Sha256", StreamingPayload)
	r.Header.Set("Content-Encoding", "aws-chunked")
	r.Header.Set("X-Amz-Decoded-Content-Length", "66560")
	r.Header.Set("Content-Length", "66824")
	return r
}

var docTime = time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)

func TestSigningKeyKnownAnswer(t *testing.T) {
	// AWS General Reference, "Examples of how to derive a signing key".
	got := hex.EncodeToString(SigningKey("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam"))
	if want := "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"; got != want {
		t.Fatalf("signing key %s, want %s", got, want)
	}
}

func TestChunkedAWSExample(t *testing.T) {
	body := docBody()
	if len(body) != 66824 {
		t.Fatalf("example body is %d bytes, want 66824", len(body))
	}
	r := docRequest(body)
	c, err := Parse(r)
	if err != nil {
		t.Fatal(err)
	}
	// The seed request itself verifies, with the payload taken literally
	// from x-amz-content-sha256.
	if err := Verify(r, c, docSecret, "", docTime, Options{S3: true}); err != nil {
		t.Fatalf("seed request: %v", err)
	}
	if err := Verify(r, c, docSecret, "", docTime.Add(16*time.Minute), Options{S3: true}); !errors.Is(err, ErrSkewed) {
		t.Fatalf("seed request 16 minutes late: %v", err)
	}
	key := SigningKey(docSecret, c.Date, c.Region, c.Service)
	for _, wrap := range []struct {
		name string
		fn   func(io.Reader) io.Reader
	}{
		{"plain", func(r io.Reader) io.Reader { return r }},
		{"one byte", iotest.OneByteReader},
		{"half", iotest.HalfReader},
		{"data+EOF", iotest.DataErrReader},
	} {
		t.Run(wrap.name, func(t *testing.T) {
			got, err := io.ReadAll(NewChunkedReader(wrap.fn(r.Body), key, c, c.Signature))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, bytes.Repeat([]byte("a"), 66560)) {
				t.Fatalf("decoded %d bytes, want 66560 'a'", len(got))
			}
		})
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	// A flipped byte in the second chunk: the first chunk's data is
	// delivered, then the mismatch.
	bad := bytes.Clone(body)
	bad[65626+86+10] = 'b'
	got, err := io.ReadAll(NewChunkedReader(bytes.NewReader(bad), key, c, c.Signature))
	if !errors.Is(err, ErrSignatureMismatch) {
		t.Fatalf("tampered chunk: %v", err)
	}
	if len(got) < 65536 || len(got) > 66560 {
		t.Fatalf("read %d bytes before the error", len(got))
	}
	// Wrong secret.
	wrong := SigningKey("not"+docSecret, c.Date, c.Region, c.Service)
	if _, err := io.ReadAll(NewChunkedReader(bytes.NewReader(body), wrong, c, c.Signature)); !errors.Is(err, ErrSignatureMismatch) {
		t.Fatalf("wrong key: %v", err)
	}
}

// testSigner is an independent, straightforward chunk signer.
type testSigner struct {
	key            []byte
	amzDate, scope string
	prev           string
}

func (s *testSigner) sign(parts ...string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(strings.Join(parts, "\n")))
	s.prev = hex.EncodeToString(m.Sum(nil))
	return s.prev
}

func (s *testSigner) chunk(data []byte) string {
	empty := sha256.Sum256(nil)
	sum := sha256.Sum256(data)
	return s.sign("AWS4-HMAC-SHA256-PAYLOAD", s.amzDate, s.scope, s.prev, hex.EncodeToString(empty[:]), hex.EncodeToString(sum[:]))
}

func (s *testSigner) trailer(canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	return s.sign("AWS4-HMAC-SHA256-TRAILER", s.amzDate, s.scope, s.prev, hex.EncodeToString(sum[:]))
}

type chunkOpts struct {
	signed   bool
	trailers [][2]string // name, value
	// signTrailer adds x-amz-trailer-signature.
	signTrailer bool
}

// buildChunked encodes chunks (plus the final empty chunk) the way a
// client does.
func buildChunked(s *testSigner, chunks [][]byte, o chunkOpts) []byte {
	var b bytes.Buffer
	for _, d := range append(chunks, nil) {
		if o.signed {
			fmt.Fprintf(&b, "%x;chunk-signature=%s\r\n", len(d), s.chunk(d))
		} else {
			fmt.Fprintf(&b, "%x\r\n", len(d))
		}
		if len(d) > 0 {
			b.Write(d)
			b.WriteString("\r\n")
		}
	}
	var canon strings.Builder
	for _, tr := range o.trailers {
		fmt.Fprintf(&b, "%s:%s\r\n", tr[0], tr[1])
		canon.WriteString(tr[0] + ":" + tr[1] + "\n")
	}
	if o.signTrailer {
		fmt.Fprintf(&b, "x-amz-trailer-signature:%s\r\n", s.trailer(canon.String()))
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

func testCred() *Credential {
	return &Credential{AccessKeyID: testAKID, Date: "20261122", Region: "eu-west-1", Service: "s3",
		Time: testTime, Signature: strings.Repeat("ab", 32)}
}

func TestChunkedConstructed(t *testing.T) {
	c := testCred()
	key := SigningKey(testSecret, c.Date, c.Region, c.Service)
	newSigner := func() *testSigner {
		return &testSigner{key: key, amzDate: c.AmzDate(), scope: c.Scope(), prev: c.Signature}
	}
	chunks := [][]byte{bytes.Repeat([]byte("x"), 8192), bytes.Repeat([]byte("y"), 8192), []byte("tail")}
	want := bytes.Join(chunks, nil)
	crc := [][2]string{{"x-amz-checksum-crc32", "sOO8/Q=="}}

	type tc struct {
		name    string
		body    []byte
		key     []byte
		seed    string
		wantErr error
		trailer string // expected x-amz-checksum-crc32 trailer
	}
	signedPlain := buildChunked(newSigner(), chunks, chunkOpts{signed: true})
	signedTrailer := buildChunked(newSigner(), chunks, chunkOpts{signed: true, trailers: crc, signTrailer: true})
	unsignedTrailer := buildChunked(newSigner(), chunks, chunkOpts{trailers: crc})

	// Whole chunks (header and data) swapped: each is intact, the chain is not.
	seg := len("2000;chunk-signature=") + 64 + 2 + 8192 + 2
	swapped := bytes.Clone(signedPlain)
	copy(swapped, signedPlain[seg:2*seg])
	copy(swapped[seg:], signedPlain[:seg])
	// Splice the signed header of chunk 0 and 1 in swapped order: the data
	// and signatures are each valid, but the chain is not.
	reordered := bytes.Clone(signedPlain)
	h0 := bytes.Index(reordered, []byte(";chunk-signature=")) + 17
	h1 := h0 + 64 + 2 + 8192 + 2 + 5 + 17
	sig0, sig1 := string(reordered[h0:h0+64]), string(reordered[h1:h1+64])
	copy(reordered[h0:], sig1)
	copy(reordered[h1:], sig0)

	cases := []tc{
		{name: "signed", body: signedPlain, key: key, seed: c.Signature},
		{name: "signed trailer", body: signedTrailer, key: key, seed: c.Signature, trailer: "sOO8/Q=="},
		{name: "unsigned trailer", body: unsignedTrailer, seed: c.Signature, trailer: "sOO8/Q=="},
		{name: "unsigned reader ignores signatures", body: signedTrailer, seed: c.Signature, trailer: "sOO8/Q=="},
		{name: "final CRLF omitted", body: signedPlain[:len(signedPlain)-2], key: key, seed: c.Signature},
		{name: "wrong seed", body: signedPlain, key: key, seed: strings.Repeat("cd", 32), wantErr: ErrSignatureMismatch},
		{name: "chunks swapped", body: swapped, key: key, seed: c.Signature, wantErr: ErrSignatureMismatch},
		{name: "signatures swapped", body: reordered, key: key, seed: c.Signature, wantErr: ErrSignatureMismatch},
		{name: "data tampered", body: bytes.Replace(signedPlain, []byte("tail"), []byte("tall"), 1), key: key, seed: c.Signature, wantErr: ErrSignatureMismatch},
		{name: "unsigned body in signed mode", body: unsignedTrailer, key: key, seed: c.Signature, wantErr: ErrSignatureMismatch},
		{name: "trailer tampered", body: bytes.Replace(signedTrailer, []byte("sOO8/Q=="), []byte("AAAAAA=="), 1), key: key, seed: c.Signature, wantErr: ErrSignatureMismatch},
		{name: "trailer signature stripped", body: buildChunked(newSigner(), chunks, chunkOpts{signed: true, trailers: crc}), key: key, seed: c.Signature, wantErr: ErrSignatureMismatch},
		{name: "truncated before final chunk", body: signedPlain[:len(signedPlain)-90], key: key, seed: c.Signature, wantErr: io.ErrUnexpectedEOF},
		{name: "truncated in data", body: signedPlain[:100], key: key, seed: c.Signature, wantErr: io.ErrUnexpectedEOF},
		{name: "empty body", body: nil, key: key, seed: c.Signature, wantErr: io.ErrUnexpectedEOF},
		{name: "no CRLF after data", body: bytes.Replace(signedPlain, []byte("tail\r\n"), []byte("tail\n\n"), 1), key: key, seed: c.Signature, wantErr: ErrMalformed},
		{name: "bad size", body: []byte("zz;chunk-signature=" + strings.Repeat("0", 64) + "\r\n"), key: key, seed: c.Signature, wantErr: ErrMalformed},
		{name: "negative size", body: []byte("-1\r\n"), seed: c.Signature, wantErr: ErrMalformed},
		{name: "overlong line", body: []byte(strings.Repeat("1", 5000) + "\r\n"), seed: c.Signature, wantErr: ErrMalformed},
		{name: "bad trailer line", body: []byte("0\r\nno-colon\r\n\r\n"), seed: c.Signature, wantErr: ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rd := NewChunkedReader(bytes.NewReader(tc.body), tc.key, c, tc.seed)
			got, err := io.ReadAll(rd)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				// Sticky.
				if _, err2 := rd.Read(make([]byte, 10)); !errors.Is(err2, tc.wantErr) {
					t.Fatalf("second read err = %v", err2)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("decoded %q…, want %q…", got[:min(16, len(got))], want[:16])
			}
			if tr := rd.(*ChunkedReader).Trailer().Get("x-amz-checksum-crc32"); tr != tc.trailer {
				t.Fatalf("trailer %q, want %q", tr, tc.trailer)
			}
			if err := iotest.TestReader(NewChunkedReader(bytes.NewReader(tc.body), tc.key, c, tc.seed), want); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestChunkedStreams shows data is released chunk by chunk, before the rest
// of the body has even been sent.
func TestChunkedStreams(t *testing.T) {
	c := testCred()
	key := SigningKey(testSecret, c.Date, c.Region, c.Service)
	s := &testSigner{key: key, amzDate: c.AmzDate(), scope: c.Scope(), prev: c.Signature}
	first := bytes.Repeat([]byte("1"), 64<<10)
	body := buildChunked(s, [][]byte{first, bytes.Repeat([]byte("2"), 64<<10)}, chunkOpts{signed: true})
	split := bytes.Index(body, first) + len(first)

	pr, pw := io.Pipe()
	release := make(chan struct{})
	go func() {
		pw.Write(body[:split])
		<-release
		pw.Write(body[split:])
		pw.Close()
	}()
	rd := NewChunkedReader(pr, key, c, c.Signature)
	got := make([]byte, len(first))
	done := make(chan error, 1)
	go func() { _, err := io.ReadFull(rd, got); done <- err }()
	select {
	case err := <-done:
		if err != nil || !bytes.Equal(got, first) {
			t.Fatalf("first chunk: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("first chunk not delivered before the rest of the body: reader buffers")
	}
	close(release)
	rest, err := io.ReadAll(rd)
	if err != nil || len(rest) != 64<<10 {
		t.Fatalf("rest: %d bytes, %v", len(rest), err)
	}
}
