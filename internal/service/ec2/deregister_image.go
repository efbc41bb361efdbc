package ec2

import (
	"context"
	"errors"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/ebs"
	"github.com/kiln-dev/kiln/internal/image"
	"github.com/kiln-dev/kiln/internal/store"
)

// DeregisterImage removes an AMI the caller owns; instances launched from
// it keep running. Deregistration protection refuses it (also during the
// cooldown after protection was disabled). DeleteAssociatedSnapshots
// deletes the image's snapshots that no other image uses.
func (s *Service) DeregisterImage(ctx context.Context, in *ec2api.DeregisterImageRequest) (*ec2api.DeregisterImageResult, error) {
	sc := scopeOf(ctx)
	if err := checkAMIID(in.ImageId); err != nil {
		return nil, err
	}
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	now := s.clock.Now()
	out := &ec2api.DeregisterImageResult{Return: ptr(true)}
	err := s.st.Update(ctx, func(tx store.Tx) error {
		out.DeleteSnapshotResults = nil
		img, err := s.ownImageTx(ctx, tx, sc, in.ImageId)
		if err != nil {
			return err
		}
		if img.Protection != "" || now.Before(img.ProtectedUntil) {
			return awserr.New(awserr.Conflict, "OperationNotPermitted", "Image %s has deregistration protection enabled. Disable it before deregistering the image.", img.ID)
		}
		if err := tx.Delete(sc.key(image.Kind, img.ID)); err != nil {
			return err
		}
		if !deref(in.DeleteAssociatedSnapshots) {
			return nil
		}
		others, err := store.ListJSON[image.Image](tx, sc.query(image.Kind))
		if err != nil {
			return err
		}
		for _, bd := range img.BlockDevices {
			if bd.SnapshotID == "" || snapshotUsed(others, bd.SnapshotID) {
				continue
			}
			res := ec2api.DeleteSnapshotReturnCode{SnapshotId: bd.SnapshotID, ReturnCode: "success"}
			if err := tx.Delete(sc.key(ebs.SnapshotKind, bd.SnapshotID)); errors.Is(err, store.ErrNotFound) {
				res.ReturnCode = "error-missing-permissions"
			} else if err != nil {
				return err
			}
			out.DeleteSnapshotResults = append(out.DeleteSnapshotResults, res)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.freed()
	return out, nil
}

// snapshotUsed reports whether an image among imgs maps the snapshot.
func snapshotUsed(imgs []image.Image, snapID string) bool {
	for _, img := range imgs {
		for _, bd := range img.BlockDevices {
			if bd.SnapshotID == snapID {
				return true
			}
		}
	}
	return false
}
