package ec2

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/store"
)

// GetEbsEncryptionByDefault reports whether the caller's new volumes in
// the region are encrypted by default.
func (s *Service) GetEbsEncryptionByDefault(ctx context.Context, _ *ec2api.GetEbsEncryptionByDefaultRequest) (*ec2api.GetEbsEncryptionByDefaultResult, error) {
	sc := scopeOf(ctx)
	var on bool
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		on, _, err = s.ebsDefaultKey(ctx, tx, sc)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &ec2api.GetEbsEncryptionByDefaultResult{EbsEncryptionByDefault: ptr(on), SseType: "sse-ebs"}, nil
}
