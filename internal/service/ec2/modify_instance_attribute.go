package ec2

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
)

// ModifyInstanceAttribute is being implemented.
func (s *Service) ModifyInstanceAttribute(ctx context.Context, in *ec2api.ModifyInstanceAttributeRequest) error {
	return errNotImplemented
}
