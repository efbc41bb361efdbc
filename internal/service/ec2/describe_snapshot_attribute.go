package ec2

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/ebs"
	"github.com/kiln-dev/kiln/internal/store"
)

// DescribeSnapshotAttribute reports one attribute of one of the caller's
// snapshots: createVolumePermission (group all when public, then the
// account IDs) or productCodes (always none in kiln).
func (s *Service) DescribeSnapshotAttribute(ctx context.Context, in *ec2api.DescribeSnapshotAttributeRequest) (*ec2api.DescribeSnapshotAttributeResult, error) {
	sc := scopeOf(ctx)
	var sn ebs.Snapshot
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		sn, err = getOwnSnapshot(tx, sc, in.SnapshotId)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := &ec2api.DescribeSnapshotAttributeResult{SnapshotId: sn.ID}
	switch in.Attribute {
	case "productCodes":
		out.ProductCodes = []ec2api.ProductCode{}
	default: // createVolumePermission (the model allows no other)
		out.CreateVolumePermissions = []ec2api.CreateVolumePermission{}
		if sn.Public {
			out.CreateVolumePermissions = append(out.CreateVolumePermissions, ec2api.CreateVolumePermission{Group: "all"})
		}
		for _, u := range sn.CreateVolumePermissions {
			out.CreateVolumePermissions = append(out.CreateVolumePermissions, ec2api.CreateVolumePermission{UserId: u})
		}
	}
	return out, nil
}
