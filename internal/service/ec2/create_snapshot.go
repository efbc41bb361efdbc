package ec2

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/blob"
	"github.com/kiln-dev/kiln/internal/ebs"
	"github.com/kiln-dev/kiln/internal/store"
)

// CreateSnapshot snapshots one of the caller's volumes. The snapshot is
// recorded pending with the capture work (the volume's layers plus its
// changes, sealed under the volume's key when it is encrypted); the EBS
// manager performs it and records the snapshot completed.
func (s *Service) CreateSnapshot(ctx context.Context, in *ec2api.CreateSnapshotRequest) (*ec2api.Snapshot, error) {
	sc := scopeOf(ctx)
	d, err := s.ebsDeps()
	if err != nil {
		return nil, err
	}
	if in.OutpostArn != "" || in.Location == "local" {
		return nil, awserr.New(awserr.InvalidArgument, "UnsupportedOperation", "kiln has no Outposts or Local Zones.")
	}
	if len([]rune(in.Description)) > 255 {
		return nil, invalidParam("Value for parameter description is invalid. Length exceeds maximum of 255 characters.")
	}
	tags, err := tagSpecs(in.TagSpecifications, "snapshot")
	if err != nil {
		return nil, err
	}
	var sn ebs.Snapshot
	err = s.st.Update(ctx, func(tx store.Tx) error {
		v, err := getVolume(tx, sc, in.VolumeId)
		if err != nil {
			return err
		}
		if v.State != ebs.VolumeAvailable && v.State != ebs.VolumeInUse {
			return volumeState(v)
		}
		sn = ebs.Snapshot{
			ID: ebs.NewID("snap"), OwnerID: sc.account, Region: sc.region,
			VolumeID: v.ID, VolumeSize: v.SizeGiB, Description: in.Description,
			State: ebs.SnapshotPending, Started: s.clock.Now(),
			Encrypted: v.Encrypted, KmsKeyID: v.KmsKeyID,
			Work: &ebs.Work{Kind: ebs.CaptureVolume, Caller: sc.account, VolumeID: v.ID, Base: append([]blob.Layer(nil), v.Layers...)},
		}
		if v.Encrypted {
			sn.Work.KeyARN = v.KmsKeyID
		}
		if err := store.CreateJSON(tx, sn.Key(), "", sn); err != nil {
			return err
		}
		return putTags(tx, sc, sn.ID, "snapshot", tags["snapshot"])
	})
	if err != nil {
		return nil, err
	}
	d.kick()
	out := apiSnapshot(sn, tags["snapshot"])
	return &out, nil
}
