package kms

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/kmsapi"
)

// UntagResource removes tags from a key.
func (s *Service) UntagResource(ctx context.Context, in *kmsapi.UntagResourceRequest) error {
	ctx, c := callerOf(ctx)
	return s.keys.UntagKey(ctx, c, in.KeyId, in.TagKeys)
}
