package ec2

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/store"
)

func subnetFields(sn subnet, owner string) fields {
	return func(name string) ([]string, bool) {
		switch name {
		case "subnet-id":
			return []string{sn.ID}, true
		case "vpc-id":
			return []string{sn.VpcID}, true
		case "cidr-block", "cidr", "cidrBlock":
			return []string{sn.CIDR}, true
		case "availability-zone", "availabilityZone":
			return []string{sn.AZ}, true
		case "availability-zone-id", "availabilityZoneId":
			return []string{sn.AZID}, true
		case "default-for-az", "defaultForAz":
			return []string{boolStr(sn.Default)}, true
		case "map-public-ip-on-launch":
			return []string{"true"}, true
		case "state":
			return []string{"available"}, true
		case "owner-id":
			return []string{owner}, true
		case "subnet-arn":
			return []string{subnetARN(sn, "", owner)}, true
		}
		return nil, false
	}
}

func subnetARN(sn subnet, region, owner string) string {
	return fmt.Sprintf("arn:aws:ec2:%s:%s:subnet/%s", region, owner, sn.ID)
}

// availableIPs is the count AWS reports for an empty subnet: the block
// minus five reserved addresses.
func availableIPs(cidr string) int32 {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return 0
	}
	return int32(1<<(32-p.Bits())) - 5
}

// DescribeSubnets lists the caller's subnets.
func (s *Service) DescribeSubnets(ctx context.Context, in *ec2api.DescribeSubnetsRequest) (*ec2api.DescribeSubnetsResult, error) {
	sc := scopeOf(ctx)
	fs := filterSet(in.Filters)
	if err := fs.check(subnetFields(subnet{}, "")); err != nil {
		return nil, err
	}
	if err := s.ensureDefaults(ctx, sc); err != nil {
		return nil, err
	}
	var subnets []ec2api.Subnet
	err := s.st.View(ctx, func(tx store.Tx) error {
		q := sc.query(kindSubnet)
		q.IDs = in.SubnetIds
		list, err := store.ListJSON[subnet](tx, q)
		if err != nil {
			return err
		}
		if err := requireAll(in.SubnetIds, list, func(v subnet) string { return v.ID }, func(id string) error {
			return awserr.New(awserr.NotFound, "InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist", id)
		}); err != nil {
			return err
		}
		ids := make([]string, len(list))
		for i, r := range list {
			ids[i] = r.ID
		}
		tags, err := loadTags(tx, sc, ids)
		if err != nil {
			return err
		}
		for _, sn := range list {
			if !fs.matches(subnetFields(sn, sc.account), tags.of(sn.ID)) {
				continue
			}
			subnets = append(subnets, ec2api.Subnet{
				SubnetId: sn.ID, VpcId: sn.VpcID, CidrBlock: sn.CIDR, AvailabilityZone: sn.AZ, AvailabilityZoneId: sn.AZID,
				AvailableIpAddressCount: ptr(availableIPs(sn.CIDR)), DefaultForAz: ptr(sn.Default), MapPublicIpOnLaunch: ptr(true),
				State: "available", OwnerId: sc.account, SubnetArn: subnetARN(sn, sc.region, sc.account), Tags: tags.of(sn.ID),
				AssignIpv6AddressOnCreation: ptr(false), MapCustomerOwnedIpOnLaunch: ptr(false), EnableDns64: ptr(false),
				Ipv6Native: ptr(false), Ipv6CidrBlockAssociationSet: []ec2api.SubnetIpv6CidrBlockAssociation{},
			})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	items, next, err := page(subnets, func(v ec2api.Subnet) string { return v.SubnetId }, in.MaxResults, in.NextToken, 5, 1000)
	if err != nil {
		return nil, err
	}
	if items == nil {
		items = []ec2api.Subnet{}
	}
	return &ec2api.DescribeSubnetsResult{Subnets: items, NextToken: next}, nil
}
