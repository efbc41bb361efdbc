// Package reqctx carries the authenticated caller of a request through
// context to the service handlers.
package reqctx

import "context"

// Caller is who made a request, where, and under which request ID.
type Caller struct {
	AccountID   string
	AccessKeyID string
	Region      string
	RequestID   string
}

type key struct{}

// With returns ctx carrying c.
func With(ctx context.Context, c Caller) context.Context { return context.WithValue(ctx, key{}, c) }

// From returns the caller in ctx; ok is false outside a request.
func From(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(key{}).(Caller)
	return c, ok
}

// Must returns the caller in ctx and panics without one: handlers always
// run inside an authenticated request.
func Must(ctx context.Context) Caller {
	c, ok := From(ctx)
	if !ok {
		panic("reqctx: no caller in context")
	}
	return c
}
