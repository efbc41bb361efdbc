package ec2

import (
	"context"
	"strconv"
	"strings"

	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/store"
)

// DescribeSecurityGroups lists the caller's groups in the region, ordered
// by ID: those named by GroupIds or GroupNames (default VPC) when given,
// narrowed by Filters, paged by MaxResults/NextToken.
func (s *Service) DescribeSecurityGroups(ctx context.Context, in *ec2api.DescribeSecurityGroupsRequest) (*ec2api.DescribeSecurityGroupsResult, error) {
	sc := scopeOf(ctx)
	if err := s.ensureDefaults(ctx, sc); err != nil {
		return nil, err
	}
	for _, id := range in.GroupIds {
		if err := checkGroupID(id); err != nil {
			return nil, err
		}
	}
	fs := filterSet(in.Filters)
	if err := fs.check(sgFields(securityGroup{}, sc, nil)); err != nil {
		return nil, err
	}
	out := &ec2api.DescribeSecurityGroupsResult{SecurityGroups: []ec2api.SecurityGroup{}}
	err := s.st.View(ctx, func(tx store.Tx) error {
		all, err := store.ListJSON[securityGroup](tx, sc.query(kindSecurityGroup))
		if err != nil {
			return err
		}
		names := map[string]string{} // group ID → name, for *.group-name filters
		byID := map[string]bool{}
		for _, g := range all {
			names[g.ID] = g.Name
			byID[g.ID] = true
		}
		want := map[string]bool{}
		for _, id := range in.GroupIds {
			if !byID[id] {
				return groupNotFound(id)
			}
			want[id] = true
		}
		for _, n := range in.GroupNames {
			g, err := getGroupByName(tx, sc, n)
			if err != nil {
				return err
			}
			want[g.ID] = true
		}
		ids := make([]string, 0, len(all))
		for _, g := range all {
			ids = append(ids, g.ID)
		}
		tags, err := loadTags(tx, sc, ids)
		if err != nil {
			return err
		}
		var sel []securityGroup
		for _, g := range all {
			if len(want) > 0 && !want[g.ID] {
				continue
			}
			if fs.matches(sgFields(g, sc, names), tags.of(g.ID)) {
				sel = append(sel, g)
			}
		}
		pg, next, err := page(sel, func(g securityGroup) string { return g.ID }, in.MaxResults, in.NextToken, 5, 1000)
		if err != nil {
			return err
		}
		out.NextToken = next
		for _, g := range pg {
			out.SecurityGroups = append(out.SecurityGroups, ec2api.SecurityGroup{
				OwnerId:             sc.account,
				GroupId:             g.ID,
				GroupName:           g.Name,
				Description:         g.Description,
				VpcId:               g.VpcID,
				SecurityGroupArn:    sgArn(sc, g.ID),
				Tags:                tags.of(g.ID),
				IpPermissions:       renderPermissions(g.Ingress),
				IpPermissionsEgress: renderPermissions(g.Egress),
			})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// sgFields gives DescribeSecurityGroups' filter values for g. The
// ip-permission.* filters (egress.ip-permission.* for outbound rules) are
// each matched against all of a group's rules independently, as on AWS:
// they do not have to match the same rule.
func sgFields(g securityGroup, sc scope, names map[string]string) fields {
	return func(name string) ([]string, bool) {
		switch name {
		case "description":
			return []string{g.Description}, true
		case "group-id":
			return []string{g.ID}, true
		case "group-name":
			return []string{g.Name}, true
		case "owner-id":
			return []string{sc.account}, true
		case "vpc-id":
			return []string{g.VpcID}, true
		}
		rules, field := g.Ingress, name
		if rest, ok := strings.CutPrefix(name, "egress."); ok {
			rules, field = g.Egress, rest
		}
		if !ruleFilters[field] {
			return nil, false
		}
		var vs []string
		for _, r := range rules {
			switch field {
			case "ip-permission.protocol":
				vs = append(vs, r.Protocol)
			case "ip-permission.from-port":
				if hasPorts(r.Protocol) {
					vs = append(vs, strconv.Itoa(int(r.FromPort)))
				}
			case "ip-permission.to-port":
				if hasPorts(r.Protocol) {
					vs = append(vs, strconv.Itoa(int(r.ToPort)))
				}
			case "ip-permission.cidr":
				if r.CIDRv4 != "" {
					vs = append(vs, r.CIDRv4)
				}
			case "ip-permission.ipv6-cidr":
				if r.CIDRv6 != "" {
					vs = append(vs, r.CIDRv6)
				}
			case "ip-permission.prefix-list-id":
				if r.PrefixListID != "" {
					vs = append(vs, r.PrefixListID)
				}
			case "ip-permission.group-id":
				if r.GroupID != "" {
					vs = append(vs, r.GroupID)
				}
			case "ip-permission.group-name":
				if n := names[r.GroupID]; r.GroupID != "" && n != "" {
					vs = append(vs, n)
				}
			case "ip-permission.user-id":
				if r.GroupOwner != "" {
					vs = append(vs, r.GroupOwner)
				}
			}
		}
		return vs, true
	}
}

// ruleFilters are the per-rule filter names (also under egress.).
var ruleFilters = map[string]bool{
	"ip-permission.protocol": true, "ip-permission.from-port": true, "ip-permission.to-port": true,
	"ip-permission.cidr": true, "ip-permission.ipv6-cidr": true, "ip-permission.prefix-list-id": true,
	"ip-permission.group-id": true, "ip-permission.group-name": true, "ip-permission.user-id": true,
}
