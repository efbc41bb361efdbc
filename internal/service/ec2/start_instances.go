package ec2

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
)

// StartInstances is being implemented.
func (s *Service) StartInstances(ctx context.Context, in *ec2api.StartInstancesRequest) (*ec2api.StartInstancesResult, error) {
	return nil, errNotImplemented
}
