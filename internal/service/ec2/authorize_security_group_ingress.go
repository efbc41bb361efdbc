package ec2

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/store"
)

// AuthorizeSecurityGroupIngress adds inbound rules to a group named by
// GroupId or GroupName (default VPC), given as IpPermissions or in the
// legacy top-level form.
func (s *Service) AuthorizeSecurityGroupIngress(ctx context.Context, in *ec2api.AuthorizeSecurityGroupIngressRequest) (*ec2api.AuthorizeSecurityGroupIngressResult, error) {
	l := legacyRule{proto: in.IpProtocol, from: in.FromPort, to: in.ToPort, cidr: in.CidrIp, srcName: in.SourceSecurityGroupName, srcID: in.SourceSecurityGroupOwnerId}
	rules, err := s.authorize(ctx, false, in.GroupId, in.GroupName, in.IpPermissions, l, in.TagSpecifications)
	if err != nil {
		return nil, err
	}
	return &ec2api.AuthorizeSecurityGroupIngressResult{Return: ptr(true), SecurityGroupRules: rules}, nil
}

// authorize adds rules to one direction of a group in one transaction: all
// of them or, on any error, none. Each new rule gets an sgr- ID and the
// security-group-rule tags of the request.
func (s *Service) authorize(ctx context.Context, egress bool, groupID, groupName string, perms []ec2api.IpPermission, l legacyRule, specs []ec2api.TagSpecification) ([]ec2api.SecurityGroupRule, error) {
	sc := scopeOf(ctx)
	if err := s.ensureDefaults(ctx, sc); err != nil {
		return nil, err
	}
	want, err := parseRuleRequest(perms, l)
	if err != nil {
		return nil, err
	}
	ts, err := tagSpecs(specs, ruleResourceType)
	if err != nil {
		return nil, err
	}
	tags := ts[ruleResourceType]
	var out []ec2api.SecurityGroupRule
	err = s.st.Update(ctx, func(tx store.Tx) error {
		out = nil
		g, err := getGroup(tx, sc, groupID, groupName)
		if err != nil {
			return err
		}
		rules, err := resolveRefs(tx, sc, g, want)
		if err != nil {
			return err
		}
		have := g.Ingress
		if egress {
			have = g.Egress
		}
		seen := map[string]bool{}
		for _, r := range have {
			seen[ruleKey(r)] = true
		}
		for i := range rules {
			k := ruleKey(rules[i])
			if seen[k] {
				return duplicateRule(rules[i])
			}
			seen[k] = true
			rules[i].ID = newID("sgr")
		}
		merged := append(append([]sgRule{}, have...), rules...)
		if err := checkRuleLimit(merged); err != nil {
			return err
		}
		if egress {
			g.Egress = merged
		} else {
			g.Ingress = merged
		}
		if err := store.PutJSON(tx, sc.key(kindSecurityGroup, g.ID), sgName(g.VpcID, g.Name), g); err != nil {
			return err
		}
		for _, r := range rules {
			if err := putTags(tx, sc, r.ID, ruleResourceType, tags); err != nil {
				return err
			}
			out = append(out, renderRule(sc, g.ID, egress, r, tags))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
