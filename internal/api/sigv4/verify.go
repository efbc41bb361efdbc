package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Payload hash values with a special meaning in x-amz-content-sha256.
const (
	EmptySHA256              = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	UnsignedPayload          = "UNSIGNED-PAYLOAD"
	StreamingPayload         = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	StreamingPayloadTrailer  = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	StreamingUnsignedTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
)

// Default clock skew allowances.
const (
	DefaultMaxSkew = 5 * time.Minute
	S3MaxSkew      = 15 * time.Minute
)

// Options selects service-specific canonicalisation.
type Options struct {
	// S3 signs the path once-encoded instead of twice, allows 15 minutes of
	// skew, and uses UNSIGNED-PAYLOAD for presigned requests.
	S3 bool
	// MaxSkew is the allowed distance between request and server time;
	// 0 means 5 minutes (15 for S3).
	MaxSkew time.Duration
}

func (o Options) maxSkew() time.Duration {
	switch {
	case o.MaxSkew > 0:
		return o.MaxSkew
	case o.S3:
		return S3MaxSkew
	default:
		return DefaultMaxSkew
	}
}

// SigningKey derives kSigning from the secret and the credential scope. It
// is exported so callers can cache it per (secret, date, region, service);
// the result is as sensitive as the secret.
func SigningKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	return hmacSHA256(k, "aws4_request")
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// Verify checks the signature of r against secret.
//
// payloadHash is the hex SHA-256 of the raw (still compressed) body as
// received, or "" to use the X-Amz-Content-Sha256 header value literally
// (S3: UNSIGNED-PAYLOAD or STREAMING-*; the caller then checks the body, e.g.
// with NewChunkedReader). When both are given and the header names a hash,
// they must agree (ErrPayloadHashMismatch). For non-S3 services a non-hash
// header value does not override a given payloadHash: the body stays signed.
// now is the server time.
func Verify(r *http.Request, c *Credential, secret, payloadHash string, now time.Time, opt Options) error {
	if c == nil {
		return ErrMissingAuth
	}
	return VerifyWithKey(r, c, SigningKey(secret, c.Date, c.Region, c.Service), payloadHash, now, opt)
}

// VerifyWithKey is Verify with a signing key from SigningKey (for callers
// that cache derived keys).
func VerifyWithKey(r *http.Request, c *Credential, signingKey []byte, payloadHash string, now time.Time, opt Options) error {
	if c == nil {
		return ErrMissingAuth
	}
	if err := checkTime(c, now, opt); err != nil {
		return err
	}
	payload, err := canonicalPayload(r, c, payloadHash, opt)
	if err != nil {
		return err
	}
	want, err := hex.DecodeString(c.Signature)
	if err != nil || len(want) != sha256.Size {
		return malformed("signature must be 64 hex digits")
	}
	query := ""
	if r.URL != nil {
		query = r.URL.RawQuery
	}
	cq, err := canonicalQuery(query, c.Presigned)
	if err != nil {
		return err
	}
	var hb strings.Builder
	writeCanonicalHeaders(&hb, r, c.SignedHeaders)
	headers := hb.String()
	signed := strings.Join(c.SignedHeaders, ";")
	prefix := c.AmzDate() + "\n" + c.Scope() + "\n"
	for _, uri := range canonicalURIs(r, opt.S3) {
		creq := r.Method + "\n" + uri + "\n" + cq + "\n" + headers + "\n" + signed + "\n" + payload
		sum := sha256.Sum256([]byte(creq))
		sts := Algorithm + "\n" + prefix + hex.EncodeToString(sum[:])
		m := hmac.New(sha256.New, signingKey)
		m.Write([]byte(sts))
		if hmac.Equal(m.Sum(nil), want) {
			return nil
		}
	}
	return ErrSignatureMismatch
}

// checkTime applies the presigned expiry or the header-form skew window.
func checkTime(c *Credential, now time.Time, opt Options) error {
	skew := opt.maxSkew()
	if c.Presigned {
		if c.Expires > MaxPresignExpires {
			return fmt.Errorf("%w: X-Amz-Expires exceeds 604800 seconds", ErrExpired)
		}
		if now.After(c.Time.Add(c.Expires)) {
			return ErrExpired
		}
		if c.Time.Sub(now) > skew {
			return fmt.Errorf("%w: presigned request is not yet valid", ErrSkewed)
		}
		return nil
	}
	d := now.Sub(c.Time)
	if d < 0 {
		d = -d
	}
	if d > skew {
		return ErrSkewed
	}
	return nil
}

// canonicalPayload decides the last line of the canonical request.
func canonicalPayload(r *http.Request, c *Credential, payloadHash string, opt Options) (string, error) {
	declared := r.Header.Get("X-Amz-Content-Sha256")
	if c.Presigned && declared == "" && r.URL != nil {
		declared = r.URL.Query().Get("X-Amz-Content-Sha256")
	}
	if declared != "" && payloadHash != "" && isHex64(declared) {
		if !strings.EqualFold(declared, payloadHash) {
			return "", ErrPayloadHashMismatch
		}
		return declared, nil
	}
	switch {
	case declared != "" && (payloadHash == "" || opt.S3):
		return declared, nil
	case c.Presigned && opt.S3:
		return UnsignedPayload, nil
	case payloadHash != "":
		return payloadHash, nil
	case c.Presigned:
		return EmptySHA256, nil
	case r.ContentLength == 0 && len(r.TransferEncoding) == 0:
		return EmptySHA256, nil
	default:
		return "", malformed("payload hash unknown: pass the body hash or send x-amz-content-sha256")
	}
}
