// Package codectest is shared test support for the wire codecs
// (internal/api/cbor, jsonproto, restjson): a tiny dispatcher server that
// drives a codec the way the front door does, so the codec tests can talk to
// it with real AWS SDK clients, and the TestMain boilerplate that re-indexes
// generated services.
package codectest

import (
	"io"
	"net/http"
	"os"
	"sync"
	"testing"

	"github.com/kiln-dev/kiln/internal/api/wire"
	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/shape"
)

// RequestID is the request id the Server puts on every response.
const RequestID = "test-request-id"

// Server is a tiny front door: Route → Decode → typed handler → WriteOutput
// or WriteError, without auth. It records the raw request bodies and headers.
type Server struct {
	Codec    wire.Codec
	Svc      *shape.Service
	Handlers map[string]shape.HandlerFunc
	// Errs makes an operation (implemented or not) fail with an error.
	Errs map[string]*awserr.Error

	mu     sync.Mutex
	bodies [][]byte
	hdrs   []http.Header
	calls  int
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.calls++
	s.bodies = append(s.bodies, body)
	s.hdrs = append(s.hdrs, r.Header.Clone())
	s.mu.Unlock()
	const rid = RequestID
	req := &wire.Request{HTTP: r, Body: body}
	rt, err := s.Codec.Route(req, s.Svc)
	if err != nil {
		s.Codec.WriteError(w, s.Svc, nil, awserr.From(err), rid)
		return
	}
	if e := s.Errs[rt.Name]; e != nil {
		s.Codec.WriteError(w, s.Svc, rt.Op, e, rid)
		return
	}
	h := s.Handlers[rt.Name]
	if rt.Op == nil || !rt.Op.Implemented || h == nil {
		s.Codec.WriteError(w, s.Svc, rt.Op, awserr.New(awserr.UnknownOperation, "UnknownOperationException", "Operation %s is not implemented", rt.Name), rid)
		return
	}
	v, err := s.Codec.Decode(req, s.Svc, rt)
	if err != nil {
		s.Codec.WriteError(w, s.Svc, rt.Op, awserr.From(err), rid)
		return
	}
	if vs := shape.Validate(rt.Op.Input, v); len(vs) > 0 {
		s.Codec.WriteError(w, s.Svc, rt.Op, wire.ValidationError(s.Svc, vs), rid)
		return
	}
	in, err := shape.NewInput(rt.Op, v)
	if err != nil {
		s.Codec.WriteError(w, s.Svc, rt.Op, awserr.From(err), rid)
		return
	}
	out, err := h(r.Context(), in)
	if err != nil {
		s.Codec.WriteError(w, s.Svc, rt.Op, awserr.From(err), rid)
		return
	}
	s.Codec.WriteOutput(w, s.Svc, rt.Op, shape.OutputValue(rt.Op, out), rid)
}

// Calls is the number of requests served since the start or the last ResetCalls.
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// ResetCalls sets the request count back to zero (recorded bodies and
// headers are kept).
func (s *Server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = 0
}

// Body is the raw body of the i-th request served (from 0).
func (s *Server) Body(i int) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bodies[i]
}

// Header is a copy of the headers of the i-th request served (from 0).
func (s *Server) Header(i int) http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hdrs[i]
}

// Main is a TestMain body: it re-indexes the generated services and runs the
// tests. The generated model calls Service.Init() during package variable
// initialisation, before the init() that fills in the structure members, so
// Shape.MemberByName finds nothing and shape.ToGo drops every member (bug in
// internal/awsgen's emitter; the codecs themselves do not use MemberByName).
func Main(m *testing.M, svcs ...*shape.Service) {
	for _, svc := range svcs {
		svc.Init()
	}
	os.Exit(m.Run())
}
