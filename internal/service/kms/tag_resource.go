package kms

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/kmsapi"
)

// TagResource adds or replaces tags on a key.
func (s *Service) TagResource(ctx context.Context, in *kmsapi.TagResourceRequest) error {
	ctx, c := callerOf(ctx)
	return s.keys.TagKey(ctx, c, in.KeyId, tagsIn(in.Tags))
}
