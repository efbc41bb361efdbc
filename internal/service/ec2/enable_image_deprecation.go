package ec2

import (
	"context"
	"time"

	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/image"
)

// maxDeprecation is how far ahead EC2 lets an AMI's deprecation be set.
const maxDeprecation = 10 * 365 * 24 * time.Hour

// EnableImageDeprecation sets when an AMI the caller owns becomes
// deprecated: at least a minute ahead, at most ten years, rounded to the
// minute as EC2 does. Deprecated images stay launchable but leave other
// accounts' DescribeImages listings unless IncludeDeprecated.
func (s *Service) EnableImageDeprecation(ctx context.Context, in *ec2api.EnableImageDeprecationRequest) (*ec2api.EnableImageDeprecationResult, error) {
	sc := scopeOf(ctx)
	if err := checkAMIID(in.ImageId); err != nil {
		return nil, err
	}
	if in.DeprecateAt == nil {
		return nil, missingParam("DeprecateAt")
	}
	now := s.clock.Now()
	at := in.DeprecateAt.UTC().Round(time.Minute)
	if !at.After(now) {
		return nil, invalidParam("The deprecation time must be in the future.")
	}
	if at.After(now.Add(maxDeprecation)) {
		return nil, invalidParam("The deprecation time cannot be more than 10 years in the future.")
	}
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	if _, err := s.updateOwnImage(ctx, sc, in.ImageId, func(img *image.Image) error {
		img.DeprecationTime = &at
		return nil
	}); err != nil {
		return nil, err
	}
	return &ec2api.EnableImageDeprecationResult{Return: ptr(true)}, nil
}
