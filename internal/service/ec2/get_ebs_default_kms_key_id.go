package ec2

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/store"
)

// GetEbsDefaultKmsKeyId reports the caller's default EBS key in the
// region: the ARN set by ModifyEbsDefaultKmsKeyId, or the alias ARN of
// the AWS-managed aws/ebs key.
func (s *Service) GetEbsDefaultKmsKeyId(ctx context.Context, _ *ec2api.GetEbsDefaultKmsKeyIdRequest) (*ec2api.GetEbsDefaultKmsKeyIdResult, error) {
	sc := scopeOf(ctx)
	var key string
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		_, key, err = s.ebsDefaultKey(ctx, tx, sc)
		return err
	})
	if err != nil {
		return nil, err
	}
	if key == "" {
		key = awsEBSAlias(sc)
	}
	return &ec2api.GetEbsDefaultKmsKeyIdResult{KmsKeyId: key}, nil
}
