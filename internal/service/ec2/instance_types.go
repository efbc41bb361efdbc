package ec2

import (
	"sort"
	"strconv"
	"strings"
)

// instanceType is one entry of kiln's catalog of real EC2 instance types.
// The vCPUs and memory become the instance's cgroup limits.
type instanceType struct {
	Name         string
	VCPUs        int32
	MemoryMiB    int64
	Arch         string  // x86_64 | arm64
	Manufacturer string  // Intel | AMD | AWS
	ClockGHz     float64 // sustained clock speed
	Hypervisor   string  // xen | nitro
	Burstable    bool
	CurrentGen   bool
	FreeTier     bool
	Network      string // NetworkPerformance
	MaxENIs      int32
	IPv4PerENI   int32
}

// threadsPerCore is 1 for the Xen generations and Graviton, else 2.
func (t instanceType) threadsPerCore() int32 {
	if t.Hypervisor == "xen" || t.Arch == "arm64" || t.VCPUs == 1 {
		return 1
	}
	return 2
}

func (t instanceType) cores() int32 { return t.VCPUs / t.threadsPerCore() }

// DefaultInstanceType is what RunInstances launches when InstanceType is
// absent: m1.small, as on AWS.
const DefaultInstanceType = "m1.small"

// family describes the sizes of one instance family.
type family struct {
	prefix, arch, manufacturer, hypervisor string
	clock                                  float64
	burstable                              bool
	sizes                                  []string
	vcpus                                  []int32
	memGiB                                 []float64
	network                                []string
	enis, ips                              []int32
}

var instanceTypes = func() map[string]instanceType {
	m := map[string]instanceType{}
	tSizes := []string{"nano", "micro", "small", "medium", "large", "xlarge", "2xlarge"}
	tMem := []float64{0.5, 1, 2, 4, 8, 16, 32}
	tENIs := []int32{2, 2, 3, 3, 3, 4, 4}
	tIPs := []int32{2, 2, 4, 6, 12, 15, 15}
	fams := []family{
		{"t2", "x86_64", "Intel", "xen", 3.3, true, tSizes, []int32{1, 1, 1, 2, 2, 4, 8}, tMem,
			[]string{"Low", "Low to Moderate", "Low to Moderate", "Low to Moderate", "Low to Moderate", "Moderate", "Moderate"}, tENIs, tIPs},
		{"t3", "x86_64", "Intel", "nitro", 3.1, true, tSizes, []int32{2, 2, 2, 2, 2, 4, 8}, tMem, rep("Up to 5 Gigabit", 7), tENIs, tIPs},
		{"t3a", "x86_64", "AMD", "nitro", 2.5, true, tSizes, []int32{2, 2, 2, 2, 2, 4, 8}, tMem, rep("Up to 5 Gigabit", 7), tENIs, tIPs},
		{"t4g", "arm64", "AWS", "nitro", 2.5, true, tSizes, []int32{2, 2, 2, 2, 2, 4, 8}, tMem, rep("Up to 5 Gigabit", 7), tENIs, tIPs},
		{"m5", "x86_64", "Intel", "nitro", 3.1, false,
			[]string{"large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge"},
			[]int32{2, 4, 8, 16, 32, 48, 64, 96}, []float64{8, 16, 32, 64, 128, 192, 256, 384},
			[]string{"Up to 10 Gigabit", "Up to 10 Gigabit", "Up to 10 Gigabit", "Up to 10 Gigabit", "10 Gigabit", "12 Gigabit", "20 Gigabit", "25 Gigabit"},
			[]int32{3, 4, 4, 8, 8, 8, 15, 15}, []int32{10, 15, 15, 30, 30, 30, 50, 50}},
		{"m6i", "x86_64", "Intel", "nitro", 3.5, false,
			[]string{"large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "32xlarge"},
			[]int32{2, 4, 8, 16, 32, 48, 64, 96, 128}, []float64{8, 16, 32, 64, 128, 192, 256, 384, 512},
			[]string{"Up to 12.5 Gigabit", "Up to 12.5 Gigabit", "Up to 12.5 Gigabit", "Up to 12.5 Gigabit", "12.5 Gigabit", "18.75 Gigabit", "25 Gigabit", "37.5 Gigabit", "50 Gigabit"},
			[]int32{3, 4, 4, 8, 8, 8, 15, 15, 15}, []int32{10, 15, 15, 30, 30, 30, 50, 50, 50}},
		{"m7i", "x86_64", "Intel", "nitro", 3.2, false,
			[]string{"large", "xlarge", "2xlarge", "4xlarge", "8xlarge"},
			[]int32{2, 4, 8, 16, 32}, []float64{8, 16, 32, 64, 128},
			[]string{"Up to 12.5 Gigabit", "Up to 12.5 Gigabit", "Up to 12.5 Gigabit", "Up to 12.5 Gigabit", "12.5 Gigabit"},
			[]int32{3, 4, 4, 8, 8}, []int32{10, 15, 15, 30, 30}},
		{"c5", "x86_64", "Intel", "nitro", 3.4, false,
			[]string{"large", "xlarge", "2xlarge", "4xlarge", "9xlarge", "12xlarge", "18xlarge", "24xlarge"},
			[]int32{2, 4, 8, 16, 36, 48, 72, 96}, []float64{4, 8, 16, 32, 72, 96, 144, 192},
			[]string{"Up to 10 Gigabit", "Up to 10 Gigabit", "Up to 10 Gigabit", "Up to 10 Gigabit", "12 Gigabit", "12 Gigabit", "25 Gigabit", "25 Gigabit"},
			[]int32{3, 4, 4, 8, 8, 8, 15, 15}, []int32{10, 15, 15, 30, 30, 30, 50, 50}},
		{"c6i", "x86_64", "Intel", "nitro", 3.5, false,
			[]string{"large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "32xlarge"},
			[]int32{2, 4, 8, 16, 32, 48, 64, 96, 128}, []float64{4, 8, 16, 32, 64, 96, 128, 192, 256},
			[]string{"Up to 12.5 Gigabit", "Up to 12.5 Gigabit", "Up to 12.5 Gigabit", "Up to 12.5 Gigabit", "12.5 Gigabit", "18.75 Gigabit", "25 Gigabit", "37.5 Gigabit", "50 Gigabit"},
			[]int32{3, 4, 4, 8, 8, 8, 15, 15, 15}, []int32{10, 15, 15, 30, 30, 30, 50, 50, 50}},
		{"c7i", "x86_64", "Intel", "nitro", 3.2, false,
			[]string{"large", "xlarge", "2xlarge", "4xlarge", "8xlarge"},
			[]int32{2, 4, 8, 16, 32}, []float64{4, 8, 16, 32, 64},
			[]string{"Up to 12.5 Gigabit", "Up to 12.5 Gigabit", "Up to 12.5 Gigabit", "Up to 12.5 Gigabit", "12.5 Gigabit"},
			[]int32{3, 4, 4, 8, 8}, []int32{10, 15, 15, 30, 30}},
		{"r5", "x86_64", "Intel", "nitro", 3.1, false,
			[]string{"large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge"},
			[]int32{2, 4, 8, 16, 32, 48, 64, 96}, []float64{16, 32, 64, 128, 256, 384, 512, 768},
			[]string{"Up to 10 Gigabit", "Up to 10 Gigabit", "Up to 10 Gigabit", "Up to 10 Gigabit", "10 Gigabit", "12 Gigabit", "20 Gigabit", "25 Gigabit"},
			[]int32{3, 4, 4, 8, 8, 8, 15, 15}, []int32{10, 15, 15, 30, 30, 30, 50, 50}},
		{"r6i", "x86_64", "Intel", "nitro", 3.5, false,
			[]string{"large", "xlarge", "2xlarge", "4xlarge", "8xlarge"},
			[]int32{2, 4, 8, 16, 32}, []float64{16, 32, 64, 128, 256},
			[]string{"Up to 12.5 Gigabit", "Up to 12.5 Gigabit", "Up to 12.5 Gigabit", "Up to 12.5 Gigabit", "12.5 Gigabit"},
			[]int32{3, 4, 4, 8, 8}, []int32{10, 15, 15, 30, 30}},
	}
	for _, f := range fams {
		for i, sz := range f.sizes {
			name := f.prefix + "." + sz
			m[name] = instanceType{
				Name: name, VCPUs: f.vcpus[i], MemoryMiB: int64(f.memGiB[i] * 1024), Arch: f.arch,
				Manufacturer: f.manufacturer, ClockGHz: f.clock, Hypervisor: f.hypervisor, Burstable: f.burstable,
				CurrentGen: true, FreeTier: name == "t2.micro" || name == "t3.micro" || name == "t4g.micro",
				Network: f.network[i], MaxENIs: f.enis[i], IPv4PerENI: f.ips[i],
			}
		}
	}
	m["m1.small"] = instanceType{Name: "m1.small", VCPUs: 1, MemoryMiB: 1740, Arch: "x86_64", Manufacturer: "Intel",
		ClockGHz: 1.0, Hypervisor: "xen", Network: "Low", MaxENIs: 2, IPv4PerENI: 4}
	return m
}()

func rep(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// instanceTypeNames lists the catalog sorted by family, then size.
func instanceTypeNames() []string {
	names := make([]string, 0, len(instanceTypes))
	for n := range instanceTypes {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		fi, si, _ := strings.Cut(names[i], ".")
		fj, sj, _ := strings.Cut(names[j], ".")
		if fi != fj {
			return fi < fj
		}
		return sizeRank(si) < sizeRank(sj)
	})
	return names
}

// sizeRank orders nano < micro < … < xlarge < 2xlarge < 4xlarge …
func sizeRank(s string) int {
	switch s {
	case "nano":
		return 0
	case "micro":
		return 1
	case "small":
		return 2
	case "medium":
		return 3
	case "large":
		return 4
	case "xlarge":
		return 5
	}
	if n, err := strconv.Atoi(strings.TrimSuffix(s, "xlarge")); err == nil {
		return 5 + n
	}
	return 1000
}
