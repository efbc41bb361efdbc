package ec2

import (
	"context"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/instance"
	"github.com/kiln-dev/kiln/internal/store"
)

// ModifyInstanceMetadataOptions changes the metadata options in any state
// but terminated. The answer reports State "pending"; DescribeInstances
// shows "applied" once the controller has seen the change (at once for
// instances that are not running).
func (s *Service) ModifyInstanceMetadataOptions(ctx context.Context, in *ec2api.ModifyInstanceMetadataOptionsRequest) (*ec2api.ModifyInstanceMetadataOptionsResult, error) {
	if _, err := s.instances(); err != nil {
		return nil, err
	}
	if in.InstanceId == "" {
		return nil, missingParam("InstanceId")
	}
	sc := scopeOf(ctx)
	var nr instance.Record
	err := s.st.Update(ctx, func(tx store.Tx) error {
		rs, err := loadInstances(tx, sc, []string{in.InstanceId})
		if err != nil {
			return err
		}
		r := rs[0]
		if r.State == instance.Terminated || r.State == instance.ShuttingDown {
			return awserr.New(awserr.Conflict, "IncorrectInstanceState", "The instance '%s' is not in a valid state for this operation.", r.ID)
		}
		m, err := mergeMetadata(r.Metadata, in.HttpTokens, in.HttpEndpoint, in.InstanceMetadataTags, in.HttpProtocolIpv6, in.HttpPutResponseHopLimit)
		if err != nil {
			return err
		}
		if err := dryRun(in.DryRun); err != nil {
			return err
		}
		r.Metadata = m
		r.MetadataPending = r.State == instance.Running || r.State == instance.Pending
		r.Version++
		nr = r
		return store.PutJSON(tx, sc.key(instance.Kind, r.ID), "", r)
	})
	if err != nil {
		return nil, err
	}
	s.kick(nr)
	m := nr.Metadata
	return &ec2api.ModifyInstanceMetadataOptionsResult{
		InstanceId: nr.ID,
		InstanceMetadataOptions: &ec2api.InstanceMetadataOptionsResponse{
			State: "pending", HttpTokens: m.HTTPTokens, HttpPutResponseHopLimit: ptr(m.HopLimit), HttpEndpoint: m.HTTPEndpoint,
			HttpProtocolIpv6: m.ProtocolIPv6, InstanceMetadataTags: m.Tags,
		},
	}, nil
}
