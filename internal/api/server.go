// Package api is kiln's front door: one HTTP handler for every AWS service.
// For each request it picks the service (SigV4 credential scope, then
// X-Amz-Target, then path, then Action), the protocol codec (per request:
// CBOR, JSON, form, REST), verifies the signature against stored keys,
// decodes and validates the input from the model, and dispatches to the
// typed handler. Errors, auth failures included, are answered in the
// request's own protocol.
package api

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/kiln-dev/kiln/internal/account"
	"github.com/kiln-dev/kiln/internal/api/sigv4"
	"github.com/kiln-dev/kiln/internal/api/wire"
	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/clock"
	"github.com/kiln-dev/kiln/internal/reqctx"
	"github.com/kiln-dev/kiln/internal/shape"
)

// MaxBody is the largest request body accepted (after decompression).
const MaxBody = 16 << 20

// Keys looks up access keys. Implementations cache; the front door calls it
// on every request.
type Keys interface {
	// AccessKey returns the account and secret of an access key, or an
	// error wrapping ErrUnknownKey.
	AccessKey(ctx context.Context, accessKeyID string) (accountID, secret string, err error)
}

// ErrUnknownKey is what Keys returns (wrapped) for an access key that does
// not exist.
var ErrUnknownKey = account.ErrUnknownKey

// Config configures a Server.
type Config struct {
	Keys   Keys
	Codecs []wire.Codec // one per protocol name
	Clock  clock.Clock
	Log    *slog.Logger
}

// Server is the front door. Register services before serving.
type Server struct {
	keys     Keys
	codecs   map[string]wire.Codec
	clock    clock.Clock
	log      *slog.Logger
	services []*service
	bySign   map[string]*service
	byTarget map[string]*service
	byShape  map[string]*service
	signing  *signingKeys

	streamers       map[string]Streamer
	defaultStreamer Streamer
}

type service struct {
	model    *shape.Service
	handlers map[string]shape.HandlerFunc
}

// New returns a Server.
func New(cfg Config) *Server {
	s := &Server{
		keys: cfg.Keys, clock: cfg.Clock, log: cfg.Log,
		codecs:   map[string]wire.Codec{},
		bySign:   map[string]*service{},
		byTarget: map[string]*service{},
		byShape:  map[string]*service{},
		signing:  newSigningKeys(),
	}
	if s.clock == nil {
		s.clock = clock.Real{}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	for _, c := range cfg.Codecs {
		s.codecs[c.Protocol()] = c
	}
	return s
}

// Register serves a service model with its handlers (operations without a
// handler answer "not implemented").
func (s *Server) Register(m *shape.Service, handlers map[string]shape.HandlerFunc) {
	svc := &service{model: m, handlers: handlers}
	s.services = append(s.services, svc)
	s.bySign[m.SigningName] = svc
	if m.TargetPrefix != "" {
		s.byTarget[m.TargetPrefix] = svc
	}
	if m.ShapeName != "" {
		s.byShape[m.ShapeName] = svc
	}
}

// ServeHTTP handles one AWS API request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	requestID := newRequestID()
	c := &call{s: s, w: w, r: r, requestID: requestID}
	cred, credErr := parseCredential(r)
	if h := s.streamerFor(r, cred); h != nil {
		c.status, c.code = s.serveStream(w, r, h, cred, credErr, requestID)
		if cred != nil {
			c.caller.Region = cred.Region
		}
	} else {
		c.serve(cred, credErr)
	}
	lvl := slog.LevelDebug
	if c.status >= 500 {
		lvl = slog.LevelError
	}
	if !s.log.Enabled(r.Context(), lvl) {
		return
	}
	s.log.Log(r.Context(), lvl, "request", "service", c.serviceName(), "op", c.op, "account", c.caller.AccountID,
		"region", c.caller.Region, "status", c.status, "code", c.code, "ms", float64(time.Since(start).Microseconds())/1000, "request_id", requestID)
}

// call is the state of one request.
type call struct {
	s         *Server
	w         http.ResponseWriter
	r         *http.Request
	requestID string
	svc       *service
	codec     wire.Codec
	op        string
	caller    reqctx.Caller
	status    int
	code      string
}

func (c *call) serviceName() string {
	if c.svc == nil {
		return ""
	}
	return c.svc.model.Name
}

func (c *call) serve(cred *sigv4.Credential, credErr error) {
	defer func() {
		if p := recover(); p != nil {
			c.s.log.Error("handler panic", "panic", p, "stack", string(debug.Stack()))
			c.fail(nil, awserr.New(awserr.Internal, "InternalError", "An internal error has occurred."))
		}
	}()
	body, err := readBody(c.r)
	c.svc = c.s.pickService(c.r, cred)
	if c.svc == nil {
		c.codec = c.s.fallbackCodec(c.r)
		c.fail(nil, awserr.New(awserr.UnknownOperation, "UnknownService", "kiln does not serve the service this request is for"))
		return
	}
	c.codec = c.s.pickCodec(c.svc.model, c.r)
	if c.codec == nil {
		c.fail(nil, awserr.New(awserr.UnknownOperation, "UnknownOperationException", "%s does not accept this request's protocol", c.svc.model.ServiceID))
		return
	}
	if err != nil {
		c.fail(nil, err.(*awserr.Error))
		return
	}
	raw := body.raw
	req := &wire.Request{HTTP: c.r, Body: body.plain}
	if e := c.authenticate(cred, credErr, raw); e != nil {
		c.fail(nil, e)
		return
	}
	rt, err := c.codec.Route(req, c.svc.model)
	if err != nil {
		c.fail(nil, awserr.From(err))
		return
	}
	c.op = rt.Name
	if rt.Op == nil {
		c.fail(nil, unknownOperation(c.svc.model, rt.Name, false))
		return
	}
	h := c.svc.handlers[rt.Op.Name]
	if h == nil || !rt.Op.Implemented {
		c.fail(rt.Op, unknownOperation(c.svc.model, rt.Name, true))
		return
	}
	val, err := c.codec.Decode(req, c.svc.model, rt)
	if err != nil {
		c.fail(rt.Op, awserr.From(err))
		return
	}
	if rt.Op.Input != nil {
		if vs := shape.Validate(rt.Op.Input, val); len(vs) > 0 {
			c.fail(rt.Op, wire.ValidationError(c.svc.model, vs))
			return
		}
		if m, _ := val.(map[string]any); m["DryRun"] == true {
			c.fail(rt.Op, awserr.New(awserr.DryRunOK, "DryRunOperation", "Request would have succeeded, but DryRun flag is set."))
			return
		}
	}
	in, err := shape.NewInput(rt.Op, val)
	if err != nil {
		c.fail(rt.Op, awserr.Wrap(err, awserr.InvalidArgument, "SerializationException", "The request could not be decoded: %v", err))
		return
	}
	ctx := reqctx.With(c.r.Context(), c.caller)
	out, err := h(ctx, in)
	if err != nil {
		c.fail(rt.Op, awserr.From(err))
		return
	}
	c.status = http.StatusOK
	c.codec.WriteOutput(c.w, c.svc.model, rt.Op, shape.OutputValue(rt.Op, out), c.requestID)
}

func (c *call) fail(op *shape.Operation, e *awserr.Error) {
	var m *shape.Service
	if c.svc != nil {
		m = c.svc.model
	}
	c.status, c.code = awserr.Status(e, m), e.Code
	if e.Kind == awserr.Internal {
		c.s.log.Error("internal error", "op", c.op, "err", e.Error(), "request_id", c.requestID)
	}
	if c.codec == nil {
		c.codec = c.s.fallbackCodec(c.r)
	}
	c.codec.WriteError(c.w, m, op, e, c.requestID)
}

func unknownOperation(m *shape.Service, name string, modelled bool) *awserr.Error {
	code := "UnknownOperationException"
	if m.Protocol == "ec2" || m.Protocol == "query" {
		code = "InvalidAction"
	}
	if modelled {
		return awserr.New(awserr.UnknownOperation, code, "The operation %s:%s is not implemented by kiln", m.SigningName, name)
	}
	return awserr.New(awserr.UnknownOperation, code, "The action %s is not valid for this web service.", name)
}

type body struct{ raw, plain []byte }

// readBody reads the request body once. The signature covers raw (still
// gzip-compressed) bytes; handlers see plain.
func readBody(r *http.Request) (body, error) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		return body{}, awserr.Wrap(err, awserr.InvalidArgument, "IncompleteBody", "The request body could not be read")
	}
	if len(raw) > MaxBody {
		return body{}, awserr.New(awserr.InvalidArgument, "RequestEntityTooLarge", "The request body exceeds %d bytes", MaxBody)
	}
	b := body{raw: raw, plain: raw}
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") && len(raw) > 0 {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return b, awserr.Wrap(err, awserr.InvalidArgument, "MalformedInput", "The gzip request body is invalid")
		}
		plain, err := io.ReadAll(io.LimitReader(zr, MaxBody+1))
		if err != nil || len(plain) > MaxBody {
			return b, awserr.New(awserr.InvalidArgument, "MalformedInput", "The gzip request body is invalid or too large")
		}
		b.plain = plain
	}
	return b, nil
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	h := hex.EncodeToString(b[:])
	return fmt.Sprintf("%s-%s-%s-%s-%s", h[:8], h[8:12], h[12:16], h[16:20], h[20:])
}
