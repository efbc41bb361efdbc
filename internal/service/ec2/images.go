package ec2

import (
	"context"
	"errors"
	"regexp"
	"time"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/ebs"
	"github.com/kiln-dev/kiln/internal/image"
	"github.com/kiln-dev/kiln/internal/store"
)

// imageNameRE is EC2's rule for AMI names: 3–128 characters of letters,
// digits, ( ) [ ] space . / - ' @ _.
var imageNameRE = regexp.MustCompile(`^[a-zA-Z0-9()\[\] ./\-'@_]{3,128}$`)

func checkImageName(name string) error {
	if name == "" {
		return missingParam("Name")
	}
	if !imageNameRE.MatchString(name) {
		return awserr.New(awserr.InvalidArgument, "InvalidAMIName.Malformed",
			"AMI names must be between 3 and 128 characters long, and may contain letters, numbers, '(', ')', '.', '-', '/' and '_'")
	}
	return nil
}

func checkAMIID(id string) error {
	if id == "" {
		return missingParam("ImageId")
	}
	if !amiIDRE.MatchString(id) {
		return amiMalformed(id)
	}
	return nil
}

func duplicateName(name string) error {
	return awserr.New(awserr.AlreadyExists, "InvalidAMIName.Duplicate", "AMI name %s is already in use by AMI", name)
}

// ownImageTx reads an image the caller owns. An image the caller can see
// but does not own is AuthFailure, as EC2 answers attribute changes to
// someone else's AMI; anything else is InvalidAMIID.NotFound.
func (s *Service) ownImageTx(ctx context.Context, tx store.Tx, sc scope, id string) (image.Image, error) {
	if err := checkAMIID(id); err != nil {
		return image.Image{}, err
	}
	img, err := store.GetJSON[image.Image](tx, sc.key(image.Kind, id))
	if err == nil && img.State != image.StateDeregistered {
		return img, nil
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return image.Image{}, err
	}
	if s.images != nil {
		if _, verr := s.images.Get(ctx, sc.account, sc.region, id); verr == nil {
			return image.Image{}, awserr.New(awserr.Forbidden, "AuthFailure", "Not authorized for image:%s", id)
		}
	}
	return image.Image{}, amiNotFound(id)
}

// updateOwnImage applies fn to an image the caller owns and stores it.
func (s *Service) updateOwnImage(ctx context.Context, sc scope, id string, fn func(*image.Image) error) (image.Image, error) {
	var out image.Image
	err := s.st.Update(ctx, func(tx store.Tx) error {
		img, err := s.ownImageTx(ctx, tx, sc, id)
		if err != nil {
			return err
		}
		if err := fn(&img); err != nil {
			return err
		}
		out = img
		return store.PutJSON(tx, sc.key(image.Kind, id), img.Name, img)
	})
	return out, err
}

// newImageSnapshot is a pending snapshot made for image imageID.
func newImageSnapshot(sc scope, imageID string, size int32, desc string, w *ebs.Work, encrypted bool, keyARN string, now time.Time) ebs.Snapshot {
	return ebs.Snapshot{
		ID: ebs.NewID("snap"), OwnerID: sc.account, Region: sc.region, VolumeSize: size, Description: desc,
		State: ebs.SnapshotPending, Started: now, Encrypted: encrypted, KmsKeyID: keyARN, ImageID: imageID, Work: w,
	}
}
