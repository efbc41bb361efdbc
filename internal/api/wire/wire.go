// Package wire defines the contract between kiln's front door and its
// protocol codecs (ec2, query, json, restjson, cbor, restxml): how a request
// names its operation, how its input becomes a shape.Value, and how outputs
// and errors are written back.
package wire

import (
	"net/http"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/shape"
)

// Request is an incoming call: the HTTP request and its body, read once
// (already gunzipped when it arrived with Content-Encoding: gzip).
type Request struct {
	HTTP *http.Request
	Body []byte
}

// Route is the operation a request names. Op is nil when the service has no
// operation called Name. Labels holds restJson URI labels.
type Route struct {
	Name   string
	Op     *shape.Operation
	Labels map[string]string
}

// Codec is one wire protocol.
type Codec interface {
	// Protocol is the model's protocol name ("ec2", "query", "json",
	// "rest-json", "smithy-rpc-v2-cbor", "rest-xml").
	Protocol() string
	// Route finds the operation. An error means the request is malformed
	// for this protocol (it is answered with WriteError).
	Route(req *Request, svc *shape.Service) (Route, error)
	// Decode turns the request into a Value for rt.Op.Input (a
	// map[string]any; empty when the operation has no input).
	Decode(req *Request, svc *shape.Service, rt Route) (shape.Value, error)
	// WriteOutput writes a successful response. out is a Value for
	// op.Output (an empty map when the operation has none).
	WriteOutput(w http.ResponseWriter, svc *shape.Service, op *shape.Operation, out shape.Value, requestID string)
	// WriteError writes e (op may be nil: auth failures, unknown operations).
	WriteError(w http.ResponseWriter, svc *shape.Service, op *shape.Operation, e *awserr.Error, requestID string)
}

// RequestIDHeader is the header every protocol sets to the request ID.
const RequestIDHeader = "X-Amzn-Requestid"

// ValidationError converts model violations into the error the service's
// protocol family uses: ec2 MissingParameter / InvalidParameterValue; query
// ValidationError; CloudWatch's query-compatible codes; otherwise the
// service's ValidationException (or InvalidRequestException,
// InvalidParameterValueException, ValidationError, as modelled).
func ValidationError(svc *shape.Service, vs []shape.Violation) *awserr.Error {
	v := vs[0]
	switch {
	case svc.Protocol == "ec2":
		if v.Missing {
			return awserr.New(awserr.InvalidArgument, "MissingParameter", "The request must contain the parameter %s", v.Path)
		}
		return awserr.New(awserr.InvalidArgument, "InvalidParameterValue", "Value (%s) for parameter %s is invalid. %s", shape.FormatScalar(v.Value, ""), v.Path, v.Message)
	case svc.QueryCompatible:
		if v.Missing {
			if sh := svc.ErrorShape("MissingRequiredParameterException"); sh != nil {
				return awserr.New(awserr.InvalidArgument, "MissingRequiredParameterException", "%s", shape.Summary(vs))
			}
		}
		return awserr.New(awserr.InvalidArgument, "InvalidParameterValueException", "%s", shape.Summary(vs))
	}
	for _, code := range []string{"ValidationException", "InvalidRequestException", "InvalidParameterValueException", "InvalidParameterException"} {
		if svc.ErrorShape(code) != nil {
			return awserr.New(awserr.InvalidArgument, code, "%s", shape.Summary(vs))
		}
	}
	if svc.Protocol == "query" {
		return awserr.New(awserr.InvalidArgument, "ValidationError", "%s", shape.Summary(vs))
	}
	return awserr.New(awserr.InvalidArgument, "ValidationException", "%s", shape.Summary(vs))
}
