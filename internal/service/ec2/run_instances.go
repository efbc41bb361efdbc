package ec2

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
)

// RunInstances is being implemented.
func (s *Service) RunInstances(ctx context.Context, in *ec2api.RunInstancesRequest) (*ec2api.Reservation, error) {
	return nil, errNotImplemented
}
