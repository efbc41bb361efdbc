package ec2

import (
	"context"
	"errors"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/ebs"
	"github.com/kiln-dev/kiln/internal/image"
	"github.com/kiln-dev/kiln/internal/instance"
	"github.com/kiln-dev/kiln/internal/store"
)

// CreateImage makes an AMI from a running or stopped instance: one pending
// snapshot per EBS volume attached to it (the root volume's is the
// instance's image layers plus one layer of its changes) and a pending
// image that becomes available when they complete. By default a running
// instance is stopped for the capture and booted again (EC2's rule for
// file-system integrity); NoReboot freezes it instead.
func (s *Service) CreateImage(ctx context.Context, in *ec2api.CreateImageRequest) (*ec2api.CreateImageResult, error) {
	sc := scopeOf(ctx)
	deps, err := s.ebsDeps()
	if err != nil {
		return nil, err
	}
	if in.InstanceId == "" {
		return nil, missingParam("InstanceId")
	}
	if err := checkInstanceIDs([]string{in.InstanceId}); err != nil {
		return nil, err
	}
	if err := checkImageName(in.Name); err != nil {
		return nil, err
	}
	if len(in.Description) > 255 {
		return nil, invalidParam("Description must be at most 255 characters")
	}
	tags, err := tagSpecs(in.TagSpecifications, "image", "snapshot")
	if err != nil {
		return nil, err
	}
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	// The source image's boot facts carry over (it may have been
	// deregistered since: then they are lost, as kiln's own defaults).
	var src image.Image
	if s.images != nil {
		var imageID string
		_ = s.st.View(ctx, func(tx store.Tx) error {
			if recs, err := loadInstances(tx, sc, []string{in.InstanceId}); err == nil {
				imageID = recs[0].ImageID
			}
			return nil
		})
		src, _ = s.images.Get(ctx, sc.account, sc.region, imageID)
	}
	now := s.clock.Now()
	img := image.Image{
		ID: image.NewID(), Name: in.Name, Description: in.Description, OwnerID: sc.account, Region: sc.region,
		State: image.StatePending, Created: now,
	}
	err = s.st.Update(ctx, func(tx store.Tx) error {
		recs, err := loadInstances(tx, sc, []string{in.InstanceId})
		if err != nil {
			return err
		}
		r := recs[0]
		if r.State != instance.Running && r.State != instance.Stopped {
			return awserr.New(awserr.Conflict, "IncorrectInstanceState", "Instance '%s' is not in a state from which it can be imaged (state %s).", r.ID, r.State)
		}
		if _, err := tx.GetByName(sc.account, sc.region, image.Kind, in.Name); err == nil {
			return duplicateName(in.Name)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		vols, err := store.ListJSON[ebs.Volume](tx, sc.query(ebs.VolumeKind))
		if err != nil {
			return err
		}
		img.Architecture, img.Init = r.Architecture, r.Init
		img.RootDeviceName, img.RootDeviceType, img.RootSizeGiB = r.RootDevice, "ebs", r.RootSizeGiB
		img.Env, img.BootMode = src.Env, src.BootMode
		var snaps []ebs.Snapshot
		for _, v := range vols {
			if v.Attachment == nil || v.Attachment.InstanceID != r.ID {
				continue
			}
			w := &ebs.Work{Kind: ebs.CaptureVolume, Caller: sc.account, VolumeID: v.ID, Base: v.Layers}
			if v.Root {
				w = &ebs.Work{Kind: ebs.CaptureRoot, Caller: sc.account, InstanceID: r.ID, Base: r.Layers, Reboot: !deref(in.NoReboot)}
			}
			if v.Encrypted {
				w.KeyARN = v.KmsKeyID
			}
			sn := newImageSnapshot(sc, img.ID, v.SizeGiB, "Created by CreateImage("+r.ID+") for "+img.ID, w, v.Encrypted, v.KmsKeyID, now)
			sn.VolumeID = v.ID
			snaps = append(snaps, sn)
			img.BlockDevices = append(img.BlockDevices, image.BlockDevice{
				DeviceName: v.Attachment.Device, SnapshotID: sn.ID, VolumeSize: v.SizeGiB, VolumeType: v.Type,
				Iops: v.Iops, Throughput: v.Throughput, DeleteOnTermination: v.Root || v.Attachment.DeleteOnTermination,
				Encrypted: v.Encrypted, KmsKeyID: v.KmsKeyID,
			})
			if v.Root {
				img.Encrypted, img.KmsKeyID = v.Encrypted, v.KmsKeyID
			}
		}
		if img.Root() == nil {
			return awserr.New(awserr.Conflict, "IncorrectInstanceState", "Instance '%s' has no root volume to image.", r.ID)
		}
		if err := store.CreateJSON(tx, sc.key(image.Kind, img.ID), img.Name, img); err != nil {
			return err
		}
		if err := putTags(tx, sc, img.ID, "image", tags["image"]); err != nil {
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
	return &ec2api.CreateImageResult{ImageId: img.ID}, nil
}
