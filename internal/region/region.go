// Package region lists the AWS commercial regions kiln serves and their
// availability zones. Every region is a separate namespace of resources.
package region

import "sort"

// Region is one commercial region.
type Region struct {
	Name      string
	OptIn     bool // regions that need opting in on AWS ("opted-in" here)
	ZoneIDPre string
}

// All is every commercial AWS region (Nov 2026).
var All = []Region{
	{"af-south-1", true, "afs1"}, {"ap-east-1", true, "ape1"}, {"ap-east-2", true, "ape2"},
	{"ap-northeast-1", false, "apne1"}, {"ap-northeast-2", false, "apne2"}, {"ap-northeast-3", false, "apne3"},
	{"ap-south-1", false, "aps1"}, {"ap-south-2", true, "aps2"},
	{"ap-southeast-1", false, "apse1"}, {"ap-southeast-2", false, "apse2"}, {"ap-southeast-3", true, "apse3"},
	{"ap-southeast-4", true, "apse4"}, {"ap-southeast-5", true, "apse5"}, {"ap-southeast-6", true, "apse6"}, {"ap-southeast-7", true, "apse7"},
	{"ca-central-1", false, "cac1"}, {"ca-west-1", true, "caw1"},
	{"eu-central-1", false, "euc1"}, {"eu-central-2", true, "euc2"},
	{"eu-north-1", false, "eun1"}, {"eu-south-1", true, "eus1"}, {"eu-south-2", true, "eus2"},
	{"eu-west-1", false, "euw1"}, {"eu-west-2", false, "euw2"}, {"eu-west-3", false, "euw3"},
	{"il-central-1", true, "ilc1"}, {"me-central-1", true, "mec1"}, {"me-south-1", true, "mes1"},
	{"mx-central-1", true, "mxc1"}, {"sa-east-1", false, "sae1"},
	{"us-east-1", false, "use1"}, {"us-east-2", false, "use2"}, {"us-west-1", false, "usw1"}, {"us-west-2", false, "usw2"},
}

var byName = func() map[string]Region {
	m := make(map[string]Region, len(All))
	for _, r := range All {
		m[r.Name] = r
	}
	return m
}()

// Lookup finds a region by name.
func Lookup(name string) (Region, bool) {
	r, ok := byName[name]
	return r, ok
}

// Valid reports whether name is a commercial region.
func Valid(name string) bool {
	_, ok := byName[name]
	return ok
}

// Names returns every region name, sorted.
func Names() []string {
	out := make([]string, len(All))
	for i, r := range All {
		out[i] = r.Name
	}
	sort.Strings(out)
	return out
}

// Zone is an availability zone.
type Zone struct {
	Name, ID, Region string
}

// Zones returns the region's three zones, <region>a..c.
func (r Region) Zones() []Zone {
	out := make([]Zone, 3)
	for i := range out {
		suffix := string(rune('a' + i))
		out[i] = Zone{Name: r.Name + suffix, ID: r.ZoneIDPre + "-az" + string(rune('1'+i)), Region: r.Name}
	}
	return out
}

// Endpoint is the public hostname AWS uses for a service in r (reported
// by DescribeRegions).
func (r Region) Endpoint(service string) string {
	return service + "." + r.Name + ".amazonaws.com"
}
