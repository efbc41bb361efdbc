// Package sigv4 verifies AWS Signature Version 4 on requests received by a Go
// HTTP server, as sent by the AWS CLI, botocore/boto3 and aws-sdk-go-v2.
//
// The flow is two-step. Parse reads what the request claims (access key,
// scope, signed headers, signature) without any secret, which is enough to
// route the request by signing service and region and to look the access key
// up. Verify then rebuilds the canonical request and checks the signature
// against the secret. Both header-signed (Authorization) and presigned
// (X-Amz-* query) forms are supported. For S3 streaming uploads
// (aws-chunked bodies) NewChunkedReader decodes the body and verifies the
// chained chunk signatures as the body is read.
//
// The package is a pure core: the server time is passed in, nothing is
// logged, and secrets and signing keys never appear in returned errors.
// Errors wrap one of the sentinel errors (ErrMissingAuth, ErrMalformed,
// ErrSignatureMismatch, ErrExpired, ErrSkewed); callers map them to the AWS
// error code of the request's protocol.
//
// Canonicalisation follows what the three clients really do (see
// docs/aws-protocols.md §3): the canonical URI comes from
// r.URL.EscapedPath(), encoded again per segment for non-S3 services and
// used once-encoded for S3; the canonical query is decoded and re-encoded
// with the RFC 3986 unreserved set and sorted after encoding; the canonical
// headers are exactly the client's SignedHeaders list, with host taken from
// r.Host. Pass the request as the server received it (before any
// StripPrefix or body decompression): gzip bodies are signed compressed.
package sigv4
