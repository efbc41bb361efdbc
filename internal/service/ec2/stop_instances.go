package ec2

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/instance"
	"github.com/kiln-dev/kiln/internal/store"
)

// StopInstances stops running instances: processes end (it is not a
// pause), the root disk and the private address are kept. Force skips
// the graceful shutdown.
func (s *Service) StopInstances(ctx context.Context, in *ec2api.StopInstancesRequest) (*ec2api.StopInstancesResult, error) {
	if _, err := s.instances(); err != nil {
		return nil, err
	}
	if deref(in.Hibernate) {
		return nil, awserr.New(awserr.InvalidArgument, "UnsupportedHibernationConfiguration", "For hibernation, the instance must be launched with hibernation enabled.")
	}
	now := s.clock.Now()
	force := deref(in.Force) || deref(in.SkipOsShutdown)
	out, err := s.changeStates(ctx, in.InstanceIds, in.DryRun, func(_ store.Tx, r instance.Record) (instance.Record, error) {
		return instance.RequestStop(r, now, force)
	})
	if err != nil {
		return nil, err
	}
	return &ec2api.StopInstancesResult{StoppingInstances: out}, nil
}
