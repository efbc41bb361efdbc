package kms

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/kmsapi"
)

// DisableKeyRotation turns automatic rotation off.
func (s *Service) DisableKeyRotation(ctx context.Context, in *kmsapi.DisableKeyRotationRequest) error {
	ctx, c := callerOf(ctx)
	return s.keys.SetRotation(ctx, c, in.KeyId, false, 0)
}
