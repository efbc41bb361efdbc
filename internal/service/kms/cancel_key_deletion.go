package kms

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/kmsapi"
)

// CancelKeyDeletion cancels a scheduled deletion; the key becomes Disabled.
func (s *Service) CancelKeyDeletion(ctx context.Context, in *kmsapi.CancelKeyDeletionRequest) (*kmsapi.CancelKeyDeletionResponse, error) {
	ctx, c := callerOf(ctx)
	info, err := s.keys.CancelDeletion(ctx, c, in.KeyId)
	if err != nil {
		return nil, err
	}
	return &kmsapi.CancelKeyDeletionResponse{KeyId: info.ARN}, nil
}
