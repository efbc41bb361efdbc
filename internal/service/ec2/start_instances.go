package ec2

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/instance"
	"github.com/kiln-dev/kiln/internal/store"
)

// StartInstances boots stopped instances again (user data does not run
// again); they count against the instance limit once more.
func (s *Service) StartInstances(ctx context.Context, in *ec2api.StartInstancesRequest) (*ec2api.StartInstancesResult, error) {
	deps, err := s.instances()
	if err != nil {
		return nil, err
	}
	sc := scopeOf(ctx)
	now := s.clock.Now()
	active, starting := -1, 0
	out, err := s.changeStates(ctx, in.InstanceIds, in.DryRun, func(tx store.Tx, r instance.Record) (instance.Record, error) {
		if active < 0 {
			n, err := countActive(tx, sc)
			if err != nil {
				return r, err
			}
			active, starting = n, 0
		}
		nr, err := instance.RequestStart(r, now)
		if err != nil {
			return nr, err
		}
		if r.State == instance.Stopped {
			starting++
			if active+starting > deps.MaxInstances {
				return nr, limitExceeded(starting, deps.MaxInstances)
			}
		}
		return nr, nil
	})
	if err != nil {
		return nil, err
	}
	return &ec2api.StartInstancesResult{StartingInstances: out}, nil
}
