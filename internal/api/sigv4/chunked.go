package sigv4

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// maxChunkLine bounds a chunk header or trailer line; also the size of the
// reader's buffer. Longer lines are malformed.
const maxChunkLine = 4096

// maxTrailerBytes bounds the total size of the trailer section.
const maxTrailerBytes = 16 << 10

// ChunkedReader decodes an aws-chunked S3 upload body. NewChunkedReader
// returns one as an io.Reader; type-assert to reach Trailer.
//
// What is verified, when a signing key is given (x-amz-content-sha256
// STREAMING-AWS4-HMAC-SHA256-PAYLOAD or ...-PAYLOAD-TRAILER):
//   - every chunk, the final empty one included, must carry
//     ";chunk-signature=<hex>", and the signatures must chain from the seed
//     signature (the request's own signature) in order;
//   - if trailer lines follow the final chunk, an x-amz-trailer-signature
//     trailer is required and checked (string to sign
//     "AWS4-HMAC-SHA256-TRAILER\n<amzdate>\n<scope>\n<final-chunk-sig>\n
//     <sha256 of the trailers as "name:value\n", in received order>").
//
// With a nil signing key (STREAMING-UNSIGNED-PAYLOAD-TRAILER) chunks are
// only decoded, chunk extensions and trailer signatures are ignored, and
// nothing is authenticated: such uploads rely on the trailing checksum,
// which the caller must check against the data.
//
// Not verified here, left to the caller: that x-amz-decoded-content-length
// equals the decoded size, that the trailers named in x-amz-trailer are
// present, and the checksum values themselves.
//
// Streaming: memory use is bounded (one buffered line, no chunk is held).
// The bytes of a chunk are returned as they arrive and its signature is
// checked once the chunk ends, so an error can follow data already read:
// treat the data as untrusted until Read returns io.EOF.
type ChunkedReader struct {
	br  *bufio.Reader
	key []byte // nil: unsigned

	amzDate, scope string
	prev           string // previous signature (hex)

	remaining int64     // data bytes left in the current chunk
	inChunk   bool      // a chunk with data is being read
	chunkSig  string    // claimed signature of the current chunk
	sum       hash.Hash // running hash of the current chunk

	trailer  http.Header
	trailers []string // canonical trailer lines, for the trailer signature
	err      error    // sticky
}

// NewChunkedReader returns a reader that decodes body, an aws-chunked
// stream of "hex-size;chunk-signature=sig\r\n<data>\r\n" chunks, verifying
// each chunk signature in chain starting from seedSignature (the signature
// of the request, c.Signature). signingKey is SigningKey for c's scope; pass
// nil for STREAMING-UNSIGNED-PAYLOAD-TRAILER bodies. The first bad chunk
// yields an error wrapping ErrSignatureMismatch; bad framing wraps
// ErrMalformed; a truncated body yields io.ErrUnexpectedEOF.
func NewChunkedReader(body io.Reader, signingKey []byte, c *Credential, seedSignature string) io.Reader {
	cr := &ChunkedReader{
		br:      bufio.NewReaderSize(body, maxChunkLine),
		key:     signingKey,
		prev:    strings.ToLower(seedSignature),
		trailer: http.Header{},
	}
	if c != nil {
		cr.amzDate, cr.scope = c.AmzDate(), c.Scope()
	}
	if signingKey != nil {
		cr.sum = sha256.New()
	}
	return cr
}

// Trailer returns the trailing headers (without x-amz-trailer-signature).
// It is complete only after Read has returned io.EOF.
func (cr *ChunkedReader) Trailer() http.Header { return cr.trailer }

// Read implements io.Reader.
func (cr *ChunkedReader) Read(p []byte) (int, error) {
	for cr.err == nil {
		if cr.inChunk && cr.remaining > 0 {
			if len(p) == 0 {
				return 0, nil
			}
			if int64(len(p)) > cr.remaining {
				p = p[:cr.remaining]
			}
			n, err := cr.br.Read(p)
			cr.remaining -= int64(n)
			if cr.sum != nil {
				cr.sum.Write(p[:n])
			}
			if err == io.EOF && cr.remaining > 0 {
				err = io.ErrUnexpectedEOF
			}
			if err != nil && err != io.EOF {
				cr.err = err
			}
			if n > 0 {
				return n, nil
			}
			continue
		}
		if cr.inChunk {
			cr.err = cr.endChunk()
			continue
		}
		cr.err = cr.nextChunk()
	}
	return 0, cr.err
}

// endChunk consumes the CRLF after a chunk's data and checks its signature.
func (cr *ChunkedReader) endChunk() error {
	cr.inChunk = false
	var crlf [2]byte
	if _, err := io.ReadFull(cr.br, crlf[:]); err != nil {
		return unexpected(err)
	}
	if crlf != [2]byte{'\r', '\n'} {
		return malformed("chunk data not followed by CRLF")
	}
	return cr.checkChunk()
}

// checkChunk verifies the current chunk's signature and advances the chain.
func (cr *ChunkedReader) checkChunk() error {
	if cr.key == nil {
		return nil
	}
	sts := "AWS4-HMAC-SHA256-PAYLOAD\n" + cr.amzDate + "\n" + cr.scope + "\n" + cr.prev + "\n" +
		EmptySHA256 + "\n" + hex.EncodeToString(cr.sum.Sum(nil))
	cr.sum.Reset()
	if !cr.equalSig(sts, cr.chunkSig) {
		return fmt.Errorf("%w: chunk signature", ErrSignatureMismatch)
	}
	cr.prev = cr.chunkSig
	return nil
}

func (cr *ChunkedReader) equalSig(stringToSign, claimed string) bool {
	got, err := hex.DecodeString(claimed)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, cr.key)
	m.Write([]byte(stringToSign))
	return hmac.Equal(m.Sum(nil), got)
}

// nextChunk reads a chunk header line; for the final chunk it also reads the
// trailers and returns io.EOF when everything checked out.
func (cr *ChunkedReader) nextChunk() error {
	line, err := cr.readLine()
	if err != nil {
		return unexpected(err)
	}
	sizeStr, ext, _ := strings.Cut(line, ";")
	if sizeStr == "" || len(sizeStr) > 15 {
		return malformed("bad chunk size")
	}
	size, err := strconv.ParseInt(sizeStr, 16, 64)
	if err != nil || size < 0 {
		return malformed("bad chunk size")
	}
	if cr.key != nil {
		sig, ok := strings.CutPrefix(ext, "chunk-signature=")
		if !ok || !isHex64(sig) {
			return fmt.Errorf("%w: chunk without a valid chunk-signature", ErrSignatureMismatch)
		}
		cr.chunkSig = strings.ToLower(sig)
	}
	if size > 0 {
		cr.inChunk, cr.remaining = true, size
		return nil
	}
	if err := cr.checkChunk(); err != nil {
		return err
	}
	if err := cr.readTrailers(); err != nil {
		return err
	}
	return io.EOF
}

// readTrailers reads "name:value" lines up to the terminating empty line
// (or EOF) and checks the trailer signature in signed mode.
func (cr *ChunkedReader) readTrailers() error {
	var sig string
	total := 0
	for {
		line, err := cr.readLine()
		if err == io.EOF && line == "" {
			break // final CRLF omitted
		}
		if err != nil {
			return unexpected(err)
		}
		if line == "" {
			break
		}
		if total += len(line); total > maxTrailerBytes {
			return malformed("trailers too large")
		}
		name, value, ok := strings.Cut(line, ":")
		name = strings.ToLower(strings.TrimSpace(name))
		if !ok || name == "" || !validHeaderName(name) {
			return malformed("bad trailer line")
		}
		value = strings.TrimSpace(value)
		if name == "x-amz-trailer-signature" {
			sig = value
			continue
		}
		cr.trailer.Add(name, value)
		cr.trailers = append(cr.trailers, name+":"+value+"\n")
	}
	if cr.key == nil || (len(cr.trailers) == 0 && sig == "") {
		return nil
	}
	if !isHex64(sig) {
		return fmt.Errorf("%w: trailers without a valid x-amz-trailer-signature", ErrSignatureMismatch)
	}
	sum := sha256.Sum256([]byte(strings.Join(cr.trailers, "")))
	sts := "AWS4-HMAC-SHA256-TRAILER\n" + cr.amzDate + "\n" + cr.scope + "\n" + cr.prev + "\n" + hex.EncodeToString(sum[:])
	if !cr.equalSig(sts, strings.ToLower(sig)) {
		return fmt.Errorf("%w: trailer signature", ErrSignatureMismatch)
	}
	return nil
}

// readLine reads one CRLF-terminated line without its CRLF. At EOF with no
// data it returns "", io.EOF.
func (cr *ChunkedReader) readLine() (string, error) {
	b, err := cr.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return "", malformed("chunk line too long")
	}
	if err != nil {
		if err == io.EOF && len(b) == 0 {
			return "", io.EOF
		}
		return "", unexpected(err)
	}
	b, ok := bytes.CutSuffix(b, []byte("\r\n"))
	if !ok {
		return "", malformed("chunk line not terminated by CRLF")
	}
	return string(b), nil
}

// unexpected turns a premature EOF into io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
