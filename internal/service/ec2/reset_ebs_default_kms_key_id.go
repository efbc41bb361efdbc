package ec2

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
)

// ResetEbsDefaultKmsKeyId makes the AWS-managed aws/ebs key the caller's
// default EBS key in the region again.
func (s *Service) ResetEbsDefaultKmsKeyId(ctx context.Context, _ *ec2api.ResetEbsDefaultKmsKeyIdRequest) (*ec2api.ResetEbsDefaultKmsKeyIdResult, error) {
	sc := scopeOf(ctx)
	if _, err := s.updateEBSSettings(ctx, sc, func(st *ebsSettings) { st.KmsKeyID = "" }); err != nil {
		return nil, err
	}
	return &ec2api.ResetEbsDefaultKmsKeyIdResult{KmsKeyId: awsEBSAlias(sc)}, nil
}
