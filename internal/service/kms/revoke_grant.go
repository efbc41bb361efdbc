package kms

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/kmsapi"
)

// RevokeGrant deletes a grant (the key's policy must allow kms:RevokeGrant).
func (s *Service) RevokeGrant(ctx context.Context, in *kmsapi.RevokeGrantRequest) error {
	ctx, c := callerOf(ctx)
	return s.keys.RevokeGrant(ctx, c, in.KeyId, in.GrantId)
}
