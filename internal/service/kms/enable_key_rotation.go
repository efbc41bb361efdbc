package kms

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/kmsapi"
)

// EnableKeyRotation records automatic rotation for a key (kiln does not
// rotate material).
func (s *Service) EnableKeyRotation(ctx context.Context, in *kmsapi.EnableKeyRotationRequest) error {
	ctx, c := callerOf(ctx)
	return s.keys.SetRotation(ctx, c, in.KeyId, true, limitOf(in.RotationPeriodInDays, 0))
}
