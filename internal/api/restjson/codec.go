// Package restjson is the restJson1 codec (Image Builder, Scheduler): the
// operation is found by HTTP method and request URI (a router built once
// per service from every operation's Method and RequestURI); input members
// are bound to URI labels, the query string, headers or the JSON body; the
// output goes to headers, the status code and a JSON body; errors carry
// X-Amzn-Errortype and a {"message"} body.
package restjson

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kiln-dev/kiln/internal/api/jsonproto"
	"github.com/kiln-dev/kiln/internal/api/wire"
	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/shape"
)

// Codec is the restJson1 codec.
type Codec struct{}

// RestJSON is the codec value.
var RestJSON wire.Codec = Codec{}

var opts = jsonproto.Options{LocationNames: true}

// Protocol names the model protocol.
func (Codec) Protocol() string { return "rest-json" }

// Route matches the method and escaped path against the service's router.
// When nothing matches the error is UnknownOperationException, answered
// with 404 (it wraps ErrNoRoute or ErrMethod).
func (Codec) Route(req *wire.Request, svc *shape.Service) (wire.Route, error) {
	r := req.HTTP
	op, labels, err := RouterFor(svc).Match(r.Method, r.URL.EscapedPath(), r.URL.Query())
	if err != nil {
		msg := "No operation matches " + r.Method + " " + r.URL.EscapedPath()
		return wire.Route{}, awserr.Wrap(err, awserr.UnknownOperation, "UnknownOperationException", "%s", msg)
	}
	return wire.Route{Name: op.Name, Op: op, Labels: labels}, nil
}

func bodyBound(m *shape.Member) bool {
	return m.Location == ""
}

func serializationError(format string, args ...any) *awserr.Error {
	return jsonproto.SerializationError(format, args...)
}

// Decode binds the input members: uri labels, querystring, header,
// headers (prefix maps), the payload member or the JSON body.
func (Codec) Decode(req *wire.Request, svc *shape.Service, rt wire.Route) (shape.Value, error) {
	out := map[string]any{}
	if rt.Op == nil || rt.Op.Input == nil {
		return out, nil
	}
	in := rt.Op.Input
	r := req.HTTP
	query := r.URL.Query()
	bound := map[string]bool{} // query keys bound to members
	for _, m := range in.Members {
		if m.Location == "querystring" && m.Shape.Kind != shape.Map {
			bound[m.SerializedName()] = true
		}
	}
	for _, m := range in.Members {
		name := m.SerializedName()
		var v shape.Value
		var err error
		switch m.Location {
		case "uri":
			s, ok := rt.Labels[name]
			if !ok {
				continue
			}
			v, err = parseScalar(m, s, "uri label "+name)
		case "querystring":
			v, err = decodeQuery(m, query, bound)
		case "header":
			vals := r.Header.Values(name)
			if len(vals) == 0 {
				continue
			}
			v, err = decodeHeader(m, vals)
		case "headers":
			v, err = decodePrefixHeaders(m, r.Header)
		case "statusCode":
			continue
		default:
			continue // body members below
		}
		if err != nil {
			return nil, err
		}
		if v != nil {
			out[m.Name] = v
		}
	}
	if in.Payload != "" {
		pm := memberNamed(in, in.Payload)
		if pm == nil {
			return out, nil
		}
		v, err := decodePayload(pm, req.Body)
		if err != nil {
			return nil, err
		}
		if v != nil {
			out[pm.Name] = v
		}
		return out, nil
	}
	body, err := jsonproto.Unmarshal(in, req.Body, opts, bodyBound)
	if err != nil {
		return nil, err
	}
	for k, v := range body {
		out[k] = v
	}
	return out, nil
}

func parseScalar(m *shape.Member, s, where string) (shape.Value, error) {
	v, err := shape.ParseScalar(m.Shape, s)
	if err != nil {
		return nil, serializationError("Invalid value for %s (%s): %v", m.Name, where, err)
	}
	return v, nil
}

func decodeQuery(m *shape.Member, query map[string][]string, bound map[string]bool) (shape.Value, error) {
	switch m.Shape.Kind {
	case shape.List:
		vals, ok := query[m.SerializedName()]
		if !ok {
			return nil, nil
		}
		out := make([]any, 0, len(vals))
		for _, s := range vals {
			v, err := parseScalar(m.Shape.Member, s, "query parameter "+m.SerializedName())
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case shape.Map:
		// A map member takes every query parameter not bound to another
		// member: map of string, or map of list of string.
		out := map[string]any{}
		for k, vals := range query {
			if bound[k] || len(vals) == 0 {
				continue
			}
			vs := m.Shape.Value.Shape
			if vs.Kind == shape.List {
				l := make([]any, 0, len(vals))
				for _, s := range vals {
					v, err := parseScalar(vs.Member, s, "query parameter "+k)
					if err != nil {
						return nil, err
					}
					l = append(l, v)
				}
				out[k] = l
				continue
			}
			v, err := parseScalar(m.Shape.Value, vals[0], "query parameter "+k)
			if err != nil {
				return nil, err
			}
			out[k] = v
		}
		if len(out) == 0 {
			return nil, nil
		}
		return out, nil
	}
	vals, ok := query[m.SerializedName()]
	if !ok || len(vals) == 0 {
		return nil, nil
	}
	return parseScalar(m, vals[0], "query parameter "+m.SerializedName())
}

func decodeHeader(m *shape.Member, vals []string) (shape.Value, error) {
	where := "header " + m.SerializedName()
	switch m.Shape.Kind {
	case shape.List:
		var parts []string
		for _, v := range vals {
			parts = append(parts, splitHeaderList(v, m.Shape.Member.Shape.Kind == shape.Timestamp && httpDate(m.Shape.Member))...)
		}
		out := make([]any, 0, len(parts))
		for _, p := range parts {
			v, err := parseScalar(m.Shape.Member, p, where)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case shape.String:
		s := strings.Join(vals, ",")
		if m.JSONValue {
			b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
			if err != nil {
				return nil, serializationError("Invalid value for %s (%s): not base64-encoded JSON", m.Name, where)
			}
			return string(b), nil
		}
		return s, nil
	}
	return parseScalar(m, strings.TrimSpace(vals[0]), where)
}

// httpDate reports whether a header timestamp uses the HTTP date format
// (the default for headers), whose values contain commas.
func httpDate(m *shape.Member) bool {
	f := jsonproto.TimestampFormat(m)
	return f == "" || f == "rfc822"
}

// splitHeaderList splits a comma-separated header list, honouring quoted
// strings; HTTP dates ("Mon, 02 Jan 2006 …") are rejoined in pairs.
func splitHeaderList(s string, dates bool) []string {
	var out []string
	var cur strings.Builder
	quoted := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quoted && c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
		case c == '"':
			quoted = !quoted
		case c == ',' && !quoted:
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	if t := strings.TrimSpace(cur.String()); t != "" || len(out) > 0 {
		out = append(out, t)
	}
	if dates {
		var joined []string
		for i := 0; i < len(out); i++ {
			if i+1 < len(out) && len(out[i]) == 3 {
				joined = append(joined, out[i]+", "+out[i+1])
				i++
				continue
			}
			joined = append(joined, out[i])
		}
		out = joined
	}
	return out
}

func decodePrefixHeaders(m *shape.Member, h http.Header) (shape.Value, error) {
	prefix := strings.ToLower(m.LocationName)
	out := map[string]any{}
	for k, vals := range h {
		lk := strings.ToLower(k)
		if !strings.HasPrefix(lk, prefix) || len(lk) == len(prefix) {
			continue
		}
		v, err := parseScalar(m.Shape.Value, strings.Join(vals, ","), "header "+k)
		if err != nil {
			return nil, err
		}
		out[lk[len(prefix):]] = v
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

func decodePayload(m *shape.Member, body []byte) (shape.Value, error) {
	switch m.Shape.Kind {
	case shape.Blob:
		if len(body) == 0 {
			return nil, nil
		}
		return append([]byte{}, body...), nil
	case shape.String:
		if len(body) == 0 {
			return nil, nil
		}
		return string(body), nil
	case shape.Structure:
		return jsonproto.Unmarshal(m.Shape, body, opts, nil)
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil, nil
	}
	return jsonproto.UnmarshalValue(m.Shape, body, opts)
}

// WriteOutput writes op.ResponseCode (or 200, or a statusCode-bound
// member), header-bound members as headers and the rest as JSON.
func (Codec) WriteOutput(w http.ResponseWriter, svc *shape.Service, op *shape.Operation, out shape.Value, requestID string) {
	status := http.StatusOK
	if op != nil && op.ResponseCode != 0 {
		status = op.ResponseCode
	}
	h := w.Header()
	if requestID != "" {
		h.Set(wire.RequestIDHeader, requestID)
	}
	var sh *shape.Shape
	if op != nil {
		sh = op.Output
	}
	m, _ := out.(map[string]any)
	if sh == nil || sh.Kind != shape.Structure {
		writeBody(w, status, "application/json", []byte("{}"))
		return
	}
	for _, mem := range sh.Members {
		v, ok := m[mem.Name]
		if !ok || v == nil {
			continue
		}
		switch mem.Location {
		case "header":
			if s, ok := formatHeader(mem, v); ok {
				h.Set(mem.SerializedName(), s)
			}
		case "headers":
			if mv, ok := v.(map[string]any); ok {
				for k, e := range mv {
					h.Set(mem.LocationName+k, shape.FormatScalar(e, "rfc822"))
				}
			}
		case "statusCode":
			switch n := v.(type) {
			case int64:
				if n >= 100 && n <= 999 {
					status = int(n)
				}
			case float64:
				if n >= 100 && n <= 999 {
					status = int(n)
				}
			}
		}
	}
	if sh.Payload != "" {
		if pm := memberNamed(sh, sh.Payload); pm != nil {
			v := m[pm.Name]
			switch pm.Shape.Kind {
			case shape.Blob:
				b, _ := v.([]byte)
				writeBody(w, status, "application/octet-stream", b)
			case shape.String:
				s, _ := v.(string)
				writeBody(w, status, "text/plain", []byte(s))
			default:
				if v == nil {
					writeBody(w, status, "application/json", []byte("{}"))
					return
				}
				writeBody(w, status, "application/json", jsonproto.Marshal(pm.Shape, v, opts))
			}
			return
		}
	}
	writeBody(w, status, "application/json", jsonproto.MarshalStruct(sh, m, opts, bodyBound))
}

func writeBody(w http.ResponseWriter, status int, ct string, body []byte) {
	h := w.Header()
	if h.Get("Content-Type") == "" && (len(body) > 0 || ct == "application/json") {
		h.Set("Content-Type", ct)
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func formatHeader(m *shape.Member, v shape.Value) (string, bool) {
	switch m.Shape.Kind {
	case shape.Timestamp:
		t, ok := v.(time.Time)
		if !ok {
			return "", false
		}
		f := jsonproto.TimestampFormat(m)
		switch f {
		case "iso8601":
			return shape.FormatScalar(t, "iso8601"), true
		case "unixTimestamp":
			return shape.FormatScalar(t, "unixTimestamp"), true
		}
		return t.UTC().Format(http.TimeFormat), true
	case shape.String:
		s, _ := v.(string)
		if m.JSONValue {
			return base64.StdEncoding.EncodeToString([]byte(s)), true
		}
		return s, true
	case shape.List:
		l, ok := v.([]any)
		if !ok {
			return "", false
		}
		parts := make([]string, 0, len(l))
		for _, e := range l {
			s, _ := formatHeader(m.Shape.Member, e)
			if m.Shape.Member.Shape.Kind == shape.String && strings.ContainsAny(s, `,"`) {
				s = strconv.Quote(s)
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, ", "), true
	}
	return shape.FormatScalar(v, ""), true
}

// WriteError writes the status (awserr.Status; 404 for requests no route
// matches), X-Amzn-Errortype and {"__type", "message"}.
func (Codec) WriteError(w http.ResponseWriter, svc *shape.Service, op *shape.Operation, e *awserr.Error, requestID string) {
	info := jsonproto.ResolveError(svc, e)
	if info.Shape == nil && (errors.Is(e, ErrNoRoute) || errors.Is(e, ErrMethod)) {
		info.Status = http.StatusNotFound
	}
	body := jsonproto.ErrorBody(info, e.Message, true)
	h := w.Header()
	h.Set(jsonproto.ErrorTypeHeader, info.Type)
	if info.QueryError != "" {
		h.Set(jsonproto.QueryErrorHeader, info.QueryError)
	}
	if requestID != "" {
		h.Set(wire.RequestIDHeader, requestID)
	}
	writeBody(w, info.Status, "application/json", body)
}

// memberNamed finds a member by name without relying on the shape's index.
func memberNamed(sh *shape.Shape, name string) *shape.Member {
	for _, m := range sh.Members {
		if m.Name == name {
			return m
		}
	}
	return nil
}
