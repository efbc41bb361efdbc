package ec2

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/instance"
	"github.com/kiln-dev/kiln/internal/store"
)

// RebootInstances restarts running instances (a real stop and boot; the
// state stays running). Requests for terminated instances are ignored.
func (s *Service) RebootInstances(ctx context.Context, in *ec2api.RebootInstancesRequest) error {
	if _, err := s.instances(); err != nil {
		return err
	}
	now := s.clock.Now()
	_, err := s.changeStates(ctx, in.InstanceIds, in.DryRun, func(_ store.Tx, r instance.Record) (instance.Record, error) {
		return instance.RequestReboot(r, now)
	})
	return err
}
