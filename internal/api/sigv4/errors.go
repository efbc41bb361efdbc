package sigv4

import "errors"

// Sentinel errors. Every error returned by this package wraps exactly one of
// them (test with errors.Is); callers map them to the AWS error code of the
// request's protocol.
var (
	// ErrMissingAuth: no Authorization header and no X-Amz-Credential query
	// parameter ("MissingAuthenticationToken").
	ErrMissingAuth = errors.New("sigv4: request is not signed")
	// ErrMalformed: unparseable Authorization header, credential scope or
	// date, unsupported algorithm, bad query encoding or chunk framing
	// ("IncompleteSignature" / "AuthorizationHeaderMalformed").
	ErrMalformed = errors.New("sigv4: malformed signature information")
	// ErrSignatureMismatch: the signature (or a chunk signature, or the
	// declared payload hash) does not match ("SignatureDoesNotMatch").
	ErrSignatureMismatch = errors.New("sigv4: signature does not match")
	// ErrExpired: a presigned URL used after X-Amz-Date + X-Amz-Expires, or
	// with X-Amz-Expires above 604800 seconds.
	ErrExpired = errors.New("sigv4: presigned request has expired")
	// ErrSkewed: the request time is too far from the server time
	// ("RequestTimeTooSkewed").
	ErrSkewed = errors.New("sigv4: request time too skewed")
)

// ErrPayloadHashMismatch is returned when the X-Amz-Content-Sha256 header
// names a SHA-256 that differs from the body's (S3: "XAmzContentSHA256Mismatch").
// errors.Is(ErrPayloadHashMismatch, ErrSignatureMismatch) is true.
var ErrPayloadHashMismatch error = &wrapped{msg: "sigv4: x-amz-content-sha256 does not match the body", base: ErrSignatureMismatch}

// wrapped is a distinct error that also matches a sentinel.
type wrapped struct {
	msg  string
	base error
}

func (w *wrapped) Error() string { return w.msg }
func (w *wrapped) Unwrap() error { return w.base }
