package kiln

import (
	"context"

	"github.com/kiln-dev/kiln/internal/ebs"
	"github.com/kiln-dev/kiln/internal/instance"
	"github.com/kiln-dev/kiln/internal/seal"
	"github.com/kiln-dev/kiln/internal/service/ec2"
)

// keyrings gives EBS its keyrings over kiln's KMS.
func (k *Kiln) keyrings() ebs.Keys { return nil }

// ec2Keys gives EC2 its view of kiln's KMS.
func (k *Kiln) ec2Keys() ec2.Keys { return nil }

// launchKeys unseals encrypted layers for launches (nil without KMS).
func (k *Kiln) launchKeys() func(account, region string) seal.Keyring { return nil }

// beforeDelete settles a terminating instance's volumes.
func (k *Kiln) beforeDelete(ctx context.Context, r instance.Record) error {
	if k.ebs == nil {
		return nil
	}
	return k.ebs.InstanceTerminating(ctx, r)
}
