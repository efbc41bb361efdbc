package kms

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/kmsapi"
)

// UpdateAlias points an alias at another key of the same account.
func (s *Service) UpdateAlias(ctx context.Context, in *kmsapi.UpdateAliasRequest) error {
	ctx, c := callerOf(ctx)
	return s.keys.UpdateAlias(ctx, c, in.AliasName, in.TargetKeyId)
}
