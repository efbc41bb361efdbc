package ec2

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/ebs"
	"github.com/kiln-dev/kiln/internal/image"
	"github.com/kiln-dev/kiln/internal/instance"
	"github.com/kiln-dev/kiln/internal/store"
)

// maxUserData is EC2's limit on user data, in raw form before base64.
const maxUserData = 16384

func invalidParam(format string, args ...any) error {
	return awserr.New(awserr.InvalidArgument, "InvalidParameterValue", format, args...)
}

func missingParam(name string) error {
	return awserr.New(awserr.InvalidArgument, "MissingParameter", "The request must contain the parameter %s", name)
}

// clientToken is the stored outcome of a RunInstances with a ClientToken.
type clientToken struct {
	Hash          string   `json:"hash"`
	ReservationID string   `json:"reservationId"`
	Instances     []string `json:"instances"`
}

// launch is a validated RunInstances request.
type launch struct {
	img        image.Image
	typ        instanceType
	userData   []byte
	meta       instance.Metadata
	shutdown   string
	subnetID   string
	groupIDs   []string
	groupNames []string
	wantIP     netip.Addr
	az         string
	rootSize   int32
	deleteRoot bool
	volumes    []launchVolume // data volumes of each instance
	tags       map[string][]ec2api.Tag
}

// RunInstances launches MinCount..MaxCount instances of an image. The
// records (and their address leases) commit in state pending in one
// transaction; the controller boots them.
func (s *Service) RunInstances(ctx context.Context, in *ec2api.RunInstancesRequest) (*ec2api.Reservation, error) {
	sc := scopeOf(ctx)
	deps, err := s.instances()
	if err != nil {
		return nil, err
	}
	l, err := s.validateLaunch(ctx, sc, in)
	if err != nil {
		return nil, err
	}
	if err := s.ensureDefaults(ctx, sc); err != nil {
		return nil, err
	}
	if in.ClientToken != "" {
		if len(in.ClientToken) > 64 {
			return nil, invalidParam("Value (%s) for parameter clientToken is invalid. The length must not exceed 64 characters.", in.ClientToken)
		}
		if out, err := s.replayToken(ctx, sc, in); out != nil || err != nil {
			return out, err
		}
	}
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	minCount, maxCount := int(deref(in.MinCount)), int(deref(in.MaxCount))
	now := s.clock.Now()
	resID := newID("r")
	var recs []instance.Record
	err = s.st.Update(ctx, func(tx store.Tx) error {
		recs = nil
		if in.ClientToken != "" {
			if _, err := tx.Get(sc.key(instance.TokenKind, in.ClientToken)); err == nil {
				return errReplay
			}
		}
		active, err := countActive(tx, sc)
		if err != nil {
			return err
		}
		n := min(maxCount, deps.MaxInstances-active)
		if n < minCount {
			return limitExceeded(minCount, deps.MaxInstances)
		}
		sn, v, groups, err := s.launchNetwork(ctx, tx, sc, l)
		if err != nil {
			return err
		}
		subnetPrefix, err := netip.ParsePrefix(sn.CIDR)
		if err != nil {
			return err
		}
		var kp keyPair
		if in.KeyName != "" {
			kp, err = store.GetJSONByName[keyPair](tx, sc.account, sc.region, kindKeyPair, in.KeyName)
			if errors.Is(err, store.ErrNotFound) {
				return awserr.New(awserr.NotFound, "InvalidKeyPair.NotFound", "The key pair '%s' does not exist", in.KeyName)
			} else if err != nil {
				return err
			}
		}
		for i := range n {
			r := instance.Record{
				ID: newID("i"), Account: sc.account, Region: sc.region, ReservationID: resID, LaunchIndex: int32(i),
				ClientToken: in.ClientToken, ImageID: l.img.ID, Layers: l.img.Layers, Init: l.img.Init,
				Architecture: l.img.Architecture, InstanceType: l.typ.Name, VCPUs: int(l.typ.VCPUs), MemoryMiB: l.typ.MemoryMiB,
				Cores: l.typ.cores(), Threads: l.typ.threadsPerCore(),
				KeyName: kp.Name, PublicKey: kp.PublicKey, Groups: groups,
				AZ: sn.AZ, VpcID: v.ID, SubnetID: sn.ID, SubnetCIDR: sn.CIDR, VpcCIDR: v.CIDR,
				MAC: newMAC(), ENIID: newID("eni"), ENIAttach: newID("eni-attach"),
				UserData: l.userData, Metadata: l.meta, ShutdownBehavior: l.shutdown,
				DisableAPITermination: deref(in.DisableApiTermination), DisableAPIStop: deref(in.DisableApiStop),
				Monitoring: in.Monitoring != nil && deref(in.Monitoring.Enabled), EbsOptimized: deref(in.EbsOptimized),
				RootDevice: l.img.RootDeviceName, RootDeviceType: l.img.RootDeviceType, RootVolumeID: newID("vol"),
				RootSizeGiB: l.rootSize, DeleteOnTermination: l.deleteRoot,
				State: instance.Pending, Reason: &instance.ReasonPending, Created: now, LaunchTime: now, Changed: now, Version: 1,
			}
			ip, err := instance.AllocateAddress(tx, subnetPrefix, l.wantIP, instance.Lease{Instance: r.ID, Account: sc.account, Region: sc.region})
			switch {
			case errors.Is(err, store.ErrAlreadyExists):
				return awserr.New(awserr.Conflict, "InvalidIPAddress.InUse", "Address %s is in use.", l.wantIP)
			case errors.Is(err, instance.ErrNoAddress) && l.wantIP.IsValid():
				return invalidParam("Address %s does not fall within the subnet's address range", l.wantIP)
			case errors.Is(err, instance.ErrNoAddress):
				return awserr.New(awserr.LimitExceeded, "InsufficientFreeAddressesInSubnet", "There are not enough free addresses in subnet '%s' to satisfy the requested number of instances.", sn.ID)
			case err != nil:
				return err
			}
			r.PrivateIP = ip.String()
			if err := store.CreateJSON(tx, sc.key(instance.Kind, r.ID), "", r); err != nil {
				return err
			}
			if err := store.CreateJSON(tx, sc.key(ebs.VolumeKind, r.RootVolumeID), "", rootVolume(r, l, now)); err != nil {
				return err
			}
			for _, lv := range l.volumes {
				v := lv.volume(sc, r.ID, r.AZ, now)
				if err := store.CreateJSON(tx, v.Key(), "", v); err != nil {
					return err
				}
				if err := putTags(tx, sc, v.ID, "volume", l.tags["volume"]); err != nil {
					return err
				}
			}
			for typ, id := range map[string]string{"instance": r.ID, "volume": r.RootVolumeID, "network-interface": r.ENIID} {
				if err := putTags(tx, sc, id, typ, l.tags[typ]); err != nil {
					return err
				}
			}
			recs = append(recs, r)
		}
		if in.ClientToken != "" {
			ct := clientToken{Hash: requestHash(in), ReservationID: resID}
			for _, r := range recs {
				ct.Instances = append(ct.Instances, r.ID)
			}
			return store.CreateJSON(tx, sc.key(instance.TokenKind, in.ClientToken), "", ct)
		}
		return nil
	})
	if errors.Is(err, errReplay) {
		return s.replayToken(ctx, sc, in)
	}
	if err != nil {
		return nil, err
	}
	s.kick(recs...)
	out := &ec2api.Reservation{ReservationId: resID, OwnerId: sc.account, Groups: []ec2api.GroupIdentifier{}}
	for _, r := range recs {
		out.Instances = append(out.Instances, apiInstance(r, l.tags["instance"]))
	}
	return out, nil
}

var errReplay = errors.New("client token already used")

// rootVolume is the EBS volume record of a new instance's root disk (its
// data lives in the instance's root filesystem).
func rootVolume(r instance.Record, l launch, now time.Time) ebs.Volume {
	root := blockDevices(l.img)[0]
	if bd := l.img.Root(); bd != nil {
		root = *bd
	}
	return ebs.Volume{
		ID: r.RootVolumeID, OwnerID: r.Account, Region: r.Region, AZ: r.AZ, SizeGiB: r.RootSizeGiB,
		Type: cmp.Or(root.VolumeType, rootVolumeType), Iops: root.Iops, Throughput: root.Throughput,
		SnapshotID: root.SnapshotID, Encrypted: l.img.Encrypted, KmsKeyID: l.img.KmsKeyID,
		State: ebs.VolumeInUse, Created: now, Layers: r.Layers, Root: true, Materialized: true,
		Attachment: &ebs.Attachment{InstanceID: r.ID, Device: r.RootDevice, State: ebs.Attached, Time: now, DeleteOnTermination: r.DeleteOnTermination},
	}
}

// replayToken answers a repeated ClientToken with the reservation it
// launched (nil when the token is new).
func (s *Service) replayToken(ctx context.Context, sc scope, in *ec2api.RunInstancesRequest) (*ec2api.Reservation, error) {
	var out *ec2api.Reservation
	err := s.st.View(ctx, func(tx store.Tx) error {
		ct, err := store.GetJSON[clientToken](tx, sc.key(instance.TokenKind, in.ClientToken))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		if ct.Hash != requestHash(in) {
			return awserr.New(awserr.InvalidArgument, "IdempotentParameterMismatch", "Arguments on this idempotent request are inconsistent with arguments used in previous request(s).")
		}
		q := sc.query(instance.Kind)
		q.IDs = ct.Instances
		rs, err := store.ListJSON[instance.Record](tx, q)
		if err != nil {
			return err
		}
		tags, err := loadTags(tx, sc, ct.Instances)
		if err != nil {
			return err
		}
		out = &ec2api.Reservation{ReservationId: ct.ReservationID, OwnerId: sc.account, Groups: []ec2api.GroupIdentifier{}}
		if res := reservations(rs, tags); len(res) == 1 {
			out.Instances = res[0].Instances
		}
		return nil
	})
	return out, err
}

// requestHash identifies a RunInstances request's arguments (for
// IdempotentParameterMismatch).
func requestHash(in *ec2api.RunInstancesRequest) string {
	c := *in
	c.DryRun = nil
	b, _ := json.Marshal(c)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func newMAC() string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("0e:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4])
}

// validateLaunch checks everything that needs no transaction.
func (s *Service) validateLaunch(ctx context.Context, sc scope, in *ec2api.RunInstancesRequest) (launch, error) {
	var l launch
	switch {
	case in.MinCount == nil:
		return l, missingParam("MinCount")
	case in.MaxCount == nil:
		return l, missingParam("MaxCount")
	case *in.MinCount < 1:
		return l, invalidParam("Value (%d) for parameter minCount is invalid. Expected a positive integer.", *in.MinCount)
	case *in.MaxCount < *in.MinCount:
		return l, invalidParam("Value (%d) for parameter maxCount is invalid. Expected a value greater than or equal to minCount (%d).", *in.MaxCount, *in.MinCount)
	case in.ImageId == "" && in.LaunchTemplate == nil:
		return l, missingParam("ImageId")
	case in.LaunchTemplate != nil:
		return l, awserr.New(awserr.InvalidArgument, "UnsupportedOperation", "Launch templates are not supported by kiln yet.")
	case !amiIDRE.MatchString(in.ImageId):
		return l, amiMalformed(in.ImageId)
	}
	typeName := in.InstanceType
	if typeName == "" {
		typeName = DefaultInstanceType
	}
	t, ok := instanceTypes[typeName]
	if !ok {
		return l, invalidParam("Invalid value '%s' for InstanceType.", typeName)
	}
	l.typ = t
	if in.UserData != "" {
		ud, err := base64.StdEncoding.DecodeString(in.UserData)
		if err != nil {
			if ud, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(in.UserData, "=")); err != nil {
				return l, invalidParam("Invalid BASE64 encoding of user data.")
			}
		}
		if len(ud) > maxUserData {
			return l, invalidParam("User data is limited to %d bytes", maxUserData)
		}
		l.userData = ud
	}
	l.shutdown = in.InstanceInitiatedShutdownBehavior
	switch l.shutdown {
	case "":
		l.shutdown = instance.ShutdownStop
	case instance.ShutdownStop, instance.ShutdownTerminate:
	default:
		return l, invalidParam("Value (%s) for parameter instanceInitiatedShutdownBehavior is invalid. Valid values are stop and terminate.", l.shutdown)
	}
	var err error
	if l.meta, err = metadataOptions(in.MetadataOptions); err != nil {
		return l, err
	}
	if l.tags, err = tagSpecs(in.TagSpecifications, "instance", "volume", "network-interface"); err != nil {
		return l, err
	}
	if err := s.launchPlacement(in, &l); err != nil {
		return l, err
	}
	cat := s.catalog()
	if cat == nil {
		return l, amiNotFound(in.ImageId)
	}
	img, err := cat.Get(ctx, sc.account, sc.region, in.ImageId)
	if errors.Is(err, image.ErrNotFound) {
		return l, amiNotFound(in.ImageId)
	} else if err != nil {
		return l, err
	}
	if img.State != image.StateAvailable {
		return l, awserr.New(awserr.Conflict, "InvalidAMIID.Unavailable", "The image '%s' is not available (state %s).", img.ID, img.State)
	}
	if img.Architecture != "" && !contains(t.archs(), img.Architecture) {
		return l, invalidParam("The architecture '%s' of the specified instance type does not match the architecture '%s' of the specified AMI. Specify an instance type and an AMI that have matching architectures, and try again. You can use 'describe-instance-types' or 'describe-images' to discover the architecture of the instance type or AMI.", t.Arch, img.Architecture)
	}
	if img.RootDeviceName == "" {
		img.RootDeviceName = "/dev/xvda"
	}
	if img.RootDeviceType == "" {
		img.RootDeviceType = "ebs"
	}
	l.img = img
	l.rootSize, l.deleteRoot = max(img.RootSizeGiB, 1), true
	for _, m := range in.BlockDeviceMappings {
		if m.DeviceName != img.RootDeviceName || m.Ebs == nil {
			continue
		}
		if m.Ebs.VolumeSize != nil {
			if *m.Ebs.VolumeSize < l.rootSize {
				return l, awserr.New(awserr.InvalidArgument, "InvalidBlockDeviceMapping", "Volume of size %dGB is smaller than snapshot '%s', expect size >= %dGB", *m.Ebs.VolumeSize, img.ID, l.rootSize)
			}
			if *m.Ebs.VolumeSize > 16384 {
				return l, invalidParam("Volume of %dGiB is too large for volume type gp3; the maximum is 16384GiB.", *m.Ebs.VolumeSize)
			}
			l.rootSize = *m.Ebs.VolumeSize
		}
		if m.Ebs.DeleteOnTermination != nil {
			l.deleteRoot = *m.Ebs.DeleteOnTermination
		}
	}
	if l.volumes, err = s.launchVolumes(ctx, sc, img, in.BlockDeviceMappings); err != nil {
		return l, err
	}
	return l, nil
}

// launchPlacement picks the subnet, groups and address asked for, either
// at the instance level or in one network interface specification.
func (s *Service) launchPlacement(in *ec2api.RunInstancesRequest, l *launch) error {
	l.subnetID, l.groupIDs, l.groupNames = in.SubnetId, in.SecurityGroupIds, in.SecurityGroups
	ip := in.PrivateIpAddress
	if len(in.NetworkInterfaces) > 0 {
		switch {
		case len(in.NetworkInterfaces) > 1:
			return awserr.New(awserr.InvalidArgument, "UnsupportedOperation", "kiln instances have one network interface.")
		case in.SubnetId != "":
			return awserr.New(awserr.InvalidArgument, "InvalidParameterCombination", "Network interfaces and an instance-level subnet ID may not be specified on the same request")
		case len(in.SecurityGroupIds) > 0 || len(in.SecurityGroups) > 0:
			return awserr.New(awserr.InvalidArgument, "InvalidParameterCombination", "Network interfaces and an instance-level security groups may not be specified on the same request")
		case in.PrivateIpAddress != "":
			return awserr.New(awserr.InvalidArgument, "InvalidParameterCombination", "Network interfaces and an instance-level private IP address may not be specified on the same request")
		}
		ni := in.NetworkInterfaces[0]
		if ni.NetworkInterfaceId != "" {
			return awserr.New(awserr.InvalidArgument, "UnsupportedOperation", "Attaching an existing network interface is not supported by kiln yet.")
		}
		if ni.DeviceIndex != nil && *ni.DeviceIndex != 0 {
			return invalidParam("Each network interface requires a unique device index; the primary interface has index 0.")
		}
		l.subnetID, l.groupIDs, ip = ni.SubnetId, ni.Groups, ni.PrivateIpAddress
	}
	if ip != "" {
		a, err := netip.ParseAddr(ip)
		if err != nil || !a.Is4() {
			return invalidParam("Invalid private IP address: %s", ip)
		}
		if deref(in.MaxCount) > 1 {
			return awserr.New(awserr.InvalidArgument, "InvalidParameterCombination", "Cannot specify a private IP address when launching more than one instance")
		}
		l.wantIP = a
	}
	if in.Placement != nil {
		l.az = in.Placement.AvailabilityZone
		if t := in.Placement.Tenancy; t != "" && t != "default" {
			return awserr.New(awserr.InvalidArgument, "UnsupportedOperation", "Tenancy %s is not supported by kiln.", t)
		}
	}
	return nil
}

// launchNetwork resolves the subnet (the default subnet of the AZ, or the
// first default subnet), its VPC and the security groups (the VPC's
// default group when none is named).
func (s *Service) launchNetwork(ctx context.Context, tx store.Tx, sc scope, l launch) (subnet, vpc, []instance.Group, error) {
	var sn subnet
	if l.subnetID != "" {
		var err error
		sn, err = store.GetJSON[subnet](tx, sc.key(kindSubnet, l.subnetID))
		if errors.Is(err, store.ErrNotFound) {
			return sn, vpc{}, nil, awserr.New(awserr.NotFound, "InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist", l.subnetID)
		} else if err != nil {
			return sn, vpc{}, nil, err
		}
		if l.az != "" && l.az != sn.AZ {
			return sn, vpc{}, nil, invalidParam("The availability zone %s of the subnet %s does not match the requested availability zone %s.", sn.AZ, sn.ID, l.az)
		}
	} else {
		sns, err := store.ListJSON[subnet](tx, sc.query(kindSubnet))
		if err != nil {
			return sn, vpc{}, nil, err
		}
		found := false
		for _, c := range sns {
			if !c.Default || (l.az != "" && c.AZ != l.az) {
				continue
			}
			if !found || c.AZ < sn.AZ {
				sn, found = c, true
			}
		}
		if !found {
			if l.az != "" {
				return sn, vpc{}, nil, invalidParam("Invalid availability zone: [%s]", l.az)
			}
			return sn, vpc{}, nil, awserr.New(awserr.InvalidArgument, "VPCIdNotSpecified", "No default VPC for this user. GroupName is only supported for EC2-Classic and default VPC.")
		}
	}
	v, err := store.GetJSON[vpc](tx, sc.key(kindVPC, sn.VpcID))
	if err != nil {
		return sn, v, nil, err
	}
	var groups []instance.Group
	seen := map[string]bool{}
	add := func(g securityGroup) {
		if !seen[g.ID] {
			seen[g.ID] = true
			groups = append(groups, instance.Group{ID: g.ID, Name: g.Name})
		}
	}
	for _, id := range l.groupIDs {
		g, err := store.GetJSON[securityGroup](tx, sc.key(kindSecurityGroup, id))
		if errors.Is(err, store.ErrNotFound) || (err == nil && g.VpcID != v.ID) {
			return sn, v, nil, awserr.New(awserr.NotFound, "InvalidGroup.NotFound", "The security group '%s' does not exist in VPC '%s'", id, v.ID)
		} else if err != nil {
			return sn, v, nil, err
		}
		add(g)
	}
	for _, name := range l.groupNames {
		g, err := store.GetJSONByName[securityGroup](tx, sc.account, sc.region, kindSecurityGroup, sgName(v.ID, name))
		if errors.Is(err, store.ErrNotFound) {
			return sn, v, nil, awserr.New(awserr.NotFound, "InvalidGroup.NotFound", "The security group '%s' does not exist in default VPC '%s'", name, v.ID)
		} else if err != nil {
			return sn, v, nil, err
		}
		add(g)
	}
	if len(groups) == 0 {
		g, err := store.GetJSONByName[securityGroup](tx, sc.account, sc.region, kindSecurityGroup, sgName(v.ID, "default"))
		if err != nil {
			return sn, v, nil, fmt.Errorf("default security group of %s: %w", v.ID, err)
		}
		add(g)
	}
	return sn, v, groups, nil
}

// metadataOptions validates MetadataOptions and applies EC2's defaults.
func metadataOptions(in *ec2api.InstanceMetadataOptionsRequest) (instance.Metadata, error) {
	m := instance.Metadata{HTTPTokens: "optional", HTTPEndpoint: "enabled", HopLimit: 1, Tags: "disabled", ProtocolIPv6: "disabled"}
	if in == nil {
		return m, nil
	}
	return mergeMetadata(m, in.HttpTokens, in.HttpEndpoint, in.InstanceMetadataTags, in.HttpProtocolIpv6, in.HttpPutResponseHopLimit)
}

func mergeMetadata(m instance.Metadata, tokens, endpoint, tags, ipv6 string, hop *int32) (instance.Metadata, error) {
	check := func(name, v string, ok ...string) error {
		if v != "" && !contains(ok, v) {
			return invalidParam("Value (%s) for parameter %s is invalid. Valid values are %s.", v, name, strings.Join(ok, ", "))
		}
		return nil
	}
	if err := check("HttpTokens", tokens, "optional", "required"); err != nil {
		return m, err
	}
	if err := check("HttpEndpoint", endpoint, "enabled", "disabled"); err != nil {
		return m, err
	}
	if err := check("InstanceMetadataTags", tags, "enabled", "disabled"); err != nil {
		return m, err
	}
	if err := check("HttpProtocolIpv6", ipv6, "enabled", "disabled"); err != nil {
		return m, err
	}
	if hop != nil && (*hop < 1 || *hop > 64) {
		return m, invalidParam("Value (%d) for parameter HttpPutResponseHopLimit is invalid. Valid values are between 1 and 64.", *hop)
	}
	if tokens != "" {
		m.HTTPTokens = tokens
	}
	if endpoint != "" {
		m.HTTPEndpoint = endpoint
	}
	if tags != "" {
		m.Tags = tags
	}
	if ipv6 != "" {
		m.ProtocolIPv6 = ipv6
	}
	if hop != nil {
		m.HopLimit = *hop
	}
	return m, nil
}
