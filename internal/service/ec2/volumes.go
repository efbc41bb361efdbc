package ec2

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/ebs"
	"github.com/kiln-dev/kiln/internal/store"
)

// Volumes and snapshots are taggable (tags.go lists their ID prefixes);
// CreateTags answers these codes for missing ones.
func init() {
	notFoundCodes["volume"] = "InvalidVolume.NotFound"
	notFoundCodes["snapshot"] = "InvalidSnapshot.NotFound"
}

var volumeIDRE = regexp.MustCompile(`^vol-([0-9a-f]{8}|[0-9a-f]{17})$`)

// checkVolumeID rejects a malformed volume ID as EC2 does.
func checkVolumeID(id string) error {
	if !volumeIDRE.MatchString(id) {
		return awserr.New(awserr.InvalidArgument, "InvalidVolumeID.Malformed", "Invalid id: \"%s\" (expecting \"vol-...\")", id)
	}
	return nil
}

func volumeNotFound(id string) error {
	return awserr.New(awserr.NotFound, "InvalidVolume.NotFound", "The volume '%s' does not exist.", id)
}

// getVolume reads one of the caller's volumes (InvalidVolume.NotFound for
// another account's, InvalidVolumeID.Malformed for a bad ID).
func getVolume(tx store.Tx, sc scope, id string) (ebs.Volume, error) {
	if err := checkVolumeID(id); err != nil {
		return ebs.Volume{}, err
	}
	v, err := store.GetJSON[ebs.Volume](tx, sc.key(ebs.VolumeKind, id))
	if errors.Is(err, store.ErrNotFound) {
		return v, volumeNotFound(id)
	}
	return v, err
}

// putVolume writes a volume record back.
func putVolume(tx store.Tx, v ebs.Volume) error {
	return store.PutJSON(tx, v.Key(), "", v)
}

// volumeIops is the IOPS EC2 reports for a volume: provisioned (gp3, io1,
// io2) or gp2's baseline of 3 per GiB between 100 and 16000.
func volumeIops(v ebs.Volume) *int32 {
	switch v.Type {
	case "gp3", "io1", "io2":
		return ptr(v.Iops)
	case "gp2":
		return ptr(min(max(3*v.SizeGiB, 100), 16000))
	}
	return nil
}

// apiAttachment renders a volume's attachment.
func apiAttachment(v ebs.Volume) ec2api.VolumeAttachment {
	a := v.Attachment
	return ec2api.VolumeAttachment{
		VolumeId: v.ID, InstanceId: a.InstanceID, Device: a.Device, State: a.State,
		AttachTime: ptr(a.Time), DeleteOnTermination: ptr(a.DeleteOnTermination),
	}
}

// apiVolume renders a volume record as EC2 describes it.
func apiVolume(v ebs.Volume, tags []ec2api.Tag) ec2api.Volume {
	out := ec2api.Volume{
		VolumeId: v.ID, Size: ptr(v.SizeGiB), SnapshotId: v.SnapshotID,
		AvailabilityZone: v.AZ, AvailabilityZoneId: zoneID(v.Region, v.AZ),
		State: v.State, CreateTime: ptr(v.Created), Attachments: []ec2api.VolumeAttachment{},
		Encrypted: ptr(v.Encrypted), VolumeType: v.Type, Iops: volumeIops(v),
		MultiAttachEnabled: ptr(false), Tags: tags,
	}
	if v.Encrypted {
		out.KmsKeyId = v.KmsKeyID
	}
	if v.Type == "gp3" {
		out.Throughput = ptr(v.Throughput)
	}
	if v.Attachment != nil {
		out.Attachments = append(out.Attachments, apiAttachment(v))
	}
	return out
}

// volumeFields gives DescribeVolumes' filter values for v.
func volumeFields(v ebs.Volume) fields {
	return func(name string) ([]string, bool) {
		a := v.Attachment
		switch name {
		case "volume-id":
			return []string{v.ID}, true
		case "status":
			return []string{v.State}, true
		case "availability-zone":
			return []string{v.AZ}, true
		case "size":
			return []string{strconv.Itoa(int(v.SizeGiB))}, true
		case "snapshot-id":
			return []string{v.SnapshotID}, true
		case "encrypted":
			return []string{boolStr(v.Encrypted)}, true
		case "volume-type":
			return []string{v.Type}, true
		case "create-time":
			return []string{isoTime(v.Created)}, true
		case "multi-attach-enabled", "fast-restored":
			return []string{"false"}, true
		case "attachment.instance-id":
			if a == nil {
				return nil, true
			}
			return []string{a.InstanceID}, true
		case "attachment.device":
			if a == nil {
				return nil, true
			}
			return []string{a.Device}, true
		case "attachment.status":
			if a == nil {
				return nil, true
			}
			return []string{a.State}, true
		case "attachment.delete-on-termination":
			if a == nil {
				return nil, true
			}
			return []string{boolStr(a.DeleteOnTermination)}, true
		case "attachment.attach-time":
			if a == nil {
				return nil, true
			}
			return []string{isoTime(a.Time)}, true
		}
		return nil, false
	}
}

// volumeLimits are EC2's size (GiB), IOPS and throughput (MiB/s) limits
// of a volume type.
type volumeLimits struct {
	minSize, maxSize int32
	// Provisioned IOPS: range, ratio to size, default (0: required).
	minIops, maxIops, iopsPerGiB, defIops int32
	// Throughput (gp3 only): range and default.
	minThr, maxThr, defThr int32
}

var volumeTypes = map[string]volumeLimits{
	"gp3":      {minSize: 1, maxSize: 16384, minIops: 3000, maxIops: 16000, iopsPerGiB: 500, defIops: 3000, minThr: 125, maxThr: 1000, defThr: 125},
	"gp2":      {minSize: 1, maxSize: 16384},
	"io1":      {minSize: 4, maxSize: 16384, minIops: 100, maxIops: 64000, iopsPerGiB: 50},
	"io2":      {minSize: 4, maxSize: 16384, minIops: 100, maxIops: 256000, iopsPerGiB: 1000},
	"st1":      {minSize: 125, maxSize: 16384},
	"sc1":      {minSize: 125, maxSize: 16384},
	"standard": {minSize: 1, maxSize: 1024},
}

// volumeSpec is a volume's type, size and performance.
type volumeSpec struct {
	typ              string
	size             int32
	iops, throughput int32
}

// checkVolumeSpec applies EC2's rules to a requested type and size and the
// IOPS and throughput given (nil: not given), filling in the defaults.
// keep supplies the current IOPS and throughput when ModifyVolume keeps
// the type (zero otherwise).
func checkVolumeSpec(typ string, size int32, iops, thr *int32, keep volumeSpec) (volumeSpec, error) {
	lim, ok := volumeTypes[typ]
	if !ok {
		return volumeSpec{}, invalidParam("Value (%s) for parameter volumeType is invalid. Valid values: gp2, gp3, io1, io2, st1, sc1, standard.", typ)
	}
	sp := volumeSpec{typ: typ, size: size}
	switch {
	case size < lim.minSize:
		return sp, invalidParam("Volume of size %dGB is too small; minimum is %dGB.", size, lim.minSize)
	case size > lim.maxSize:
		return sp, invalidParam("Volume of %dGiB is too large for volume type %s; the maximum is %dGiB.", size, typ, lim.maxSize)
	}
	if lim.maxIops == 0 {
		if iops != nil {
			return sp, awserr.New(awserr.InvalidArgument, "InvalidParameterCombination", "The parameter iops is not supported for %s volumes.", typ)
		}
	} else {
		switch {
		case iops != nil:
			sp.iops = *iops
		case keep.iops != 0:
			sp.iops = keep.iops
		case lim.defIops != 0:
			sp.iops = lim.defIops
		default:
			return sp, awserr.New(awserr.InvalidArgument, "MissingParameter", "The request must contain the parameter iops")
		}
		switch {
		case sp.iops < lim.minIops:
			return sp, invalidParam("Volume iops of %d is too low; minimum is %d.", sp.iops, lim.minIops)
		case sp.iops > lim.maxIops:
			return sp, invalidParam("Volume iops of %d is too high; maximum is %d.", sp.iops, lim.maxIops)
		case sp.iops > max(lim.defIops, lim.iopsPerGiB*size):
			return sp, invalidParam("Iops to volume size ratio of %f is too high; maximum is %f.", float64(sp.iops)/float64(size), float64(lim.iopsPerGiB))
		}
	}
	if lim.maxThr == 0 {
		if thr != nil {
			return sp, awserr.New(awserr.InvalidArgument, "InvalidParameterCombination", "The parameter throughput is not supported for %s volumes.", typ)
		}
		return sp, nil
	}
	switch {
	case thr != nil:
		sp.throughput = *thr
	case keep.throughput != 0:
		sp.throughput = keep.throughput
	default:
		sp.throughput = lim.defThr
	}
	switch {
	case sp.throughput < lim.minThr:
		return sp, invalidParam("Throughput of %dMiB/s is too low; minimum is %dMiB/s.", sp.throughput, lim.minThr)
	case sp.throughput > lim.maxThr:
		return sp, invalidParam("Throughput of %dMiB/s is too high; maximum is %dMiB/s.", sp.throughput, lim.maxThr)
	case float64(sp.throughput) > float64(sp.iops)/4:
		return sp, invalidParam("Throughput (MiBps) to iops ratio of %f is too high; maximum is 0.250000 MiBps per iops.", float64(sp.throughput)/float64(sp.iops))
	}
	return sp, nil
}

// apiModification renders a volume's last modification.
func apiModification(v ebs.Volume) ec2api.VolumeModification {
	m := v.Modification
	out := ec2api.VolumeModification{
		VolumeId: v.ID, ModificationState: m.State,
		OriginalSize: ptr(m.OriginalSize), TargetSize: ptr(m.TargetSize),
		OriginalVolumeType: m.OriginalType, TargetVolumeType: m.TargetType,
		OriginalMultiAttachEnabled: ptr(false), TargetMultiAttachEnabled: ptr(false),
		StartTime: ptr(m.Started), Progress: ptr(int64(0)),
	}
	if m.OriginalIops != 0 {
		out.OriginalIops = ptr(m.OriginalIops)
	}
	if m.TargetIops != 0 {
		out.TargetIops = ptr(m.TargetIops)
	}
	if m.OriginalThrput != 0 {
		out.OriginalThroughput = ptr(m.OriginalThrput)
	}
	if m.TargetThrput != 0 {
		out.TargetThroughput = ptr(m.TargetThrput)
	}
	if m.State == "completed" {
		out.Progress = ptr(int64(100))
		out.EndTime = ptr(m.Ended)
	}
	return out
}

// modificationFields gives DescribeVolumesModifications' filter values.
func modificationFields(v ebs.Volume) fields {
	return func(name string) ([]string, bool) {
		m := v.Modification
		num := func(n int32) []string {
			if n == 0 {
				return nil
			}
			return []string{strconv.Itoa(int(n))}
		}
		switch name {
		case "volume-id":
			return []string{v.ID}, true
		case "modification-state":
			return []string{m.State}, true
		case "start-time":
			return []string{isoTime(m.Started)}, true
		case "original-size":
			return num(m.OriginalSize), true
		case "target-size":
			return num(m.TargetSize), true
		case "original-volume-type":
			return []string{m.OriginalType}, true
		case "target-volume-type":
			return []string{m.TargetType}, true
		case "original-iops":
			return num(m.OriginalIops), true
		case "target-iops":
			return num(m.TargetIops), true
		case "original-throughput":
			return num(m.OriginalThrput), true
		case "target-throughput":
			return num(m.TargetThrput), true
		case "original-multi-attach-enabled", "target-multi-attach-enabled":
			return []string{"false"}, true
		}
		return nil, false
	}
}

// volumeState is EC2's IncorrectState for a volume in the wrong state.
func volumeState(v ebs.Volume) error {
	return awserr.New(awserr.Conflict, "IncorrectState", "%s", fmt.Sprintf("%s is in the '%s' state.", v.ID, v.State))
}
