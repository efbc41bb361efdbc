package ec2

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/store"
)

// Account limits kiln reports (AWS's defaults for a new account).
var accountLimits = [][2]string{
	{"supported-platforms", "VPC"},
	{"vpc-max-security-groups-per-interface", "5"},
	{"max-elastic-ips", "5"},
	{"max-instances", "20"},
	{"vpc-max-elastic-ips", "5"},
}

// DescribeAccountAttributes reports the account's platform, default VPC and
// limits.
func (s *Service) DescribeAccountAttributes(ctx context.Context, in *ec2api.DescribeAccountAttributesRequest) (*ec2api.DescribeAccountAttributesResult, error) {
	sc := scopeOf(ctx)
	if err := s.ensureDefaults(ctx, sc); err != nil {
		return nil, err
	}
	var def vpc
	if err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		def, err = s.defaultVPC(ctx, tx, sc)
		return err
	}); err != nil {
		return nil, err
	}
	attrs := append([][2]string{{"default-vpc", def.ID}}, accountLimits...)
	known := map[string]bool{}
	for _, a := range attrs {
		known[a[0]] = true
	}
	for _, n := range in.AttributeNames {
		if !known[n] {
			return nil, awserr.New(awserr.InvalidArgument, "InvalidParameterValue", "Value (%s) for parameter attributeName is invalid. Unknown attribute.", n)
		}
	}
	out := &ec2api.DescribeAccountAttributesResult{AccountAttributes: []ec2api.AccountAttribute{}}
	for _, a := range attrs {
		if len(in.AttributeNames) > 0 && !contains(in.AttributeNames, a[0]) {
			continue
		}
		out.AccountAttributes = append(out.AccountAttributes, ec2api.AccountAttribute{
			AttributeName:   a[0],
			AttributeValues: []ec2api.AccountAttributeValue{{AttributeValue: a[1]}},
		})
	}
	return out, nil
}
