package ec2

import (
	"cmp"
	"context"
	"path"
	"slices"
	"time"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/blob"
	"github.com/kiln-dev/kiln/internal/ebs"
	"github.com/kiln-dev/kiln/internal/image"
	"github.com/kiln-dev/kiln/internal/store"
)

// launchVolume is a data volume RunInstances creates for each instance and
// the EBS manager attaches before the instance first boots: an EBS entry
// of the image's block device mapping (a golden image's data volumes), as
// the request's mapping for the same device overrides it, or one the
// request adds.
type launchVolume struct {
	device    string
	spec      volumeSpec
	snap      ebs.Snapshot // zero: an empty volume
	deleteOn  bool
	encrypted bool
	keyARN    string
}

// launchVolumes merges the image's data devices with the request's block
// device mappings (the root device is handled by validateLaunch) and
// checks each as CreateVolume would. Instance-store (virtual) devices are
// accepted and have no volume, as on instance types without instance
// storage.
func (s *Service) launchVolumes(ctx context.Context, sc scope, img image.Image, req []ec2api.BlockDeviceMapping) ([]launchVolume, error) {
	type want struct {
		device           string
		snapshotID, typ  string
		size, iops, thr  *int32
		deleteOn         bool
		encrypted        *bool
		kmsKeyID         string
		fromImage, noDev bool
	}
	var wants []*want
	find := func(dev string) *want {
		for _, w := range wants {
			if path.Base(w.device) == path.Base(dev) {
				return w
			}
		}
		return nil
	}
	for _, bd := range img.BlockDevices {
		if bd.DeviceName == img.RootDeviceName || bd.VirtualName != "" || bd.NoDevice {
			continue
		}
		w := &want{device: bd.DeviceName, snapshotID: bd.SnapshotID, typ: bd.VolumeType, deleteOn: bd.DeleteOnTermination, fromImage: true}
		if bd.VolumeSize > 0 {
			w.size = ptr(bd.VolumeSize)
		}
		if bd.Iops > 0 {
			w.iops = ptr(bd.Iops)
		}
		if bd.Throughput > 0 {
			w.thr = ptr(bd.Throughput)
		}
		wants = append(wants, w)
	}
	seen := map[string]bool{}
	for _, m := range req {
		if m.DeviceName == "" {
			return nil, missingParam("BlockDeviceMapping.DeviceName")
		}
		if m.DeviceName == img.RootDeviceName {
			continue
		}
		if seen[m.DeviceName] {
			return nil, awserr.New(awserr.InvalidArgument, "InvalidBlockDeviceMapping", "The device '%s' is used in more than one block-device mapping", m.DeviceName)
		}
		seen[m.DeviceName] = true
		if !deviceRE.MatchString(m.DeviceName) {
			return nil, awserr.New(awserr.InvalidArgument, "InvalidBlockDeviceMapping", "Invalid device name %s", m.DeviceName)
		}
		w := find(m.DeviceName)
		if m.Ebs == nil || m.NoDevice != "" {
			// NoDevice (which the wire cannot tell from absent when
			// empty) or an instance-store device: the image's device of
			// that name, if any, is not created.
			if w != nil {
				w.noDev = true
			}
			continue
		}
		if w == nil {
			w = &want{device: m.DeviceName, deleteOn: true}
			wants = append(wants, w)
		}
		e := m.Ebs
		if e.SnapshotId != "" {
			if w.fromImage && e.SnapshotId != w.snapshotID {
				return nil, awserr.New(awserr.InvalidArgument, "InvalidBlockDeviceMapping", "The snapshot of %s is set by the image (%s) and cannot be changed", m.DeviceName, w.snapshotID)
			}
			w.snapshotID = e.SnapshotId
		}
		w.typ = cmp.Or(e.VolumeType, w.typ)
		w.size = cmp.Or(e.VolumeSize, w.size)
		w.iops = cmp.Or(e.Iops, w.iops)
		w.thr = cmp.Or(e.Throughput, w.thr)
		if e.DeleteOnTermination != nil {
			w.deleteOn = *e.DeleteOnTermination
		}
		w.encrypted, w.kmsKeyID = e.Encrypted, e.KmsKeyId
	}
	var out []launchVolume
	for _, w := range wants {
		if w.noDev {
			continue
		}
		lv := launchVolume{device: w.device, deleteOn: w.deleteOn}
		if w.snapshotID != "" {
			err := s.st.View(ctx, func(tx store.Tx) (err error) {
				lv.snap, err = getVisibleSnapshot(tx, sc, w.snapshotID)
				return err
			})
			if err != nil {
				return nil, err
			}
			if lv.snap.State != ebs.SnapshotCompleted {
				return nil, awserr.New(awserr.Conflict, "IncorrectState", "Snapshot is in invalid state - %s", lv.snap.State)
			}
		}
		var size int32
		switch {
		case w.size == nil && w.snapshotID == "":
			return nil, awserr.New(awserr.InvalidArgument, "InvalidBlockDeviceMapping", "The block device mapping for %s must specify a volume size or a snapshot", w.device)
		case w.size == nil:
			size = lv.snap.VolumeSize
		default:
			size = *w.size
			if w.snapshotID != "" && size < lv.snap.VolumeSize {
				return nil, awserr.New(awserr.InvalidArgument, "InvalidBlockDeviceMapping", "Volume of size %dGB is smaller than snapshot '%s', expect size >= %dGB", size, lv.snap.ID, lv.snap.VolumeSize)
			}
		}
		var err error
		if lv.spec, err = checkVolumeSpec(cmp.Or(w.typ, rootVolumeType), size, w.iops, w.thr, volumeSpec{}); err != nil {
			return nil, err
		}
		d, err := s.ebsDeps()
		if err != nil {
			return nil, err
		}
		ask := encryptionAsk{Encrypted: w.encrypted, KmsKeyID: w.kmsKeyID}
		if lv.snap.Encrypted {
			ask.SourceKeyARN, ask.SourceOwned = lv.snap.KmsKeyID, lv.snap.OwnerID == sc.account
		}
		if lv.encrypted, lv.keyARN, err = s.ebsEncryption(ctx, d, sc, ask); err != nil {
			return nil, err
		}
		out = append(out, lv)
	}
	slices.SortFunc(out, func(a, b launchVolume) int { return cmp.Compare(a.device, b.device) })
	return out, nil
}

// volume is the record of the launch volume for instance id: in use and
// attaching until the EBS manager mounts it, before the instance boots.
func (lv launchVolume) volume(sc scope, id, az string, now time.Time) ebs.Volume {
	return ebs.Volume{
		ID: ebs.NewID("vol"), OwnerID: sc.account, Region: sc.region, AZ: az,
		SizeGiB: lv.spec.size, Type: lv.spec.typ, Iops: lv.spec.iops, Throughput: lv.spec.throughput,
		SnapshotID: lv.snap.ID, Encrypted: lv.encrypted, KmsKeyID: lv.keyARN,
		State: ebs.VolumeInUse, Created: now, Layers: append([]blob.Layer(nil), lv.snap.Layers...),
		Attachment: &ebs.Attachment{InstanceID: id, Device: lv.device, State: ebs.Attaching, Time: now, DeleteOnTermination: lv.deleteOn},
	}
}
