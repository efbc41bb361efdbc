package ec2

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
)

// GetConsoleOutput is being implemented.
func (s *Service) GetConsoleOutput(ctx context.Context, in *ec2api.GetConsoleOutputRequest) (*ec2api.GetConsoleOutputResult, error) {
	return nil, errNotImplemented
}
