package ec2

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
)

// StopInstances is being implemented.
func (s *Service) StopInstances(ctx context.Context, in *ec2api.StopInstancesRequest) (*ec2api.StopInstancesResult, error) {
	return nil, errNotImplemented
}
