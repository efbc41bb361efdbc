// Package awserr is kiln's one error vocabulary. Services return *Error
// values built from a Kind and the AWS error code the clients expect; each
// protocol codec turns them into its wire form using Status, the single
// mapping from kinds to HTTP statuses.
package awserr

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/kiln-dev/kiln/internal/shape"
)

// Kind classifies an error independently of any protocol.
type Kind uint8

// The kinds of error.
const (
	Internal         Kind = iota // a bug or an unexpected failure (5xx)
	InvalidArgument              // malformed or out-of-range input
	NotFound                     // the named resource does not exist (or is not visible)
	AlreadyExists                // a resource with that identity exists
	Conflict                     // the resource's state forbids the operation
	Unauthenticated              // signature, key or date problems
	Forbidden                    // authenticated but not allowed
	Throttled                    // rate limits
	LimitExceeded                // quotas
	Unavailable                  // try again later
	DryRunOK                     // EC2 DryRun: the request would have succeeded
	UnknownOperation             // no such operation, or not implemented by kiln
)

// Error is an AWS error: the code and message the client sees.
type Error struct {
	Kind    Kind
	Code    string
	Message string
	Err     error // optional cause, never shown to clients
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Code + ": " + e.Message + ": " + e.Err.Error()
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// New builds an error of kind with an AWS code and a formatted message.
func New(kind Kind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap is New with a cause kept for logs.
func Wrap(err error, kind Kind, code, format string, args ...any) *Error {
	e := New(kind, code, format, args...)
	e.Err = err
	return e
}

// From returns err as an *Error. Errors that are not (store failures, bugs)
// become InternalError; context cancellation becomes RequestCanceled.
func From(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return Wrap(err, Unavailable, "RequestCanceled", "The request was canceled.")
	}
	return Wrap(err, Internal, "InternalError", "An internal error has occurred.")
}

// Status is the HTTP status of e for svc: the status the model declares for
// an exception with e's code, else the kind's default. ec2 and query
// protocols report client errors as 400, as AWS does.
func Status(e *Error, svc *shape.Service) int {
	if svc != nil {
		if sh := svc.ErrorShape(e.Code); sh != nil && sh.Error != nil && sh.Error.HTTPStatus != 0 {
			return sh.Error.HTTPStatus
		}
	}
	xml := svc == nil || svc.Protocol == "ec2" || svc.Protocol == "query"
	switch e.Kind {
	case Internal:
		return http.StatusInternalServerError
	case Unavailable:
		return http.StatusServiceUnavailable
	case Unauthenticated:
		if svc != nil && svc.Protocol == "ec2" {
			return http.StatusUnauthorized
		}
		return http.StatusForbidden
	case Forbidden:
		return http.StatusForbidden
	case DryRunOK:
		return http.StatusPreconditionFailed
	case NotFound:
		if !xml {
			return http.StatusNotFound
		}
	case AlreadyExists, Conflict:
		if !xml {
			return http.StatusConflict
		}
	case Throttled:
		if !xml {
			return http.StatusTooManyRequests
		}
	}
	return http.StatusBadRequest
}

// Fault is "Sender" for client errors and "Receiver" for server errors, as
// the query protocol's <Type> and the query-compatible header spell it.
func Fault(status int) string {
	if status >= 500 {
		return "Receiver"
	}
	return "Sender"
}
