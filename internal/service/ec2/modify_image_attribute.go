package ec2

import (
	"context"
	"slices"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/image"
)

// ModifyImageAttribute changes an AMI the caller owns: its launch
// permissions (account IDs, or group "all" to make it public) — in either
// the LaunchPermission Add/Remove form or the Attribute + OperationType +
// UserIds/UserGroups form — or its description. Encrypted images cannot
// be made public.
func (s *Service) ModifyImageAttribute(ctx context.Context, in *ec2api.ModifyImageAttributeRequest) error {
	sc := scopeOf(ctx)
	if err := checkAMIID(in.ImageId); err != nil {
		return err
	}
	var add, remove []ec2api.LaunchPermission
	desc := (*string)(nil)
	switch {
	case in.LaunchPermission != nil:
		add, remove = in.LaunchPermission.Add, in.LaunchPermission.Remove
	case in.Description != nil:
		desc = &in.Description.Value
	case in.Attribute == "description":
		desc = &in.Value
	case in.Attribute == "launchPermission" || len(in.UserIds) > 0 || len(in.UserGroups) > 0:
		var perms []ec2api.LaunchPermission
		for _, id := range in.UserIds {
			perms = append(perms, ec2api.LaunchPermission{UserId: id})
		}
		for _, g := range in.UserGroups {
			perms = append(perms, ec2api.LaunchPermission{Group: g})
		}
		switch in.OperationType {
		case "add":
			add = perms
		case "remove":
			remove = perms
		case "":
			return missingParam("OperationType")
		default:
			return invalidParam("Value (%s) for parameter operationType is invalid. Valid values: add, remove", in.OperationType)
		}
	case len(in.OrganizationArns) > 0 || len(in.OrganizationalUnitArns) > 0:
		return awserr.New(awserr.InvalidArgument, "UnsupportedOperation", "kiln has no AWS Organizations; share with account IDs or the group all.")
	case in.Attribute != "":
		return invalidParam("Value (%s) for parameter attribute is invalid. Only launchPermission and description can be modified.", in.Attribute)
	default:
		return awserr.New(awserr.InvalidArgument, "InvalidParameterCombination", "No attributes specified.")
	}
	for _, p := range slices.Concat(add, remove) {
		switch {
		case p.Group != "" && p.Group != "all":
			return awserr.New(awserr.InvalidArgument, "InvalidAMIAttributeItemValue", "Invalid attribute item value \"%s\" for group item type.", p.Group)
		case p.Group == "" && !accountIDRE.MatchString(p.UserId):
			return awserr.New(awserr.InvalidArgument, "InvalidAMIAttributeItemValue", "Invalid attribute item value \"%s\" for userId item type.", p.UserId)
		case p.OrganizationArn != "" || p.OrganizationalUnitArn != "":
			return awserr.New(awserr.InvalidArgument, "UnsupportedOperation", "kiln has no AWS Organizations; share with account IDs or the group all.")
		}
	}
	if desc != nil && len(*desc) > 255 {
		return invalidParam("Description must be at most 255 characters")
	}
	if err := dryRun(in.DryRun); err != nil {
		return err
	}
	_, err := s.updateOwnImage(ctx, sc, in.ImageId, func(img *image.Image) error {
		if desc != nil {
			img.Description = *desc
		}
		for _, p := range add {
			if p.Group == "all" {
				if img.Encrypted {
					return invalidParam("Encrypted images cannot be made public.")
				}
				img.Public = true
			} else if p.UserId != img.OwnerID && !slices.Contains(img.LaunchPermissions, p.UserId) {
				img.LaunchPermissions = append(img.LaunchPermissions, p.UserId)
			}
		}
		for _, p := range remove {
			if p.Group == "all" {
				img.Public = false
			} else {
				img.LaunchPermissions = slices.DeleteFunc(img.LaunchPermissions, func(id string) bool { return id == p.UserId })
			}
		}
		return nil
	})
	return err
}
