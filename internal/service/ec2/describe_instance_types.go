package ec2

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
)

// DescribeInstanceTypes is being implemented.
func (s *Service) DescribeInstanceTypes(ctx context.Context, in *ec2api.DescribeInstanceTypesRequest) (*ec2api.DescribeInstanceTypesResult, error) {
	return nil, errNotImplemented
}
