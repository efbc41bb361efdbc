package ec2

import (
	"context"
	"errors"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/store"
)

// kindEBSSettings is the kind of the per account and region EBS
// encryption settings record (ID ebsSettingsID).
const (
	kindEBSSettings = "ebs-settings"
	ebsSettingsID   = "default"
)

// ebsSettings are an account's EBS encryption defaults in one region.
type ebsSettings struct {
	// EncryptByDefault: new volumes and snapshot copies are encrypted.
	EncryptByDefault bool `json:"encryptByDefault"`
	// KmsKeyID is the default key's ARN ("": the AWS-managed aws/ebs key).
	KmsKeyID string `json:"kmsKeyId,omitempty"`
}

// KMS actions EC2 needs of the caller to seal new data under a key, and
// to read data sealed under one.
var (
	sealActions   = []string{"kms:GenerateDataKeyWithoutPlaintext", "kms:CreateGrant"}
	unsealActions = []string{"kms:Decrypt"}
)

func loadEBSSettings(tx store.Tx, sc scope) (ebsSettings, error) {
	st, err := store.GetJSON[ebsSettings](tx, sc.key(kindEBSSettings, ebsSettingsID))
	if errors.Is(err, store.ErrNotFound) {
		return ebsSettings{}, nil
	}
	return st, err
}

// updateEBSSettings applies fn to the caller's settings and stores them.
func (s *Service) updateEBSSettings(ctx context.Context, sc scope, fn func(*ebsSettings)) (ebsSettings, error) {
	var out ebsSettings
	err := s.st.Update(ctx, func(tx store.Tx) error {
		st, err := loadEBSSettings(tx, sc)
		if err != nil {
			return err
		}
		fn(&st)
		out = st
		return store.PutJSON(tx, sc.key(kindEBSSettings, ebsSettingsID), "", st)
	})
	return out, err
}

// ebsDefaultKey reads the caller's EBS encryption defaults inside a
// transaction: whether new volumes must be encrypted (encryption by
// default) and the key to encrypt them under when the request names none
// — a key ARN, or "" for the AWS-managed aws/ebs key, which
// (*EBSDeps).resolveKey(ctx, sc, keyRef, sealActions...) turns into an
// ARN. Resolve keys outside store transactions.
func (s *Service) ebsDefaultKey(_ context.Context, tx store.Tx, sc scope) (encrypt bool, keyRef string, err error) {
	st, err := loadEBSSettings(tx, sc)
	return st.EncryptByDefault, st.KmsKeyID, err
}

// encryptionAsk is what a request says about the encryption of new EBS
// data (a volume, a snapshot copy, an image's block device).
type encryptionAsk struct {
	// Encrypted and KmsKeyID are the request's parameters.
	Encrypted *bool
	KmsKeyID  string
	// SourceKeyARN is the key of the encrypted snapshot the data comes
	// from ("" when it is not encrypted), in SourceRegion ("" = the
	// caller's region). SourceOwned: the caller owns that snapshot.
	SourceKeyARN string
	SourceRegion string
	SourceOwned  bool
}

// ebsEncryption decides as EC2 does whether new EBS data is encrypted and
// under which key, checking the caller's use of every key involved:
//   - KmsKeyId without Encrypted=true is InvalidParameterDependency;
//   - data from an encrypted source stays encrypted, and the caller needs
//     kms:Decrypt on the source key (resolved in the source's region);
//   - encryption by default encrypts everything (Encrypted=false does not
//     turn it off);
//   - the key is KmsKeyId, else — for the caller's own snapshot in the
//     same region — the source key, else the account's default EBS key
//     (ModifyEbsDefaultKmsKeyId, or aws/ebs).
//
// It reads the settings in its own view and calls KMS: do not call it
// inside a store transaction.
func (s *Service) ebsEncryption(ctx context.Context, d *EBSDeps, sc scope, a encryptionAsk) (encrypted bool, keyARN string, err error) {
	if a.KmsKeyID != "" && !deref(a.Encrypted) {
		return false, "", awserr.New(awserr.InvalidArgument, "InvalidParameterDependency", "The parameter KmsKeyId requires the parameter Encrypted to be set.")
	}
	var byDefault bool
	var defKey string
	err = s.st.View(ctx, func(tx store.Tx) error {
		byDefault, defKey, err = s.ebsDefaultKey(ctx, tx, sc)
		return err
	})
	if err != nil {
		return false, "", err
	}
	srcRegion := a.SourceRegion
	if srcRegion == "" {
		srcRegion = sc.region
	}
	if a.SourceKeyARN != "" {
		if _, err := d.resolveKey(ctx, scope{account: sc.account, region: srcRegion}, a.SourceKeyARN, unsealActions...); err != nil {
			return false, "", err
		}
	}
	if !deref(a.Encrypted) && a.SourceKeyARN == "" && !byDefault {
		return false, "", nil
	}
	switch {
	case a.KmsKeyID != "":
		keyARN, err = d.resolveKey(ctx, sc, a.KmsKeyID, sealActions...)
	case a.SourceKeyARN != "" && a.SourceOwned && srcRegion == sc.region:
		keyARN = a.SourceKeyARN
	default:
		keyARN, err = d.resolveKey(ctx, sc, defKey, sealActions...)
	}
	if err != nil {
		return false, "", err
	}
	return true, keyARN, nil
}

// awsEBSAlias is the ARN EC2 reports for the AWS-managed default key.
func awsEBSAlias(sc scope) string {
	return "arn:aws:kms:" + sc.region + ":" + sc.account + ":alias/aws/ebs"
}
