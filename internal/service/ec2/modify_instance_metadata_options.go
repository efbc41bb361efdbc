package ec2

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
)

// ModifyInstanceMetadataOptions is being implemented.
func (s *Service) ModifyInstanceMetadataOptions(ctx context.Context, in *ec2api.ModifyInstanceMetadataOptionsRequest) (*ec2api.ModifyInstanceMetadataOptionsResult, error) {
	return nil, errNotImplemented
}
