package kms

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/kmsapi"
)

// DescribeKey returns a key's metadata (cross-account by ARN).
func (s *Service) DescribeKey(ctx context.Context, in *kmsapi.DescribeKeyRequest) (*kmsapi.DescribeKeyResponse, error) {
	ctx, c := callerOf(ctx)
	info, err := s.keys.Describe(ctx, c, in.KeyId)
	if err != nil {
		return nil, err
	}
	return &kmsapi.DescribeKeyResponse{KeyMetadata: metadata(info)}, nil
}
