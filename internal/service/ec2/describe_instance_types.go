package ec2

import (
	"context"
	"strconv"
	"strings"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
)

func instanceTypeFields(t instanceType) fields {
	return func(name string) ([]string, bool) {
		switch name {
		case "instance-type":
			return []string{t.Name}, true
		case "current-generation":
			return []string{boolStr(t.CurrentGen)}, true
		case "free-tier-eligible":
			return []string{boolStr(t.FreeTier)}, true
		case "burstable-performance-supported":
			return []string{boolStr(t.Burstable)}, true
		case "bare-metal":
			return []string{"false"}, true
		case "hypervisor":
			return []string{t.Hypervisor}, true
		case "processor-info.supported-architecture":
			return t.archs(), true
		case "processor-info.manufacturer":
			return []string{t.Manufacturer}, true
		case "processor-info.sustained-clock-speed-in-ghz":
			return []string{strconv.FormatFloat(t.ClockGHz, 'f', -1, 64)}, true
		case "vcpu-info.default-vcpus":
			return []string{strconv.Itoa(int(t.VCPUs))}, true
		case "vcpu-info.default-cores":
			return []string{strconv.Itoa(int(t.cores()))}, true
		case "vcpu-info.default-threads-per-core":
			return []string{strconv.Itoa(int(t.threadsPerCore()))}, true
		case "memory-info.size-in-mib":
			return []string{strconv.FormatInt(t.MemoryMiB, 10)}, true
		case "network-info.network-performance":
			return []string{t.Network}, true
		case "network-info.ena-support":
			return []string{t.ena()}, true
		case "network-info.ipv6-supported":
			return []string{"true"}, true
		case "network-info.maximum-network-interfaces":
			return []string{strconv.Itoa(int(t.MaxENIs))}, true
		case "supported-usage-class":
			return []string{"on-demand", "spot"}, true
		case "supported-root-device-type":
			return t.rootTypes(), true
		case "supported-virtualization-type":
			return t.virtTypes(), true
		case "supported-boot-mode":
			return t.bootModes(), true
		case "hibernation-supported":
			return []string{boolStr(t.hibernation())}, true
		case "instance-storage-supported":
			return []string{"false"}, true
		case "dedicated-hosts-supported":
			return []string{boolStr(!t.Burstable && t.CurrentGen)}, true
		case "auto-recovery-supported":
			return []string{"true"}, true
		case "ebs-info.ebs-optimized-support":
			return []string{t.ebsOptimized()}, true
		case "ebs-info.encryption-support":
			return []string{"supported"}, true
		case "ebs-info.nvme-support":
			return []string{t.nvme()}, true
		}
		return nil, false
	}
}

func (t instanceType) archs() []string {
	if t.Arch == "x86_64" && t.Hypervisor == "xen" {
		return []string{"i386", "x86_64"}
	}
	return []string{t.Arch}
}

func (t instanceType) nitro() bool { return t.Hypervisor == "nitro" }

func (t instanceType) ena() string {
	if t.nitro() {
		return "required"
	}
	return "unsupported"
}

func (t instanceType) nvme() string {
	if t.nitro() {
		return "required"
	}
	return "unsupported"
}

func (t instanceType) ebsOptimized() string {
	switch {
	case t.nitro():
		return "default"
	case t.Name == "m1.small" || strings.HasPrefix(t.Name, "t2."):
		return "unsupported"
	}
	return "supported"
}

func (t instanceType) rootTypes() []string {
	if t.Name == "m1.small" {
		return []string{"ebs", "instance-store"}
	}
	return []string{"ebs"}
}

func (t instanceType) virtTypes() []string {
	if t.Name == "m1.small" {
		return []string{"hvm", "paravirtual"}
	}
	return []string{"hvm"}
}

func (t instanceType) bootModes() []string {
	if t.nitro() {
		if t.Arch == "arm64" {
			return []string{"uefi"}
		}
		return []string{"legacy-bios", "uefi"}
	}
	return []string{"legacy-bios"}
}

func (t instanceType) hibernation() bool { return t.CurrentGen && t.MemoryMiB <= 150*1024 }

// info is the DescribeInstanceTypes entry.
func (t instanceType) info() ec2api.InstanceTypeInfo {
	threads := t.threadsPerCore()
	validCores := []int32{}
	for c := int32(1); c <= t.cores(); c++ {
		if t.cores() <= 4 || c%2 == 0 || c == 1 {
			validCores = append(validCores, c)
		}
	}
	validThreads := []int32{1}
	if threads == 2 {
		validThreads = []int32{1, 2}
	}
	placement := []string{"partition", "spread"}
	if !t.Burstable {
		placement = []string{"cluster", "partition", "spread"}
	}
	out := ec2api.InstanceTypeInfo{
		InstanceType:                  t.Name,
		CurrentGeneration:             ptr(t.CurrentGen),
		FreeTierEligible:              ptr(t.FreeTier),
		SupportedUsageClasses:         []string{"on-demand", "spot"},
		SupportedRootDeviceTypes:      t.rootTypes(),
		SupportedVirtualizationTypes:  t.virtTypes(),
		BareMetal:                     ptr(false),
		Hypervisor:                    t.Hypervisor,
		ProcessorInfo:                 &ec2api.ProcessorInfo{SupportedArchitectures: t.archs(), SustainedClockSpeedInGhz: ptr(t.ClockGHz), Manufacturer: t.Manufacturer},
		VCpuInfo:                      &ec2api.VCpuInfo{DefaultVCpus: ptr(t.VCPUs), DefaultCores: ptr(t.cores()), DefaultThreadsPerCore: ptr(threads), ValidCores: validCores, ValidThreadsPerCore: validThreads},
		MemoryInfo:                    &ec2api.MemoryInfo{SizeInMiB: ptr(t.MemoryMiB)},
		InstanceStorageSupported:      ptr(false),
		EbsInfo:                       &ec2api.EbsInfo{EbsOptimizedSupport: t.ebsOptimized(), EncryptionSupport: "supported", NvmeSupport: t.nvme()},
		PlacementGroupInfo:            &ec2api.PlacementGroupInfo{SupportedStrategies: placement},
		HibernationSupported:          ptr(t.hibernation()),
		BurstablePerformanceSupported: ptr(t.Burstable),
		DedicatedHostsSupported:       ptr(!t.Burstable && t.CurrentGen),
		AutoRecoverySupported:         ptr(true),
		SupportedBootModes:            t.bootModes(),
		NitroEnclavesSupport:          "unsupported",
		NitroTpmSupport:               "unsupported",
		PhcSupport:                    "unsupported",
	}
	if t.nitro() {
		out.NitroTpmSupport = "supported"
		out.NitroTpmInfo = &ec2api.NitroTpmInfo{SupportedVersions: []string{"2.0"}}
	}
	out.NetworkInfo = &ec2api.NetworkInfo{
		NetworkPerformance:           t.Network,
		MaximumNetworkInterfaces:     ptr(t.MaxENIs),
		MaximumNetworkCards:          ptr(int32(1)),
		DefaultNetworkCardIndex:      ptr(int32(0)),
		NetworkCards:                 []ec2api.NetworkCardInfo{{NetworkCardIndex: ptr(int32(0)), NetworkPerformance: t.Network, MaximumNetworkInterfaces: ptr(t.MaxENIs)}},
		Ipv4AddressesPerInterface:    ptr(t.IPv4PerENI),
		Ipv6AddressesPerInterface:    ptr(t.IPv4PerENI),
		Ipv6Supported:                ptr(t.nitro() || strings.HasPrefix(t.Name, "t2.")),
		EnaSupport:                   t.ena(),
		EfaSupported:                 ptr(false),
		EncryptionInTransitSupported: ptr(false),
		EnaSrdSupported:              ptr(false),
	}
	if t.nitro() && t.EbsOptimizedInfo() != nil {
		out.EbsInfo.EbsOptimizedInfo = t.EbsOptimizedInfo()
	}
	return out
}

// EbsOptimizedInfo gives rough EBS bandwidth figures scaled by size.
func (t instanceType) EbsOptimizedInfo() *ec2api.EbsOptimizedInfo {
	base := int32(t.VCPUs) * 325
	maxBW := max(base, 2085)
	if t.VCPUs >= 16 {
		maxBW = base
	}
	return &ec2api.EbsOptimizedInfo{
		BaselineBandwidthInMbps: ptr(base), BaselineThroughputInMBps: ptr(float64(base) / 8),
		BaselineIops: ptr(base * 6), MaximumBandwidthInMbps: ptr(maxBW),
		MaximumThroughputInMBps: ptr(float64(maxBW) / 8), MaximumIops: ptr(maxBW * 6),
	}
}

// DescribeInstanceTypes answers from kiln's catalog of real types; every
// named type must exist.
func (s *Service) DescribeInstanceTypes(ctx context.Context, in *ec2api.DescribeInstanceTypesRequest) (*ec2api.DescribeInstanceTypesResult, error) {
	fs := filterSet(in.Filters)
	if err := fs.check(instanceTypeFields(instanceType{})); err != nil {
		return nil, err
	}
	var missing []string
	for _, n := range in.InstanceTypes {
		if _, ok := instanceTypes[n]; !ok {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return nil, awserr.New(awserr.InvalidArgument, "InvalidInstanceType", "The following supplied instance types do not exist: [%s]", strings.Join(missing, ", "))
	}
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, n := range in.InstanceTypes {
		want[n] = true
	}
	var items []instanceType
	for _, n := range instanceTypeNames() {
		t := instanceTypes[n]
		if len(want) > 0 && !want[n] {
			continue
		}
		if fs.matches(instanceTypeFields(t), nil) {
			items = append(items, t)
		}
	}
	maxResults := in.MaxResults
	if maxResults == nil {
		maxResults = ptr(int32(100))
	}
	// Tokens carry the position's type name; page compares names, so page
	// over a name-ordered view.
	pos := make([]string, len(items))
	for i, t := range items {
		pos[i] = strconv.Itoa(100000+i) + "/" + t.Name
	}
	idx := make(map[string]instanceType, len(items))
	for i, t := range items {
		idx[pos[i]] = t
	}
	got, next, err := page(pos, func(p string) string { return p }, maxResults, in.NextToken, 5, 100)
	if err != nil {
		return nil, err
	}
	out := &ec2api.DescribeInstanceTypesResult{InstanceTypes: []ec2api.InstanceTypeInfo{}, NextToken: next}
	for _, p := range got {
		out.InstanceTypes = append(out.InstanceTypes, idx[p].info())
	}
	return out, nil
}
