package ec2

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/region"
)

// DescribeAvailabilityZones lists the caller's region's zones, <region>a..c.
func (s *Service) DescribeAvailabilityZones(ctx context.Context, in *ec2api.DescribeAvailabilityZonesRequest) (*ec2api.DescribeAvailabilityZonesResult, error) {
	sc := scopeOf(ctx)
	r, _ := region.Lookup(sc.region)
	fieldsOf := func(z region.Zone) fields {
		return func(name string) ([]string, bool) {
			switch name {
			case "zone-name":
				return []string{z.Name}, true
			case "zone-id":
				return []string{z.ID}, true
			case "region-name", "group-name", "network-border-group":
				return []string{z.Region}, true
			case "state":
				return []string{"available"}, true
			case "opt-in-status":
				return []string{"opt-in-not-required"}, true
			case "zone-type":
				return []string{"availability-zone"}, true
			}
			return nil, false
		}
	}
	fs := filterSet(in.Filters)
	zones := r.Zones()
	if err := fs.check(fieldsOf(zones[0])); err != nil {
		return nil, err
	}
	for _, n := range in.ZoneNames {
		if !hasZone(zones, func(z region.Zone) bool { return z.Name == n }) {
			return nil, awserr.New(awserr.InvalidArgument, "InvalidParameterValue", "The zone '%s' does not exist.", n)
		}
	}
	for _, id := range in.ZoneIds {
		if !hasZone(zones, func(z region.Zone) bool { return z.ID == id }) {
			return nil, awserr.New(awserr.InvalidArgument, "InvalidParameterValue", "The zone ID '%s' does not exist.", id)
		}
	}
	out := &ec2api.DescribeAvailabilityZonesResult{AvailabilityZones: []ec2api.AvailabilityZone{}}
	for _, z := range zones {
		if len(in.ZoneNames) > 0 && !contains(in.ZoneNames, z.Name) || len(in.ZoneIds) > 0 && !contains(in.ZoneIds, z.ID) {
			continue
		}
		if !fs.matches(fieldsOf(z), nil) {
			continue
		}
		out.AvailabilityZones = append(out.AvailabilityZones, ec2api.AvailabilityZone{
			ZoneName: z.Name, ZoneId: z.ID, RegionName: z.Region, State: "available",
			OptInStatus: "opt-in-not-required", GroupName: z.Region, NetworkBorderGroup: z.Region,
			ZoneType: "availability-zone", Messages: []ec2api.AvailabilityZoneMessage{},
		})
	}
	return out, nil
}

func hasZone(zs []region.Zone, f func(region.Zone) bool) bool {
	for _, z := range zs {
		if f(z) {
			return true
		}
	}
	return false
}
