package s3

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/kiln-dev/kiln/internal/api/sigv4"
	"github.com/kiln-dev/kiln/internal/api/wire"
	"github.com/kiln-dev/kiln/internal/awserr"
)

// payload reads a request body as X-Amz-Content-Sha256 declares it: a hex
// SHA-256 checked at EOF, UNSIGNED-PAYLOAD as is, STREAMING-* bodies
// decoded (and their chunk signatures verified) by sigv4.ChunkedReader.
// Nothing read is trustworthy until finish returns nil.
type payload struct {
	r       io.Reader
	chunked *sigv4.ChunkedReader
	sha     hash.Hash
	wantSHA string
	want    int64 // expected decoded length, -1 if unknown
	n       int64
	err     error // first read error other than io.EOF
	eof     bool
}

// openPayload prepares r's body for reading.
func openPayload(r *http.Request, auth *wire.StreamAuth) (*payload, *awserr.Error) {
	p := &payload{r: r.Body, want: r.ContentLength}
	declared := r.Header.Get("X-Amz-Content-Sha256")
	switch {
	case declared == "" || declared == sigv4.UnsignedPayload:
	case strings.HasPrefix(declared, "STREAMING-"):
		var key []byte
		switch declared {
		case sigv4.StreamingPayload, sigv4.StreamingPayloadTrailer:
			if auth == nil {
				return nil, errInvalidRequest("a streaming signed payload needs a signed request")
			}
			key = auth.SigningKey
		case sigv4.StreamingUnsignedTrailer:
		default:
			return nil, errInvalidArgument("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.")
		}
		var cred *sigv4.Credential
		seed := ""
		if auth != nil {
			cred, seed = auth.Credential, auth.Credential.Signature
		}
		p.chunked = sigv4.NewChunkedReader(r.Body, key, cred, seed).(*sigv4.ChunkedReader)
		p.r = p.chunked
		p.want = -1
		if v := r.Header.Get("X-Amz-Decoded-Content-Length"); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return nil, errInvalidArgument("x-amz-decoded-content-length is invalid")
			}
			p.want = n
		} else if declared != sigv4.StreamingUnsignedTrailer {
			return nil, awserr.New(awserr.InvalidArgument, "MissingContentLength", "You must provide the Content-Length HTTP header.")
		}
	case len(declared) == 64:
		if _, err := hex.DecodeString(declared); err != nil {
			return nil, errInvalidArgument("x-amz-content-sha256 must be UNSIGNED-PAYLOAD or a valid sha256 value.")
		}
		p.sha, p.wantSHA = sha256.New(), strings.ToLower(declared)
	default:
		return nil, errInvalidArgument("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.")
	}
	return p, nil
}

// Read implements io.Reader over the decoded body.
func (p *payload) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if p.sha != nil {
		p.sha.Write(b[:n])
	}
	if err == io.EOF {
		p.eof = true
	} else if err != nil && p.err == nil {
		p.err = err
	}
	return n, err
}

// finish drains nothing: it checks, after the caller read to EOF, that the
// body was complete and authentic.
func (p *payload) finish() *awserr.Error {
	if p.err != nil || !p.eof {
		return readError(p.err)
	}
	if p.want >= 0 && p.n != p.want {
		return awserr.New(awserr.InvalidArgument, "IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header")
	}
	if p.sha != nil && hex.EncodeToString(p.sha.Sum(nil)) != p.wantSHA {
		return awserr.New(awserr.InvalidArgument, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.")
	}
	return nil
}

// trailer returns the trailing headers of a chunked body (after finish).
func (p *payload) trailer() http.Header {
	if p.chunked == nil {
		return nil
	}
	return p.chunked.Trailer()
}

// readError maps a body read failure to S3's error.
func readError(err error) *awserr.Error {
	switch {
	case err == nil:
		return awserr.New(awserr.InvalidArgument, "IncompleteBody", "The request body was not read completely")
	case errors.Is(err, sigv4.ErrSignatureMismatch):
		return awserr.Wrap(err, awserr.Unauthenticated, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method.")
	case errors.Is(err, sigv4.ErrMalformed):
		return awserr.Wrap(err, awserr.InvalidArgument, "InvalidRequest", "The aws-chunked body is malformed")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return awserr.Wrap(err, awserr.InvalidArgument, "IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header")
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return awserr.Wrap(err, awserr.InvalidArgument, "MaxMessageLengthExceeded", "Your request was too big.")
	}
	return awserr.Wrap(err, awserr.InvalidArgument, "IncompleteBody", "The request body could not be read")
}

// maxXMLBody bounds the XML documents S3 requests carry.
const maxXMLBody = 2 << 20

// readSmallBody reads a whole (XML or JSON) request body, verifying the
// payload and any checksum headers.
func readSmallBody(r *http.Request, auth *wire.StreamAuth) ([]byte, *awserr.Error) {
	p, e := openPayload(r, auth)
	if e != nil {
		return nil, e
	}
	ck, e := parseChecksums(r)
	if e != nil {
		return nil, e
	}
	h := newHashSet(ck.algorithms(""), r.Header.Get("Content-MD5") != "")
	b, err := io.ReadAll(io.LimitReader(p, maxXMLBody+1))
	if err != nil {
		return nil, readError(err)
	}
	if len(b) > maxXMLBody {
		return nil, awserr.New(awserr.InvalidArgument, "MaxMessageLengthExceeded", "Your request was too big.")
	}
	if e := p.finish(); e != nil {
		return nil, e
	}
	h.Write(b)
	if e := h.checkMD5(r.Header.Get("Content-MD5")); e != nil {
		return nil, e
	}
	if _, e := ck.verify(h.sums(), p.trailer()); e != nil {
		return nil, e
	}
	return b, nil
}
