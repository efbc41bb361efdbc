package kms

import (
	"context"
	"errors"
	"strings"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/store"
)

// This file is the Go API other kiln services call (EC2's EBS encryption)
// and the cryptographic operations of the KMS API. None of these methods
// may be called from inside a store transaction (DefaultKey and the first
// reference to alias/aws/... write).

// Encrypt encrypts plaintext (1–4096 bytes) under the key keyRef names
// (ID, ARN, alias or alias ARN; another account's key by ARN) with the
// encryption context bound to the ciphertext. c needs kms:Encrypt and the
// key must be Enabled.
func (k *Keys) Encrypt(ctx context.Context, c Caller, keyRef string, plaintext []byte, encCtx map[string]string) (ciphertext []byte, keyARN string, err error) {
	if len(plaintext) == 0 || len(plaintext) > 4096 {
		return nil, "", errValidation("1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length between 1 and 4096")
	}
	return k.encrypt(ctx, c, keyRef, plaintext, encCtx, "kms:Encrypt")
}

func (k *Keys) encrypt(ctx context.Context, c Caller, keyRef string, plaintext []byte, encCtx map[string]string, action string) ([]byte, string, error) {
	rec, err := k.use(ctx, c, keyRef, useOpts{cross: true, enabled: true, encCtx: encCtx, haveCtx: true}, action)
	if err != nil {
		return nil, "", err
	}
	m, err := k.material(&rec)
	if err != nil {
		return nil, "", err
	}
	return sealBlob(m, rec.arn(), plaintext, encCtx), rec.arn(), nil
}

// Decrypt decrypts a ciphertext blob made by Encrypt (or GenerateDataKey);
// the blob names its key, so none is given. The encryption context must be
// the one used to encrypt (else InvalidCiphertextException); c needs
// kms:Decrypt and the key must be Enabled.
func (k *Keys) Decrypt(ctx context.Context, c Caller, ciphertext []byte, encCtx map[string]string) (plaintext []byte, keyARN string, err error) {
	return k.decrypt(ctx, c, ciphertext, encCtx, "", "kms:Decrypt")
}

// DecryptWithKey is Decrypt with the key the caller expects: if the blob
// was made under another key the answer is IncorrectKeyException.
func (k *Keys) DecryptWithKey(ctx context.Context, c Caller, ciphertext []byte, encCtx map[string]string, keyRef string) ([]byte, string, error) {
	return k.decrypt(ctx, c, ciphertext, encCtx, keyRef, "kms:Decrypt")
}

func (k *Keys) decrypt(ctx context.Context, c Caller, blob []byte, encCtx map[string]string, keyRef, action string) ([]byte, string, error) {
	arn, err := blobARN(blob)
	if err != nil {
		return nil, "", err
	}
	if r, err := parseRef(c, arn, true); err != nil || r.keyID == "" {
		return nil, "", errInvalidCiphertext()
	}
	if keyRef != "" {
		want, err := k.use(ctx, c, keyRef, useOpts{cross: true}, action)
		if err != nil {
			return nil, "", err
		}
		if want.arn() != arn {
			return nil, "", awserr.New(awserr.InvalidArgument, CodeIncorrectKey, "The key ID in the request does not identify a CMK that can perform this operation.")
		}
	}
	rec, err := k.use(ctx, c, arn, useOpts{cross: true, enabled: true, encCtx: encCtx, haveCtx: true}, action)
	if err != nil {
		return nil, "", err
	}
	m, err := k.material(&rec)
	if err != nil {
		return nil, "", err
	}
	pt, err := openBlob(m, arn, blob, encCtx)
	if err != nil {
		return nil, "", err
	}
	return pt, arn, nil
}

// Describe resolves keyRef (ID, ARN, alias, alias ARN) for c, checking
// kms:DescribeKey, and returns its metadata (ARN, ID, state, manager, owner
// account, region, enabled). It works in every key state.
func (k *Keys) Describe(ctx context.Context, c Caller, keyRef string) (KeyInfo, error) {
	rec, err := k.use(ctx, c, keyRef, useOpts{cross: true}, "kms:DescribeKey")
	if err != nil {
		return KeyInfo{}, err
	}
	return rec.info(), nil
}

// Check reports whether c may perform every action (e.g. "kms:Decrypt",
// "kms:CreateGrant") on the key, by policy or grant, and that the key is
// usable (Enabled); errors are the KMS errors (AccessDeniedException,
// DisabledException, KMSInvalidStateException, NotFoundException). Grants
// with encryption context constraints do not count here (no context is
// known); Encrypt and Decrypt honour them.
func (k *Keys) Check(ctx context.Context, c Caller, keyRef string, actions ...string) (KeyInfo, error) {
	rec, err := k.use(ctx, c, keyRef, useOpts{cross: true, enabled: true}, actions...)
	if err != nil {
		return KeyInfo{}, err
	}
	return rec.info(), nil
}

// GenerateDataKey returns a fresh data key of n bytes (1–1024) and its
// encryption under keyRef; the plaintext is omitted (nil) when
// withPlaintext is false (GenerateDataKeyWithoutPlaintext, which checks its
// own action).
func (k *Keys) GenerateDataKey(ctx context.Context, c Caller, keyRef string, n int, encCtx map[string]string, withPlaintext bool) (plaintext, ciphertext []byte, keyARN string, err error) {
	action := "kms:GenerateDataKey"
	if !withPlaintext {
		action = "kms:GenerateDataKeyWithoutPlaintext"
	}
	dk, err := k.Random(n)
	if err != nil {
		return nil, nil, "", err
	}
	blob, arn, err := k.encrypt(ctx, c, keyRef, dk, encCtx, action)
	if err != nil {
		return nil, nil, "", err
	}
	if !withPlaintext {
		dk = nil
	}
	return dk, blob, arn, nil
}

// ReEncrypt decrypts a blob (kms:ReEncryptFrom on its key, which must be
// srcKeyRef when given) and encrypts the plaintext under dstKeyRef
// (kms:ReEncryptTo) with a new context, never exposing the plaintext.
func (k *Keys) ReEncrypt(ctx context.Context, c Caller, blob []byte, srcCtx map[string]string, srcKeyRef, dstKeyRef string, dstCtx map[string]string) (ciphertext []byte, srcARN, dstARN string, err error) {
	pt, srcARN, err := k.decrypt(ctx, c, blob, srcCtx, srcKeyRef, "kms:ReEncryptFrom")
	if err != nil {
		return nil, "", "", err
	}
	out, dstARN, err := k.encrypt(ctx, c, dstKeyRef, pt, dstCtx, "kms:ReEncryptTo")
	clear(pt)
	if err != nil {
		return nil, "", "", err
	}
	return out, srcARN, dstARN, nil
}

// managedSpec describes an AWS-managed key kiln services create.
type managedSpec struct {
	Label       string // the service as the policy Sid names it
	Via         string // the kms:ViaService prefix (ec2 for EBS)
	PolicyID    string
	Description string
}

// managed lists the AWS-managed keys by alias (without "alias/").
var managed = map[string]managedSpec{
	"aws/ebs": {Label: "EBS", Via: "ec2", PolicyID: "auto-ebs-2", Description: "Default key that protects my EBS volumes when no other key is defined"},
	"aws/s3":  {Label: "S3", Via: "s3", PolicyID: "auto-s3-2", Description: "Default key that protects my S3 objects when no other key is defined"},
	"aws/ssm": {Label: "SSM", Via: "ssm", PolicyID: "auto-ssm-2", Description: "Default key that protects my SSM parameters when no other key is defined"},
}

// DefaultKey returns the ARN of the account's AWS-managed key for a service
// alias ("aws/ebs"), creating it on first use (KeyManager AWS, its alias
// alias/aws/ebs and AWS's policy: usable by the owning account only, only
// through the service).
func (k *Keys) DefaultKey(ctx context.Context, account, region, alias string) (string, error) {
	name := strings.TrimPrefix(alias, "alias/")
	spec, ok := managed[name]
	if !ok {
		return "", errNotFound("Alias '%s' is not found.", aliasARN(region, account, "alias/"+name))
	}
	aliasName := "alias/" + name
	var arn string
	err := k.st.Update(ctx, func(tx store.Tx) error {
		a, err := store.GetJSON[aliasRecord](tx, aliasStoreKey(account, region, aliasName))
		if err == nil {
			arn = keyARN(region, account, a.KeyID)
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		rec := k.newKey(account, region, ManagerAWS, spec.Description)
		rec.Policy = managedPolicy(account, region, spec)
		rec.Rotation, rec.RotationDays, rec.RotationSince = true, 365, &rec.Created
		if err := store.CreateJSON(tx, keyStoreKey(account, region, rec.ID), "", rec); err != nil {
			return err
		}
		now := k.clock.Now()
		arn = rec.arn()
		return store.CreateJSON(tx, aliasStoreKey(account, region, aliasName), "", aliasRecord{Name: aliasName, KeyID: rec.ID, Created: now, Updated: now})
	})
	return arn, err
}
