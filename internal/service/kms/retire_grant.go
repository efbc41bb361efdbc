package kms

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/kmsapi"
)

// RetireGrant deletes a grant by token or key and grant ID (by its
// retiring principal, grantee or creating account).
func (s *Service) RetireGrant(ctx context.Context, in *kmsapi.RetireGrantRequest) error {
	ctx, c := callerOf(ctx)
	return s.keys.RetireGrant(ctx, c, in.GrantToken, in.KeyId, in.GrantId)
}
