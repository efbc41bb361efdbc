package imds

import (
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// Versions are the metadata API versions listed at "/" and accepted as
// path prefixes; every dated version answers like latest (cloud-init and
// the SDKs probe dated versions).
var Versions = []string{
	"1.0", "2007-01-19", "2007-03-01", "2007-08-29", "2007-10-10", "2007-12-15",
	"2008-02-01", "2008-09-01", "2009-04-04", "2011-01-01", "2011-05-01",
	"2012-01-12", "2014-02-25", "2014-11-05", "2015-10-20", "2016-04-19",
	"2016-06-30", "2016-09-02", "2018-03-28", "2018-08-17", "2018-09-24",
	"2019-10-01", "2020-10-27", "2021-01-03", "2021-03-23", "2021-07-15",
	"2022-09-24", "2023-09-09", "2024-04-11", "latest",
}

var knownVersion = func() map[string]bool {
	m := map[string]bool{}
	for _, v := range Versions {
		m[v] = true
	}
	return m
}()

// node is one entry of the metadata tree: a file (leaf) or a directory.
type node struct {
	leaf func() ([]byte, bool) // nil for a directory; false: not found
	dir  []dirent
	lazy func() *node // builds the directory on first use
}

func (n *node) force() *node {
	if n.lazy != nil {
		*n = *n.lazy()
	}
	return n
}

// dirent is a directory entry. label, when set, is what the listing shows
// instead of name (public-keys/ lists "0=name" but its child is "0").
type dirent struct {
	name, label string
	n           *node
}

func file(s string) *node {
	return &node{leaf: func() ([]byte, bool) { return []byte(s), true }}
}

func lines(ss []string) *node { return file(strings.Join(ss, "\n")) }

func (n *node) add(name string, c *node) *node {
	n.dir = append(n.dir, dirent{name: name, n: c})
	return n
}

func (n *node) child(name string) *node {
	for _, e := range n.dir {
		if e.name == name {
			return e.n
		}
	}
	return nil
}

// listing renders a directory: one entry per line, directories with a
// trailing slash, no trailing newline.
func (n *node) listing() []byte {
	var b strings.Builder
	for i, e := range n.dir {
		if i > 0 {
			b.WriteByte('\n')
		}
		if e.label != "" {
			b.WriteString(e.label)
			continue
		}
		b.WriteString(e.name)
		if e.n.leaf == nil {
			b.WriteByte('/')
		}
	}
	return []byte(b.String())
}

// resolve walks the tree for the path segments (empty segments ignored).
func (n *node) resolve(segs []string) *node {
	cur := n
	for _, s := range segs {
		if s == "" {
			continue
		}
		if cur.leaf != nil {
			return nil
		}
		if cur = cur.child(s); cur == nil {
			return nil
		}
		cur.force()
	}
	return cur.force()
}

// versionTree is what /<version>/ holds for inst: dynamic, meta-data and
// user-data (only when there is user data). The identity document's
// signatures come from sign (nil: no identity key, those paths 404).
func versionTree(inst *Instance, sign func([]byte) (*signatures, error)) *node {
	// AWS lists these two directories without trailing slashes.
	root := &node{dir: []dirent{
		{name: "dynamic", label: "dynamic", n: &node{lazy: func() *node { return dynamicTree(inst, sign) }}},
		{name: "meta-data", label: "meta-data", n: &node{lazy: func() *node { return metaDataTree(inst) }}},
	}}
	if len(inst.UserData) > 0 {
		ud := inst.UserData
		root.add("user-data", &node{leaf: func() ([]byte, bool) { return ud, true }})
	}
	return root
}

func dynamicTree(inst *Instance, sign func([]byte) (*signatures, error)) *node {
	doc := func() []byte { return IdentityDocument(inst) }
	sig := func(pick func(*signatures) []byte) *node {
		return &node{leaf: func() ([]byte, bool) {
			if sign == nil {
				return nil, false
			}
			s, err := sign(doc())
			if err != nil {
				return nil, false
			}
			return pick(s), true
		}}
	}
	id := &node{}
	id.add("document", &node{leaf: func() ([]byte, bool) { return doc(), true }})
	id.add("pkcs7", sig(func(s *signatures) []byte { return s.pkcs7 }))
	id.add("rsa2048", sig(func(s *signatures) []byte { return s.rsa2048 }))
	id.add("signature", sig(func(s *signatures) []byte { return s.signature }))
	return (&node{}).add("instance-identity", id)
}

func metaDataTree(inst *Instance) *node {
	md := &node{}
	md.add("ami-id", file(inst.ImageID))
	md.add("ami-launch-index", file(strconv.Itoa(inst.LaunchIndex)))
	md.add("ami-manifest-path", file("(unknown)"))

	bdm := &node{}
	for _, k := range sortedKeys(inst.BlockDevices) {
		bdm.add(k, file(inst.BlockDevices[k]))
	}
	if len(bdm.dir) == 0 {
		bdm.add("ami", file("/dev/xvda")).add("root", file("/dev/xvda"))
	}
	md.add("block-device-mapping", bdm)

	maint := (&node{}).add("history", file("[]")).add("scheduled", file("[]"))
	md.add("events", (&node{}).add("maintenance", maint))
	md.add("hostname", file(inst.Hostname))
	md.add("instance-action", file("none"))
	md.add("instance-id", file(inst.ID))
	md.add("instance-life-cycle", file("on-demand"))
	md.add("instance-type", file(inst.InstanceType))
	md.add("local-hostname", file(inst.Hostname))
	md.add("local-ipv4", file(inst.LocalIPv4))
	md.add("mac", file(inst.MAC))
	md.add("network", (&node{}).add("interfaces", (&node{}).add("macs", macsTree(inst))))

	pl := &node{}
	pl.add("availability-zone", file(inst.AvailabilityZone))
	pl.add("availability-zone-id", file(azID(inst)))
	pl.add("region", file(inst.Region))
	md.add("placement", pl)
	md.add("profile", file("default-hvm"))
	if inst.PublicIPv4 != "" {
		md.add("public-hostname", file(inst.PublicHostname))
		md.add("public-ipv4", file(inst.PublicIPv4))
	}
	if len(inst.PublicKeys) > 0 {
		pk := &node{}
		for i, k := range inst.PublicKeys {
			idx := strconv.Itoa(i)
			key := k.OpenSSH
			if !strings.HasSuffix(key, "\n") {
				key += "\n" // AWS serves the key as imported, newline-terminated
			}
			pk.dir = append(pk.dir, dirent{name: idx, label: idx + "=" + k.Name,
				n: (&node{}).add("openssh-key", file(key))})
		}
		md.add("public-keys", pk)
	}
	md.add("reservation-id", file(inst.ReservationID))
	md.add("security-groups", lines(inst.SecurityGroups))
	md.add("services", (&node{}).add("domain", file("amazonaws.com")).add("partition", file(partition(inst.Region))))
	if inst.Options.Tags {
		tags := &node{}
		for _, k := range sortedKeys(inst.Tags) {
			if k == "" || strings.ContainsAny(k, "/ ") || k == "." || k == ".." {
				continue // not addressable as a path segment
			}
			tags.add(k, file(inst.Tags[k]))
		}
		md.add("tags", (&node{}).add("instance", tags))
	}
	return md
}

func macsTree(inst *Instance) *node {
	macs := &node{}
	if inst.MAC == "" {
		return macs
	}
	m := &node{}
	m.add("device-number", file("0"))
	if inst.InterfaceID != "" {
		m.add("interface-id", file(inst.InterfaceID))
	}
	if inst.PublicIPv4 != "" {
		m.add("ipv4-associations", (&node{}).add(inst.PublicIPv4, file(inst.LocalIPv4)))
	}
	m.add("local-hostname", file(inst.Hostname))
	m.add("local-ipv4s", file(inst.LocalIPv4))
	m.add("mac", file(inst.MAC))
	m.add("owner-id", file(inst.AccountID))
	if inst.PublicIPv4 != "" {
		m.add("public-hostname", file(inst.PublicHostname))
		m.add("public-ipv4s", file(inst.PublicIPv4))
	}
	m.add("security-group-ids", lines(inst.SecurityGroupIDs))
	m.add("security-groups", lines(inst.SecurityGroups))
	m.add("subnet-id", file(inst.SubnetID))
	m.add("subnet-ipv4-cidr-block", file(inst.SubnetCIDR))
	m.add("vpc-id", file(inst.VPCID))
	m.add("vpc-ipv4-cidr-block", file(inst.VPCCIDR))
	m.add("vpc-ipv4-cidr-blocks", file(inst.VPCCIDR))
	return macs.add(inst.MAC, m)
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}

// azID returns the zone ID (use1-az1 for us-east-1a) unless the Source set
// one: the region's short code and the zone letter's position.
func azID(inst *Instance) string {
	if inst.AvailabilityZoneID != "" {
		return inst.AvailabilityZoneID
	}
	az, region := inst.AvailabilityZone, inst.Region
	if len(az) != len(region)+1 || !strings.HasPrefix(az, region) {
		return ""
	}
	letter := az[len(az)-1]
	if letter < 'a' || letter > 'z' {
		return ""
	}
	parts := strings.Split(region, "-")
	if len(parts) < 3 {
		return ""
	}
	code := parts[0]
	for _, p := range parts[1 : len(parts)-1] {
		code += directions[p]
	}
	code += parts[len(parts)-1]
	return code + "-az" + strconv.Itoa(int(letter-'a')+1)
}

var directions = map[string]string{
	"east": "e", "west": "w", "north": "n", "south": "s", "central": "c",
	"northeast": "ne", "southeast": "se", "northwest": "nw", "southwest": "sw",
	"gov": "gov",
}

// callerAddr parses an http.Request RemoteAddr.
func callerAddr(remote string) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}
