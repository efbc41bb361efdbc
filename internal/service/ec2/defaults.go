package ec2

import (
	"context"
	"errors"

	"github.com/kiln-dev/kiln/internal/region"
	"github.com/kiln-dev/kiln/internal/store"
)

// The default VPC of every account and region, as on AWS: 172.31.0.0/16
// with one /20 default subnet per availability zone and a default security
// group.
const defaultVPCCIDR = "172.31.0.0/16"

var defaultSubnetCIDRs = []string{"172.31.0.0/20", "172.31.16.0/20", "172.31.32.0/20"}

// ensureDefaults creates the caller's default VPC, subnets and default
// security group the first time the account uses a region.
func (s *Service) ensureDefaults(ctx context.Context, sc scope) error {
	id := sc.account + "/" + sc.region
	s.defaultsMu.Lock()
	done := s.defaults[id]
	s.defaultsMu.Unlock()
	if done {
		return nil
	}
	err := s.st.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.GetByName(sc.account, sc.region, kindVPC, "default"); err == nil {
			return nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		now := s.clock.Now()
		v := vpc{ID: newID("vpc"), CIDR: defaultVPCCIDR, DhcpOptionsID: newID("dopt"), AssociationID: newID("vpc-cidr-assoc"), Default: true, Created: now}
		if err := store.CreateJSON(tx, sc.key(kindVPC, v.ID), "default", v); err != nil {
			return err
		}
		r, _ := region.Lookup(sc.region)
		for i, z := range r.Zones() {
			sn := subnet{ID: newID("subnet"), VpcID: v.ID, CIDR: defaultSubnetCIDRs[i], AZ: z.Name, AZID: z.ID, Default: true}
			if err := store.CreateJSON(tx, sc.key(kindSubnet, sn.ID), "", sn); err != nil {
				return err
			}
		}
		g := securityGroup{ID: newID("sg"), Name: "default", Description: "default VPC security group", VpcID: v.ID, Created: now}
		g.Ingress = []sgRule{{ID: newID("sgr"), Protocol: "-1", FromPort: -1, ToPort: -1, GroupID: g.ID, GroupOwner: sc.account}}
		g.Egress = []sgRule{{ID: newID("sgr"), Protocol: "-1", FromPort: -1, ToPort: -1, CIDRv4: "0.0.0.0/0"}}
		return store.CreateJSON(tx, sc.key(kindSecurityGroup, g.ID), sgName(v.ID, g.Name), g)
	})
	if err != nil {
		return err
	}
	s.defaultsMu.Lock()
	s.defaults[id] = true
	s.defaultsMu.Unlock()
	return nil
}

// sgName is a security group's unique name in the store: names are unique
// per VPC.
func sgName(vpcID, name string) string { return vpcID + "/" + name }

// defaultVPC returns the caller's default VPC.
func (s *Service) defaultVPC(ctx context.Context, tx store.Tx, sc scope) (vpc, error) {
	return store.GetJSONByName[vpc](tx, sc.account, sc.region, kindVPC, "default")
}
