package kms

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/kmsapi"
)

// ListKeys lists the account's keys in the region, 100 per page by default.
func (s *Service) ListKeys(ctx context.Context, in *kmsapi.ListKeysRequest) (*kmsapi.ListKeysResponse, error) {
	ctx, c := callerOf(ctx)
	keys, next, err := s.keys.ListKeys(ctx, c, limitOf(in.Limit, 100), in.Marker)
	if err != nil {
		return nil, err
	}
	out := &kmsapi.ListKeysResponse{Keys: []kmsapi.KeyListEntry{}}
	for _, k := range keys {
		out.Keys = append(out.Keys, kmsapi.KeyListEntry{KeyId: k.ID, KeyArn: k.ARN})
	}
	out.NextMarker, out.Truncated = page(next)
	return out, nil
}
