package kms

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/kmsapi"
)

// GetKeyRotationStatus reports whether automatic rotation is on.
func (s *Service) GetKeyRotationStatus(ctx context.Context, in *kmsapi.GetKeyRotationStatusRequest) (*kmsapi.GetKeyRotationStatusResponse, error) {
	ctx, c := callerOf(ctx)
	r, info, err := s.keys.RotationStatus(ctx, c, in.KeyId)
	if err != nil {
		return nil, err
	}
	out := &kmsapi.GetKeyRotationStatusResponse{KeyRotationEnabled: &r.Enabled, KeyId: info.ARN, NextRotationDate: r.Next}
	if r.Enabled {
		d := int32(r.PeriodDays)
		out.RotationPeriodInDays = &d
	}
	return out, nil
}
