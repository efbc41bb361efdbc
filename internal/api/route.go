package api

import (
	"net/http"
	"strings"

	"github.com/kiln-dev/kiln/internal/api/sigv4"
	"github.com/kiln-dev/kiln/internal/api/wire"
	"github.com/kiln-dev/kiln/internal/shape"
)

// pickService chooses the service: the signing name in the credential
// scope is unique per service and the cheapest router; unsigned requests
// fall back to X-Amz-Target, the CBOR path, then Action/Version.
func (s *Server) pickService(r *http.Request, cred *sigv4.Credential) *service {
	if cred != nil {
		if svc := s.bySign[cred.Service]; svc != nil {
			return svc
		}
	}
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		prefix, _, _ := strings.Cut(t, ".")
		if svc := s.byTarget[prefix]; svc != nil {
			return svc
		}
	}
	if name, ok := cborServiceName(r.URL.Path); ok {
		if svc := s.byShape[name]; svc != nil {
			return svc
		}
	}
	if v := r.URL.Query().Get("Version"); v != "" {
		action := r.URL.Query().Get("Action")
		for _, svc := range s.services {
			if svc.model.APIVersion == v && svc.model.Operations[action] != nil {
				return svc
			}
		}
	}
	return nil
}

// cborServiceName extracts <Service> from "…/service/<Service>/operation/<Op>".
func cborServiceName(p string) (string, bool) {
	i := strings.Index(p, "/service/")
	if i < 0 {
		return "", false
	}
	rest := p[i+len("/service/"):]
	name, tail, ok := strings.Cut(rest, "/")
	return name, ok && strings.HasPrefix(tail, "operation/")
}

// pickCodec chooses the protocol of this request among those the service's
// model lists: CBOR, JSON, form (ec2/query), then REST.
func (s *Server) pickCodec(m *shape.Service, r *http.Request) wire.Codec {
	ct := r.Header.Get("Content-Type")
	try := func(p string) wire.Codec {
		if m.HasProtocol(p) {
			return s.codecs[p]
		}
		return nil
	}
	if r.Header.Get("Smithy-Protocol") == "rpc-v2-cbor" || strings.HasPrefix(ct, "application/cbor") {
		if c := try("smithy-rpc-v2-cbor"); c != nil {
			return c
		}
	}
	if strings.HasPrefix(ct, "application/x-amz-json") {
		if c := try("json"); c != nil {
			return c
		}
	}
	if strings.HasPrefix(ct, "application/x-www-form-urlencoded") || r.URL.Query().Has("Action") {
		if c := try("ec2"); c != nil {
			return c
		}
		if c := try("query"); c != nil {
			return c
		}
	}
	for _, p := range []string{"rest-json", "rest-xml"} {
		if c := try(p); c != nil {
			return c
		}
	}
	return s.codecs[m.Protocol]
}

// fallbackCodec answers requests whose service is unknown in the protocol
// the request looks like.
func (s *Server) fallbackCodec(r *http.Request) wire.Codec {
	ct := r.Header.Get("Content-Type")
	switch {
	case r.Header.Get("Smithy-Protocol") == "rpc-v2-cbor" && s.codecs["smithy-rpc-v2-cbor"] != nil:
		return s.codecs["smithy-rpc-v2-cbor"]
	case strings.HasPrefix(ct, "application/x-amz-json") && s.codecs["json"] != nil:
		return s.codecs["json"]
	case strings.HasPrefix(ct, "application/json") && s.codecs["rest-json"] != nil:
		return s.codecs["rest-json"]
	}
	return s.codecs["query"]
}
