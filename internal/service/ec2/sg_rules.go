package ec2

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/store"
)

// Security group rules: parsing the request forms (IpPermissions and the
// legacy top-level fields) into normalised sgRule values, matching them, and
// rendering them back as AWS does.

const (
	// maxRulesPerDirection is AWS's default quota of inbound (and,
	// separately, outbound) rules per group. AWS enforces it separately for
	// IPv4 and IPv6; a rule referencing a group or prefix list counts against
	// both.
	maxRulesPerDirection = 60
	// sgTextChars is the character set EC2-VPC accepts in group names,
	// group descriptions and rule descriptions.
	sgTextChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ._-:/()#,@[]+=&;{}!$*"
	// sgTextMax is the longest name or description (in characters).
	sgTextMax = 255

	ruleResourceType = "security-group-rule"
)

func sgInvalidParam(format string, args ...any) error {
	return awserr.New(awserr.InvalidArgument, "InvalidParameterValue", format, args...)
}

// validSGText reports whether s uses only the EC2-VPC character set and is
// at most 255 characters long.
func validSGText(s string) bool {
	if len(s) > sgTextMax {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune(sgTextChars, c) {
			return false
		}
	}
	return true
}

func validRuleDescription(d string) error {
	if !validSGText(d) {
		return sgInvalidParam("Invalid rule description. Valid descriptions are strings less than 256 characters from the following set:  a-zA-Z0-9. _-:/()#,@[]+=&;{}!$*")
	}
	return nil
}

// normProtocol normalises an IP protocol as AWS stores it: "-1" for all
// protocols, the names tcp, udp and icmp (also when given as 6, 17, 1),
// ICMPv6 as "58" (AWS reports it by number), any other protocol by its
// decimal number.
func normProtocol(p string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(p)) {
	case "":
		return "", awserr.New(awserr.InvalidArgument, "MissingParameter", "The request must contain the parameter ipProtocol")
	case "-1", "all":
		return "-1", nil
	case "tcp", "6":
		return "tcp", nil
	case "udp", "17":
		return "udp", nil
	case "icmp", "1":
		return "icmp", nil
	case "icmpv6", "58":
		return "58", nil
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 || n > 255 {
		return "", sgInvalidParam("Invalid value '%s' for IP protocol. Unknown protocol.", p)
	}
	return strconv.Itoa(n), nil
}

// hasPorts reports whether a protocol's rules carry a port range (or an
// ICMP type and code); other protocols allow all ports.
func hasPorts(proto string) bool {
	switch proto {
	case "tcp", "udp", "icmp", "58":
		return true
	}
	return false
}

// normPorts validates the port range (or ICMP type/code) of a normalised
// protocol. Protocols without ports store -1/-1 whatever was given.
func normPorts(proto string, from, to *int32) (int32, int32, error) {
	switch proto {
	case "tcp", "udp":
		if from == nil || to == nil {
			return 0, 0, sgInvalidParam("Invalid value 'null' for portRange. Must specify both from and to ports with TCP/UDP.")
		}
		f, t := *from, *to
		if f < 0 || f > 65535 {
			return 0, 0, sgInvalidParam("Invalid value '%d' for fromPort. Must be between 0 and 65535.", f)
		}
		if t < 0 || t > 65535 {
			return 0, 0, sgInvalidParam("Invalid value '%d' for toPort. Must be between 0 and 65535.", t)
		}
		if f > t {
			return 0, 0, sgInvalidParam("Invalid TCP/UDP port range (%d - %d). The from port must not be greater than the to port.", f, t)
		}
		return f, t, nil
	case "icmp", "58":
		if from == nil && to == nil {
			if proto == "icmp" {
				return 0, 0, sgInvalidParam("Invalid value 'null' for portRange. Must specify both ICMP type and code with ICMP.")
			}
			return -1, -1, nil // ICMPv6: all types and codes
		}
		f, t := deref(from), deref(to)
		if from == nil {
			f = -1
		}
		if to == nil {
			t = -1
		}
		if f < -1 || f > 255 {
			return 0, 0, sgInvalidParam("Invalid value '%d' for ICMP type. Must be between -1 and 255.", f)
		}
		if t < -1 || t > 255 {
			return 0, 0, sgInvalidParam("Invalid value '%d' for ICMP code. Must be between -1 and 255.", t)
		}
		if f == -1 && t != -1 {
			return 0, 0, sgInvalidParam("Invalid value '%d' for ICMP code. The ICMP code must be -1 when the ICMP type is -1.", t)
		}
		return f, t, nil
	}
	return -1, -1, nil
}

func normCIDRv4(s string) (string, error) {
	p, err := netip.ParsePrefix(strings.TrimSpace(s))
	if err != nil || !p.Addr().Is4() {
		return "", sgInvalidParam("CIDR block %s is malformed", s)
	}
	return p.String(), nil
}

func normCIDRv6(s string) (string, error) {
	p, err := netip.ParsePrefix(strings.TrimSpace(s))
	if err != nil || !p.Addr().Is6() || p.Addr().Is4In6() {
		return "", sgInvalidParam("CIDR block %s is malformed", s)
	}
	return p.String(), nil
}

// wantRule is a requested rule before its referenced group is resolved.
type wantRule struct {
	sgRule
	refName  string // the referenced group given by name
	refOwner string // the referenced group's account, when given
}

// parsePermissions turns IpPermissions into one wanted rule per source or
// destination.
func parsePermissions(perms []ec2api.IpPermission) ([]wantRule, error) {
	var out []wantRule
	for _, p := range perms {
		proto, err := normProtocol(p.IpProtocol)
		if err != nil {
			return nil, err
		}
		from, to, err := normPorts(proto, p.FromPort, p.ToPort)
		if err != nil {
			return nil, err
		}
		base := sgRule{Protocol: proto, FromPort: from, ToPort: to}
		n := len(out)
		for _, r := range p.IpRanges {
			c, err := normCIDRv4(r.CidrIp)
			if err != nil {
				return nil, err
			}
			w := wantRule{sgRule: base}
			w.CIDRv4, w.Description = c, r.Description
			out = append(out, w)
		}
		for _, r := range p.Ipv6Ranges {
			c, err := normCIDRv6(r.CidrIpv6)
			if err != nil {
				return nil, err
			}
			w := wantRule{sgRule: base}
			w.CIDRv6, w.Description = c, r.Description
			out = append(out, w)
		}
		for _, r := range p.PrefixListIds {
			if !strings.HasPrefix(r.PrefixListId, "pl-") || len(r.PrefixListId) <= len("pl-") {
				return nil, awserr.New(awserr.InvalidArgument, "InvalidPrefixListId.Malformed", "Invalid id: \"%s\" (expecting \"pl-...\")", r.PrefixListId)
			}
			w := wantRule{sgRule: base}
			w.PrefixListID, w.Description = r.PrefixListId, r.Description
			out = append(out, w)
		}
		for _, r := range p.UserIdGroupPairs {
			if r.GroupId == "" && r.GroupName == "" {
				return nil, awserr.New(awserr.InvalidArgument, "MissingParameter", "Either 'groupId' or 'groupName' must be specified for a security group reference")
			}
			w := wantRule{sgRule: base, refName: r.GroupName, refOwner: r.UserId}
			w.GroupID, w.Description = r.GroupId, r.Description
			out = append(out, w)
		}
		if len(out) == n {
			return nil, sgInvalidParam("The request must specify at least one source or destination (IpRanges, Ipv6Ranges, PrefixListIds or UserIdGroupPairs) for each IP permission")
		}
	}
	for _, w := range out {
		if err := validRuleDescription(w.Description); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// legacyRule is the pre-IpPermissions top-level form of a rule.
type legacyRule struct {
	proto          string
	from, to       *int32
	cidr           string
	srcName, srcID string // source group name and owner
}

func (l legacyRule) empty() bool {
	return l.proto == "" && l.from == nil && l.to == nil && l.cidr == "" && l.srcName == "" && l.srcID == ""
}

// parseLegacy turns the top-level fields into rules: either a protocol,
// ports and CidrIp, or a source group by name, which (as AWS documents)
// grants all ICMP, TCP and UDP traffic from that group.
func parseLegacy(l legacyRule) ([]wantRule, error) {
	if l.srcName != "" || l.srcID != "" {
		if l.proto != "" || l.from != nil || l.to != nil || l.cidr != "" {
			return nil, awserr.New(awserr.InvalidArgument, "InvalidParameterCombination", "The parameter 'sourceSecurityGroupName' may not be used in combination with 'ipProtocol', 'fromPort', 'toPort' or 'cidrIp'. Use IP permissions instead.")
		}
		if l.srcName == "" {
			return nil, awserr.New(awserr.InvalidArgument, "MissingParameter", "The request must contain the parameter sourceSecurityGroupName")
		}
		var out []wantRule
		for _, r := range []sgRule{{Protocol: "icmp", FromPort: -1, ToPort: -1}, {Protocol: "tcp", FromPort: 0, ToPort: 65535}, {Protocol: "udp", FromPort: 0, ToPort: 65535}} {
			out = append(out, wantRule{sgRule: r, refName: l.srcName, refOwner: l.srcID})
		}
		return out, nil
	}
	proto, err := normProtocol(l.proto)
	if err != nil {
		return nil, err
	}
	if l.cidr == "" {
		return nil, awserr.New(awserr.InvalidArgument, "MissingParameter", "The request must contain the parameter cidrIp or sourceSecurityGroupName")
	}
	return parsePermissions([]ec2api.IpPermission{{IpProtocol: proto, FromPort: l.from, ToPort: l.to, IpRanges: []ec2api.IpRange{{CidrIp: l.cidr}}}})
}

// parseRuleRequest parses either IpPermissions or the legacy fields; using
// both is an error, and so is using neither.
func parseRuleRequest(perms []ec2api.IpPermission, l legacyRule) ([]wantRule, error) {
	switch {
	case len(perms) > 0 && !l.empty():
		return nil, awserr.New(awserr.InvalidArgument, "InvalidParameterCombination", "The parameter 'ipPermissions' may not be used in combination with 'ipProtocol', 'fromPort', 'toPort', 'cidrIp', 'sourceSecurityGroupName' or 'sourceSecurityGroupOwnerId'")
	case len(perms) > 0:
		return parsePermissions(perms)
	case !l.empty():
		return parseLegacy(l)
	}
	return nil, awserr.New(awserr.InvalidArgument, "MissingParameter", "The request must contain the parameter ipPermissions")
}

// resolveRefs resolves the groups that wanted rules reference. A group must
// exist and be in the same VPC as g (kiln has no VPC peering, so a group of
// another account is always in another network).
func resolveRefs(tx store.Tx, sc scope, g securityGroup, want []wantRule) ([]sgRule, error) {
	out := make([]sgRule, 0, len(want))
	for _, w := range want {
		r := w.sgRule
		if r.GroupID == "" && w.refName == "" {
			out = append(out, r)
			continue
		}
		owner := sc.account
		if w.refOwner != "" {
			owner = w.refOwner
		}
		osc := scope{account: owner, region: sc.region}
		var ref securityGroup
		var err error
		if r.GroupID != "" {
			ref, err = getGroupByID(tx, osc, r.GroupID)
		} else {
			ref, err = store.GetJSONByName[securityGroup](tx, osc.account, osc.region, kindSecurityGroup, sgName(g.VpcID, w.refName))
			if errors.Is(err, store.ErrNotFound) {
				err = awserr.New(awserr.NotFound, "InvalidGroup.NotFound", "The security group '%s' does not exist in VPC '%s'", w.refName, g.VpcID)
			}
		}
		if err != nil {
			return nil, err
		}
		if ref.VpcID != g.VpcID {
			return nil, awserr.New(awserr.NotFound, "InvalidGroup.NotFound", "You have specified two resources that belong to different networks.")
		}
		r.GroupID, r.GroupOwner = ref.ID, owner
		out = append(out, r)
	}
	return out, nil
}

// getGroupByID reads a group of the scope's account by ID.
func getGroupByID(tx store.Tx, sc scope, id string) (securityGroup, error) {
	if err := checkGroupID(id); err != nil {
		return securityGroup{}, err
	}
	g, err := store.GetJSON[securityGroup](tx, sc.key(kindSecurityGroup, id))
	if errors.Is(err, store.ErrNotFound) {
		return g, groupNotFound(id)
	}
	return g, err
}

func checkGroupID(id string) error {
	if !strings.HasPrefix(id, "sg-") || len(id) <= len("sg-") {
		return awserr.New(awserr.InvalidArgument, "InvalidGroupId.Malformed", "Invalid id: \"%s\" (expecting \"sg-...\")", id)
	}
	return nil
}

func groupNotFound(id string) error {
	return awserr.New(awserr.NotFound, "InvalidGroup.NotFound", "The security group '%s' does not exist", id)
}

// getGroupByName reads a group of the default VPC by name, as the GroupName
// parameters of EC2-VPC mean.
func getGroupByName(tx store.Tx, sc scope, name string) (securityGroup, error) {
	v, err := store.GetJSONByName[vpc](tx, sc.account, sc.region, kindVPC, "default")
	if err != nil {
		return securityGroup{}, err
	}
	g, err := store.GetJSONByName[securityGroup](tx, sc.account, sc.region, kindSecurityGroup, sgName(v.ID, name))
	if errors.Is(err, store.ErrNotFound) {
		return g, awserr.New(awserr.NotFound, "InvalidGroup.NotFound", "The security group '%s' does not exist in default VPC '%s'", name, v.ID)
	}
	return g, err
}

// getGroup reads the group an action names by GroupId or, failing that, by
// GroupName in the default VPC.
func getGroup(tx store.Tx, sc scope, id, name string) (securityGroup, error) {
	switch {
	case id != "":
		return getGroupByID(tx, sc, id)
	case name != "":
		return getGroupByName(tx, sc, name)
	}
	return securityGroup{}, awserr.New(awserr.InvalidArgument, "MissingParameter", "The request must contain the parameter groupName or groupId")
}

// ruleKey is a rule's identity: protocol, ports and peer. The description
// is not part of it.
func ruleKey(r sgRule) string {
	return fmt.Sprintf("%s|%d|%d|%s|%s|%s|%s", r.Protocol, r.FromPort, r.ToPort, r.CIDRv4, r.CIDRv6, r.PrefixListID, r.GroupID)
}

// duplicateRule is AWS's InvalidPermission.Duplicate for r.
func duplicateRule(r sgRule) error {
	peer := r.CIDRv4
	switch {
	case r.CIDRv6 != "":
		peer = r.CIDRv6
	case r.PrefixListID != "":
		peer = r.PrefixListID
	case r.GroupID != "":
		peer = r.GroupID
	}
	var what string
	switch r.Protocol {
	case "-1":
		what = "ALL"
	case "tcp", "udp":
		what = fmt.Sprintf("%s, from port: %d, to port: %d", strings.ToUpper(r.Protocol), r.FromPort, r.ToPort)
	case "icmp":
		what = fmt.Sprintf("ICMP, type: %d, code: %d", r.FromPort, r.ToPort)
	case "58":
		what = fmt.Sprintf("ICMPV6, type: %d, code: %d", r.FromPort, r.ToPort)
	default:
		what = r.Protocol
	}
	return awserr.New(awserr.AlreadyExists, "InvalidPermission.Duplicate", "the specified rule \"peer: %s, %s, ALLOW\" already exists", peer, what)
}

// checkRuleLimit enforces the per-direction quota, counted separately for
// IPv4 and IPv6.
func checkRuleLimit(rules []sgRule) error {
	var v4, v6 int
	for _, r := range rules {
		switch {
		case r.CIDRv4 != "":
			v4++
		case r.CIDRv6 != "":
			v6++
		default: // group or prefix list references count in both
			v4++
			v6++
		}
	}
	if v4 > maxRulesPerDirection || v6 > maxRulesPerDirection {
		return awserr.New(awserr.LimitExceeded, "RulesPerSecurityGroupLimitExceeded", "The maximum number of rules per security group has been reached.")
	}
	return nil
}

func sgArn(sc scope, id string) string {
	return "arn:aws:ec2:" + sc.region + ":" + sc.account + ":security-group/" + id
}

func sgrArn(sc scope, id string) string {
	return "arn:aws:ec2:" + sc.region + ":" + sc.account + ":security-group-rule/" + id
}

// renderPermissions groups rules as DescribeSecurityGroups does: one
// IpPermission per (protocol, from, to), in order of first appearance,
// holding all its peers. Protocols without ports have no ports in the
// output. Empty peer lists are present but empty, as AWS answers them.
func renderPermissions(rules []sgRule) []ec2api.IpPermission {
	out := []ec2api.IpPermission{}
	idx := map[string]int{}
	for _, r := range rules {
		k := fmt.Sprintf("%s|%d|%d", r.Protocol, r.FromPort, r.ToPort)
		i, ok := idx[k]
		if !ok {
			p := ec2api.IpPermission{
				IpProtocol:       r.Protocol,
				IpRanges:         []ec2api.IpRange{},
				Ipv6Ranges:       []ec2api.Ipv6Range{},
				PrefixListIds:    []ec2api.PrefixListId{},
				UserIdGroupPairs: []ec2api.UserIdGroupPair{},
			}
			if hasPorts(r.Protocol) {
				p.FromPort, p.ToPort = ptr(r.FromPort), ptr(r.ToPort)
			}
			i = len(out)
			idx[k] = i
			out = append(out, p)
		}
		p := &out[i]
		switch {
		case r.CIDRv4 != "":
			p.IpRanges = append(p.IpRanges, ec2api.IpRange{CidrIp: r.CIDRv4, Description: r.Description})
		case r.CIDRv6 != "":
			p.Ipv6Ranges = append(p.Ipv6Ranges, ec2api.Ipv6Range{CidrIpv6: r.CIDRv6, Description: r.Description})
		case r.PrefixListID != "":
			p.PrefixListIds = append(p.PrefixListIds, ec2api.PrefixListId{PrefixListId: r.PrefixListID, Description: r.Description})
		case r.GroupID != "":
			p.UserIdGroupPairs = append(p.UserIdGroupPairs, ec2api.UserIdGroupPair{GroupId: r.GroupID, UserId: r.GroupOwner, Description: r.Description})
		}
	}
	return out
}

// renderRule is one rule as SecurityGroupRule (Authorize* answers).
func renderRule(sc scope, groupID string, egress bool, r sgRule, tags []ec2api.Tag) ec2api.SecurityGroupRule {
	out := ec2api.SecurityGroupRule{
		SecurityGroupRuleId:  r.ID,
		GroupId:              groupID,
		GroupOwnerId:         sc.account,
		IsEgress:             ptr(egress),
		IpProtocol:           r.Protocol,
		FromPort:             ptr(r.FromPort),
		ToPort:               ptr(r.ToPort),
		CidrIpv4:             r.CIDRv4,
		CidrIpv6:             r.CIDRv6,
		PrefixListId:         r.PrefixListID,
		Description:          r.Description,
		Tags:                 tags,
		SecurityGroupRuleArn: sgrArn(sc, r.ID),
	}
	if r.GroupID != "" {
		out.ReferencedGroupInfo = &ec2api.ReferencedSecurityGroup{GroupId: r.GroupID, UserId: r.GroupOwner}
	}
	return out
}

// renderRevoked is one removed rule as RevokedSecurityGroupRule.
func renderRevoked(groupID string, egress bool, r sgRule) ec2api.RevokedSecurityGroupRule {
	return ec2api.RevokedSecurityGroupRule{
		SecurityGroupRuleId: r.ID,
		GroupId:             groupID,
		IsEgress:            ptr(egress),
		IpProtocol:          r.Protocol,
		FromPort:            ptr(r.FromPort),
		ToPort:              ptr(r.ToPort),
		CidrIpv4:            r.CIDRv4,
		CidrIpv6:            r.CIDRv6,
		PrefixListId:        r.PrefixListID,
		ReferencedGroupId:   r.GroupID,
		Description:         r.Description,
	}
}

// deleteRuleTags removes the tags of rules (rules are not store records, so
// the store does not drop their tags with them).
func deleteRuleTags(tx store.Tx, sc scope, rules []sgRule) error {
	if len(rules) == 0 {
		return nil
	}
	ids := make([]string, len(rules))
	for i, r := range rules {
		ids[i] = r.ID
	}
	ts, err := tx.ListTags(store.TagQuery{Account: sc.account, Region: sc.region, ResourceIDs: ids})
	if err != nil {
		return err
	}
	for _, t := range ts {
		if err := tx.DeleteTag(sc.account, sc.region, t.ResourceID, t.Key); err != nil {
			return err
		}
	}
	return nil
}
