package ec2

import (
	"context"
	"errors"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/blob"
	"github.com/kiln-dev/kiln/internal/ebs"
	"github.com/kiln-dev/kiln/internal/image"
	"github.com/kiln-dev/kiln/internal/store"
)

// RegisterImage makes an AMI from EBS snapshots: the block device mapping
// names a completed snapshot for the root device (one the caller owns or
// may create volumes from), and the image is available at once with the
// snapshot's layers. S3 image manifests (instance-store AMIs) are not
// supported.
func (s *Service) RegisterImage(ctx context.Context, in *ec2api.RegisterImageRequest) (*ec2api.RegisterImageResult, error) {
	sc := scopeOf(ctx)
	if _, err := s.ebsDeps(); err != nil {
		return nil, err
	}
	if err := checkImageName(in.Name); err != nil {
		return nil, err
	}
	if in.ImageLocation != "" {
		return nil, awserr.New(awserr.InvalidArgument, "UnsupportedOperation", "kiln registers EBS-backed images only; ImageLocation (an S3 manifest) is not supported.")
	}
	if len(in.BlockDeviceMappings) == 0 {
		return nil, awserr.New(awserr.InvalidArgument, "InvalidParameterCombination", "Either ImageLocation or BlockDeviceMapping with a root device snapshot must be specified")
	}
	rootName := in.RootDeviceName
	if rootName == "" {
		rootName = "/dev/xvda"
	}
	arch := in.Architecture
	switch arch {
	case "":
		arch = "x86_64"
	case "x86_64", "arm64":
	default:
		return nil, invalidParam("Value (%s) for parameter architecture is invalid. kiln supports x86_64 and arm64.", arch)
	}
	switch in.VirtualizationType {
	case "", "hvm":
	default:
		return nil, invalidParam("Value (%s) for parameter virtualizationType is invalid. Valid value: hvm", in.VirtualizationType)
	}
	switch in.BootMode {
	case "", "legacy-bios", "uefi", "uefi-preferred":
	default:
		return nil, invalidParam("Value (%s) for parameter bootMode is invalid.", in.BootMode)
	}
	tags, err := tagSpecs(in.TagSpecifications, "image")
	if err != nil {
		return nil, err
	}
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	img := image.Image{
		ID: image.NewID(), Name: in.Name, Description: in.Description, OwnerID: sc.account, Region: sc.region,
		State: image.StateAvailable, Architecture: arch, RootDeviceName: rootName, RootDeviceType: "ebs",
		VirtualizationType: "hvm", BootMode: in.BootMode, PlatformDetails: "Linux/UNIX", Init: image.InitKiln,
		Created: s.clock.Now(), Source: "register-image",
	}
	err = s.st.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.GetByName(sc.account, sc.region, image.Kind, in.Name); err == nil {
			return duplicateName(in.Name)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		for _, m := range in.BlockDeviceMappings {
			bd, layers, err := registerDevice(tx, sc, m)
			if err != nil {
				return err
			}
			img.BlockDevices = append(img.BlockDevices, bd)
			if bd.DeviceName == rootName {
				img.Layers, img.RootSizeGiB, img.Encrypted, img.KmsKeyID = layers, bd.VolumeSize, bd.Encrypted, bd.KmsKeyID
			}
		}
		if img.Root() == nil || len(img.Layers) == 0 {
			return awserr.New(awserr.InvalidArgument, "InvalidBlockDeviceMapping", "The root device %s must be mapped to an EBS snapshot", rootName)
		}
		if err := store.CreateJSON(tx, sc.key(image.Kind, img.ID), img.Name, img); err != nil {
			return err
		}
		return putTags(tx, sc, img.ID, "image", tags["image"])
	})
	if err != nil {
		return nil, err
	}
	return &ec2api.RegisterImageResult{ImageId: img.ID}, nil
}

// registerDevice checks one block device mapping of RegisterImage and
// returns it with the layers of its snapshot.
func registerDevice(tx store.Tx, sc scope, m ec2api.BlockDeviceMapping) (image.BlockDevice, []blob.Layer, error) {
	if m.DeviceName == "" {
		return image.BlockDevice{}, nil, missingParam("BlockDeviceMapping.DeviceName")
	}
	bd := image.BlockDevice{DeviceName: m.DeviceName, VirtualName: m.VirtualName, NoDevice: m.NoDevice != ""}
	if m.Ebs == nil || m.Ebs.SnapshotId == "" {
		if m.Ebs != nil {
			return bd, nil, awserr.New(awserr.InvalidArgument, "InvalidBlockDeviceMapping", "kiln images map EBS devices to snapshots; %s has none", m.DeviceName)
		}
		return bd, nil, nil
	}
	sn, err := getVisibleSnapshot(tx, sc, m.Ebs.SnapshotId)
	if err != nil {
		return bd, nil, err
	}
	if sn.State != ebs.SnapshotCompleted {
		return bd, nil, awserr.New(awserr.Conflict, "IncorrectState", "Snapshot '%s' is not completed (state %s).", sn.ID, sn.State)
	}
	bd.SnapshotID, bd.VolumeSize, bd.VolumeType = sn.ID, sn.VolumeSize, "gp3"
	bd.DeleteOnTermination, bd.Encrypted, bd.KmsKeyID = true, sn.Encrypted, sn.KmsKeyID
	if v := m.Ebs.VolumeSize; v != nil {
		if *v < sn.VolumeSize {
			return bd, nil, awserr.New(awserr.InvalidArgument, "InvalidBlockDeviceMapping", "Volume of size %dGB is smaller than snapshot '%s', expect size >= %dGB", *v, sn.ID, sn.VolumeSize)
		}
		bd.VolumeSize = *v
	}
	if m.Ebs.VolumeType != "" {
		bd.VolumeType = m.Ebs.VolumeType
	}
	if m.Ebs.DeleteOnTermination != nil {
		bd.DeleteOnTermination = *m.Ebs.DeleteOnTermination
	}
	return bd, sn.Layers, nil
}
