package ec2

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
)

// RebootInstances is being implemented.
func (s *Service) RebootInstances(ctx context.Context, in *ec2api.RebootInstancesRequest) error {
	return errNotImplemented
}
