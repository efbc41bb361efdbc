package ec2

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
)

// DisableEbsEncryptionByDefault stops encrypting the caller's new volumes
// by default in the region (existing volumes are unchanged).
func (s *Service) DisableEbsEncryptionByDefault(ctx context.Context, _ *ec2api.DisableEbsEncryptionByDefaultRequest) (*ec2api.DisableEbsEncryptionByDefaultResult, error) {
	st, err := s.updateEBSSettings(ctx, scopeOf(ctx), func(st *ebsSettings) { st.EncryptByDefault = false })
	if err != nil {
		return nil, err
	}
	return &ec2api.DisableEbsEncryptionByDefaultResult{EbsEncryptionByDefault: ptr(st.EncryptByDefault)}, nil
}
