package ec2

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/ebs"
	"github.com/kiln-dev/kiln/internal/store"
)

// DeleteVolume deletes an unattached volume. One the runtime never held
// is deleted at once; otherwise it is marked deleting and the EBS manager
// removes its data, then the record. Attached volumes (root volumes
// included) are VolumeInUse.
func (s *Service) DeleteVolume(ctx context.Context, in *ec2api.DeleteVolumeRequest) error {
	sc := scopeOf(ctx)
	d, err := s.ebsDeps()
	if err != nil {
		return err
	}
	kick := false
	err = s.st.Update(ctx, func(tx store.Tx) error {
		v, err := getVolume(tx, sc, in.VolumeId)
		if err != nil {
			return err
		}
		switch {
		case v.Attachment != nil:
			return awserr.New(awserr.Conflict, "VolumeInUse", "Volume %s is currently attached to %s", v.ID, v.Attachment.InstanceID)
		case v.State == ebs.VolumeDeleting:
			return nil
		case !v.Materialized:
			return tx.Delete(v.Key()) // its tags go with it
		}
		v.State = ebs.VolumeDeleting
		kick = true
		return putVolume(tx, v)
	})
	if err != nil {
		return err
	}
	if kick {
		d.kick()
	}
	s.freed() // the manager may delete the record later: periodic collections catch that
	return nil
}
