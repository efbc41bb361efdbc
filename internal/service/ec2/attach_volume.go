package ec2

import (
	"context"
	"errors"
	"path"
	"regexp"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/ebs"
	"github.com/kiln-dev/kiln/internal/instance"
	"github.com/kiln-dev/kiln/internal/store"
)

// deviceRE matches the Linux device names EC2 accepts for EBS volumes:
// /dev/sd[a-z], /dev/xvd[a-z], /dev/hd[a-z] (one or two letters, an
// optional partition 1–15).
var deviceRE = regexp.MustCompile(`^/dev/(sd|xvd|hd)[a-z]{1,2}([1-9]|1[0-5])?$`)

// AttachVolume attaches an available volume to a running or stopped
// instance in its zone under a free device name. The attachment is
// recorded as attaching; the EBS manager mounts the volume into the
// instance (/mnt/ebs/<device basename>) and records it attached.
func (s *Service) AttachVolume(ctx context.Context, in *ec2api.AttachVolumeRequest) (*ec2api.VolumeAttachment, error) {
	sc := scopeOf(ctx)
	d, err := s.ebsDeps()
	if err != nil {
		return nil, err
	}
	if !deviceRE.MatchString(in.Device) {
		return nil, invalidParam("Value (%s) for parameter device is invalid. %s is not a valid EBS device name.", in.Device, in.Device)
	}
	if err := checkVolumeID(in.VolumeId); err != nil {
		return nil, err
	}
	if err := checkInstanceIDs([]string{in.InstanceId}); err != nil {
		return nil, err
	}
	var v ebs.Volume
	err = s.st.View(ctx, func(tx store.Tx) error {
		v, err = getVolume(tx, sc, in.VolumeId)
		return err
	})
	if err != nil {
		return nil, err
	}
	if v.Encrypted {
		// EC2 checks the caller may use the volume's key to attach it.
		if _, err := d.resolveKey(ctx, sc, v.KmsKeyID, "kms:Decrypt", "kms:CreateGrant"); err != nil {
			return nil, err
		}
	}
	var out ec2api.VolumeAttachment
	err = s.st.Update(ctx, func(tx store.Tx) error {
		v, err := getVolume(tx, sc, in.VolumeId)
		if err != nil {
			return err
		}
		r, err := store.GetJSON[instance.Record](tx, sc.key(instance.Kind, in.InstanceId))
		if errors.Is(err, store.ErrNotFound) || err == nil && r.State == instance.Terminated {
			return instanceNotFound([]string{in.InstanceId})
		}
		if err != nil {
			return err
		}
		if v.Attachment != nil {
			return awserr.New(awserr.Conflict, "VolumeInUse", "%s is already attached to an instance", v.ID)
		}
		if v.State != ebs.VolumeAvailable {
			return volumeState(v)
		}
		if r.State != instance.Running && r.State != instance.Stopped {
			return awserr.New(awserr.Conflict, "IncorrectState", "Instance '%s' is not 'running' or 'stopped'.", r.ID)
		}
		if r.AZ != v.AZ {
			return awserr.New(awserr.InvalidArgument, "InvalidVolume.ZoneMismatch", "The volume '%s' is not in the same availability zone as instance '%s'", v.ID, r.ID)
		}
		inUse, err := devicesInUse(tx, sc, r)
		if err != nil {
			return err
		}
		if inUse[path.Base(in.Device)] {
			return invalidParam("Invalid value '%s' for unixDevice. Attachment point %s is already in use", in.Device, in.Device)
		}
		v.Attachment = &ebs.Attachment{InstanceID: r.ID, Device: in.Device, State: ebs.Attaching, Time: s.clock.Now()}
		v.State = ebs.VolumeInUse // as EC2 reports an attaching volume
		if err := putVolume(tx, v); err != nil {
			return err
		}
		out = apiAttachment(v)
		return nil
	})
	if err != nil {
		return nil, err
	}
	d.kick()
	out.DeleteOnTermination = nil // EC2's AttachVolume response has none
	return &out, nil
}

// devicesInUse lists the device names (their last element, the name the
// volume is mounted under) taken on an instance: its root device and every
// volume attached or being attached or detached.
func devicesInUse(tx store.Tx, sc scope, r instance.Record) (map[string]bool, error) {
	used := map[string]bool{}
	if r.RootDevice != "" {
		used[path.Base(r.RootDevice)] = true
	}
	vols, err := store.ListJSON[ebs.Volume](tx, sc.query(ebs.VolumeKind))
	if err != nil {
		return nil, err
	}
	for _, v := range vols {
		if v.Attachment != nil && v.Attachment.InstanceID == r.ID {
			used[path.Base(v.Attachment.Device)] = true
		}
	}
	return used, nil
}
