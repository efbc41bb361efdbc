package kms

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/kmsapi"
)

// EnableKey enables a disabled key.
func (s *Service) EnableKey(ctx context.Context, in *kmsapi.EnableKeyRequest) error {
	ctx, c := callerOf(ctx)
	return s.keys.SetEnabled(ctx, c, in.KeyId, true)
}
