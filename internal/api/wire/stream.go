package wire

import (
	"net/http"

	"github.com/kiln-dev/kiln/internal/api/sigv4"
	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/reqctx"
)

// Streamer serves a service whose bodies must stream rather than be read
// whole (S3). The front door authenticates the request — signature over the
// headers with S3's canonicalisation, the payload as X-Amz-Content-Sha256
// declares it — and hands over the unread body. The Streamer verifies the
// payload itself while reading: a hex SHA-256 must match the body at EOF,
// STREAMING-AWS4-HMAC-SHA256-PAYLOAD bodies go through
// sigv4.NewChunkedReader with Auth.SigningKey.
type Streamer interface {
	// ServeStream handles an authenticated request, or an anonymous one
	// (auth nil: no Authorization header and no presigned query).
	ServeStream(w http.ResponseWriter, r *http.Request, auth *StreamAuth)
	// WriteError answers an error the front door found (auth failures).
	WriteError(w http.ResponseWriter, r *http.Request, e *awserr.Error, requestID string)
}

// StreamAuth is what the front door learned authenticating a request.
type StreamAuth struct {
	Caller     reqctx.Caller
	Credential *sigv4.Credential
	SigningKey []byte
}
