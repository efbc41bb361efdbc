package ec2

import (
	"context"
	"errors"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/ebs"
	"github.com/kiln-dev/kiln/internal/instance"
	"github.com/kiln-dev/kiln/internal/store"
)

// DetachVolume detaches a volume from its instance: the attachment is
// recorded as detaching and the EBS manager unmounts the volume and makes
// it available. InstanceId and Device, when given, must match the
// attachment. Force also detaches a volume still being attached. The root
// volume of a running instance cannot be detached; kiln cannot detach a
// stopped instance's root volume either.
func (s *Service) DetachVolume(ctx context.Context, in *ec2api.DetachVolumeRequest) (*ec2api.VolumeAttachment, error) {
	sc := scopeOf(ctx)
	d, err := s.ebsDeps()
	if err != nil {
		return nil, err
	}
	if err := checkVolumeID(in.VolumeId); err != nil {
		return nil, err
	}
	if in.InstanceId != "" {
		if err := checkInstanceIDs([]string{in.InstanceId}); err != nil {
			return nil, err
		}
	}
	var out ec2api.VolumeAttachment
	err = s.st.Update(ctx, func(tx store.Tx) error {
		v, err := getVolume(tx, sc, in.VolumeId)
		if err != nil {
			return err
		}
		a := v.Attachment
		if a == nil {
			return volumeState(v)
		}
		if in.InstanceId != "" && in.InstanceId != a.InstanceID {
			return awserr.New(awserr.NotFound, "InvalidAttachment.NotFound", "The volume '%s' is not attached to instance '%s'", v.ID, in.InstanceId)
		}
		if in.Device != "" && in.Device != a.Device {
			return awserr.New(awserr.NotFound, "InvalidAttachment.NotFound", "The volume '%s' is not attached with device '%s'", v.ID, in.Device)
		}
		switch {
		case a.State == ebs.Detaching:
			out = apiAttachment(v)
			return nil // already on its way
		case a.State == ebs.Attaching && !deref(in.Force):
			return awserr.New(awserr.Conflict, "IncorrectState", "Volume '%s' is in the 'attaching' state; use Force to detach it.", v.ID)
		}
		if v.Root {
			r, err := store.GetJSON[instance.Record](tx, sc.key(instance.Kind, a.InstanceID))
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			if r.State == instance.Stopped {
				return awserr.New(awserr.InvalidArgument, "UnsupportedOperation", "kiln cannot detach the root volume '%s' of instance '%s'.", v.ID, a.InstanceID)
			}
			return awserr.New(awserr.Conflict, "IncorrectState", "Unable to detach root volume '%s' from instance '%s'", v.ID, a.InstanceID)
		}
		a.State = ebs.Detaching
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
	out.DeleteOnTermination = nil
	return &out, nil
}
