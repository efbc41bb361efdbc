package ec2

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
)

// DescribeInstances is being implemented.
func (s *Service) DescribeInstances(ctx context.Context, in *ec2api.DescribeInstancesRequest) (*ec2api.DescribeInstancesResult, error) {
	return nil, errNotImplemented
}
