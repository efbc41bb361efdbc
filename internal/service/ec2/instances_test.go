package ec2

import (
	"context"
	"encoding/base64"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/clock"
	"github.com/kiln-dev/kiln/internal/image"
	"github.com/kiln-dev/kiln/internal/imds"
	"github.com/kiln-dev/kiln/internal/instance"
	"github.com/kiln-dev/kiln/internal/instance/insttest"
	"github.com/kiln-dev/kiln/internal/store"
	"github.com/kiln-dev/kiln/internal/store/sqlite"
)

const (
	instAcct  = "111122223333"
	instAcct2 = "444455556666"
	instAMI   = "ami-0123456789abcdef0"
	instArm   = "ami-0123456789abcdef1"
	instPend  = "ami-0123456789abcdef2"
)

// instCatalog serves a few quick-start-like images to every account.
type instCatalog struct{}

func (instCatalog) Get(_ context.Context, account, region, id string) (image.Image, error) {
	img := image.Image{ID: id, Name: "kiln-minimal", OwnerID: image.AmazonOwnerID, Region: region, State: image.StateAvailable,
		Architecture: "x86_64", RootDeviceName: "/dev/xvda", RootDeviceType: "ebs", RootSizeGiB: 2, Init: image.InitKiln, Public: true}
	switch id {
	case instAMI:
	case instArm:
		img.Architecture = "arm64"
	case instPend:
		img.State = image.StatePending
	default:
		return image.Image{}, image.ErrNotFound
	}
	return img, nil
}

func (c instCatalog) Visible(ctx context.Context, account, region string) ([]image.Image, error) {
	img, _ := c.Get(ctx, account, region, instAMI)
	return []image.Image{img}, nil
}

func (instCatalog) EnsureQuickStart(context.Context, string) error { return nil }

type instHarness struct {
	t   *testing.T
	s   *Service
	st  store.Store
	clk *clock.Fake
	rt  *insttest.Runtime
	nn  *insttest.Network
	c   *instance.Controller
	dir string
	ctx context.Context
}

func newInstHarness(t *testing.T) *instHarness {
	t.Helper()
	h := &instHarness{t: t, st: sqlite.OpenTemp(t), clk: clock.NewFake(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)),
		rt: insttest.NewRuntime(), nn: insttest.NewNetwork(), dir: t.TempDir(), ctx: sgCtx(instAcct, "us-east-1")}
	h.s = New(h.st, h.clk)
	h.startController()
	h.s.EnableInstances(InstanceDeps{Controller: h.c, Catalog: instCatalog{}, MaxInstances: 5})
	return h
}

// startController starts (or restarts, as after kill -9) the controller.
func (h *instHarness) startController() {
	h.t.Helper()
	if h.c != nil {
		h.c.Close()
	}
	c, err := instance.New(instance.Config{Store: h.st, Runtime: h.rt, Network: h.nn, Clock: h.clk, DataDir: h.dir, InitPath: "/kiln", Tick: time.Hour})
	sgNoErr(h.t, err)
	sgNoErr(h.t, c.Start(context.Background()))
	h.t.Cleanup(func() { c.Close() })
	if h.s.inst != nil {
		h.s.inst.Controller = c
		c.OnChange(func(r instance.Record) { h.s.inst.md.invalidate(r.PrivateIP) })
	}
	h.c = c
	h.idle()
}

func (h *instHarness) idle() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sgNoErr(h.t, h.c.Idle(ctx))
}

func (h *instHarness) run(ctx context.Context, in *ec2api.RunInstancesRequest) *ec2api.Reservation {
	h.t.Helper()
	if in.ImageId == "" {
		in.ImageId = instAMI
	}
	if in.MinCount == nil {
		in.MinCount, in.MaxCount = ptr(int32(1)), ptr(int32(1))
	}
	out, err := h.s.RunInstances(ctx, in)
	sgNoErr(h.t, err)
	h.idle()
	return out
}

func (h *instHarness) describe(ids ...string) []ec2api.Instance {
	h.t.Helper()
	out, err := h.s.DescribeInstances(h.ctx, &ec2api.DescribeInstancesRequest{InstanceIds: ids})
	sgNoErr(h.t, err)
	var is []ec2api.Instance
	for _, r := range out.Reservations {
		is = append(is, r.Instances...)
	}
	return is
}

func (h *instHarness) one(id string) ec2api.Instance {
	h.t.Helper()
	is := h.describe(id)
	if len(is) != 1 {
		h.t.Fatalf("%d instances", len(is))
	}
	return is[0]
}

func TestRunAndDescribeInstances(t *testing.T) {
	h := newInstHarness(t)
	kp, err := h.s.CreateKeyPair(h.ctx, &ec2api.CreateKeyPairRequest{KeyName: "k"})
	sgNoErr(t, err)
	ud := "#!/bin/sh\necho hello\n"
	res := h.run(h.ctx, &ec2api.RunInstancesRequest{
		InstanceType: "t3.micro", KeyName: "k", UserData: base64.StdEncoding.EncodeToString([]byte(ud)),
		TagSpecifications: []ec2api.TagSpecification{{ResourceType: "instance", Tags: []ec2api.Tag{{Key: "Name", Value: "web"}}}},
		MetadataOptions:   &ec2api.InstanceMetadataOptionsRequest{HttpTokens: "required", HttpPutResponseHopLimit: ptr(int32(2)), InstanceMetadataTags: "enabled"},
	})
	if !strings.HasPrefix(res.ReservationId, "r-") || res.OwnerId != instAcct || len(res.Instances) != 1 {
		t.Fatalf("reservation %+v", res)
	}
	if got := res.Instances[0]; got.State.Name != "pending" || *got.State.Code != 0 {
		t.Fatalf("launch state %+v", got.State)
	}
	id := res.Instances[0].InstanceId
	in := h.one(id)
	if in.State.Name != "running" || *in.State.Code != 16 {
		t.Fatalf("state %+v", in.State)
	}
	ip := netip.MustParseAddr(in.PrivateIpAddress)
	if !netip.MustParsePrefix("172.31.0.0/20").Contains(ip) {
		t.Fatalf("ip %s not in the first default subnet", ip)
	}
	if in.PrivateDnsName != "ip-"+strings.ReplaceAll(ip.String(), ".", "-")+".ec2.internal" {
		t.Fatalf("dns %s", in.PrivateDnsName)
	}
	if in.PublicIpAddress != "" || in.InstanceType != "t3.micro" || in.KeyName != "k" || in.ImageId != instAMI ||
		in.Placement.AvailabilityZone != "us-east-1a" || in.Placement.Tenancy != "default" || in.Architecture != "x86_64" ||
		in.RootDeviceName != "/dev/xvda" || in.RootDeviceType != "ebs" || in.Hypervisor != "xen" || in.VirtualizationType != "hvm" ||
		!*in.EnaSupport || *in.EbsOptimized || in.Monitoring.State != "disabled" || in.PlatformDetails != "Linux/UNIX" ||
		*in.CpuOptions.CoreCount != 1 || *in.CpuOptions.ThreadsPerCore != 2 || in.LaunchTime == nil {
		t.Fatalf("instance %+v", in)
	}
	if len(in.SecurityGroups) != 1 || in.SecurityGroups[0].GroupName != "default" || in.VpcId == "" || !strings.HasPrefix(in.SubnetId, "subnet-") {
		t.Fatalf("network %+v %s %s", in.SecurityGroups, in.VpcId, in.SubnetId)
	}
	if len(in.NetworkInterfaces) != 1 || !strings.HasPrefix(in.NetworkInterfaces[0].MacAddress, "0e:") || in.NetworkInterfaces[0].PrivateIpAddress != ip.String() ||
		!strings.HasPrefix(in.NetworkInterfaces[0].NetworkInterfaceId, "eni-") || in.NetworkInterfaces[0].Status != "in-use" {
		t.Fatalf("eni %+v", in.NetworkInterfaces)
	}
	if len(in.BlockDeviceMappings) != 1 || !strings.HasPrefix(in.BlockDeviceMappings[0].Ebs.VolumeId, "vol-") || in.BlockDeviceMappings[0].Ebs.Status != "attached" {
		t.Fatalf("bdm %+v", in.BlockDeviceMappings)
	}
	md := in.MetadataOptions
	if md.State != "applied" || md.HttpTokens != "required" || *md.HttpPutResponseHopLimit != 2 || md.HttpEndpoint != "enabled" || md.InstanceMetadataTags != "enabled" {
		t.Fatalf("metadata options %+v", md)
	}
	if len(in.Tags) != 1 || in.Tags[0].Key != "Name" {
		t.Fatalf("tags %+v", in.Tags)
	}
	// The runtime got the instance's spec.
	spec, ok := h.rt.Spec(id)
	if !ok || spec.VCPUs != 2 || spec.MemoryMiB != 1024 || spec.Hostname != "ip-"+strings.ReplaceAll(ip.String(), ".", "-") {
		t.Fatalf("spec %+v", spec)
	}

	// The metadata service sees it.
	mi, err := h.s.MetadataSource().InstanceByIP(context.Background(), ip)
	sgNoErr(t, err)
	if mi.ID != id || mi.AccountID != instAcct || string(mi.UserData) != ud || len(mi.PublicKeys) != 1 || mi.PublicKeys[0].Name != "k" ||
		!strings.HasPrefix(mi.PublicKeys[0].OpenSSH, "ssh-rsa ") || mi.SecurityGroups[0] != "default" || mi.SubnetCIDR != "172.31.0.0/20" ||
		mi.VPCCIDR != "172.31.0.0/16" || mi.Tags["Name"] != "web" || !mi.Options.TokensRequired || mi.Options.HopLimit != 2 || !mi.Options.Tags ||
		mi.Hostname != in.PrivateDnsName || mi.MAC != in.NetworkInterfaces[0].MacAddress {
		t.Fatalf("metadata %+v", mi)
	}
	_ = kp
	if _, err := h.s.MetadataSource().InstanceByIP(context.Background(), netip.MustParseAddr("172.31.99.99")); !errors.Is(err, imds.ErrUnknownCaller) {
		t.Fatalf("unknown caller: %v", err)
	}

	// Tags through CreateTags; filters.
	sgNoErr(t, h.s.CreateTags(h.ctx, &ec2api.CreateTagsRequest{Resources: []string{id}, Tags: []ec2api.Tag{{Key: "env", Value: "ci"}}}))
	for _, f := range [][]ec2api.Filter{
		{{Name: "instance-state-name", Values: []string{"running"}}},
		{{Name: "instance-state-code", Values: []string{"16"}}},
		{{Name: "tag:env", Values: []string{"c*"}}},
		{{Name: "tag-key", Values: []string{"Name"}}},
		{{Name: "private-ip-address", Values: []string{ip.String()}}},
		{{Name: "instance.group-name", Values: []string{"default"}}},
		{{Name: "image-id", Values: []string{instAMI}}, {Name: "instance-type", Values: []string{"t3.micro"}}},
		{{Name: "availability-zone", Values: []string{"us-east-1a"}}, {Name: "key-name", Values: []string{"k"}}},
		{{Name: "reservation-id", Values: []string{res.ReservationId}}},
		{{Name: "network-interface.mac-address", Values: []string{in.NetworkInterfaces[0].MacAddress}}},
	} {
		out, err := h.s.DescribeInstances(h.ctx, &ec2api.DescribeInstancesRequest{Filters: f})
		sgNoErr(t, err)
		if len(out.Reservations) != 1 {
			t.Errorf("filter %+v: %d reservations", f, len(out.Reservations))
		}
	}
	out, err := h.s.DescribeInstances(h.ctx, &ec2api.DescribeInstancesRequest{Filters: []ec2api.Filter{{Name: "instance-state-name", Values: []string{"stopped"}}}})
	sgNoErr(t, err)
	if len(out.Reservations) != 0 {
		t.Fatal("stopped filter matched a running instance")
	}
	_, err = h.s.DescribeInstances(h.ctx, &ec2api.DescribeInstancesRequest{Filters: []ec2api.Filter{{Name: "bogus", Values: []string{"x"}}}})
	sgWantCode(t, err, "InvalidParameterValue", "bogus")
	_, err = h.s.DescribeInstances(h.ctx, &ec2api.DescribeInstancesRequest{InstanceIds: []string{id}, MaxResults: ptr(int32(5))})
	sgWantCode(t, err, "InvalidParameterCombination", "")
	_, err = h.s.DescribeInstances(h.ctx, &ec2api.DescribeInstancesRequest{InstanceIds: []string{"i-0000000000000dead"}})
	sgWantCode(t, err, "InvalidInstanceID.NotFound", "i-0000000000000dead")
	_, err = h.s.DescribeInstances(h.ctx, &ec2api.DescribeInstancesRequest{InstanceIds: []string{"bogus"}})
	sgWantCode(t, err, "InvalidInstanceID.Malformed", "")
	// Other accounts see nothing.
	out, err = h.s.DescribeInstances(sgCtx(instAcct2, "us-east-1"), &ec2api.DescribeInstancesRequest{})
	sgNoErr(t, err)
	if len(out.Reservations) != 0 {
		t.Fatal("another account sees the instance")
	}
}

func TestRunInstancesErrors(t *testing.T) {
	h := newInstHarness(t)
	one := func(mut func(*ec2api.RunInstancesRequest)) error {
		in := &ec2api.RunInstancesRequest{ImageId: instAMI, MinCount: ptr(int32(1)), MaxCount: ptr(int32(1))}
		mut(in)
		_, err := h.s.RunInstances(h.ctx, in)
		return err
	}
	big := base64.StdEncoding.EncodeToString(make([]byte, maxUserData+1))
	cases := []struct {
		name string
		mut  func(*ec2api.RunInstancesRequest)
		code string
	}{
		{"no image", func(in *ec2api.RunInstancesRequest) { in.ImageId = "" }, "MissingParameter"},
		{"no min count", func(in *ec2api.RunInstancesRequest) { in.MinCount = nil }, "MissingParameter"},
		{"max < min", func(in *ec2api.RunInstancesRequest) { in.MinCount = ptr(int32(2)) }, "InvalidParameterValue"},
		{"malformed image", func(in *ec2api.RunInstancesRequest) { in.ImageId = "ami-x" }, "InvalidAMIID.Malformed"},
		{"unknown image", func(in *ec2api.RunInstancesRequest) { in.ImageId = "ami-00000000000000000" }, "InvalidAMIID.NotFound"},
		{"pending image", func(in *ec2api.RunInstancesRequest) { in.ImageId = instPend }, "InvalidAMIID.Unavailable"},
		{"unknown type", func(in *ec2api.RunInstancesRequest) { in.InstanceType = "z9.huge" }, "InvalidParameterValue"},
		{"arch mismatch", func(in *ec2api.RunInstancesRequest) { in.ImageId = instArm; in.InstanceType = "t3.micro" }, "InvalidParameterValue"},
		{"user data too big", func(in *ec2api.RunInstancesRequest) { in.UserData = big }, "InvalidParameterValue"},
		{"user data not base64", func(in *ec2api.RunInstancesRequest) { in.UserData = "!!!" }, "InvalidParameterValue"},
		{"unknown key", func(in *ec2api.RunInstancesRequest) { in.KeyName = "nope" }, "InvalidKeyPair.NotFound"},
		{"unknown group", func(in *ec2api.RunInstancesRequest) { in.SecurityGroupIds = []string{"sg-00000000000000000"} }, "InvalidGroup.NotFound"},
		{"unknown group name", func(in *ec2api.RunInstancesRequest) { in.SecurityGroups = []string{"nope"} }, "InvalidGroup.NotFound"},
		{"unknown subnet", func(in *ec2api.RunInstancesRequest) { in.SubnetId = "subnet-00000000000000000" }, "InvalidSubnetID.NotFound"},
		{"bad zone", func(in *ec2api.RunInstancesRequest) { in.Placement = &ec2api.Placement{AvailabilityZone: "us-east-1z"} }, "InvalidParameterValue"},
		{"hop limit", func(in *ec2api.RunInstancesRequest) {
			in.MetadataOptions = &ec2api.InstanceMetadataOptionsRequest{HttpPutResponseHopLimit: ptr(int32(65))}
		}, "InvalidParameterValue"},
		{"tokens", func(in *ec2api.RunInstancesRequest) {
			in.MetadataOptions = &ec2api.InstanceMetadataOptionsRequest{HttpTokens: "sometimes"}
		}, "InvalidParameterValue"},
		{"shutdown behaviour", func(in *ec2api.RunInstancesRequest) { in.InstanceInitiatedShutdownBehavior = "hibernate" }, "InvalidParameterValue"},
		{"root too small", func(in *ec2api.RunInstancesRequest) {
			in.BlockDeviceMappings = []ec2api.BlockDeviceMapping{{DeviceName: "/dev/xvda", Ebs: &ec2api.EbsBlockDevice{VolumeSize: ptr(int32(1))}}}
		}, "InvalidBlockDeviceMapping"},
		{"bad tag type", func(in *ec2api.RunInstancesRequest) {
			in.TagSpecifications = []ec2api.TagSpecification{{ResourceType: "vpc", Tags: []ec2api.Tag{{Key: "a", Value: "b"}}}}
		}, "InvalidParameterValue"},
		{"subnet with interfaces", func(in *ec2api.RunInstancesRequest) {
			in.SubnetId = "subnet-1"
			in.NetworkInterfaces = []ec2api.InstanceNetworkInterfaceSpecification{{DeviceIndex: ptr(int32(0))}}
		}, "InvalidParameterCombination"},
		{"over the limit", func(in *ec2api.RunInstancesRequest) { in.MinCount, in.MaxCount = ptr(int32(6)), ptr(int32(6)) }, "InstanceLimitExceeded"},
		{"dry run", func(in *ec2api.RunInstancesRequest) { in.DryRun = ptr(true) }, "DryRunOperation"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { sgWantCode(t, one(tc.mut), tc.code, "") })
	}
	if h.rt.Count() != 0 {
		t.Fatal("a refused launch created a container")
	}
	// MaxCount beyond the limit launches what fits.
	res := h.run(h.ctx, &ec2api.RunInstancesRequest{MinCount: ptr(int32(2)), MaxCount: ptr(int32(9)), InstanceType: "t3.nano",
		Placement: &ec2api.Placement{AvailabilityZone: "us-east-1b"}})
	if len(res.Instances) != 5 {
		t.Fatalf("launched %d, want the limit 5", len(res.Instances))
	}
	for i, in := range res.Instances {
		if *in.AmiLaunchIndex != int32(i) || in.Placement.AvailabilityZone != "us-east-1b" {
			t.Fatalf("instance %d: %+v", i, in)
		}
	}
	sgWantCode(t, one(func(*ec2api.RunInstancesRequest) {}), "InstanceLimitExceeded", "")
	// Stopped instances do not count.
	_, err := h.s.StopInstances(h.ctx, &ec2api.StopInstancesRequest{InstanceIds: []string{res.Instances[0].InstanceId}})
	sgNoErr(t, err)
	h.idle()
	sgNoErr(t, one(func(*ec2api.RunInstancesRequest) {}))
	h.idle()
	// … but starting it again would exceed the limit.
	_, err = h.s.StartInstances(h.ctx, &ec2api.StartInstancesRequest{InstanceIds: []string{res.Instances[0].InstanceId}})
	sgWantCode(t, err, "InstanceLimitExceeded", "")
	if def := h.run(sgCtx(instAcct2, "us-east-1"), &ec2api.RunInstancesRequest{}); def.Instances[0].InstanceType != "m1.small" {
		t.Fatalf("default type %s", def.Instances[0].InstanceType)
	}
}

func TestClientTokenIdempotent(t *testing.T) {
	h := newInstHarness(t)
	in := func() *ec2api.RunInstancesRequest {
		return &ec2api.RunInstancesRequest{ImageId: instAMI, MinCount: ptr(int32(2)), MaxCount: ptr(int32(2)), ClientToken: "tok-1"}
	}
	a := h.run(h.ctx, in())
	b := h.run(h.ctx, in())
	if a.ReservationId != b.ReservationId || len(b.Instances) != 2 || a.Instances[0].InstanceId != b.Instances[0].InstanceId {
		t.Fatalf("replay gave %+v, first %+v", b, a)
	}
	if b.Instances[0].State.Name != "running" || b.Instances[0].ClientToken != "tok-1" {
		t.Fatalf("replay state %+v", b.Instances[0].State)
	}
	if n := len(h.describe()); n != 2 {
		t.Fatalf("%d instances after a replay", n)
	}
	other := in()
	other.InstanceType = "t3.large"
	_, err := h.s.RunInstances(h.ctx, other)
	sgWantCode(t, err, "IdempotentParameterMismatch", "")
	// The token is per account.
	c := h.run(sgCtx(instAcct2, "us-east-1"), in())
	if c.ReservationId == a.ReservationId {
		t.Fatal("token shared across accounts")
	}
}

func TestPrivateAddressesUniqueAcrossAccounts(t *testing.T) {
	h := newInstHarness(t)
	seen := map[string]string{}
	for _, acct := range []string{instAcct, instAcct2} {
		res := h.run(sgCtx(acct, "us-east-1"), &ec2api.RunInstancesRequest{MinCount: ptr(int32(5)), MaxCount: ptr(int32(5))})
		for _, in := range res.Instances {
			if other, ok := seen[in.PrivateIpAddress]; ok {
				t.Fatalf("%s given to %s and %s", in.PrivateIpAddress, other, in.InstanceId)
			}
			seen[in.PrivateIpAddress] = in.InstanceId
		}
	}
	// Both default VPCs are 172.31.0.0/16 on one bridge: an address held
	// in one account is in use for every other.
	var taken string
	for ip := range seen {
		taken = ip
		break
	}
	_, err := h.s.RunInstances(sgCtx("777788889999", "eu-west-1"), &ec2api.RunInstancesRequest{ImageId: instAMI, MinCount: ptr(int32(1)), MaxCount: ptr(int32(1)), PrivateIpAddress: taken})
	sgWantCode(t, err, "InvalidIPAddress.InUse", taken)
}

func TestInstanceLifecycleActions(t *testing.T) {
	h := newInstHarness(t)
	res := h.run(h.ctx, &ec2api.RunInstancesRequest{MinCount: ptr(int32(2)), MaxCount: ptr(int32(2))})
	a, b := res.Instances[0].InstanceId, res.Instances[1].InstanceId

	stop, err := h.s.StopInstances(h.ctx, &ec2api.StopInstancesRequest{InstanceIds: []string{a}})
	sgNoErr(t, err)
	if c := stop.StoppingInstances[0]; c.InstanceId != a || c.PreviousState.Name != "running" || c.CurrentState.Name != "stopping" || *c.CurrentState.Code != 64 {
		t.Fatalf("stop %+v", c)
	}
	h.idle()
	in := h.one(a)
	if in.State.Name != "stopped" || in.StateReason.Code != "Client.UserInitiatedShutdown" || !strings.HasPrefix(in.StateTransitionReason, "User initiated (2025-01-02") {
		t.Fatalf("stopped %+v %+v %q", in.State, in.StateReason, in.StateTransitionReason)
	}
	if h.rt.Running(a) || !h.rt.Exists(a) {
		t.Fatal("stop keeps the disk and ends the task")
	}
	st, err := h.s.DescribeInstanceStatus(h.ctx, &ec2api.DescribeInstanceStatusRequest{})
	sgNoErr(t, err)
	if len(st.InstanceStatuses) != 1 || st.InstanceStatuses[0].InstanceId != b || st.InstanceStatuses[0].InstanceStatus.Status != "ok" || st.InstanceStatuses[0].SystemStatus.Status != "ok" {
		t.Fatalf("status %+v", st.InstanceStatuses)
	}
	st, err = h.s.DescribeInstanceStatus(h.ctx, &ec2api.DescribeInstanceStatusRequest{IncludeAllInstances: ptr(true)})
	sgNoErr(t, err)
	if len(st.InstanceStatuses) != 2 {
		t.Fatalf("all statuses %+v", st.InstanceStatuses)
	}

	// Type and user data change only while stopped.
	sgWantCode(t, h.s.ModifyInstanceAttribute(h.ctx, &ec2api.ModifyInstanceAttributeRequest{InstanceId: b, InstanceType: &ec2api.AttributeValue{Value: "t3.large"}}), "IncorrectInstanceState", "")
	sgNoErr(t, h.s.ModifyInstanceAttribute(h.ctx, &ec2api.ModifyInstanceAttributeRequest{InstanceId: a, InstanceType: &ec2api.AttributeValue{Value: "t3.large"}}))
	sgNoErr(t, h.s.ModifyInstanceAttribute(h.ctx, &ec2api.ModifyInstanceAttributeRequest{InstanceId: a, UserData: &ec2api.BlobAttributeValue{Value: []byte("#!/bin/sh\n")}}))
	sgWantCode(t, h.s.ModifyInstanceAttribute(h.ctx, &ec2api.ModifyInstanceAttributeRequest{InstanceId: a, InstanceType: &ec2api.AttributeValue{Value: "t3.large"}, UserData: &ec2api.BlobAttributeValue{Value: []byte("x")}}), "InvalidParameterCombination", "")
	if in := h.one(a); in.InstanceType != "t3.large" || *in.CpuOptions.CoreCount != 1 {
		t.Fatalf("type %s", in.InstanceType)
	}

	_, err = h.s.StartInstances(h.ctx, &ec2api.StartInstancesRequest{InstanceIds: []string{a}})
	sgNoErr(t, err)
	h.idle()
	if in := h.one(a); in.State.Name != "running" || in.StateReason != nil || in.StateTransitionReason != "" {
		t.Fatalf("started %+v", in)
	}
	sgNoErr(t, h.s.RebootInstances(h.ctx, &ec2api.RebootInstancesRequest{InstanceIds: []string{a, b}}))
	h.idle()
	if h.one(a).State.Name != "running" || !h.rt.Running(a) {
		t.Fatal("reboot")
	}

	// Termination protection.
	sgNoErr(t, h.s.ModifyInstanceAttribute(h.ctx, &ec2api.ModifyInstanceAttributeRequest{InstanceId: b, DisableApiTermination: &ec2api.AttributeBooleanValue{Value: ptr(true)}}))
	_, err = h.s.TerminateInstances(h.ctx, &ec2api.TerminateInstancesRequest{InstanceIds: []string{a, b}})
	sgWantCode(t, err, "OperationNotPermitted", b)
	if h.one(a).State.Name != "running" {
		t.Fatal("a refused request changed nothing")
	}
	sgNoErr(t, h.s.ModifyInstanceAttribute(h.ctx, &ec2api.ModifyInstanceAttributeRequest{InstanceId: b, Attribute: "disableApiTermination", Value: "false"}))

	// Errors.
	_, err = h.s.StopInstances(h.ctx, &ec2api.StopInstancesRequest{InstanceIds: []string{a, "i-0000000000000dead"}})
	sgWantCode(t, err, "InvalidInstanceID.NotFound", "i-0000000000000dead")
	_, err = h.s.StopInstances(h.ctx, &ec2api.StopInstancesRequest{InstanceIds: []string{"nope"}})
	sgWantCode(t, err, "InvalidInstanceID.Malformed", "")
	_, err = h.s.StopInstances(h.ctx, &ec2api.StopInstancesRequest{InstanceIds: []string{a}, DryRun: ptr(true)})
	sgWantCode(t, err, "DryRunOperation", "")

	term, err := h.s.TerminateInstances(h.ctx, &ec2api.TerminateInstancesRequest{InstanceIds: []string{a, b}})
	sgNoErr(t, err)
	if c := term.TerminatingInstances[0]; c.PreviousState.Name != "running" || c.CurrentState.Name != "shutting-down" {
		t.Fatalf("terminate %+v", c)
	}
	h.idle()
	in = h.one(a)
	if in.State.Name != "terminated" || *in.State.Code != 48 || in.PrivateIpAddress != "" || len(in.NetworkInterfaces) != 0 {
		t.Fatalf("terminated %+v", in)
	}
	if h.rt.Exists(a) || h.rt.Exists(b) {
		t.Fatal("containers left")
	}
	term, err = h.s.TerminateInstances(h.ctx, &ec2api.TerminateInstancesRequest{InstanceIds: []string{a}})
	sgNoErr(t, err)
	if c := term.TerminatingInstances[0]; c.PreviousState.Name != "terminated" || c.CurrentState.Name != "terminated" {
		t.Fatalf("terminate twice %+v", c)
	}
	_, err = h.s.StartInstances(h.ctx, &ec2api.StartInstancesRequest{InstanceIds: []string{a}})
	sgWantCode(t, err, "IncorrectInstanceState", a)
	_, err = h.s.StopInstances(h.ctx, &ec2api.StopInstancesRequest{InstanceIds: []string{a}})
	sgWantCode(t, err, "IncorrectInstanceState", a)
	sgNoErr(t, h.s.RebootInstances(h.ctx, &ec2api.RebootInstancesRequest{InstanceIds: []string{a}})) // ignored

	// Terminated instances stay describable for an hour.
	h.clk.Advance(59 * time.Minute)
	h.c.Tick()
	h.idle()
	if len(h.describe()) != 2 {
		t.Fatal("terminated instances gone too early")
	}
	h.clk.Advance(time.Minute)
	h.c.Tick()
	h.idle()
	if n := len(h.describe()); n != 0 {
		t.Fatalf("%d instances an hour after termination", n)
	}
	_, err = h.s.DescribeInstances(h.ctx, &ec2api.DescribeInstancesRequest{InstanceIds: []string{a}})
	sgWantCode(t, err, "InvalidInstanceID.NotFound", "")
}

func TestInstanceInitiatedShutdownAPI(t *testing.T) {
	h := newInstHarness(t)
	a := h.run(h.ctx, &ec2api.RunInstancesRequest{}).Instances[0].InstanceId
	b := h.run(h.ctx, &ec2api.RunInstancesRequest{InstanceInitiatedShutdownBehavior: "terminate"}).Instances[0].InstanceId
	h.rt.Shutdown(a, 0)
	h.rt.Shutdown(b, 0)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && (h.one(a).State.Name != "stopped" || h.one(b).State.Name != "terminated") {
		time.Sleep(2 * time.Millisecond)
	}
	ia, ib := h.one(a), h.one(b)
	if ia.State.Name != "stopped" || ib.State.Name != "terminated" || ia.StateReason.Code != "Client.InstanceInitiatedShutdown" {
		t.Fatalf("%+v %+v %+v", ia.State, ib.State, ia.StateReason)
	}
	sgNoErr(t, h.s.ModifyInstanceAttribute(h.ctx, &ec2api.ModifyInstanceAttributeRequest{InstanceId: a, InstanceInitiatedShutdownBehavior: &ec2api.AttributeValue{Value: "terminate"}}))
}

func TestConsoleAndMetadataOptions(t *testing.T) {
	h := newInstHarness(t)
	id := h.run(h.ctx, &ec2api.RunInstancesRequest{}).Instances[0].InstanceId
	out, err := h.s.GetConsoleOutput(h.ctx, &ec2api.GetConsoleOutputRequest{InstanceId: id})
	sgNoErr(t, err)
	if out.Output != "" || out.InstanceId != id {
		t.Fatalf("empty console %+v", out)
	}
	body := strings.Repeat("x", consoleTail) + "the end\n"
	sgNoErr(t, os.WriteFile(filepath.Join(h.dir, "console", id+".log"), []byte("head\n"+body), 0o600))
	out, err = h.s.GetConsoleOutput(h.ctx, &ec2api.GetConsoleOutputRequest{InstanceId: id, Latest: ptr(true)})
	sgNoErr(t, err)
	raw, err := base64.StdEncoding.DecodeString(out.Output)
	sgNoErr(t, err)
	if len(raw) != consoleTail || !strings.HasSuffix(string(raw), "the end\n") || out.Timestamp == nil {
		t.Fatalf("console tail: %d bytes", len(raw))
	}
	_, err = h.s.GetConsoleOutput(h.ctx, &ec2api.GetConsoleOutputRequest{InstanceId: "i-0000000000000dead"})
	sgWantCode(t, err, "InvalidInstanceID.NotFound", "")

	ip := netip.MustParseAddr(h.one(id).PrivateIpAddress)
	mi, err := h.s.MetadataSource().InstanceByIP(context.Background(), ip)
	sgNoErr(t, err)
	if mi.Options.TokensRequired || !mi.Options.HTTPEndpoint {
		t.Fatalf("defaults %+v", mi.Options)
	}
	mo, err := h.s.ModifyInstanceMetadataOptions(h.ctx, &ec2api.ModifyInstanceMetadataOptionsRequest{InstanceId: id, HttpTokens: "required", HttpEndpoint: "disabled"})
	sgNoErr(t, err)
	if mo.InstanceMetadataOptions.State != "pending" || mo.InstanceMetadataOptions.HttpTokens != "required" {
		t.Fatalf("modify %+v", mo.InstanceMetadataOptions)
	}
	h.idle()
	if md := h.one(id).MetadataOptions; md.State != "applied" || md.HttpEndpoint != "disabled" {
		t.Fatalf("applied %+v", md)
	}
	mi, err = h.s.MetadataSource().InstanceByIP(context.Background(), ip)
	sgNoErr(t, err)
	if !mi.Options.TokensRequired || mi.Options.HTTPEndpoint {
		t.Fatalf("the metadata cache kept old options %+v", mi.Options)
	}
	_, err = h.s.ModifyInstanceMetadataOptions(h.ctx, &ec2api.ModifyInstanceMetadataOptionsRequest{InstanceId: id, HttpPutResponseHopLimit: ptr(int32(0))})
	sgWantCode(t, err, "InvalidParameterValue", "")

	_, err = h.s.TerminateInstances(h.ctx, &ec2api.TerminateInstancesRequest{InstanceIds: []string{id}})
	sgNoErr(t, err)
	h.idle()
	if _, err := h.s.MetadataSource().InstanceByIP(context.Background(), ip); !errors.Is(err, imds.ErrUnknownCaller) {
		t.Fatalf("terminated instance still known to the metadata service: %v", err)
	}
}

func TestReconcileAfterKill(t *testing.T) {
	h := newInstHarness(t)
	res := h.run(h.ctx, &ec2api.RunInstancesRequest{MinCount: ptr(int32(2)), MaxCount: ptr(int32(2))})
	a, b := res.Instances[0].InstanceId, res.Instances[1].InstanceId
	h.c.Close() // kill -9
	h.rt.Inject("i-0aaaaaaaaaaaaaaaa", true)
	h.nn.Inject("i-0aaaaaaaaaaaaaaaa")
	h.rt.Kill(b)
	h.rt.Calls = nil
	h.startController()
	for _, c := range h.rt.Calls {
		if c == "start "+a || c == "create "+a || c == "stop "+a {
			t.Fatalf("running instance touched: %v", h.rt.Calls)
		}
	}
	if h.rt.Exists("i-0aaaaaaaaaaaaaaaa") {
		t.Fatal("orphan container left")
	}
	if _, ok := h.nn.Attachment("i-0aaaaaaaaaaaaaaaa"); ok {
		t.Fatal("orphan netns left")
	}
	if !h.rt.Running(a) || !h.rt.Running(b) || h.one(a).State.Name != "running" || h.one(b).State.Name != "running" {
		t.Fatal("instances not adopted")
	}
}

func TestDescribeInstanceTypes(t *testing.T) {
	h := newInstHarness(t)
	out, err := h.s.DescribeInstanceTypes(h.ctx, &ec2api.DescribeInstanceTypesRequest{InstanceTypes: []string{"t3.micro", "m5.large"}})
	sgNoErr(t, err)
	if len(out.InstanceTypes) != 2 {
		t.Fatalf("%d types", len(out.InstanceTypes))
	}
	for _, it := range out.InstanceTypes {
		switch it.InstanceType {
		case "t3.micro":
			if *it.VCpuInfo.DefaultVCpus != 2 || *it.MemoryInfo.SizeInMiB != 1024 || !*it.BurstablePerformanceSupported || it.Hypervisor != "nitro" ||
				it.ProcessorInfo.SupportedArchitectures[0] != "x86_64" || !*it.FreeTierEligible {
				t.Fatalf("t3.micro %+v", it)
			}
		case "m5.large":
			if *it.VCpuInfo.DefaultVCpus != 2 || *it.MemoryInfo.SizeInMiB != 8192 || *it.BurstablePerformanceSupported {
				t.Fatalf("m5.large %+v", it)
			}
		}
	}
	_, err = h.s.DescribeInstanceTypes(h.ctx, &ec2api.DescribeInstanceTypesRequest{InstanceTypes: []string{"t3.micro", "q1.giant"}})
	sgWantCode(t, err, "InvalidInstanceType", "q1.giant")
	out, err = h.s.DescribeInstanceTypes(h.ctx, &ec2api.DescribeInstanceTypesRequest{Filters: []ec2api.Filter{
		{Name: "vcpu-info.default-vcpus", Values: []string{"2"}}, {Name: "processor-info.supported-architecture", Values: []string{"arm64"}}}})
	sgNoErr(t, err)
	for _, it := range out.InstanceTypes {
		if !strings.HasPrefix(it.InstanceType, "t4g.") {
			t.Fatalf("filter matched %s", it.InstanceType)
		}
	}
	if len(out.InstanceTypes) != 5 {
		t.Fatalf("%d arm64 2-vCPU types", len(out.InstanceTypes))
	}
	// Pages cover the catalog exactly once.
	seen := map[string]bool{}
	token := ""
	for {
		out, err := h.s.DescribeInstanceTypes(h.ctx, &ec2api.DescribeInstanceTypesRequest{MaxResults: ptr(int32(7)), NextToken: token})
		sgNoErr(t, err)
		for _, it := range out.InstanceTypes {
			if seen[it.InstanceType] {
				t.Fatalf("%s twice", it.InstanceType)
			}
			seen[it.InstanceType] = true
		}
		if token = out.NextToken; token == "" {
			break
		}
	}
	if len(seen) != len(instanceTypes) {
		t.Fatalf("pages gave %d of %d types", len(seen), len(instanceTypes))
	}
}
