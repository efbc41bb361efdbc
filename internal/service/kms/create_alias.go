package kms

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/kmsapi"
)

// CreateAlias names a key of the caller's account.
func (s *Service) CreateAlias(ctx context.Context, in *kmsapi.CreateAliasRequest) error {
	ctx, c := callerOf(ctx)
	return s.keys.CreateAlias(ctx, c, in.AliasName, in.TargetKeyId)
}
