package ec2

import (
	"context"
	"slices"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/ebs"
	"github.com/kiln-dev/kiln/internal/store"
)

// ModifySnapshotAttribute adds or removes createVolumePermission on one
// of the caller's snapshots: account IDs, or the group "all" (public).
// Both forms are accepted: Attribute + OperationType + UserIds/GroupNames,
// and the CreateVolumePermission Add/Remove structure. Encrypted
// snapshots cannot be made public, and snapshots encrypted under the
// AWS-managed aws/ebs key cannot be shared at all.
func (s *Service) ModifySnapshotAttribute(ctx context.Context, in *ec2api.ModifySnapshotAttributeRequest) error {
	sc := scopeOf(ctx)
	if in.Attribute == "productCodes" {
		return awserr.New(awserr.InvalidArgument, "InvalidParameterValue", "The attribute productCodes cannot be modified.")
	}
	add, remove, err := permissionChanges(in)
	if err != nil {
		return err
	}
	if len(add) == 0 && len(remove) == 0 {
		return awserr.New(awserr.InvalidArgument, "MissingParameter", "The request must contain the parameter createVolumePermission, userId or userGroup")
	}
	var sn ebs.Snapshot
	err = s.st.View(ctx, func(tx store.Tx) error {
		sn, err = getOwnSnapshot(tx, sc, in.SnapshotId)
		return err
	})
	if err != nil {
		return err
	}
	if sn.Encrypted && len(add) > 0 {
		for _, p := range add {
			if p.Group == "all" {
				return awserr.New(awserr.InvalidArgument, "OperationNotPermitted", "Encrypted snapshots cannot be made public.")
			}
		}
		if d, err := s.ebsDeps(); err == nil && d.Keys != nil {
			def, err := d.Keys.DefaultKey(ctx, sc.account, sc.region)
			if err != nil {
				return keyError("alias/aws/ebs", err)
			}
			if def == sn.KmsKeyID {
				return awserr.New(awserr.InvalidArgument, "OperationNotPermitted", "Encrypted snapshots with EBS default key cannot be shared")
			}
		}
	}
	return s.st.Update(ctx, func(tx store.Tx) error {
		sn, err := getOwnSnapshot(tx, sc, in.SnapshotId)
		if err != nil {
			return err
		}
		for _, p := range add {
			switch {
			case p.Group == "all":
				sn.Public = true
			case !slices.Contains(sn.CreateVolumePermissions, p.UserId):
				sn.CreateVolumePermissions = append(sn.CreateVolumePermissions, p.UserId)
			}
		}
		for _, p := range remove {
			if p.Group == "all" {
				sn.Public = false
				continue
			}
			sn.CreateVolumePermissions = slices.DeleteFunc(sn.CreateVolumePermissions, func(u string) bool { return u == p.UserId })
		}
		if len(sn.CreateVolumePermissions) == 0 {
			sn.CreateVolumePermissions = nil
		}
		return store.PutJSON(tx, sn.Key(), "", sn)
	})
}

// permissionChanges collects and checks the permissions a
// ModifySnapshotAttribute request adds and removes.
func permissionChanges(in *ec2api.ModifySnapshotAttributeRequest) (add, remove []ec2api.CreateVolumePermission, err error) {
	if len(in.UserIds) > 0 || len(in.GroupNames) > 0 {
		var flat []ec2api.CreateVolumePermission
		for _, u := range in.UserIds {
			flat = append(flat, ec2api.CreateVolumePermission{UserId: u})
		}
		for _, g := range in.GroupNames {
			flat = append(flat, ec2api.CreateVolumePermission{Group: g})
		}
		switch in.OperationType {
		case "add":
			add = flat
		case "remove":
			remove = flat
		case "":
			return nil, nil, awserr.New(awserr.InvalidArgument, "MissingParameter", "The request must contain the parameter operationType")
		default:
			return nil, nil, invalidParam("Value (%s) for parameter operationType is invalid.", in.OperationType)
		}
	}
	if cvp := in.CreateVolumePermission; cvp != nil {
		add = append(add, cvp.Add...)
		remove = append(remove, cvp.Remove...)
	}
	for _, p := range append(slices.Clip(add), remove...) {
		switch {
		case p.Group != "" && p.UserId != "":
			return nil, nil, awserr.New(awserr.InvalidArgument, "InvalidParameterCombination", "A permission names either a user ID or a group, not both.")
		case p.Group != "":
			if p.Group != "all" {
				return nil, nil, invalidParam("Value (%s) for parameter group is invalid. Valid value: all.", p.Group)
			}
		default:
			if err := checkUserID(p.UserId); err != nil {
				return nil, nil, err
			}
		}
	}
	return add, remove, nil
}
