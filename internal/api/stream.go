package api

import (
	"errors"
	"net/http"

	"github.com/kiln-dev/kiln/internal/api/sigv4"
	"github.com/kiln-dev/kiln/internal/api/wire"
	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/region"
	"github.com/kiln-dev/kiln/internal/reqctx"
)

// Streamer and StreamAuth are the streaming contract (see wire.Streamer).
type (
	Streamer   = wire.Streamer
	StreamAuth = wire.StreamAuth
)

// RegisterStreamer serves requests signed for signingName (and unsigned
// requests no other service claims) with h.
func (s *Server) RegisterStreamer(signingName string, h Streamer) {
	if s.streamers == nil {
		s.streamers = map[string]Streamer{}
	}
	s.streamers[signingName] = h
	s.defaultStreamer = h
}

// streamerFor returns the Streamer of a request, or nil.
func (s *Server) streamerFor(r *http.Request, cred *sigv4.Credential) Streamer {
	if len(s.streamers) == 0 {
		return nil
	}
	if cred != nil {
		return s.streamers[cred.Service]
	}
	// Unsigned: a request that names no other service's operation.
	if r.Header.Get("X-Amz-Target") != "" || r.URL.Query().Has("Action") || r.Header.Get("Smithy-Protocol") != "" {
		return nil
	}
	if _, ok := cborServiceName(r.URL.Path); ok {
		return nil
	}
	return s.defaultStreamer
}

// serveStream authenticates a streamed request and passes it on.
func (s *Server) serveStream(w http.ResponseWriter, r *http.Request, h Streamer, cred *sigv4.Credential, credErr error, requestID string) (status int, code string) {
	fail := func(e *awserr.Error) (int, string) {
		h.WriteError(w, r, e, requestID)
		return awserr.Status(e, nil), e.Code
	}
	if errors.Is(credErr, sigv4.ErrMissingAuth) {
		h.ServeStream(w, r, nil)
		return 0, ""
	}
	if credErr != nil {
		return fail(authError("rest-xml", authMalformed, credErr.Error()))
	}
	if !region.Valid(cred.Region) {
		return fail(authError("rest-xml", authMalformed, "the region '"+cred.Region+"' is wrong"))
	}
	account, secret, err := s.keys.AccessKey(r.Context(), cred.AccessKeyID)
	if errors.Is(err, ErrUnknownKey) {
		return fail(authError("rest-xml", authUnknownKey, "The AWS Access Key Id you provided does not exist in our records."))
	} else if err != nil {
		return fail(awserr.Wrap(err, awserr.Internal, "InternalError", "We encountered an internal error. Please try again."))
	}
	key := s.signing.get(cred, secret)
	if err := sigv4.VerifyWithKey(r, cred, key, "", s.clock.Now(), sigv4.Options{S3: true}); err != nil {
		switch {
		case errors.Is(err, sigv4.ErrSkewed):
			return fail(authError("rest-xml", authSkewed, "The difference between the request time and the current time is too large."))
		case errors.Is(err, sigv4.ErrExpired):
			return fail(awserr.New(awserr.Forbidden, "AccessDenied", "Request has expired"))
		case errors.Is(err, sigv4.ErrMalformed):
			return fail(authError("rest-xml", authMalformed, err.Error()))
		}
		return fail(authError("rest-xml", authMismatch, "The request signature we calculated does not match the signature you provided. Check your key and signing method."))
	}
	caller := reqctx.Caller{AccountID: account, AccessKeyID: cred.AccessKeyID, Region: cred.Region, RequestID: requestID}
	h.ServeStream(w, r.WithContext(reqctx.With(r.Context(), caller)), &StreamAuth{Caller: caller, Credential: cred, SigningKey: key})
	return 0, ""
}
