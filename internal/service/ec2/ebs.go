package ec2

import (
	"context"
	"errors"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/image"
)

// Keys is what the EBS and image actions need of KMS; kiln wires it to
// its KMS. Errors are KMS's (awserr): keyError turns them into EC2's.
type Keys interface {
	// Resolve returns the ARN of keyRef (key ID, key ARN, alias name or
	// alias ARN) when account may perform every action ("kms:Decrypt",
	// "kms:CreateGrant", …) with it in region and the key is enabled.
	Resolve(ctx context.Context, account, region, keyRef string, actions ...string) (string, error)
	// DefaultKey is the ARN of the account's AWS-managed aws/ebs key in
	// region, created on first use.
	DefaultKey(ctx context.Context, account, region string) (string, error)
}

// EBSDeps connect the volume, snapshot and image actions to the EBS
// manager that performs their slow work.
type EBSDeps struct {
	// Kick tells the manager that pending work was written.
	Kick func()
	// Keys checks and resolves KMS keys (nil: encryption unsupported).
	Keys Keys
	// Images writes image records (CreateImage, RegisterImage, CopyImage…).
	Images *image.CatalogImpl
	// Freed tells the blob collector that records naming blobs were
	// deleted (nil: nobody listens). It must not block.
	Freed func()
}

// EnableEBS turns on the volume, snapshot and image-writing actions.
func (s *Service) EnableEBS(d EBSDeps) { s.ebs = &d }

// ebsDeps returns the deps, or UnsupportedOperation.
func (s *Service) ebsDeps() (*EBSDeps, error) {
	if s.ebs == nil {
		return nil, awserr.New(awserr.InvalidArgument, "UnsupportedOperation", "This kiln server was started without EBS.")
	}
	return s.ebs, nil
}

// kick wakes the EBS manager.
func (d *EBSDeps) kick() {
	if d.Kick != nil {
		d.Kick()
	}
}

// freed tells the blob collector, if any, that an image, snapshot or
// volume record was deleted.
func (s *Service) freed() {
	if s.ebs != nil && s.ebs.Freed != nil {
		s.ebs.Freed()
	}
}

// resolveKey resolves a KMS key for an EBS action on behalf of the caller,
// as EC2 reports a key it cannot use.
func (d *EBSDeps) resolveKey(ctx context.Context, sc scope, keyRef string, actions ...string) (string, error) {
	if d.Keys == nil {
		return "", awserr.New(awserr.InvalidArgument, "UnsupportedOperation", "This kiln server has no KMS.")
	}
	if keyRef == "" {
		arn, err := d.Keys.DefaultKey(ctx, sc.account, sc.region)
		return arn, keyError(keyRef, err)
	}
	arn, err := d.Keys.Resolve(ctx, sc.account, sc.region, keyRef, actions...)
	return arn, keyError(keyRef, err)
}

// keyError maps a KMS error to EC2's: a key that does not exist or that
// the caller may not use is InvalidParameterValue naming it (EC2 does not
// reveal which), a disabled or pending-deletion key is
// IncorrectState.
func keyError(keyRef string, err error) error {
	if err == nil {
		return nil
	}
	var ae *awserr.Error
	if !errors.As(err, &ae) {
		return err
	}
	switch ae.Code {
	case "DisabledException", "KMSInvalidStateException":
		return awserr.New(awserr.Conflict, "IncorrectState", "The KMS key '%s' is not usable: %s", keyRef, ae.Message)
	case "NotFoundException", "AccessDeniedException", "InvalidArnException":
		return awserr.New(awserr.InvalidArgument, "InvalidParameterValue", "The KMS key '%s' does not exist or you do not have access to it", keyRef)
	}
	return err
}
