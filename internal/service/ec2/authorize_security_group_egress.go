package ec2

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
)

// AuthorizeSecurityGroupEgress adds outbound rules to a group named by
// GroupId. The model documents the top-level IpProtocol/CidrIp/
// SourceSecurityGroup* fields as "not supported, use IP permissions";
// kiln accepts them in the same form as for ingress rather than silently
// ignoring them.
func (s *Service) AuthorizeSecurityGroupEgress(ctx context.Context, in *ec2api.AuthorizeSecurityGroupEgressRequest) (*ec2api.AuthorizeSecurityGroupEgressResult, error) {
	l := legacyRule{proto: in.IpProtocol, from: in.FromPort, to: in.ToPort, cidr: in.CidrIp, srcName: in.SourceSecurityGroupName, srcID: in.SourceSecurityGroupOwnerId}
	rules, err := s.authorize(ctx, true, in.GroupId, "", in.IpPermissions, l, in.TagSpecifications)
	if err != nil {
		return nil, err
	}
	return &ec2api.AuthorizeSecurityGroupEgressResult{Return: ptr(true), SecurityGroupRules: rules}, nil
}
