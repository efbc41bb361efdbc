// Package cbor is the Smithy RPC v2 CBOR codec: POST
// [prefix]/service/<ServiceShapeName>/operation/<Operation> with
// Smithy-Protocol: rpc-v2-cbor and a CBOR map keyed by member name.
// Timestamps are tag 1 epoch seconds, blobs are byte strings. Errors are a
// CBOR map {"__type", "message"}, plus x-amzn-query-error for
// awsQueryCompatible services.
//
// Requests are decoded with github.com/aws/smithy-go/encoding/cbor (which
// reads the indefinite-length maps and arrays the Go SDK writes); responses
// are written by a small encoder of our own so that keys come out in model
// order and timestamps exactly as the strict Go SDK decoder wants them.
package cbor

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	scbor "github.com/aws/smithy-go/encoding/cbor"

	"github.com/kiln-dev/kiln/internal/api/jsonproto"
	"github.com/kiln-dev/kiln/internal/api/wire"
	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/shape"
)

// Codec is the rpcv2Cbor codec.
type Codec struct{}

// CBOR is the codec value.
var CBOR wire.Codec = Codec{}

// Header values of the protocol.
const (
	ProtocolHeader = "Smithy-Protocol"
	ProtocolValue  = "rpc-v2-cbor"
	ContentType    = "application/cbor"
)

// Protocol names the model protocol.
func (Codec) Protocol() string { return "smithy-rpc-v2-cbor" }

func routeError(format string, args ...any) *awserr.Error {
	return awserr.New(awserr.UnknownOperation, "UnknownOperationException", format, args...)
}

// Route parses [prefix]/service/<Service>/operation/<Op>. The method must be
// POST; a Smithy-Protocol header, when present, must say rpc-v2-cbor (a
// missing one is tolerated so that hand-made requests work).
func (Codec) Route(req *wire.Request, svc *shape.Service) (wire.Route, error) {
	if p := req.HTTP.Header.Get(ProtocolHeader); p != "" && !strings.EqualFold(strings.TrimSpace(p), ProtocolValue) {
		return wire.Route{}, awserr.New(awserr.InvalidArgument, "UnsupportedProtocolException", "Unsupported %s %q", ProtocolHeader, p)
	}
	path := req.HTTP.URL.EscapedPath()
	i := strings.LastIndex(path, "/service/")
	if i < 0 {
		return wire.Route{}, routeError("Request path %q is not /service/<Service>/operation/<Operation>", path)
	}
	svcName, rest, ok := strings.Cut(path[i+len("/service/"):], "/")
	opName, ok2 := strings.CutPrefix(rest, "operation/")
	if !ok || !ok2 || svcName == "" || opName == "" || strings.Contains(opName, "/") {
		return wire.Route{}, routeError("Request path %q is not /service/<Service>/operation/<Operation>", path)
	}
	if svc.ShapeName != "" && svcName != svc.ShapeName {
		return wire.Route{}, routeError("Unknown service %q", svcName)
	}
	if req.HTTP.Method != http.MethodPost {
		return wire.Route{}, routeError("Method %s is not allowed; use POST", req.HTTP.Method)
	}
	return wire.Route{Name: opName, Op: svc.Operations[opName]}, nil
}

// Decode walks the CBOR body (no body: no members) by the input shape.
func (Codec) Decode(req *wire.Request, svc *shape.Service, rt wire.Route) (shape.Value, error) {
	var in *shape.Shape
	if rt.Op != nil {
		in = rt.Op.Input
	}
	return Unmarshal(in, req.Body)
}

func serializationError(format string, args ...any) *awserr.Error {
	return awserr.New(awserr.InvalidArgument, "SerializationException", format, args...)
}

// Unmarshal decodes a CBOR body into a Value for structure sh (empty body:
// an empty map). It never panics.
func Unmarshal(sh *shape.Shape, body []byte) (out map[string]any, err error) {
	if len(body) == 0 {
		return map[string]any{}, nil
	}
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, serializationError("Malformed CBOR body: %v", r)
		}
	}()
	v, derr := scbor.Decode(body)
	if derr != nil {
		return nil, serializationError("Malformed CBOR body: %v", derr)
	}
	m, ok := v.(scbor.Map)
	if !ok {
		if _, isNil := v.(*scbor.Nil); isNil {
			return map[string]any{}, nil
		}
		return nil, serializationError("The request body must be a CBOR map, got %s", cborKind(v))
	}
	if sh == nil {
		return map[string]any{}, nil
	}
	return decodeStruct(sh, m, "")
}

func cborKind(v scbor.Value) string {
	switch v.(type) {
	case scbor.Uint, scbor.NegInt:
		return "integer"
	case scbor.Slice:
		return "byte string"
	case scbor.String:
		return "text string"
	case scbor.List:
		return "array"
	case scbor.Map:
		return "map"
	case *scbor.Tag:
		return "tag"
	case scbor.Bool:
		return "boolean"
	case *scbor.Nil, *scbor.Undefined:
		return "null"
	case scbor.Float32, scbor.Float64:
		return "float"
	}
	return fmt.Sprintf("%T", v)
}

func isNull(v scbor.Value) bool {
	switch v.(type) {
	case nil, *scbor.Nil, *scbor.Undefined:
		return true
	}
	return false
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func mismatch(path string, sh *shape.Shape, v scbor.Value) *awserr.Error {
	if path == "" {
		path = sh.Name
	}
	return serializationError("Unexpected %s for %s (%s)", cborKind(v), path, sh.Kind)
}

func decodeStruct(sh *shape.Shape, m scbor.Map, path string) (map[string]any, error) {
	out := make(map[string]any, len(m))
	for _, mem := range sh.Members {
		cv, ok := m[mem.Name]
		if !ok || isNull(cv) {
			continue
		}
		v, err := decode(mem.Shape, cv, join(path, mem.Name))
		if err != nil {
			return nil, err
		}
		if v != nil {
			out[mem.Name] = v
		}
	}
	return out, nil
}

func decode(sh *shape.Shape, cv scbor.Value, path string) (shape.Value, error) {
	if isNull(cv) {
		return nil, nil
	}
	switch sh.Kind {
	case shape.Structure:
		m, ok := cv.(scbor.Map)
		if !ok {
			return nil, mismatch(path, sh, cv)
		}
		return decodeStruct(sh, m, path)
	case shape.List:
		l, ok := cv.(scbor.List)
		if !ok {
			return nil, mismatch(path, sh, cv)
		}
		out := make([]any, 0, len(l))
		for i, e := range l {
			if isNull(e) {
				continue
			}
			v, err := decode(sh.Member.Shape, e, join(path, strconv.Itoa(i)))
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case shape.Map:
		m, ok := cv.(scbor.Map)
		if !ok {
			return nil, mismatch(path, sh, cv)
		}
		out := make(map[string]any, len(m))
		for k, e := range m {
			if isNull(e) {
				continue
			}
			v, err := decode(sh.Value.Shape, e, join(path, k))
			if err != nil {
				return nil, err
			}
			out[k] = v
		}
		return out, nil
	case shape.String:
		s, ok := cv.(scbor.String)
		if !ok {
			return nil, mismatch(path, sh, cv)
		}
		return string(s), nil
	case shape.Boolean:
		b, ok := cv.(scbor.Bool)
		if !ok {
			return nil, mismatch(path, sh, cv)
		}
		return bool(b), nil
	case shape.Integer, shape.Long:
		n, err := scbor.AsInt64(cv)
		if err != nil {
			return nil, serializationError("Value at %s is not a valid %s: %v", pathOr(path, sh), sh.Kind, err)
		}
		return n, nil
	case shape.Float, shape.Double:
		f, err := scbor.AsFloat64(cv)
		if err != nil {
			return nil, serializationError("Value at %s is not a valid %s: %v", pathOr(path, sh), sh.Kind, err)
		}
		return f, nil
	case shape.Timestamp:
		// Tag 1 (epoch seconds) is the protocol; an untagged number is
		// accepted too.
		inner := cv
		if t, ok := cv.(*scbor.Tag); ok {
			if t.ID != 1 {
				return nil, serializationError("Value at %s: unexpected CBOR tag %d for a timestamp", pathOr(path, sh), t.ID)
			}
			inner = t.Value
		}
		f, err := scbor.AsFloat64(inner)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e15 {
			return nil, serializationError("Value at %s is not a valid timestamp", pathOr(path, sh))
		}
		return shape.EpochTime(f), nil
	case shape.Blob:
		switch x := cv.(type) {
		case scbor.Slice:
			return append([]byte{}, x...), nil
		case scbor.String:
			return []byte(x), nil
		}
		return nil, mismatch(path, sh, cv)
	}
	return nil, serializationError("Unsupported shape %s at %s", sh.Name, pathOr(path, sh))
}

func pathOr(path string, sh *shape.Shape) string {
	if path == "" {
		return sh.Name
	}
	return path
}

// WriteOutput writes 200 and the CBOR output.
func (Codec) WriteOutput(w http.ResponseWriter, svc *shape.Service, op *shape.Operation, out shape.Value, requestID string) {
	var sh *shape.Shape
	if op != nil {
		sh = op.Output
	}
	body := Marshal(sh, out)
	h := w.Header()
	h.Set("Content-Type", ContentType)
	h.Set(ProtocolHeader, ProtocolValue)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if requestID != "" {
		h.Set(wire.RequestIDHeader, requestID)
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// WriteError writes the CBOR map {"__type": <Shape>, "message": …}.
func (Codec) WriteError(w http.ResponseWriter, svc *shape.Service, op *shape.Operation, e *awserr.Error, requestID string) {
	info := jsonproto.ResolveError(svc, e)
	body := ErrorBody(info, e.Message)
	h := w.Header()
	h.Set("Content-Type", ContentType)
	h.Set(ProtocolHeader, ProtocolValue)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set(jsonproto.ErrorTypeHeader, info.Type)
	if info.QueryError != "" {
		h.Set(jsonproto.QueryErrorHeader, info.QueryError)
	}
	if requestID != "" {
		h.Set(wire.RequestIDHeader, requestID)
	}
	w.WriteHeader(info.Status)
	_, _ = w.Write(body)
}

// ErrorBody is the CBOR error map.
func ErrorBody(info jsonproto.ErrorInfo, message string) []byte {
	n := 2
	if info.MessageKey != "" {
		n++
	}
	b := appendHead(nil, majorMap, uint64(n))
	b = appendText(b, "__type")
	b = appendText(b, info.Type)
	b = appendText(b, "message")
	b = appendText(b, message)
	if info.MessageKey != "" {
		b = appendText(b, info.MessageKey)
		b = appendText(b, message)
	}
	return b
}

// Marshal encodes the Value v shaped by sh (a nil v, or a nil sh, is an
// empty map).
func Marshal(sh *shape.Shape, v shape.Value) []byte {
	if sh == nil || v == nil {
		return []byte{0xa0}
	}
	return appendValue(make([]byte, 0, 256), sh, v)
}

const (
	majorUint   = 0 << 5
	majorNegInt = 1 << 5
	majorBytes  = 2 << 5
	majorText   = 3 << 5
	majorList   = 4 << 5
	majorMap    = 5 << 5
	majorTag    = 6 << 5
	major7      = 7 << 5
)

func appendHead(b []byte, major byte, n uint64) []byte {
	switch {
	case n < 24:
		return append(b, major|byte(n))
	case n <= math.MaxUint8:
		return append(b, major|24, byte(n))
	case n <= math.MaxUint16:
		return append(b, major|25, byte(n>>8), byte(n))
	case n <= math.MaxUint32:
		return append(b, major|26, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, major|27, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

func appendText(b []byte, s string) []byte {
	b = appendHead(b, majorText, uint64(len(s)))
	return append(b, s...)
}

func appendInt(b []byte, n int64) []byte {
	if n >= 0 {
		return appendHead(b, majorUint, uint64(n))
	}
	return appendHead(b, majorNegInt, uint64(-(n + 1)))
}

func appendFloat(b []byte, f float64) []byte {
	bits := math.Float64bits(f)
	return append(b, major7|27, byte(bits>>56), byte(bits>>48), byte(bits>>40), byte(bits>>32), byte(bits>>24), byte(bits>>16), byte(bits>>8), byte(bits))
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, major7|21)
	}
	return append(b, major7|20)
}

// appendTime writes tag 1 and the epoch seconds: an integer when there is
// no sub-second part, else a double (millisecond precision).
func appendTime(b []byte, t time.Time) []byte {
	b = appendHead(b, majorTag, 1)
	ms := t.UnixMilli()
	if ms%1000 == 0 {
		return appendInt(b, ms/1000)
	}
	return appendFloat(b, float64(ms)/1000)
}

func appendValue(b []byte, sh *shape.Shape, v shape.Value) []byte {
	switch sh.Kind {
	case shape.Structure:
		m, ok := v.(map[string]any)
		if !ok {
			return appendDynamic(b, v)
		}
		n := 0
		for _, mem := range sh.Members {
			if mv, ok := m[mem.Name]; ok && mv != nil {
				n++
			}
		}
		b = appendHead(b, majorMap, uint64(n))
		for _, mem := range sh.Members {
			if mv, ok := m[mem.Name]; ok && mv != nil {
				b = appendText(b, mem.Name)
				b = appendValue(b, mem.Shape, mv)
			}
		}
		return b
	case shape.List:
		l, ok := v.([]any)
		if !ok {
			return appendDynamic(b, v)
		}
		b = appendHead(b, majorList, uint64(len(l)))
		for _, e := range l {
			if e == nil {
				b = append(b, major7|22)
				continue
			}
			b = appendValue(b, sh.Member.Shape, e)
		}
		return b
	case shape.Map:
		m, ok := v.(map[string]any)
		if !ok {
			return appendDynamic(b, v)
		}
		return appendMap(b, m, func(b []byte, e any) []byte {
			if e == nil {
				return append(b, major7|22)
			}
			return appendValue(b, sh.Value.Shape, e)
		})
	case shape.Float, shape.Double:
		switch x := v.(type) {
		case float64:
			return appendFloat(b, x)
		case int64:
			return appendFloat(b, float64(x))
		}
	case shape.Integer, shape.Long:
		switch x := v.(type) {
		case int64:
			return appendInt(b, x)
		case float64:
			return appendInt(b, int64(x))
		}
	case shape.Blob:
		switch x := v.(type) {
		case []byte:
			b = appendHead(b, majorBytes, uint64(len(x)))
			return append(b, x...)
		case string:
			b = appendHead(b, majorBytes, uint64(len(x)))
			return append(b, x...)
		}
	}
	return appendDynamic(b, v)
}

func appendMap(b []byte, m map[string]any, elem func([]byte, any) []byte) []byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = appendHead(b, majorMap, uint64(len(keys)))
	for _, k := range keys {
		b = appendText(b, k)
		b = elem(b, m[k])
	}
	return b
}

func appendDynamic(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, major7|22)
	case string:
		return appendText(b, x)
	case bool:
		return appendBool(b, x)
	case int64:
		return appendInt(b, x)
	case int:
		return appendInt(b, int64(x))
	case float64:
		return appendFloat(b, x)
	case time.Time:
		return appendTime(b, x)
	case []byte:
		b = appendHead(b, majorBytes, uint64(len(x)))
		return append(b, x...)
	case []any:
		b = appendHead(b, majorList, uint64(len(x)))
		for _, e := range x {
			b = appendDynamic(b, e)
		}
		return b
	case map[string]any:
		return appendMap(b, x, appendDynamic)
	}
	return appendText(b, fmt.Sprint(v))
}
