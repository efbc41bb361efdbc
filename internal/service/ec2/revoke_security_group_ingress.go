package ec2

import (
	"context"
	"strings"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/store"
)

// RevokeSecurityGroupIngress removes inbound rules from a group named by
// GroupId or GroupName (default VPC), given by SecurityGroupRuleIds or by
// their properties (IpPermissions or the legacy top-level form).
func (s *Service) RevokeSecurityGroupIngress(ctx context.Context, in *ec2api.RevokeSecurityGroupIngressRequest) (*ec2api.RevokeSecurityGroupIngressResult, error) {
	l := legacyRule{proto: in.IpProtocol, from: in.FromPort, to: in.ToPort, cidr: in.CidrIp, srcName: in.SourceSecurityGroupName, srcID: in.SourceSecurityGroupOwnerId}
	res, err := s.revoke(ctx, false, in.GroupId, in.GroupName, in.IpPermissions, l, in.SecurityGroupRuleIds)
	if err != nil {
		return nil, err
	}
	return &ec2api.RevokeSecurityGroupIngressResult{Return: ptr(true), UnknownIpPermissions: res.unknown, RevokedSecurityGroupRules: res.revoked}, nil
}

type revokeResult struct {
	unknown []ec2api.IpPermission
	revoked []ec2api.RevokedSecurityGroupRule
}

// revoke removes rules from one direction of a group in one transaction.
//
// By rule ID, every ID must name a rule of that direction of the group, or
// the call fails with InvalidSecurityGroupRuleId.NotFound and revokes
// nothing.
//
// By properties, the values must match a rule exactly (the description
// does not matter). As AWS documents: in the default VPC, rules that match
// nothing are no error and come back in UnknownIpPermissions while the
// others are revoked; in any other VPC, one rule that matches nothing fails
// the call with InvalidPermission.NotFound and revokes nothing. Return is
// true whenever the call succeeds, as the model documents ("Returns true if
// the request succeeds; otherwise, returns an error"), also when every
// permission was unknown.
func (s *Service) revoke(ctx context.Context, egress bool, groupID, groupName string, perms []ec2api.IpPermission, l legacyRule, ruleIDs []string) (revokeResult, error) {
	sc := scopeOf(ctx)
	if err := s.ensureDefaults(ctx, sc); err != nil {
		return revokeResult{}, err
	}
	var want []wantRule
	if len(ruleIDs) > 0 {
		if len(perms) > 0 || !l.empty() {
			return revokeResult{}, awserr.New(awserr.InvalidArgument, "InvalidParameterCombination", "The parameter 'SecurityGroupRuleIds' may not be used in combination with 'ipPermissions' or the rule properties")
		}
		for _, id := range ruleIDs {
			if !strings.HasPrefix(id, "sgr-") || len(id) <= len("sgr-") {
				return revokeResult{}, awserr.New(awserr.InvalidArgument, "InvalidSecurityGroupRuleId.Malformed", "The security group rule ID '%s' is malformed", id)
			}
		}
	} else {
		var err error
		if want, err = parseRuleRequest(perms, l); err != nil {
			return revokeResult{}, err
		}
	}
	var res revokeResult
	err := s.st.Update(ctx, func(tx store.Tx) error {
		res = revokeResult{}
		g, err := getGroup(tx, sc, groupID, groupName)
		if err != nil {
			return err
		}
		have := g.Ingress
		if egress {
			have = g.Egress
		}
		drop := map[string]bool{} // rule IDs to remove
		if len(ruleIDs) > 0 {
			ids := map[string]bool{}
			for _, r := range have {
				ids[r.ID] = true
			}
			for _, id := range ruleIDs {
				if !ids[id] {
					return awserr.New(awserr.NotFound, "InvalidSecurityGroupRuleId.NotFound", "The security group rule ID '%s' does not exist", id)
				}
				drop[id] = true
			}
		} else {
			rules, err := resolveRefs(tx, sc, g, want)
			if err != nil {
				return err
			}
			byKey := map[string]string{}
			for _, r := range have {
				byKey[ruleKey(r)] = r.ID
			}
			var unknown []sgRule
			for _, r := range rules {
				if id, ok := byKey[ruleKey(r)]; ok {
					drop[id] = true
				} else {
					unknown = append(unknown, r)
				}
			}
			if len(unknown) > 0 {
				def, err := s.defaultVPC(ctx, tx, sc)
				if err != nil {
					return err
				}
				if g.VpcID != def.ID {
					return awserr.New(awserr.NotFound, "InvalidPermission.NotFound", "The specified rule does not exist in this security group.")
				}
				res.unknown = renderPermissions(unknown)
			}
		}
		if len(drop) == 0 {
			return nil
		}
		kept := []sgRule{}
		var gone []sgRule
		for _, r := range have {
			if drop[r.ID] {
				gone = append(gone, r)
				res.revoked = append(res.revoked, renderRevoked(g.ID, egress, r))
			} else {
				kept = append(kept, r)
			}
		}
		if egress {
			g.Egress = kept
		} else {
			g.Ingress = kept
		}
		if err := deleteRuleTags(tx, sc, gone); err != nil {
			return err
		}
		return store.PutJSON(tx, sc.key(kindSecurityGroup, g.ID), sgName(g.VpcID, g.Name), g)
	})
	if err != nil {
		return revokeResult{}, err
	}
	return res, nil
}
