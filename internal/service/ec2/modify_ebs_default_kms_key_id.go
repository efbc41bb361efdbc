package ec2

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
)

// ModifyEbsDefaultKmsKeyId sets the key the caller's encrypted volumes
// and snapshot copies use when a request names none. The key must exist
// and be usable by the caller; its ARN is stored and returned.
func (s *Service) ModifyEbsDefaultKmsKeyId(ctx context.Context, in *ec2api.ModifyEbsDefaultKmsKeyIdRequest) (*ec2api.ModifyEbsDefaultKmsKeyIdResult, error) {
	sc := scopeOf(ctx)
	d, err := s.ebsDeps()
	if err != nil {
		return nil, err
	}
	if in.KmsKeyId == "" {
		return nil, invalidParam("The request must contain the parameter KmsKeyId")
	}
	arn, err := d.resolveKey(ctx, sc, in.KmsKeyId, sealActions...)
	if err != nil {
		return nil, err
	}
	st, err := s.updateEBSSettings(ctx, sc, func(st *ebsSettings) { st.KmsKeyID = arn })
	if err != nil {
		return nil, err
	}
	return &ec2api.ModifyEbsDefaultKmsKeyIdResult{KmsKeyId: st.KmsKeyID}, nil
}
