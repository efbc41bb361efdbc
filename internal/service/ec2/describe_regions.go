package ec2

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/region"
)

// DescribeRegions lists the commercial regions. Every region is enabled in
// kiln: opt-in regions report "opted-in".
func (s *Service) DescribeRegions(ctx context.Context, in *ec2api.DescribeRegionsRequest) (*ec2api.DescribeRegionsResult, error) {
	fs := filterSet(in.Filters)
	fieldsOf := func(r region.Region) fields {
		return func(name string) ([]string, bool) {
			switch name {
			case "region-name":
				return []string{r.Name}, true
			case "endpoint":
				return []string{r.Endpoint("ec2")}, true
			case "opt-in-status":
				return []string{optIn(r)}, true
			}
			return nil, false
		}
	}
	if err := fs.check(fieldsOf(region.All[0])); err != nil {
		return nil, err
	}
	for _, n := range in.RegionNames {
		if !region.Valid(n) {
			return nil, awserr.New(awserr.InvalidArgument, "InvalidParameterValue", "Invalid region: %s", n)
		}
	}
	out := &ec2api.DescribeRegionsResult{Regions: []ec2api.Region{}}
	for _, name := range region.Names() {
		r, _ := region.Lookup(name)
		if len(in.RegionNames) > 0 && !contains(in.RegionNames, name) {
			continue
		}
		if !fs.matches(fieldsOf(r), nil) {
			continue
		}
		out.Regions = append(out.Regions, ec2api.Region{RegionName: r.Name, Endpoint: r.Endpoint("ec2"), OptInStatus: optIn(r)})
	}
	return out, nil
}

func optIn(r region.Region) string {
	if r.OptIn {
		return "opted-in"
	}
	return "opt-in-not-required"
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}
