package ec2

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/image"
)

// DisableImageDeprecation clears an AMI's deprecation time.
func (s *Service) DisableImageDeprecation(ctx context.Context, in *ec2api.DisableImageDeprecationRequest) (*ec2api.DisableImageDeprecationResult, error) {
	sc := scopeOf(ctx)
	if err := checkAMIID(in.ImageId); err != nil {
		return nil, err
	}
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	if _, err := s.updateOwnImage(ctx, sc, in.ImageId, func(img *image.Image) error {
		img.DeprecationTime = nil
		return nil
	}); err != nil {
		return nil, err
	}
	return &ec2api.DisableImageDeprecationResult{Return: ptr(true)}, nil
}
