package kiln

import (
	"context"
	"fmt"

	"github.com/kiln-dev/kiln/internal/ebs"
	"github.com/kiln-dev/kiln/internal/instance"
	"github.com/kiln-dev/kiln/internal/kms"
	"github.com/kiln-dev/kiln/internal/seal"
	"github.com/kiln-dev/kiln/internal/service/ec2"
)

// layerContext is the KMS encryption context of data keys that seal EBS
// layers.
var layerContext = map[string]string{"kiln:purpose": "ebs-layer"}

// keyring wraps data keys under one KMS key and unwraps any, on behalf of
// an account (EC2 acting for it: the key policies' kms:ViaService is ec2).
type keyring struct {
	keys   *kms.Keys
	caller kms.Caller
	keyARN string
}

func (r keyring) Wrap(ctx context.Context, dataKey []byte) (string, []byte, error) {
	if r.keyARN == "" {
		return "", nil, fmt.Errorf("kiln: no key to seal under")
	}
	ct, arn, err := r.keys.Encrypt(ctx, r.caller, r.keyARN, dataKey, layerContext)
	return arn, ct, err
}

func (r keyring) Unwrap(ctx context.Context, keyARN string, wrapped []byte) ([]byte, error) {
	pt, arn, err := r.keys.Decrypt(ctx, r.caller, wrapped, layerContext)
	if err != nil {
		return nil, err
	}
	if arn != keyARN {
		return nil, fmt.Errorf("kiln: data key wrapped under %s, header names %s", arn, keyARN)
	}
	return pt, nil
}

type ebsKeys struct{ keys *kms.Keys }

func (e ebsKeys) Keyring(account, region, keyARN string) seal.Keyring {
	return keyring{keys: e.keys, caller: kms.Caller{Account: account, Region: region}, keyARN: keyARN}
}

// keyrings gives EBS its keyrings over kiln's KMS.
func (k *Kiln) keyrings() ebs.Keys { return ebsKeys{k.KMS} }

type ec2Keys struct{ keys *kms.Keys }

func (e ec2Keys) Resolve(ctx context.Context, account, region, keyRef string, actions ...string) (string, error) {
	info, err := e.keys.Check(ctx, kms.Caller{Account: account, Region: region}, keyRef, actions...)
	return info.ARN, err
}

func (e ec2Keys) DefaultKey(ctx context.Context, account, region string) (string, error) {
	return e.keys.DefaultKey(ctx, account, region, "aws/ebs")
}

// ec2Keys gives EC2 its view of kiln's KMS.
func (k *Kiln) ec2Keys() ec2.Keys { return ec2Keys{k.KMS} }

// launchKeyring unwraps the data keys of encrypted layers for launches; a
// key the account may not use fails the launch as EC2 reports it.
type launchKeyring struct{ keyring }

// reasonClientError is EC2's state reason of a launch refused for the
// client's sake (no access to the key of an encrypted volume).
var reasonClientError = instance.Reason{Code: "Client.InternalError", Message: "Client.InternalError: Client error on launch"}

func (r launchKeyring) Unwrap(ctx context.Context, keyARN string, wrapped []byte) ([]byte, error) {
	pt, err := r.keyring.Unwrap(ctx, keyARN, wrapped)
	switch {
	case err == nil:
		return pt, nil
	case kms.IsDisabled(err) || kms.IsInvalidState(err):
		return nil, &instance.ClientError{Reason: instance.ReasonInvalidKMSKey, Err: err}
	case kms.IsAccessDenied(err) || kms.IsNotFound(err):
		return nil, &instance.ClientError{Reason: reasonClientError, Err: err}
	}
	return nil, err
}

// launchKeys unseals encrypted layers for launches.
func (k *Kiln) launchKeys() func(account, region string) seal.Keyring {
	return func(account, region string) seal.Keyring {
		return launchKeyring{keyring{keys: k.KMS, caller: kms.Caller{Account: account, Region: region}}}
	}
}

// beforeDelete settles a terminating instance's volumes.
func (k *Kiln) beforeDelete(ctx context.Context, r instance.Record) error {
	if k.ebs == nil {
		return nil
	}
	return k.ebs.InstanceTerminating(ctx, r)
}

// beforeStart attaches the volumes waiting for the instance (mapped at
// launch) before it boots.
func (k *Kiln) beforeStart(ctx context.Context, r instance.Record) error {
	if k.ebs == nil {
		return nil
	}
	return k.ebs.InstanceStarting(ctx, r)
}
