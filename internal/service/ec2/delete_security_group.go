package ec2

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/store"
)

// DeleteSecurityGroup deletes a group named by GroupId or by GroupName (in
// the default VPC). A VPC's default group cannot be deleted, nor a group
// that another group's rules reference.
func (s *Service) DeleteSecurityGroup(ctx context.Context, in *ec2api.DeleteSecurityGroupRequest) (*ec2api.DeleteSecurityGroupResult, error) {
	sc := scopeOf(ctx)
	if err := s.ensureDefaults(ctx, sc); err != nil {
		return nil, err
	}
	var id string
	err := s.st.Update(ctx, func(tx store.Tx) error {
		g, err := getGroup(tx, sc, in.GroupId, in.GroupName)
		if err != nil {
			return err
		}
		id = g.ID
		if g.Name == "default" {
			return awserr.New(awserr.InvalidArgument, "CannotDelete", "the specified group: \"%s\" name: \"default\" cannot be deleted by a user", g.ID)
		}
		// Another group's rule referencing this one is a dependent object
		// (its own self-references are not). Kiln has no VPC peering, so
		// only groups of the same account and region can reference it.
		all, err := store.ListJSON[securityGroup](tx, sc.query(kindSecurityGroup))
		if err != nil {
			return err
		}
		for _, o := range all {
			if o.ID == g.ID {
				continue
			}
			for _, r := range append(append([]sgRule{}, o.Ingress...), o.Egress...) {
				if r.GroupID == g.ID {
					return awserr.New(awserr.Conflict, "DependencyViolation", "resource %s has a dependent object", g.ID)
				}
			}
		}
		// SEAM: once instances and network interfaces exist, a group
		// attached to any of them is also in use: answer DependencyViolation
		// "resource sg-… has a dependent object" here as well.
		if err := deleteRuleTags(tx, sc, append(append([]sgRule{}, g.Ingress...), g.Egress...)); err != nil {
			return err
		}
		return tx.Delete(sc.key(kindSecurityGroup, g.ID)) // also drops the group's tags
	})
	if err != nil {
		return nil, err
	}
	return &ec2api.DeleteSecurityGroupResult{Return: ptr(true), GroupId: id}, nil
}
