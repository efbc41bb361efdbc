package jsonproto

import (
	"strings"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/shape"
)

// QueryErrorHeader is the awsQueryCompatible header that carries the legacy
// query error code and fault ("InvalidParameterValue;Sender").
const QueryErrorHeader = "X-Amzn-Query-Error"

// ErrorTypeHeader names the error type in the JSON protocols.
const ErrorTypeHeader = "X-Amzn-Errortype"

// ErrorInfo is how an *awserr.Error appears on the wire of the JSON-family
// protocols (awsJson, restJson1, rpcv2Cbor).
type ErrorInfo struct {
	// Type is the exception shape name when the model has one for the
	// code (the code may be the shape name or its legacy query code),
	// else the code as given.
	Type   string
	Shape  *shape.Shape // nil for codes without a modelled exception
	Status int
	// QueryError is the x-amzn-query-error value for awsQueryCompatible
	// services ("" otherwise): the shape's query code (or the type) and
	// Sender/Receiver.
	QueryError string
	// MessageKey is the exception's own message member when it is not
	// spelled "message" (e.g. "Message"), else "".
	MessageKey string
}

// ResolveError maps e onto svc's model.
func ResolveError(svc *shape.Service, e *awserr.Error) ErrorInfo {
	info := ErrorInfo{Type: e.Code, Status: awserr.Status(e, svc)}
	if info.Type == "" {
		info.Type = "InternalFailure"
	}
	if svc != nil {
		if sh := svc.ErrorShape(e.Code); sh != nil {
			info.Shape = sh
			info.Type = sh.Name
			for _, m := range sh.Members {
				if strings.EqualFold(m.Name, "message") && m.Name != "message" {
					info.MessageKey = m.Name
				}
			}
		}
		if svc.QueryCompatible {
			code := info.Type
			if info.Shape != nil && info.Shape.Error != nil && info.Shape.Error.Code != "" {
				code = info.Shape.Error.Code
			}
			info.QueryError = code + ";" + awserr.Fault(info.Status)
		}
	}
	return info
}
