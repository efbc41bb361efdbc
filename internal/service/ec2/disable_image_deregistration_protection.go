package ec2

import (
	"context"
	"time"

	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/image"
)

// protectionCooldown is how long an AMI protected with cooldown stays
// protected after DisableImageDeregistrationProtection.
const protectionCooldown = 24 * time.Hour

// DisableImageDeregistrationProtection lifts an AMI's deregistration
// protection — at once, or after the 24-hour cooldown when it was enabled
// with one ("disabled-until-<time>").
func (s *Service) DisableImageDeregistrationProtection(ctx context.Context, in *ec2api.DisableImageDeregistrationProtectionRequest) (*ec2api.DisableImageDeregistrationProtectionResult, error) {
	sc := scopeOf(ctx)
	if err := checkAMIID(in.ImageId); err != nil {
		return nil, err
	}
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	now := s.clock.Now()
	img, err := s.updateOwnImage(ctx, sc, in.ImageId, func(img *image.Image) error {
		if img.Protection == "enabled-with-cooldown" {
			img.ProtectedUntil = now.Add(protectionCooldown)
		}
		img.Protection = ""
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ec2api.DisableImageDeregistrationProtectionResult{Return: protectionState(img, now)}, nil
}

// protectionState is the image's DeregistrationProtection as EC2 reports
// it.
func protectionState(img image.Image, now time.Time) string {
	switch {
	case img.Protection != "":
		return img.Protection
	case now.Before(img.ProtectedUntil):
		return "disabled-until-" + img.ProtectedUntil.UTC().Format("2006-01-02T15:04:05Z")
	}
	return "disabled"
}
