package kms

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/kmsapi"
)

// ScheduleKeyDeletion schedules a key's deletion after 7–30 days (default 30).
func (s *Service) ScheduleKeyDeletion(ctx context.Context, in *kmsapi.ScheduleKeyDeletionRequest) (*kmsapi.ScheduleKeyDeletionResponse, error) {
	ctx, c := callerOf(ctx)
	info, err := s.keys.ScheduleDeletion(ctx, c, in.KeyId, limitOf(in.PendingWindowInDays, 0))
	if err != nil {
		return nil, err
	}
	w := int32(info.PendingWindowDays)
	return &kmsapi.ScheduleKeyDeletionResponse{KeyId: info.ARN, DeletionDate: info.DeletionDate, KeyState: info.State, PendingWindowInDays: &w}, nil
}
