// Package sts implements kiln's STS API: the caller's identity. kiln's
// access keys belong to accounts directly, so callers are account roots.
package sts

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/stsapi"
	"github.com/kiln-dev/kiln/internal/reqctx"
)

// Service is the STS API.
type Service struct{}

var _ stsapi.Handler = Service{}

// GetCallerIdentity names the account and principal of the request's key.
func (Service) GetCallerIdentity(ctx context.Context, _ *stsapi.GetCallerIdentityRequest) (*stsapi.GetCallerIdentityResponse, error) {
	c := reqctx.Must(ctx)
	return &stsapi.GetCallerIdentityResponse{
		Account: c.AccountID,
		UserId:  c.AccountID,
		Arn:     "arn:aws:iam::" + c.AccountID + ":root",
	}, nil
}
