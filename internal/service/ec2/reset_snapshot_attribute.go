package ec2

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/store"
)

// ResetSnapshotAttribute makes one of the caller's snapshots private
// again: only createVolumePermission can be reset.
func (s *Service) ResetSnapshotAttribute(ctx context.Context, in *ec2api.ResetSnapshotAttributeRequest) error {
	sc := scopeOf(ctx)
	if in.Attribute != "createVolumePermission" {
		return invalidParam("Value (%s) for parameter attribute is invalid. Only createVolumePermission can be reset.", in.Attribute)
	}
	return s.st.Update(ctx, func(tx store.Tx) error {
		sn, err := getOwnSnapshot(tx, sc, in.SnapshotId)
		if err != nil {
			return err
		}
		sn.Public, sn.CreateVolumePermissions = false, nil
		return store.PutJSON(tx, sn.Key(), "", sn)
	})
}
