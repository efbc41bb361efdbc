package kms

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/kmsapi"
)

// DeleteAlias deletes an alias (never its key).
func (s *Service) DeleteAlias(ctx context.Context, in *kmsapi.DeleteAliasRequest) error {
	ctx, c := callerOf(ctx)
	return s.keys.DeleteAlias(ctx, c, in.AliasName)
}
