package ec2

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/instance"
	"github.com/kiln-dev/kiln/internal/store"
)

func instanceStatusFields(r instance.Record) fields {
	base := instanceFields(r)
	return func(name string) ([]string, bool) {
		switch name {
		case "instance-status.status", "system-status.status", "instance-status.reachability", "system-status.reachability":
			if r.State != instance.Running {
				return []string{"not-applicable"}, true
			}
			if name == "instance-status.reachability" || name == "system-status.reachability" {
				return []string{"passed"}, true
			}
			return []string{"ok"}, true
		case "attached-ebs-status.status":
			return []string{"ok"}, true
		case "event.code", "event.description", "event.instance-event-id", "event.not-after", "event.not-before":
			return nil, true
		case "instance-id", "instance-state-name", "instance-state-code", "availability-zone":
			return base(name)
		}
		return nil, false
	}
}

// DescribeInstanceStatus reports status checks: running instances only,
// unless IncludeAllInstances. Checks are "ok" once running; there are no
// scheduled events.
func (s *Service) DescribeInstanceStatus(ctx context.Context, in *ec2api.DescribeInstanceStatusRequest) (*ec2api.DescribeInstanceStatusResult, error) {
	sc := scopeOf(ctx)
	fs := filterSet(in.Filters)
	if err := checkInstanceQuery(fs, instanceStatusFields(instance.Record{}), in.InstanceIds, in.MaxResults, in.DryRun); err != nil {
		return nil, err
	}
	out := &ec2api.DescribeInstanceStatusResult{InstanceStatuses: []ec2api.InstanceStatus{}}
	err := s.st.View(ctx, func(tx store.Tx) error {
		rs, err := queryInstances(tx, sc, in.InstanceIds)
		if err != nil {
			return err
		}
		var match []instance.Record
		for _, r := range rs {
			if (r.State == instance.Running || deref(in.IncludeAllInstances)) && fs.matches(instanceStatusFields(r), nil) {
				match = append(match, r)
			}
		}
		got, next, err := page(match, func(r instance.Record) string { return r.ID }, in.MaxResults, in.NextToken, 5, 1000)
		if err != nil {
			return err
		}
		out.NextToken = next
		for _, r := range got {
			out.InstanceStatuses = append(out.InstanceStatuses, apiStatus(r))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func apiStatus(r instance.Record) ec2api.InstanceStatus {
	summary := func(check string) *ec2api.InstanceStatusSummary {
		if r.State != instance.Running {
			return &ec2api.InstanceStatusSummary{Status: "not-applicable"}
		}
		return &ec2api.InstanceStatusSummary{Status: "ok", Details: []ec2api.InstanceStatusDetails{{Name: check, Status: "passed"}}}
	}
	st := ec2api.InstanceStatus{
		AvailabilityZone:   r.AZ,
		AvailabilityZoneId: zoneID(r.Region, r.AZ),
		InstanceId:         r.ID,
		InstanceState:      apiState(r.State),
		InstanceStatus:     summary("reachability"),
		SystemStatus:       summary("reachability"),
		Events:             []ec2api.InstanceStatusEvent{},
	}
	if r.State == instance.Running {
		st.AttachedEbsStatus = &ec2api.EbsStatusSummary{Status: "ok", Details: []ec2api.EbsStatusDetails{{Name: "reachability", Status: "passed"}}}
	}
	return st
}
