package ec2

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/blob"
	"github.com/kiln-dev/kiln/internal/ebs"
	"github.com/kiln-dev/kiln/internal/region"
	"github.com/kiln-dev/kiln/internal/store"
)

// CopySnapshot copies a completed snapshot the caller can see in
// SourceRegion (its own, a public one or one shared with it) into the
// caller's region as a new snapshot of the caller's. A copy of an
// encrypted snapshot is encrypted (the caller needs kms:Decrypt on the
// source key); so is one asked with Encrypted or made under encryption by
// default, under KmsKeyId or the account's default EBS key. The copy is
// recorded pending; the EBS manager copies (and re-seals) the layers.
// PresignedUrl is accepted and ignored: the request's own signature
// already identifies the caller.
func (s *Service) CopySnapshot(ctx context.Context, in *ec2api.CopySnapshotRequest) (*ec2api.CopySnapshotResult, error) {
	sc := scopeOf(ctx)
	d, err := s.ebsDeps()
	if err != nil {
		return nil, err
	}
	if !region.Valid(in.SourceRegion) {
		return nil, invalidParam("Value (%s) for parameter sourceRegion is invalid.", in.SourceRegion)
	}
	if in.DestinationRegion != "" && in.DestinationRegion != sc.region {
		return nil, invalidParam("Value (%s) for parameter destinationRegion is invalid: send the request to the destination region %s.", in.DestinationRegion, in.DestinationRegion)
	}
	if in.DestinationOutpostArn != "" || in.DestinationAvailabilityZone != "" {
		return nil, awserr.New(awserr.InvalidArgument, "UnsupportedOperation", "kiln has no Outposts or Local Zones.")
	}
	if len([]rune(in.Description)) > 255 {
		return nil, invalidParam("Value for parameter description is invalid. Length exceeds maximum of 255 characters.")
	}
	tags, err := tagSpecs(in.TagSpecifications, "snapshot")
	if err != nil {
		return nil, err
	}
	src := scope{account: sc.account, region: in.SourceRegion}
	var from ebs.Snapshot
	err = s.st.View(ctx, func(tx store.Tx) error {
		from, err = getVisibleSnapshot(tx, src, in.SourceSnapshotId)
		return err
	})
	if err != nil {
		return nil, err
	}
	if from.State != ebs.SnapshotCompleted {
		return nil, awserr.New(awserr.Conflict, "IncorrectState", "Snapshot is in invalid state - %s", from.State)
	}
	ask := encryptionAsk{Encrypted: in.Encrypted, KmsKeyID: in.KmsKeyId, SourceRegion: in.SourceRegion}
	if from.Encrypted {
		// The source's own key is kept only by a same-region copy of
		// one's own snapshot.
		ask.SourceKeyARN, ask.SourceOwned = from.KmsKeyID, from.OwnerID == sc.account
	}
	encrypted, keyARN, err := s.ebsEncryption(ctx, d, sc, ask)
	if err != nil {
		return nil, err
	}
	desc := in.Description
	if desc == "" {
		desc = "[Copied " + from.ID + " from " + in.SourceRegion + "]"
	}
	sn := ebs.Snapshot{
		ID: ebs.NewID("snap"), OwnerID: sc.account, Region: sc.region,
		VolumeID: "vol-ffffffff", VolumeSize: from.VolumeSize, Description: desc,
		State: ebs.SnapshotPending, Started: s.clock.Now(),
		Encrypted: encrypted, KmsKeyID: keyARN,
		Work: &ebs.Work{Kind: ebs.CopyLayers, Caller: sc.account, FromRegion: in.SourceRegion,
			FromLayers: append([]blob.Layer(nil), from.Layers...), KeyARN: keyARN},
	}
	err = s.st.Update(ctx, func(tx store.Tx) error {
		if err := store.CreateJSON(tx, sn.Key(), "", sn); err != nil {
			return err
		}
		return putTags(tx, sc, sn.ID, "snapshot", tags["snapshot"])
	})
	if err != nil {
		return nil, err
	}
	d.kick()
	return &ec2api.CopySnapshotResult{SnapshotId: sn.ID, Tags: tags["snapshot"]}, nil
}
