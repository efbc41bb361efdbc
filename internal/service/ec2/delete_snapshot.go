package ec2

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/image"
	"github.com/kiln-dev/kiln/internal/store"
)

// DeleteSnapshot deletes one of the caller's snapshots (and its tags)
// unless one of the caller's AMIs in the region uses it. A pending
// snapshot may be deleted: the EBS manager drops its outcome. Its layers
// stay in the blob store, shared by content with other snapshots and
// images.
func (s *Service) DeleteSnapshot(ctx context.Context, in *ec2api.DeleteSnapshotRequest) error {
	sc := scopeOf(ctx)
	err := s.st.Update(ctx, func(tx store.Tx) error {
		sn, err := getOwnSnapshot(tx, sc, in.SnapshotId)
		if err != nil {
			return err
		}
		imgs, err := store.ListJSON[image.Image](tx, sc.query(image.Kind))
		if err != nil {
			return err
		}
		for _, img := range imgs {
			if img.State == image.StateDeregistered {
				continue
			}
			for _, bd := range img.BlockDevices {
				if bd.SnapshotID == sn.ID {
					return awserr.New(awserr.Conflict, "InvalidSnapshot.InUse", "The snapshot %s is currently in use by %s", sn.ID, img.ID)
				}
			}
		}
		return tx.Delete(sn.Key())
	})
	if err == nil {
		s.freed()
	}
	return err
}
