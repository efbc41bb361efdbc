package ec2

import (
	"context"
	"errors"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/ebs"
	"github.com/kiln-dev/kiln/internal/image"
	"github.com/kiln-dev/kiln/internal/region"
	"github.com/kiln-dev/kiln/internal/store"
)

// CopyImage copies an AMI the caller can see in SourceRegion into the
// request's region: a new image and new snapshots owned by the caller,
// pending until the manager has moved every layer into this region's blob
// store (verified by digest), sealed under the destination key when the
// copy is encrypted (Encrypted, or an encrypted source: the given key or
// the account's aws/ebs key). Copying someone else's AMI needs the
// snapshot permission (createVolumePermission) of its snapshots, and an
// encrypted one the use of its key.
func (s *Service) CopyImage(ctx context.Context, in *ec2api.CopyImageRequest) (*ec2api.CopyImageResult, error) {
	sc := scopeOf(ctx)
	deps, err := s.ebsDeps()
	if err != nil {
		return nil, err
	}
	if in.SourceRegion == "" {
		return nil, missingParam("SourceRegion")
	}
	if _, ok := region.Lookup(in.SourceRegion); !ok {
		return nil, invalidParam("Invalid region: %s", in.SourceRegion)
	}
	if err := checkAMIID(in.SourceImageId); err != nil {
		return nil, err
	}
	if err := checkImageName(in.Name); err != nil {
		return nil, err
	}
	if in.KmsKeyId != "" && !deref(in.Encrypted) {
		return nil, awserr.New(awserr.InvalidArgument, "InvalidParameterDependency", "The parameter KmsKeyId requires the parameter Encrypted to be set.")
	}
	if in.DestinationOutpostArn != "" {
		return nil, awserr.New(awserr.InvalidArgument, "UnsupportedOperation", "kiln has no Outposts.")
	}
	tags, err := tagSpecs(in.TagSpecifications, "image", "snapshot")
	if err != nil {
		return nil, err
	}
	if s.images == nil {
		return nil, amiNotFound(in.SourceImageId)
	}
	src, err := s.images.Get(ctx, sc.account, in.SourceRegion, in.SourceImageId)
	if errors.Is(err, image.ErrNotFound) {
		return nil, amiNotFound(in.SourceImageId)
	} else if err != nil {
		return nil, err
	}
	if src.State != image.StateAvailable {
		return nil, awserr.New(awserr.Conflict, "IncorrectState", "The image '%s' is not available (state %s).", src.ID, src.State)
	}
	srcScope := scope{account: sc.account, region: in.SourceRegion}
	var srcSnaps map[string]ebs.Snapshot
	err = s.st.View(ctx, func(tx store.Tx) error {
		srcSnaps, err = copySourceSnapshots(tx, srcScope, src)
		return err
	})
	if err != nil {
		return nil, err
	}
	encrypted := deref(in.Encrypted) || src.Encrypted
	var keyARN string
	if src.Encrypted {
		// The caller must be able to read the source (its key, in its region).
		if _, err := deps.resolveKey(ctx, srcScope, src.KmsKeyID, "kms:Decrypt"); err != nil {
			return nil, err
		}
	}
	if encrypted {
		if keyARN, err = deps.resolveKey(ctx, sc, in.KmsKeyId, "kms:Encrypt", "kms:Decrypt"); err != nil {
			return nil, err
		}
	}
	var srcTags []ec2api.Tag
	if deref(in.CopyImageTags) && src.OwnerID == sc.account {
		err = s.st.View(ctx, func(tx store.Tx) error {
			ix, err := loadTags(tx, srcScope, []string{src.ID})
			srcTags = ix.of(src.ID)
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	now := s.clock.Now()
	img := image.Image{
		ID: image.NewID(), Name: in.Name, Description: src.Description, OwnerID: sc.account, Region: sc.region,
		State: image.StatePending, Architecture: src.Architecture, RootDeviceName: src.RootDeviceName,
		RootDeviceType: src.RootDeviceType, VirtualizationType: src.VirtualizationType, BootMode: src.BootMode,
		PlatformDetails: src.PlatformDetails, RootSizeGiB: src.RootSizeGiB, Init: src.Init, Env: src.Env,
		Created: now, Encrypted: encrypted, KmsKeyID: keyARN, SourceImageID: src.ID, SourceRegion: in.SourceRegion,
		Source: "copy-image:" + in.SourceRegion + "/" + src.ID,
	}
	if in.Description != "" {
		img.Description = in.Description
	}
	var snaps []ebs.Snapshot
	for _, bd := range blockDevices(src) {
		if bd.NoDevice || bd.VirtualName != "" {
			img.BlockDevices = append(img.BlockDevices, bd)
			continue
		}
		from := src.Layers // a root volume without a snapshot of its own
		if bd.SnapshotID != "" {
			from = srcSnaps[bd.SnapshotID].Layers
		}
		w := &ebs.Work{Kind: ebs.CopyLayers, Caller: sc.account, FromRegion: in.SourceRegion, FromLayers: from, KeyARN: keyARN}
		desc := "Copied for DestinationAmi " + img.ID + " from SourceAmi " + src.ID + " for SourceSnapshot " + bd.SnapshotID + ". Task created on " + isoTime(now) + "."
		sn := newImageSnapshot(sc, img.ID, bd.VolumeSize, desc, w, encrypted, keyARN, now)
		sn.VolumeID = "vol-ffffffff"
		snaps = append(snaps, sn)
		bd.SnapshotID, bd.Encrypted, bd.KmsKeyID = sn.ID, encrypted, keyARN
		img.BlockDevices = append(img.BlockDevices, bd)
	}
	err = s.st.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.GetByName(sc.account, sc.region, image.Kind, in.Name); err == nil {
			return duplicateName(in.Name)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err := store.CreateJSON(tx, sc.key(image.Kind, img.ID), img.Name, img); err != nil {
			return err
		}
		if err := putTags(tx, sc, img.ID, "image", mergeTags(srcTags, tags["image"])); err != nil {
			return err
		}
		for _, sn := range snaps {
			if err := store.CreateJSON(tx, sc.key(ebs.SnapshotKind, sn.ID), "", sn); err != nil {
				return err
			}
			if err := putTags(tx, sc, sn.ID, "snapshot", tags["snapshot"]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	deps.kick()
	return &ec2api.CopyImageResult{ImageId: img.ID}, nil
}

// copySourceSnapshots reads the snapshots of the source image. Copying an
// image of another account needs permission to create volumes from each.
func copySourceSnapshots(tx store.Tx, srcScope scope, src image.Image) (map[string]ebs.Snapshot, error) {
	out := map[string]ebs.Snapshot{}
	for _, bd := range src.BlockDevices {
		if bd.SnapshotID == "" {
			continue
		}
		sn, err := store.GetJSON[ebs.Snapshot](tx, store.Key{Account: src.OwnerID, Region: src.Region, Kind: ebs.SnapshotKind, ID: bd.SnapshotID})
		if errors.Is(err, store.ErrNotFound) {
			return nil, awserr.New(awserr.Conflict, "InvalidAMIID.Unavailable", "The snapshot %s of image %s no longer exists.", bd.SnapshotID, src.ID)
		}
		if err != nil {
			return nil, err
		}
		if !snapshotVisible(sn, srcScope.account) {
			return nil, awserr.New(awserr.Forbidden, "AuthFailure", "You do not have permission to access the storage of this ami (snapshot %s).", sn.ID)
		}
		out[sn.ID] = sn
	}
	return out, nil
}

// mergeTags is base with over's values winning.
func mergeTags(base, over []ec2api.Tag) []ec2api.Tag {
	out := append([]ec2api.Tag(nil), over...)
	for _, t := range base {
		if !containsTagKey(over, t.Key) {
			out = append(out, t)
		}
	}
	return out
}

func containsTagKey(ts []ec2api.Tag, key string) bool {
	for _, t := range ts {
		if t.Key == key {
			return true
		}
	}
	return false
}
