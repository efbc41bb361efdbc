package ec2

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
)

// RevokeSecurityGroupEgress removes outbound rules from a group named by
// GroupId, given by SecurityGroupRuleIds or by their properties (see
// revoke for the matching rules and what an unmatched rule does).
func (s *Service) RevokeSecurityGroupEgress(ctx context.Context, in *ec2api.RevokeSecurityGroupEgressRequest) (*ec2api.RevokeSecurityGroupEgressResult, error) {
	l := legacyRule{proto: in.IpProtocol, from: in.FromPort, to: in.ToPort, cidr: in.CidrIp, srcName: in.SourceSecurityGroupName, srcID: in.SourceSecurityGroupOwnerId}
	res, err := s.revoke(ctx, true, in.GroupId, "", in.IpPermissions, l, in.SecurityGroupRuleIds)
	if err != nil {
		return nil, err
	}
	return &ec2api.RevokeSecurityGroupEgressResult{Return: ptr(true), UnknownIpPermissions: res.unknown, RevokedSecurityGroupRules: res.revoked}, nil
}
