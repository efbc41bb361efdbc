// Package jsonproto is the awsJson1_0 / awsJson1_1 codec: POST / with
// X-Amz-Target naming the operation and a JSON body keyed by member name;
// errors are {"__type", "message"} with X-Amzn-Errortype, plus
// x-amzn-query-error for awsQueryCompatible services (CloudWatch).
//
// The package also exports the JSON value walker (Unmarshal, Marshal,
// AppendValue) and the error mapping (ResolveError) that the restjson and
// cbor codecs share.
package jsonproto

import (
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/kiln-dev/kiln/internal/api/wire"
	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/shape"
)

// Codec is the awsJson codec. Version is "1.0" or "1.1"; empty means the
// service model's jsonVersion, which is what every client sends.
type Codec struct{ Version string }

// The codecs.
var (
	JSON   wire.Codec = Codec{}               // version from the service model
	JSON10 wire.Codec = Codec{Version: "1.0"} // application/x-amz-json-1.0
	JSON11 wire.Codec = Codec{Version: "1.1"} // application/x-amz-json-1.1
)

// ForContentType returns the codec for a request's Content-Type, and
// whether it is an awsJson content type at all.
func ForContentType(ct string) (Codec, bool) {
	v := ContentTypeVersion(ct)
	return Codec{Version: v}, v != ""
}

// ContentTypeVersion is "1.0" or "1.1" for application/x-amz-json-1.0|1.1
// (parameters ignored), else "".
func ContentTypeVersion(ct string) string {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		mt = strings.ToLower(strings.TrimSpace(ct))
	}
	switch mt {
	case "application/x-amz-json-1.0":
		return "1.0"
	case "application/x-amz-json-1.1":
		return "1.1"
	}
	return ""
}

// Protocol names the model protocol.
func (Codec) Protocol() string { return "json" }

// ContentType is the response Content-Type.
func (c Codec) ContentType(svc *shape.Service) string {
	v := c.Version
	if v == "" && svc != nil {
		v = svc.JSONVersion
	}
	if v != "1.0" {
		v = "1.1"
	}
	return "application/x-amz-json-" + v
}

// TargetHeader names the operation.
const TargetHeader = "X-Amz-Target"

// Route reads X-Amz-Target: "<TargetPrefix>.<Operation>".
func (c Codec) Route(req *wire.Request, svc *shape.Service) (wire.Route, error) {
	target := strings.TrimSpace(req.HTTP.Header.Get(TargetHeader))
	if target == "" {
		return wire.Route{}, awserr.New(awserr.UnknownOperation, "UnknownOperationException", "Missing required header %s", TargetHeader)
	}
	i := strings.LastIndexByte(target, '.')
	if i <= 0 || i == len(target)-1 {
		return wire.Route{}, awserr.New(awserr.UnknownOperation, "UnknownOperationException", "Malformed %s header: %q", TargetHeader, target)
	}
	prefix, name := target[:i], target[i+1:]
	if svc.TargetPrefix != "" && prefix != svc.TargetPrefix {
		return wire.Route{}, awserr.New(awserr.UnknownOperation, "UnknownOperationException", "Unknown target %q", target)
	}
	return wire.Route{Name: name, Op: svc.Operations[name]}, nil
}

// Decode walks the JSON body ({} when empty) by the input shape.
func (c Codec) Decode(req *wire.Request, svc *shape.Service, rt wire.Route) (shape.Value, error) {
	var in *shape.Shape
	if rt.Op != nil {
		in = rt.Op.Input
	}
	v, err := Unmarshal(in, req.Body, Options{}, nil)
	if err != nil {
		return nil, err
	}
	return v, nil
}

// WriteOutput writes 200 and the JSON output.
func (c Codec) WriteOutput(w http.ResponseWriter, svc *shape.Service, op *shape.Operation, out shape.Value, requestID string) {
	var sh *shape.Shape
	if op != nil {
		sh = op.Output
	}
	var body []byte
	if m, ok := out.(map[string]any); ok && sh != nil {
		body = MarshalStruct(sh, m, Options{}, nil)
	} else if sh != nil {
		body = Marshal(sh, out, Options{})
	} else {
		body = []byte("{}")
	}
	h := w.Header()
	h.Set("Content-Type", c.ContentType(svc))
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if requestID != "" {
		h.Set(wire.RequestIDHeader, requestID)
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// WriteError writes {"__type": …, "message": …} with X-Amzn-Errortype and,
// for awsQueryCompatible services, x-amzn-query-error.
func (c Codec) WriteError(w http.ResponseWriter, svc *shape.Service, op *shape.Operation, e *awserr.Error, requestID string) {
	info := ResolveError(svc, e)
	body := ErrorBody(info, e.Message, true)
	h := w.Header()
	h.Set("Content-Type", c.ContentType(svc))
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set(ErrorTypeHeader, info.Type)
	if info.QueryError != "" {
		h.Set(QueryErrorHeader, info.QueryError)
	}
	if requestID != "" {
		h.Set(wire.RequestIDHeader, requestID)
	}
	w.WriteHeader(info.Status)
	_, _ = w.Write(body)
}

// ErrorBody is the JSON error document: __type (when withType), message,
// and the exception's own message member when it is spelled differently.
func ErrorBody(info ErrorInfo, message string, withType bool) []byte {
	b := make([]byte, 0, 64+len(message))
	b = append(b, '{')
	if withType {
		b = append(b, `"__type":`...)
		b = AppendString(b, info.Type)
		b = append(b, ',')
	}
	b = append(b, `"message":`...)
	b = AppendString(b, message)
	if info.MessageKey != "" {
		b = append(b, ',')
		b = AppendString(b, info.MessageKey)
		b = append(b, ':')
		b = AppendString(b, message)
	}
	return append(b, '}')
}
