package api

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"sync"

	"github.com/kiln-dev/kiln/internal/api/sigv4"
	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/region"
	"github.com/kiln-dev/kiln/internal/reqctx"
)

func parseCredential(r *http.Request) (*sigv4.Credential, error) {
	return sigv4.Parse(r)
}

// authenticate verifies the request's SigV4 signature and sets the caller.
func (c *call) authenticate(cred *sigv4.Credential, parseErr error, raw []byte) *awserr.Error {
	proto := c.codec.Protocol()
	if parseErr != nil {
		if errors.Is(parseErr, sigv4.ErrMissingAuth) {
			return authError(proto, authMissing, "Request is missing Authentication Token")
		}
		return authError(proto, authMalformed, parseErr.Error())
	}
	if !region.Valid(cred.Region) {
		return authError(proto, authMismatch, "Credential should be scoped to a valid region, not '"+cred.Region+"'.")
	}
	account, secret, err := c.s.keys.AccessKey(c.r.Context(), cred.AccessKeyID)
	if err != nil {
		if errors.Is(err, ErrUnknownKey) {
			return authError(proto, authUnknownKey, "The security token included in the request is invalid.")
		}
		return awserr.Wrap(err, awserr.Internal, "InternalError", "An internal error has occurred.")
	}
	key := c.s.signing.get(cred, secret)
	sum := sha256.Sum256(raw)
	now := c.s.clock.Now()
	if err := sigv4.VerifyWithKey(c.r, cred, key, hex.EncodeToString(sum[:]), now, sigv4.Options{}); err != nil {
		switch {
		case errors.Is(err, sigv4.ErrSkewed):
			return authError(proto, authSkewed, "Signature expired: "+cred.AmzDate()+" is now earlier than "+now.Add(-sigv4.DefaultMaxSkew).Format("20060102T150405Z")+" ("+now.Format("20060102T150405Z")+" - 5 min.)")
		case errors.Is(err, sigv4.ErrExpired):
			return authError(proto, authMismatch, "Signature expired: the presigned request has expired")
		case errors.Is(err, sigv4.ErrMalformed):
			return authError(proto, authMalformed, err.Error())
		}
		return authError(proto, authMismatch, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.")
	}
	c.caller = reqctx.Caller{AccountID: account, AccessKeyID: cred.AccessKeyID, Region: cred.Region, RequestID: c.requestID}
	return nil
}

type authFailure int

const (
	authMissing authFailure = iota
	authMalformed
	authUnknownKey
	authMismatch
	authSkewed
)

// authError is the error AWS answers for each auth failure in each protocol
// family: EC2 says AuthFailure (RequestExpired for a stale date); awsQuery
// services say InvalidClientTokenId / SignatureDoesNotMatch; JSON and REST
// services say UnrecognizedClientException / InvalidSignatureException.
func authError(proto string, f authFailure, msg string) *awserr.Error {
	var codes [5]string
	switch proto {
	case "ec2":
		codes = [5]string{"AuthFailure", "AuthFailure", "AuthFailure", "AuthFailure", "RequestExpired"}
	case "query":
		codes = [5]string{"MissingAuthenticationToken", "IncompleteSignature", "InvalidClientTokenId", "SignatureDoesNotMatch", "SignatureDoesNotMatch"}
	case "rest-xml":
		codes = [5]string{"AccessDenied", "AuthorizationHeaderMalformed", "InvalidAccessKeyId", "SignatureDoesNotMatch", "RequestTimeTooSkewed"}
	default:
		codes = [5]string{"MissingAuthenticationTokenException", "IncompleteSignatureException", "UnrecognizedClientException", "InvalidSignatureException", "InvalidSignatureException"}
	}
	return awserr.New(awserr.Unauthenticated, codes[f], "%s", msg)
}

// signingKeys caches derived SigV4 signing keys per (key, date, region,
// service): the derivation costs four HMACs per request otherwise.
type signingKeys struct {
	mu sync.Mutex
	m  map[string][]byte
}

func newSigningKeys() *signingKeys { return &signingKeys{m: map[string][]byte{}} }

func (s *signingKeys) get(c *sigv4.Credential, secret string) []byte {
	id := c.AccessKeyID + "/" + c.Date + "/" + c.Region + "/" + c.Service + "/" + secret
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, ok := s.m[id]; ok {
		return k
	}
	if len(s.m) > 4096 {
		clear(s.m)
	}
	k := sigv4.SigningKey(secret, c.Date, c.Region, c.Service)
	s.m[id] = k
	return k
}
