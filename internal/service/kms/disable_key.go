package kms

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/kmsapi"
)

// DisableKey disables a key: it can no longer be used for cryptography.
func (s *Service) DisableKey(ctx context.Context, in *kmsapi.DisableKeyRequest) error {
	ctx, c := callerOf(ctx)
	return s.keys.SetEnabled(ctx, c, in.KeyId, false)
}
