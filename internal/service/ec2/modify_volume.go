package ec2

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/ebs"
	"github.com/kiln-dev/kiln/internal/store"
)

// modCompleted is the state of a finished volume modification.
const modCompleted = "completed"

// ModifyVolume grows a volume or changes its type, IOPS or throughput,
// with CreateVolume's rules. kiln's volumes are not size-limited
// filesystems, so the change takes effect at once: it is recorded as a
// completed modification (DescribeVolumesModifications).
func (s *Service) ModifyVolume(ctx context.Context, in *ec2api.ModifyVolumeRequest) (*ec2api.ModifyVolumeResult, error) {
	sc := scopeOf(ctx)
	if deref(in.MultiAttachEnabled) {
		return nil, awserr.New(awserr.InvalidArgument, "UnsupportedOperation", "kiln does not support Multi-Attach volumes.")
	}
	var out ec2api.VolumeModification
	err := s.st.Update(ctx, func(tx store.Tx) error {
		v, err := getVolume(tx, sc, in.VolumeId)
		if err != nil {
			return err
		}
		if v.State != ebs.VolumeAvailable && v.State != ebs.VolumeInUse {
			return volumeState(v)
		}
		if m := v.Modification; m != nil && m.State != modCompleted {
			return awserr.New(awserr.Conflict, "IncorrectModificationState", "Cannot modify volume %s: a modification is in the '%s' state.", v.ID, m.State)
		}
		size, typ := v.SizeGiB, v.Type
		if in.Size != nil {
			size = *in.Size
		}
		if in.VolumeType != "" {
			typ = in.VolumeType
		}
		if size < v.SizeGiB {
			return invalidParam("New size cannot be smaller than existing size")
		}
		var keep volumeSpec
		if typ == v.Type {
			keep = volumeSpec{iops: v.Iops, throughput: v.Throughput}
		}
		sp, err := checkVolumeSpec(typ, size, in.Iops, in.Throughput, keep)
		if err != nil {
			return err
		}
		if sp.typ == v.Type && sp.size == v.SizeGiB && sp.iops == v.Iops && sp.throughput == v.Throughput {
			return awserr.New(awserr.InvalidArgument, "InvalidParameterCombination", "New type and size are equal to old type and size")
		}
		now := s.clock.Now()
		v.Modification = &ebs.Modification{
			State: modCompleted, Started: now, Ended: now,
			OriginalSize: v.SizeGiB, TargetSize: sp.size, OriginalType: v.Type, TargetType: sp.typ,
			OriginalIops: v.Iops, TargetIops: sp.iops, OriginalThrput: v.Throughput, TargetThrput: sp.throughput,
		}
		v.SizeGiB, v.Type, v.Iops, v.Throughput = sp.size, sp.typ, sp.iops, sp.throughput
		if err := putVolume(tx, v); err != nil {
			return err
		}
		out = apiModification(v)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &ec2api.ModifyVolumeResult{VolumeModification: &out}, nil
}
