package ec2

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/store"
)

func vpcFields(v vpc, owner string) fields {
	return func(name string) ([]string, bool) {
		switch name {
		case "vpc-id":
			return []string{v.ID}, true
		case "cidr", "cidr-block-association.cidr-block":
			return []string{v.CIDR}, true
		case "cidr-block-association.association-id":
			return []string{v.AssociationID}, true
		case "cidr-block-association.state", "state":
			return []string{"available"}, true
		case "dhcp-options-id":
			return []string{v.DhcpOptionsID}, true
		case "is-default", "isDefault":
			return []string{boolStr(v.Default)}, true
		case "owner-id":
			return []string{owner}, true
		}
		return nil, false
	}
}

// DescribeVpcs lists the caller's VPCs (the default VPC, created on first
// use of a region).
func (s *Service) DescribeVpcs(ctx context.Context, in *ec2api.DescribeVpcsRequest) (*ec2api.DescribeVpcsResult, error) {
	sc := scopeOf(ctx)
	fs := filterSet(in.Filters)
	if err := fs.check(vpcFields(vpc{}, "")); err != nil {
		return nil, err
	}
	if err := s.ensureDefaults(ctx, sc); err != nil {
		return nil, err
	}
	var vpcs []ec2api.Vpc
	err := s.st.View(ctx, func(tx store.Tx) error {
		q := sc.query(kindVPC)
		q.IDs = in.VpcIds
		list, err := store.ListJSON[vpc](tx, q)
		if err != nil {
			return err
		}
		if err := requireAll(in.VpcIds, list, func(v vpc) string { return v.ID }, func(id string) error {
			return awserr.New(awserr.NotFound, "InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", id)
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
		for _, v := range list {
			if !fs.matches(vpcFields(v, sc.account), tags.of(v.ID)) {
				continue
			}
			vpcs = append(vpcs, ec2api.Vpc{
				VpcId: v.ID, CidrBlock: v.CIDR, DhcpOptionsId: v.DhcpOptionsID, State: "available",
				OwnerId: sc.account, InstanceTenancy: "default", IsDefault: ptr(v.Default), Tags: tags.of(v.ID),
				CidrBlockAssociationSet: []ec2api.VpcCidrBlockAssociation{{
					AssociationId: v.AssociationID, CidrBlock: v.CIDR,
					CidrBlockState: &ec2api.VpcCidrBlockState{State: "associated"},
				}},
			})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	items, next, err := page(vpcs, func(v ec2api.Vpc) string { return v.VpcId }, in.MaxResults, in.NextToken, 5, 1000)
	if err != nil {
		return nil, err
	}
	if items == nil {
		items = []ec2api.Vpc{}
	}
	return &ec2api.DescribeVpcsResult{Vpcs: items, NextToken: next}, nil
}
