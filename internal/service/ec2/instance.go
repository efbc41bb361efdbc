package ec2

import (
	"context"
	"errors"
	"regexp"
	"sort"
	"strings"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/image"
	"github.com/kiln-dev/kiln/internal/instance"
	"github.com/kiln-dev/kiln/internal/region"
	"github.com/kiln-dev/kiln/internal/store"
)

// kindInstance is the store kind of instance records.
const kindInstance = instance.Kind

// InstanceController is what the EC2 API needs of the instance controller
// (internal/instance.Controller): the API writes requested transitions
// into the records and kicks the loop, which does the rest.
type InstanceController interface {
	Kick(keys ...store.Key)
	ConsolePath(id string) string
	OnChange(fn func(instance.Record))
}

// InstanceDeps are what the instance actions need beyond the store.
type InstanceDeps struct {
	Controller InstanceController
	// Catalog finds AMIs (default: the catalog given to SetImages).
	Catalog image.Catalog
	// MaxInstances is the per-account, per-region limit of instances that
	// are not stopped or terminated (InstanceLimitExceeded; default 20, as
	// AWS's classic On-Demand limit).
	MaxInstances int

	md *metadataCache
}

// EnableInstances turns on the instance actions. Without it, the
// describe actions answer from the store and the rest report
// UnsupportedOperation.
func (s *Service) EnableInstances(d InstanceDeps) {
	if d.MaxInstances <= 0 {
		d.MaxInstances = 20
	}
	d.md = newMetadataCache(s)
	if d.Controller != nil {
		d.Controller.OnChange(func(r instance.Record) { d.md.invalidate(r.PrivateIP) })
	}
	s.inst = &d
}

// instances returns the deps, or UnsupportedOperation.
func (s *Service) instances() (*InstanceDeps, error) {
	if s.inst == nil || s.inst.Controller == nil {
		return nil, awserr.New(awserr.InvalidArgument, "UnsupportedOperation", "This kiln server was started without an instance runtime.")
	}
	return s.inst, nil
}

// catalog is the AMI catalog the instance actions use.
func (s *Service) catalog() image.Catalog {
	if s.inst != nil && s.inst.Catalog != nil {
		return s.inst.Catalog
	}
	return s.images
}

// kick tells the controller about changed records and drops them from the
// metadata cache.
func (s *Service) kick(rs ...instance.Record) {
	if s.inst == nil {
		return
	}
	keys := make([]store.Key, len(rs))
	for i, r := range rs {
		keys[i] = store.Key{Account: r.Account, Region: r.Region, Kind: instance.Kind, ID: r.ID}
		if s.inst.md != nil {
			s.inst.md.invalidate(r.PrivateIP)
		}
	}
	if s.inst.Controller != nil {
		s.inst.Controller.Kick(keys...)
	}
}

func dryRun(p *bool) error {
	if deref(p) {
		return awserr.New(awserr.DryRunOK, "DryRunOperation", "Request would have succeeded, but DryRun flag is set.")
	}
	return nil
}

var instanceIDRE = regexp.MustCompile(`^i-([0-9a-f]{8}|[0-9a-f]{17})$`)

func checkInstanceIDs(ids []string) error {
	for _, id := range ids {
		if !instanceIDRE.MatchString(id) {
			return awserr.New(awserr.InvalidArgument, "InvalidInstanceID.Malformed", "Invalid id: \"%s\"", id)
		}
	}
	return nil
}

func instanceNotFound(ids []string) error {
	if len(ids) == 1 {
		return awserr.New(awserr.NotFound, "InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", ids[0])
	}
	return awserr.New(awserr.NotFound, "InvalidInstanceID.NotFound", "The instance IDs '%s' do not exist", strings.Join(ids, ", "))
}

// loadInstances reads the named instances of the caller, in the order
// asked, failing with InvalidInstanceID.NotFound for any missing.
func loadInstances(tx store.Tx, sc scope, ids []string) ([]instance.Record, error) {
	if err := checkInstanceIDs(ids); err != nil {
		return nil, err
	}
	q := sc.query(instance.Kind)
	q.IDs = ids
	rs, err := store.ListJSON[instance.Record](tx, q)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]instance.Record, len(rs))
	for _, r := range rs {
		byID[r.ID] = r
	}
	var missing []string
	out := make([]instance.Record, 0, len(ids))
	seen := map[string]bool{}
	for _, id := range ids {
		r, ok := byID[id]
		if !ok {
			missing = append(missing, id)
			continue
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, r)
		}
	}
	if len(missing) > 0 {
		return nil, instanceNotFound(missing)
	}
	return out, nil
}

// stateError maps the controller's refusals to EC2's errors.
func stateError(err error) error {
	var se *instance.StateError
	if !errors.As(err, &se) {
		return err
	}
	switch {
	case errors.Is(err, instance.ErrNotPermitted):
		attr := "disableApiTermination"
		if se.Verb == "stopped" {
			attr = "disableApiStop"
		}
		return awserr.New(awserr.InvalidArgument, "OperationNotPermitted", "The instance '%s' may not be %s. Modify its '%s' instance attribute and try again.", se.ID, se.Verb, attr)
	case errors.Is(err, instance.ErrUnsupported):
		return awserr.New(awserr.InvalidArgument, "UnsupportedOperation", "The instance '%s' does not have an 'ebs' root device type and cannot be stopped.", se.ID)
	}
	return awserr.New(awserr.Conflict, "IncorrectInstanceState", "The instance '%s' is not in a state from which it can be %s.", se.ID, se.Verb)
}

// changeStates applies a request to every named instance in one
// transaction (all or nothing) and reports the state changes.
func (s *Service) changeStates(ctx context.Context, ids []string, dry *bool, fn func(tx store.Tx, r instance.Record) (instance.Record, error)) ([]ec2api.InstanceStateChange, error) {
	sc := scopeOf(ctx)
	if len(ids) == 0 {
		return nil, awserr.New(awserr.InvalidArgument, "MissingParameter", "The request must contain the parameter InstanceId")
	}
	if err := checkInstanceIDs(ids); err != nil {
		return nil, err
	}
	var changed []instance.Record
	var out []ec2api.InstanceStateChange
	err := s.st.Update(ctx, func(tx store.Tx) error {
		changed, out = nil, nil
		rs, err := loadInstances(tx, sc, ids)
		if err != nil {
			return err
		}
		news := make([]instance.Record, len(rs))
		for i, r := range rs {
			nr, err := fn(tx, r)
			if err != nil {
				return stateError(err)
			}
			news[i] = nr
		}
		if err := dryRun(dry); err != nil {
			return err
		}
		for i, r := range rs {
			nr := news[i]
			out = append(out, ec2api.InstanceStateChange{InstanceId: r.ID, PreviousState: apiState(r.State), CurrentState: apiState(nr.State)})
			if nr.Version == r.Version && nr.State == r.State && nr.Reboots == r.Reboots && nr.ForceStop == r.ForceStop {
				continue
			}
			nr.Version++
			if err := store.PutJSON(tx, sc.key(instance.Kind, nr.ID), "", nr); err != nil {
				return err
			}
			changed = append(changed, nr)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.kick(changed...)
	return out, nil
}

// countActive counts the account's instances in the region that hold
// capacity (not stopped, not terminated).
func countActive(tx store.Tx, sc scope) (int, error) {
	rs, err := store.ListJSON[instance.Record](tx, sc.query(instance.Kind))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range rs {
		if r.Active() {
			n++
		}
	}
	return n, nil
}

func limitExceeded(want, limit int) error {
	return awserr.New(awserr.LimitExceeded, "InstanceLimitExceeded", "You have requested more instances (%d) than your current instance limit of %d allows for the specified instance type. Please visit http://aws.amazon.com/contact-us/ec2-request to request an adjustment to this limit.", want, limit)
}

func apiState(name string) *ec2api.InstanceState {
	return &ec2api.InstanceState{Code: ptr(instance.StateCode(name)), Name: name}
}

// zoneID is the AZ ID of a zone name (use1-az1 …).
func zoneID(regionName, az string) string {
	r, ok := region.Lookup(regionName)
	if !ok {
		return ""
	}
	for _, z := range r.Zones() {
		if z.Name == az {
			return z.ID
		}
	}
	return ""
}

// apiInstance is the EC2 view of a record, as DescribeInstances and
// RunInstances report it.
func apiInstance(r instance.Record, tags []ec2api.Tag) ec2api.Instance {
	groups := make([]ec2api.GroupIdentifier, len(r.Groups))
	for i, g := range r.Groups {
		groups[i] = ec2api.GroupIdentifier{GroupId: g.ID, GroupName: g.Name}
	}
	monitoring := "disabled"
	if r.Monitoring {
		monitoring = "enabled"
	}
	mdState := "applied"
	if r.MetadataPending {
		mdState = "pending"
	}
	out := ec2api.Instance{
		InstanceId:            r.ID,
		ImageId:               r.ImageID,
		State:                 apiState(r.State),
		PrivateDnsName:        "",
		StateTransitionReason: r.TransitionReason,
		KeyName:               r.KeyName,
		AmiLaunchIndex:        ptr(r.LaunchIndex),
		ProductCodes:          []ec2api.ProductCode{},
		InstanceType:          r.InstanceType,
		LaunchTime:            ptr(r.LaunchTime),
		Placement:             &ec2api.Placement{AvailabilityZone: r.AZ, AvailabilityZoneId: zoneID(r.Region, r.AZ), GroupName: "", Tenancy: "default"},
		Monitoring:            &ec2api.Monitoring{State: monitoring},
		Architecture:          r.Architecture,
		ClientToken:           r.ClientToken,
		EbsOptimized:          ptr(r.EbsOptimized),
		EnaSupport:            ptr(true),
		Hypervisor:            "xen",
		RootDeviceName:        r.RootDevice,
		RootDeviceType:        r.RootDeviceType,
		SecurityGroups:        groups,
		SourceDestCheck:       ptr(true),
		Tags:                  tags,
		VirtualizationType:    "hvm",
		CpuOptions:            &ec2api.CpuOptions{CoreCount: ptr(r.Cores), ThreadsPerCore: ptr(r.Threads)},
		CapacityReservationSpecification: &ec2api.CapacityReservationSpecificationResponse{
			CapacityReservationPreference: "open",
		},
		HibernationOptions: &ec2api.HibernationOptions{Configured: ptr(false)},
		MetadataOptions: &ec2api.InstanceMetadataOptionsResponse{
			State: mdState, HttpTokens: r.Metadata.HTTPTokens, HttpPutResponseHopLimit: ptr(r.Metadata.HopLimit),
			HttpEndpoint: r.Metadata.HTTPEndpoint, HttpProtocolIpv6: r.Metadata.ProtocolIPv6, InstanceMetadataTags: r.Metadata.Tags,
		},
		EnclaveOptions:           &ec2api.EnclaveOptions{Enabled: ptr(false)},
		BootMode:                 "",
		PlatformDetails:          "Linux/UNIX",
		UsageOperation:           "RunInstances",
		UsageOperationUpdateTime: ptr(r.Created),
		PrivateDnsNameOptions: &ec2api.PrivateDnsNameOptionsResponse{
			HostnameType: "ip-name", EnableResourceNameDnsARecord: ptr(false), EnableResourceNameDnsAAAARecord: ptr(false),
		},
		MaintenanceOptions:      &ec2api.InstanceMaintenanceOptions{AutoRecovery: "default", RebootMigration: "default"},
		CurrentInstanceBootMode: "legacy-bios",
	}
	if r.Reason != nil {
		out.StateReason = &ec2api.StateReason{Code: r.Reason.Code, Message: r.Reason.Message}
	}
	if r.State == instance.Terminated {
		// Terminated instances lose their network and volumes.
		return out
	}
	out.PrivateDnsName = instance.DNSName(r.PrivateIP, r.Region)
	out.PrivateIpAddress = r.PrivateIP
	out.SubnetId = r.SubnetID
	out.VpcId = r.VpcID
	out.BlockDeviceMappings = []ec2api.InstanceBlockDeviceMapping{{
		DeviceName: r.RootDevice,
		Ebs: &ec2api.EbsInstanceBlockDevice{
			AttachTime: ptr(r.Created), DeleteOnTermination: ptr(r.DeleteOnTermination), Status: "attached", VolumeId: r.RootVolumeID,
		},
	}}
	if r.RootDeviceType != "ebs" {
		out.BlockDeviceMappings = []ec2api.InstanceBlockDeviceMapping{}
	}
	out.NetworkInterfaces = []ec2api.InstanceNetworkInterface{{
		Attachment: &ec2api.InstanceNetworkInterfaceAttachment{
			AttachTime: ptr(r.Created), AttachmentId: r.ENIAttach, DeleteOnTermination: ptr(true),
			DeviceIndex: ptr(int32(0)), Status: "attached", NetworkCardIndex: ptr(int32(0)),
		},
		Description:        "",
		Groups:             groups,
		Ipv6Addresses:      []ec2api.InstanceIpv6Address{},
		MacAddress:         r.MAC,
		NetworkInterfaceId: r.ENIID,
		OwnerId:            r.Account,
		PrivateDnsName:     out.PrivateDnsName,
		PrivateIpAddress:   r.PrivateIP,
		PrivateIpAddresses: []ec2api.InstancePrivateIpAddress{{
			Primary: ptr(true), PrivateDnsName: out.PrivateDnsName, PrivateIpAddress: r.PrivateIP,
		}},
		SourceDestCheck: ptr(true),
		Status:          "in-use",
		SubnetId:        r.SubnetID,
		VpcId:           r.VpcID,
		InterfaceType:   "interface",
	}}
	return out
}

// reservations groups instances by reservation, in the order of their
// first instance.
func reservations(rs []instance.Record, tags tagIndex) []ec2api.Reservation {
	out := []ec2api.Reservation{}
	at := map[string]int{}
	for _, r := range rs {
		i, ok := at[r.ReservationID]
		if !ok {
			i = len(out)
			at[r.ReservationID] = i
			out = append(out, ec2api.Reservation{ReservationId: r.ReservationID, OwnerId: r.Account, Groups: []ec2api.GroupIdentifier{}})
		}
		out[i].Instances = append(out[i].Instances, apiInstance(r, tags.of(r.ID)))
	}
	for i := range out {
		sort.SliceStable(out[i].Instances, func(a, b int) bool {
			return deref(out[i].Instances[a].AmiLaunchIndex) < deref(out[i].Instances[b].AmiLaunchIndex)
		})
	}
	return out
}
