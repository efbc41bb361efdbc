package ec2

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/image"
)

// ResetImageAttribute resets an AMI's launch permissions (the only
// attribute EC2 resets): private to its owner again.
func (s *Service) ResetImageAttribute(ctx context.Context, in *ec2api.ResetImageAttributeRequest) error {
	sc := scopeOf(ctx)
	if in.Attribute == "" {
		return missingParam("Attribute")
	}
	if in.Attribute != "launchPermission" {
		return invalidParam("Value (%s) for parameter attribute is invalid. Only launchPermission can be reset.", in.Attribute)
	}
	if err := checkAMIID(in.ImageId); err != nil {
		return err
	}
	if err := dryRun(in.DryRun); err != nil {
		return err
	}
	_, err := s.updateOwnImage(ctx, sc, in.ImageId, func(img *image.Image) error {
		img.Public, img.LaunchPermissions = false, nil
		return nil
	})
	return err
}
