package ec2

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/image"
)

// EnableImageDeregistrationProtection protects an AMI the caller owns from
// DeregisterImage; WithCooldown keeps it protected for 24 hours after the
// protection is disabled.
func (s *Service) EnableImageDeregistrationProtection(ctx context.Context, in *ec2api.EnableImageDeregistrationProtectionRequest) (*ec2api.EnableImageDeregistrationProtectionResult, error) {
	sc := scopeOf(ctx)
	if err := checkAMIID(in.ImageId); err != nil {
		return nil, err
	}
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	mode := "enabled"
	if deref(in.WithCooldown) {
		mode = "enabled-with-cooldown"
	}
	if _, err := s.updateOwnImage(ctx, sc, in.ImageId, func(img *image.Image) error {
		img.Protection = mode
		return nil
	}); err != nil {
		return nil, err
	}
	return &ec2api.EnableImageDeregistrationProtectionResult{Return: mode}, nil
}
