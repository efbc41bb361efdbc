package ec2

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
)

// EnableEbsEncryptionByDefault makes the caller's new volumes and snapshot
// copies in the region encrypted.
func (s *Service) EnableEbsEncryptionByDefault(ctx context.Context, _ *ec2api.EnableEbsEncryptionByDefaultRequest) (*ec2api.EnableEbsEncryptionByDefaultResult, error) {
	st, err := s.updateEBSSettings(ctx, scopeOf(ctx), func(st *ebsSettings) { st.EncryptByDefault = true })
	if err != nil {
		return nil, err
	}
	return &ec2api.EnableEbsEncryptionByDefaultResult{EbsEncryptionByDefault: ptr(st.EncryptByDefault)}, nil
}
