package ec2

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/image"
	"github.com/kiln-dev/kiln/internal/store"
)

// DescribeImageAttribute answers one attribute of an AMI the caller owns.
func (s *Service) DescribeImageAttribute(ctx context.Context, in *ec2api.DescribeImageAttributeRequest) (*ec2api.ImageAttribute, error) {
	sc := scopeOf(ctx)
	if in.Attribute == "" {
		return nil, missingParam("Attribute")
	}
	if err := checkAMIID(in.ImageId); err != nil {
		return nil, err
	}
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	var img image.Image
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		img, err = s.ownImageTx(ctx, tx, sc, in.ImageId)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := &ec2api.ImageAttribute{ImageId: img.ID}
	val := func(v string) *ec2api.AttributeValue { return &ec2api.AttributeValue{Value: v} }
	switch in.Attribute {
	case "description":
		out.Description = val(img.Description)
	case "kernel":
		out.KernelId = &ec2api.AttributeValue{}
	case "ramdisk":
		out.RamdiskId = &ec2api.AttributeValue{}
	case "launchPermission":
		out.LaunchPermissions = launchPermissions(img)
	case "productCodes":
		out.ProductCodes = []ec2api.ProductCode{}
	case "blockDeviceMapping":
		out.BlockDeviceMappings = toEC2Image(img, nil).BlockDeviceMappings
	case "sriovNetSupport":
		out.SriovNetSupport = val("simple")
	case "bootMode":
		out.BootMode = val(bootMode(img))
	case "tpmSupport":
		out.TpmSupport = &ec2api.AttributeValue{}
	case "uefiData":
		out.UefiData = &ec2api.AttributeValue{}
	case "lastLaunchedTime":
		out.LastLaunchedTime = &ec2api.AttributeValue{}
		if !img.LastLaunched.IsZero() {
			out.LastLaunchedTime.Value = isoTime(img.LastLaunched)
		}
	case "imdsSupport":
		out.ImdsSupport = &ec2api.AttributeValue{}
	case "deregistrationProtection":
		out.DeregistrationProtection = val(protectionState(img, s.clock.Now()))
	default:
		return nil, awserr.New(awserr.InvalidArgument, "InvalidParameterValue", "Value (%s) for parameter attribute is invalid. Unknown attribute.", in.Attribute)
	}
	return out, nil
}

// launchPermissions lists who besides the owner may launch the image.
func launchPermissions(img image.Image) []ec2api.LaunchPermission {
	out := []ec2api.LaunchPermission{}
	if img.Public {
		out = append(out, ec2api.LaunchPermission{Group: "all"})
	}
	for _, id := range img.LaunchPermissions {
		out = append(out, ec2api.LaunchPermission{UserId: id})
	}
	return out
}
