package ec2

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
)

// TerminateInstances is being implemented.
func (s *Service) TerminateInstances(ctx context.Context, in *ec2api.TerminateInstancesRequest) (*ec2api.TerminateInstancesResult, error) {
	return nil, errNotImplemented
}
