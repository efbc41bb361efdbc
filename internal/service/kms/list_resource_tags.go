package kms

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/kmsapi"
)

// ListResourceTags lists a key's tags, 50 per page by default.
func (s *Service) ListResourceTags(ctx context.Context, in *kmsapi.ListResourceTagsRequest) (*kmsapi.ListResourceTagsResponse, error) {
	ctx, c := callerOf(ctx)
	ts, next, err := s.keys.ListTags(ctx, c, in.KeyId, limitOf(in.Limit, 50), in.Marker)
	if err != nil {
		return nil, err
	}
	out := &kmsapi.ListResourceTagsResponse{Tags: []kmsapi.Tag{}}
	for _, t := range ts {
		out.Tags = append(out.Tags, kmsapi.Tag{TagKey: t.Key, TagValue: t.Value})
	}
	out.NextMarker, out.Truncated = page(next)
	return out, nil
}
