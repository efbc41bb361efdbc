package ec2

import (
	"cmp"
	"context"
	"slices"
	"strconv"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/ebs"
	"github.com/kiln-dev/kiln/internal/instance"
	"github.com/kiln-dev/kiln/internal/store"
)

func instanceFields(r instance.Record) fields {
	one := func(v string) ([]string, bool) {
		if v == "" {
			return nil, true
		}
		return []string{v}, true
	}
	live := r.State != instance.Terminated
	net := func(v string) ([]string, bool) {
		if !live {
			return nil, true
		}
		return one(v)
	}
	return func(name string) ([]string, bool) {
		switch name {
		case "instance-id":
			return one(r.ID)
		case "instance-state-name":
			return one(r.State)
		case "instance-state-code":
			return []string{strconv.Itoa(int(instance.StateCode(r.State)))}, true
		case "instance-type":
			return one(r.InstanceType)
		case "image-id":
			return one(r.ImageID)
		case "architecture":
			return one(r.Architecture)
		case "availability-zone":
			return one(r.AZ)
		case "key-name":
			return one(r.KeyName)
		case "reservation-id":
			return one(r.ReservationID)
		case "owner-id":
			return one(r.Account)
		case "launch-time":
			return []string{r.LaunchTime.UTC().Format("2006-01-02T15:04:05.000Z")}, true
		case "launch-index", "ami-launch-index":
			return []string{strconv.Itoa(int(r.LaunchIndex))}, true
		case "client-token":
			return one(r.ClientToken)
		case "root-device-name":
			return one(r.RootDevice)
		case "root-device-type":
			return one(r.RootDeviceType)
		case "hypervisor":
			return []string{"xen"}, true
		case "virtualization-type":
			return []string{"hvm"}, true
		case "tenancy", "placement-tenancy":
			return []string{"default"}, true
		case "platform-details":
			return []string{"Linux/UNIX"}, true
		case "monitoring-state":
			if r.Monitoring {
				return []string{"enabled"}, true
			}
			return []string{"disabled"}, true
		case "state-reason-code":
			if r.Reason == nil {
				return nil, true
			}
			return []string{r.Reason.Code}, true
		case "state-reason-message":
			if r.Reason == nil {
				return nil, true
			}
			return []string{r.Reason.Message}, true
		case "metadata-options.http-tokens":
			return one(r.Metadata.HTTPTokens)
		case "metadata-options.http-endpoint":
			return one(r.Metadata.HTTPEndpoint)
		case "metadata-options.http-put-response-hop-limit":
			return []string{strconv.Itoa(int(r.Metadata.HopLimit))}, true
		case "metadata-options.instance-metadata-tags":
			return one(r.Metadata.Tags)
		case "private-ip-address", "network-interface.addresses.private-ip-address", "network-interface.private-ip-address":
			return net(r.PrivateIP)
		case "private-dns-name", "network-interface.private-dns-name":
			return net(instance.DNSName(r.PrivateIP, r.Region))
		case "subnet-id", "network-interface.subnet-id":
			return net(r.SubnetID)
		case "vpc-id", "network-interface.vpc-id":
			return net(r.VpcID)
		case "network-interface.network-interface-id", "network-interface.attachment.network-interface-id":
			return net(r.ENIID)
		case "network-interface.mac-address":
			return net(r.MAC)
		case "network-interface.status":
			return net("in-use")
		case "network-interface.attachment.attachment-id":
			return net(r.ENIAttach)
		case "network-interface.attachment.device-index":
			return net("0")
		case "network-interface.attachment.status":
			return net("attached")
		case "network-interface.owner-id", "network-interface.requester-id":
			return net(r.Account)
		case "network-interface.source-dest-check", "source-dest-check":
			return []string{"true"}, true
		case "instance.group-id", "group-id", "network-interface.group-id":
			var out []string
			for _, g := range r.Groups {
				out = append(out, g.ID)
			}
			return out, true
		case "instance.group-name", "group-name", "network-interface.group-name":
			var out []string
			for _, g := range r.Groups {
				out = append(out, g.Name)
			}
			return out, true
		case "block-device-mapping.device-name":
			return net(r.RootDevice)
		case "block-device-mapping.volume-id":
			return net(r.RootVolumeID)
		case "block-device-mapping.status":
			return net("attached")
		case "block-device-mapping.delete-on-termination":
			return net(boolStr(r.DeleteOnTermination))
		case "ip-address", "dns-name", "network-interface.association.public-ip":
			return nil, true
		}
		return nil, false
	}
}

// DescribeInstances lists the caller's instances grouped by reservation.
// Every instance ID asked for must exist; MaxResults (5–1000) cannot be
// combined with InstanceIds.
func (s *Service) DescribeInstances(ctx context.Context, in *ec2api.DescribeInstancesRequest) (*ec2api.DescribeInstancesResult, error) {
	sc := scopeOf(ctx)
	fs := filterSet(in.Filters)
	if err := checkInstanceQuery(fs, instanceFields(instance.Record{}), in.InstanceIds, in.MaxResults, in.DryRun); err != nil {
		return nil, err
	}
	out := &ec2api.DescribeInstancesResult{Reservations: []ec2api.Reservation{}}
	err := s.st.View(ctx, func(tx store.Tx) error {
		rs, err := queryInstances(tx, sc, in.InstanceIds)
		if err != nil {
			return err
		}
		ids := make([]string, len(rs))
		for i, r := range rs {
			ids[i] = r.ID
		}
		tags, err := loadTags(tx, sc, ids)
		if err != nil {
			return err
		}
		var match []instance.Record
		for _, r := range rs {
			if fs.matches(instanceFields(r), tags.of(r.ID)) {
				match = append(match, r)
			}
		}
		got, next, err := page(match, func(r instance.Record) string { return r.ID }, in.MaxResults, in.NextToken, 5, 1000)
		if err != nil {
			return err
		}
		out.NextToken = next
		out.Reservations = reservations(got, tags)
		return dataVolumeMappings(tx, sc, out.Reservations)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// dataVolumeMappings adds each instance's data volumes (attached, or being
// attached or detached) to its block device mappings, after the root
// device, in device order.
func dataVolumeMappings(tx store.Tx, sc scope, res []ec2api.Reservation) error {
	vols, err := store.ListJSON[ebs.Volume](tx, sc.query(ebs.VolumeKind))
	if err != nil {
		return err
	}
	by := map[string][]ebs.Volume{}
	for _, v := range vols {
		if !v.Root && v.Attachment != nil {
			by[v.Attachment.InstanceID] = append(by[v.Attachment.InstanceID], v)
		}
	}
	for i := range res {
		for j := range res[i].Instances {
			in := &res[i].Instances[j]
			vs := by[in.InstanceId]
			if in.State != nil && in.State.Name == instance.Terminated {
				continue
			}
			slices.SortFunc(vs, func(a, b ebs.Volume) int { return cmp.Compare(a.Attachment.Device, b.Attachment.Device) })
			for _, v := range vs {
				a := v.Attachment
				in.BlockDeviceMappings = append(in.BlockDeviceMappings, ec2api.InstanceBlockDeviceMapping{
					DeviceName: a.Device,
					Ebs: &ec2api.EbsInstanceBlockDevice{AttachTime: ptr(a.Time), DeleteOnTermination: ptr(a.DeleteOnTermination),
						Status: a.State, VolumeId: v.ID},
				})
			}
		}
	}
	return nil
}

// checkInstanceQuery validates what DescribeInstances and
// DescribeInstanceStatus share, in AWS's order: the filter names (against
// probe, the fields of an empty record), MaxResults not combined with
// InstanceIds, the IDs' syntax, and DryRun.
func checkInstanceQuery(fs filterSet, probe fields, ids []string, maxResults *int32, dry *bool) error {
	if err := fs.check(probe); err != nil {
		return err
	}
	if maxResults != nil && len(ids) > 0 {
		return awserr.New(awserr.InvalidArgument, "InvalidParameterCombination", "The parameter instancesSet cannot be used with the parameter maxResults")
	}
	if err := checkInstanceIDs(ids); err != nil {
		return err
	}
	return dryRun(dry)
}

// queryInstances reads the named instances of the caller (every one must
// exist), or all of them when ids is empty.
func queryInstances(tx store.Tx, sc scope, ids []string) ([]instance.Record, error) {
	if len(ids) > 0 {
		return loadInstances(tx, sc, ids)
	}
	return store.ListJSON[instance.Record](tx, sc.query(instance.Kind))
}
