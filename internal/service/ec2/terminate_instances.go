package ec2

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/instance"
	"github.com/kiln-dev/kiln/internal/store"
)

// TerminateInstances shuts instances down and deletes them: the container
// and root disk go, the network namespace and the private address are
// released; the record stays describable (terminated) for an hour.
// Terminating twice succeeds; DisableApiTermination forbids it.
func (s *Service) TerminateInstances(ctx context.Context, in *ec2api.TerminateInstancesRequest) (*ec2api.TerminateInstancesResult, error) {
	if _, err := s.instances(); err != nil {
		return nil, err
	}
	now := s.clock.Now()
	out, err := s.changeStates(ctx, in.InstanceIds, in.DryRun, func(_ store.Tx, r instance.Record) (instance.Record, error) {
		nr, err := instance.RequestTerminate(r, now)
		if err == nil && (deref(in.Force) || deref(in.SkipOsShutdown)) {
			nr.ForceStop = true
		}
		return nr, err
	})
	if err != nil {
		return nil, err
	}
	return &ec2api.TerminateInstancesResult{TerminatingInstances: out}, nil
}
