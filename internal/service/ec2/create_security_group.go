package ec2

import (
	"context"
	"errors"
	"strings"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/store"
)

// CreateSecurityGroup creates a security group in a VPC (the default VPC
// when VpcId is absent) with AWS's default egress rule: all traffic to
// 0.0.0.0/0.
func (s *Service) CreateSecurityGroup(ctx context.Context, in *ec2api.CreateSecurityGroupRequest) (*ec2api.CreateSecurityGroupResult, error) {
	sc := scopeOf(ctx)
	if err := s.ensureDefaults(ctx, sc); err != nil {
		return nil, err
	}
	switch {
	case in.GroupName == "default":
		return nil, awserr.New(awserr.InvalidArgument, "InvalidGroup.Reserved", "The security group 'default' is reserved")
	case strings.HasPrefix(in.GroupName, "sg-"):
		return nil, sgInvalidParam("Value (%s) for parameter GroupName is invalid. Group names may not be in the format sg-*.", in.GroupName)
	case !validSGText(in.GroupName):
		return nil, sgInvalidParam("Value (%s) for parameter GroupName is invalid. Valid names are strings less than 256 characters from the following set:  a-zA-Z0-9. _-:/()#,@[]+=&;{}!$*", in.GroupName)
	case !validSGText(in.Description):
		return nil, sgInvalidParam("Value (%s) for parameter GroupDescription is invalid. Valid descriptions are strings less than 256 characters from the following set:  a-zA-Z0-9. _-:/()#,@[]+=&;{}!$*", in.Description)
	}
	specs, err := tagSpecs(in.TagSpecifications, "security-group")
	if err != nil {
		return nil, err
	}
	tags := specs["security-group"]
	g := securityGroup{ID: newID("sg"), Name: in.GroupName, Description: in.Description, Created: s.clock.Now()}
	g.Ingress = []sgRule{}
	g.Egress = []sgRule{{ID: newID("sgr"), Protocol: "-1", FromPort: -1, ToPort: -1, CIDRv4: "0.0.0.0/0"}}
	err = s.st.Update(ctx, func(tx store.Tx) error {
		if in.VpcId == "" {
			v, err := s.defaultVPC(ctx, tx, sc)
			if err != nil {
				return err
			}
			g.VpcID = v.ID
		} else {
			if _, err := store.GetJSON[vpc](tx, sc.key(kindVPC, in.VpcId)); errors.Is(err, store.ErrNotFound) {
				return awserr.New(awserr.NotFound, "InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", in.VpcId)
			} else if err != nil {
				return err
			}
			g.VpcID = in.VpcId
		}
		if err := store.CreateJSON(tx, sc.key(kindSecurityGroup, g.ID), sgName(g.VpcID, g.Name), g); errors.Is(err, store.ErrAlreadyExists) {
			return awserr.New(awserr.AlreadyExists, "InvalidGroup.Duplicate", "The security group '%s' already exists for VPC '%s'", g.Name, g.VpcID)
		} else if err != nil {
			return err
		}
		return putTags(tx, sc, g.ID, "security-group", tags)
	})
	if err != nil {
		return nil, err
	}
	return &ec2api.CreateSecurityGroupResult{GroupId: g.ID, Tags: tags, SecurityGroupArn: sgArn(sc, g.ID)}, nil
}
