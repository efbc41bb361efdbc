package ec2

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/clock"
	"github.com/kiln-dev/kiln/internal/reqctx"
	"github.com/kiln-dev/kiln/internal/store"
	"github.com/kiln-dev/kiln/internal/store/sqlite"
)

const sgTestAccount = "123456789012"

func sgTestService(t *testing.T) (*Service, context.Context) {
	t.Helper()
	s := New(sqlite.OpenTemp(t), clock.NewFake(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)))
	return s, sgCtx(sgTestAccount, "us-east-1")
}

func sgCtx(account, region string) context.Context {
	return reqctx.With(context.Background(), reqctx.Caller{AccountID: account, Region: region})
}

// sgWantCode fails unless err is an awserr with the code (and, when msg is
// not empty, a message containing msg).
func sgWantCode(t *testing.T, err error, code, msg string) {
	t.Helper()
	var ae *awserr.Error
	if !errors.As(err, &ae) {
		t.Fatalf("error = %v, want %s", err, code)
	}
	if ae.Code != code {
		t.Fatalf("code = %s (%s), want %s", ae.Code, ae.Message, code)
	}
	if msg != "" && !strings.Contains(ae.Message, msg) {
		t.Fatalf("message = %q, want it to contain %q", ae.Message, msg)
	}
}

func sgNoErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func sgMkGroup(t *testing.T, s *Service, ctx context.Context, name, vpcID string) string {
	t.Helper()
	out, err := s.CreateSecurityGroup(ctx, &ec2api.CreateSecurityGroupRequest{GroupName: name, Description: "d " + name, VpcId: vpcID})
	sgNoErr(t, err)
	return out.GroupId
}

// sgMkVPC stores a non-default VPC directly (CreateVpc is not this file's).
func sgMkVPC(t *testing.T, s *Service, ctx context.Context) string {
	t.Helper()
	sc := scopeOf(ctx)
	sgNoErr(t, s.ensureDefaults(ctx, sc))
	v := vpc{ID: newID("vpc"), CIDR: "10.0.0.0/16"}
	sgNoErr(t, s.st.Update(ctx, func(tx store.Tx) error { return store.CreateJSON(tx, sc.key(kindVPC, v.ID), "", v) }))
	return v.ID
}

func sgDefaultVPCID(t *testing.T, s *Service, ctx context.Context) string {
	t.Helper()
	sc := scopeOf(ctx)
	sgNoErr(t, s.ensureDefaults(ctx, sc))
	var id string
	sgNoErr(t, s.st.View(ctx, func(tx store.Tx) error {
		v, err := s.defaultVPC(ctx, tx, sc)
		id = v.ID
		return err
	}))
	return id
}

func sgDescribe(t *testing.T, s *Service, ctx context.Context, id string) ec2api.SecurityGroup {
	t.Helper()
	out, err := s.DescribeSecurityGroups(ctx, &ec2api.DescribeSecurityGroupsRequest{GroupIds: []string{id}})
	sgNoErr(t, err)
	if len(out.SecurityGroups) != 1 {
		t.Fatalf("described %d groups, want 1", len(out.SecurityGroups))
	}
	return out.SecurityGroups[0]
}

func sgGroupIDs(gs []ec2api.SecurityGroup) []string {
	var ids []string
	for _, g := range gs {
		ids = append(ids, g.GroupId)
	}
	return ids
}

func sgCIDRPerm(proto string, from, to int32, cidrs ...string) ec2api.IpPermission {
	p := ec2api.IpPermission{IpProtocol: proto, FromPort: ptr(from), ToPort: ptr(to)}
	for _, c := range cidrs {
		p.IpRanges = append(p.IpRanges, ec2api.IpRange{CidrIp: c})
	}
	return p
}

func sgGroupPerm(proto string, from, to int32, ids ...string) ec2api.IpPermission {
	p := ec2api.IpPermission{IpProtocol: proto, FromPort: ptr(from), ToPort: ptr(to)}
	for _, id := range ids {
		p.UserIdGroupPairs = append(p.UserIdGroupPairs, ec2api.UserIdGroupPair{GroupId: id})
	}
	return p
}

func sgAllowIn(t *testing.T, s *Service, ctx context.Context, id string, perms ...ec2api.IpPermission) []ec2api.SecurityGroupRule {
	t.Helper()
	out, err := s.AuthorizeSecurityGroupIngress(ctx, &ec2api.AuthorizeSecurityGroupIngressRequest{GroupId: id, IpPermissions: perms})
	sgNoErr(t, err)
	return out.SecurityGroupRules
}

func TestCreateSecurityGroup(t *testing.T) {
	s, ctx := sgTestService(t)
	out, err := s.CreateSecurityGroup(ctx, &ec2api.CreateSecurityGroupRequest{
		GroupName: "web", Description: "Web servers (HTTP/HTTPS) #1",
		TagSpecifications: []ec2api.TagSpecification{{ResourceType: "security-group", Tags: []ec2api.Tag{{Key: "Name", Value: "web"}}}},
	})
	sgNoErr(t, err)
	if !strings.HasPrefix(out.GroupId, "sg-") || len(out.GroupId) != len("sg-")+17 {
		t.Fatalf("GroupId = %q", out.GroupId)
	}
	if want := "arn:aws:ec2:us-east-1:123456789012:security-group/" + out.GroupId; out.SecurityGroupArn != want {
		t.Fatalf("arn = %q, want %q", out.SecurityGroupArn, want)
	}
	if !reflect.DeepEqual(out.Tags, []ec2api.Tag{{Key: "Name", Value: "web"}}) {
		t.Fatalf("tags = %+v", out.Tags)
	}
	g := sgDescribe(t, s, ctx, out.GroupId)
	want := ec2api.SecurityGroup{
		GroupId: out.GroupId, GroupName: "web", Description: "Web servers (HTTP/HTTPS) #1", OwnerId: sgTestAccount,
		VpcId: sgDefaultVPCID(t, s, ctx), SecurityGroupArn: out.SecurityGroupArn, Tags: []ec2api.Tag{{Key: "Name", Value: "web"}},
		IpPermissions: []ec2api.IpPermission{},
		IpPermissionsEgress: []ec2api.IpPermission{{
			IpProtocol: "-1", IpRanges: []ec2api.IpRange{{CidrIp: "0.0.0.0/0"}},
			Ipv6Ranges: []ec2api.Ipv6Range{}, PrefixListIds: []ec2api.PrefixListId{}, UserIdGroupPairs: []ec2api.UserIdGroupPair{},
		}},
	}
	if !reflect.DeepEqual(g, want) {
		t.Fatalf("described\n%+v\nwant\n%+v", g, want)
	}

	// The same name in another VPC is fine.
	other := sgMkVPC(t, s, ctx)
	id2 := sgMkGroup(t, s, ctx, "web", other)
	if g2 := sgDescribe(t, s, ctx, id2); g2.VpcId != other {
		t.Fatalf("VpcId = %s, want %s", g2.VpcId, other)
	}

	for _, tc := range []struct {
		name string
		in   ec2api.CreateSecurityGroupRequest
		code string
		msg  string
	}{
		{"reserved", ec2api.CreateSecurityGroupRequest{GroupName: "default", Description: "x"}, "InvalidGroup.Reserved", ""},
		{"sg prefix", ec2api.CreateSecurityGroupRequest{GroupName: "sg-12345", Description: "x"}, "InvalidParameterValue", "sg-*"},
		{"name too long", ec2api.CreateSecurityGroupRequest{GroupName: strings.Repeat("a", 256), Description: "x"}, "InvalidParameterValue", "GroupName"},
		{"name charset", ec2api.CreateSecurityGroupRequest{GroupName: "caf\u00e9", Description: "x"}, "InvalidParameterValue", "GroupName"},
		{"name charset 2", ec2api.CreateSecurityGroupRequest{GroupName: "a<b>", Description: "x"}, "InvalidParameterValue", "GroupName"},
		{"description too long", ec2api.CreateSecurityGroupRequest{GroupName: "n", Description: strings.Repeat("a", 256)}, "InvalidParameterValue", "GroupDescription"},
		{"description charset", ec2api.CreateSecurityGroupRequest{GroupName: "n", Description: "tab\there"}, "InvalidParameterValue", "GroupDescription"},
		{"unknown vpc", ec2api.CreateSecurityGroupRequest{GroupName: "n", Description: "x", VpcId: "vpc-0123456789abcdef0"}, "InvalidVpcID.NotFound", "vpc-0123456789abcdef0"},
		{"duplicate", ec2api.CreateSecurityGroupRequest{GroupName: "web", Description: "x"}, "InvalidGroup.Duplicate", "The security group 'web' already exists for VPC '" + want.VpcId + "'"},
		{"duplicate default", ec2api.CreateSecurityGroupRequest{GroupName: "web", Description: "x", VpcId: other}, "InvalidGroup.Duplicate", other},
		{"bad tag type", ec2api.CreateSecurityGroupRequest{GroupName: "n", Description: "x", TagSpecifications: []ec2api.TagSpecification{{ResourceType: "instance", Tags: []ec2api.Tag{{Key: "a"}}}}}, "InvalidParameterValue", "instance"},
		{"aws tag", ec2api.CreateSecurityGroupRequest{GroupName: "n", Description: "x", TagSpecifications: []ec2api.TagSpecification{{ResourceType: "security-group", Tags: []ec2api.Tag{{Key: "aws:x"}}}}}, "InvalidParameterValue", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.CreateSecurityGroup(ctx, &tc.in)
			sgWantCode(t, err, tc.code, tc.msg)
		})
	}
	// Nothing of the failed creations was stored.
	all, err := s.DescribeSecurityGroups(ctx, &ec2api.DescribeSecurityGroupsRequest{})
	sgNoErr(t, err)
	if len(all.SecurityGroups) != 3 { // default, web, web in the other VPC
		t.Fatalf("%d groups: %v", len(all.SecurityGroups), sgGroupIDs(all.SecurityGroups))
	}
}

func TestDefaultSecurityGroup(t *testing.T) {
	s, ctx := sgTestService(t)
	out, err := s.DescribeSecurityGroups(ctx, &ec2api.DescribeSecurityGroupsRequest{GroupNames: []string{"default"}})
	sgNoErr(t, err)
	if len(out.SecurityGroups) != 1 {
		t.Fatalf("%d groups", len(out.SecurityGroups))
	}
	g := out.SecurityGroups[0]
	wantIn := []ec2api.IpPermission{{
		IpProtocol: "-1", IpRanges: []ec2api.IpRange{}, Ipv6Ranges: []ec2api.Ipv6Range{}, PrefixListIds: []ec2api.PrefixListId{},
		UserIdGroupPairs: []ec2api.UserIdGroupPair{{GroupId: g.GroupId, UserId: sgTestAccount}},
	}}
	if g.GroupName != "default" || g.Description != "default VPC security group" || !reflect.DeepEqual(g.IpPermissions, wantIn) {
		t.Fatalf("default group = %+v", g)
	}
}

func TestDeleteSecurityGroup(t *testing.T) {
	s, ctx := sgTestService(t)
	defID := sgDescribeByName(t, s, ctx, "default").GroupId

	t.Run("by id", func(t *testing.T) {
		id := sgMkGroup(t, s, ctx, "a", "")
		out, err := s.DeleteSecurityGroup(ctx, &ec2api.DeleteSecurityGroupRequest{GroupId: id})
		sgNoErr(t, err)
		if !deref(out.Return) || out.GroupId != id {
			t.Fatalf("out = %+v", out)
		}
		_, err = s.DescribeSecurityGroups(ctx, &ec2api.DescribeSecurityGroupsRequest{GroupIds: []string{id}})
		sgWantCode(t, err, "InvalidGroup.NotFound", id)
		_, err = s.DeleteSecurityGroup(ctx, &ec2api.DeleteSecurityGroupRequest{GroupId: id})
		sgWantCode(t, err, "InvalidGroup.NotFound", "The security group '"+id+"' does not exist")
	})
	t.Run("by name", func(t *testing.T) {
		id := sgMkGroup(t, s, ctx, "b", "")
		out, err := s.DeleteSecurityGroup(ctx, &ec2api.DeleteSecurityGroupRequest{GroupName: "b"})
		sgNoErr(t, err)
		if out.GroupId != id {
			t.Fatalf("deleted %s, want %s", out.GroupId, id)
		}
		// A name is looked up in the default VPC only.
		sgMkGroup(t, s, ctx, "c", sgMkVPC(t, s, ctx))
		_, err = s.DeleteSecurityGroup(ctx, &ec2api.DeleteSecurityGroupRequest{GroupName: "c"})
		sgWantCode(t, err, "InvalidGroup.NotFound", "does not exist in default VPC")
	})
	t.Run("name reusable after delete", func(t *testing.T) {
		id := sgMkGroup(t, s, ctx, "again", "")
		_, err := s.DeleteSecurityGroup(ctx, &ec2api.DeleteSecurityGroupRequest{GroupId: id})
		sgNoErr(t, err)
		sgMkGroup(t, s, ctx, "again", "")
	})
	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			in   ec2api.DeleteSecurityGroupRequest
			code string
		}{
			{"default by id", ec2api.DeleteSecurityGroupRequest{GroupId: defID}, "CannotDelete"},
			{"default by name", ec2api.DeleteSecurityGroupRequest{GroupName: "default"}, "CannotDelete"},
			{"missing id", ec2api.DeleteSecurityGroupRequest{GroupId: "sg-0123456789abcdef0"}, "InvalidGroup.NotFound"},
			{"missing name", ec2api.DeleteSecurityGroupRequest{GroupName: "nope"}, "InvalidGroup.NotFound"},
			{"malformed id", ec2api.DeleteSecurityGroupRequest{GroupId: "web"}, "InvalidGroupId.Malformed"},
			{"neither", ec2api.DeleteSecurityGroupRequest{}, "MissingParameter"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := s.DeleteSecurityGroup(ctx, &tc.in)
				sgWantCode(t, err, tc.code, "")
			})
		}
	})
	t.Run("dependency", func(t *testing.T) {
		target := sgMkGroup(t, s, ctx, "target", "")
		user := sgMkGroup(t, s, ctx, "user", "")
		sgAllowIn(t, s, ctx, target, sgGroupPerm("tcp", 80, 80, target)) // self-reference: no dependency
		sgAllowIn(t, s, ctx, user, sgGroupPerm("tcp", 22, 22, target))
		_, err := s.DeleteSecurityGroup(ctx, &ec2api.DeleteSecurityGroupRequest{GroupId: target})
		sgWantCode(t, err, "DependencyViolation", "resource "+target+" has a dependent object")
		// Egress references count too.
		_, err = s.RevokeSecurityGroupIngress(ctx, &ec2api.RevokeSecurityGroupIngressRequest{GroupId: user, IpPermissions: []ec2api.IpPermission{sgGroupPerm("tcp", 22, 22, target)}})
		sgNoErr(t, err)
		_, err = s.AuthorizeSecurityGroupEgress(ctx, &ec2api.AuthorizeSecurityGroupEgressRequest{GroupId: user, IpPermissions: []ec2api.IpPermission{sgGroupPerm("tcp", 5432, 5432, target)}})
		sgNoErr(t, err)
		_, err = s.DeleteSecurityGroup(ctx, &ec2api.DeleteSecurityGroupRequest{GroupId: target})
		sgWantCode(t, err, "DependencyViolation", "")
		_, err = s.RevokeSecurityGroupEgress(ctx, &ec2api.RevokeSecurityGroupEgressRequest{GroupId: user, IpPermissions: []ec2api.IpPermission{sgGroupPerm("tcp", 5432, 5432, target)}})
		sgNoErr(t, err)
		_, err = s.DeleteSecurityGroup(ctx, &ec2api.DeleteSecurityGroupRequest{GroupId: target})
		sgNoErr(t, err)
	})
	t.Run("drops rule tags", func(t *testing.T) {
		id := sgMkGroup(t, s, ctx, "tagged", "")
		out, err := s.AuthorizeSecurityGroupIngress(ctx, &ec2api.AuthorizeSecurityGroupIngressRequest{
			GroupId: id, IpPermissions: []ec2api.IpPermission{sgCIDRPerm("tcp", 22, 22, "10.0.0.0/8")},
			TagSpecifications: []ec2api.TagSpecification{{ResourceType: "security-group-rule", Tags: []ec2api.Tag{{Key: "k", Value: "v"}}}},
		})
		sgNoErr(t, err)
		rid := out.SecurityGroupRules[0].SecurityGroupRuleId
		if n := sgCountTags(t, s, ctx, rid); n != 1 {
			t.Fatalf("%d rule tags before delete", n)
		}
		_, err = s.DeleteSecurityGroup(ctx, &ec2api.DeleteSecurityGroupRequest{GroupId: id})
		sgNoErr(t, err)
		if n := sgCountTags(t, s, ctx, rid); n != 0 {
			t.Fatalf("%d rule tags after delete", n)
		}
	})
}

func sgCountTags(t *testing.T, s *Service, ctx context.Context, id string) int {
	t.Helper()
	sc := scopeOf(ctx)
	var n int
	sgNoErr(t, s.st.View(ctx, func(tx store.Tx) error {
		ts, err := tx.ListTags(store.TagQuery{Account: sc.account, Region: sc.region, ResourceIDs: []string{id}})
		n = len(ts)
		return err
	}))
	return n
}

func sgDescribeByName(t *testing.T, s *Service, ctx context.Context, name string) ec2api.SecurityGroup {
	t.Helper()
	out, err := s.DescribeSecurityGroups(ctx, &ec2api.DescribeSecurityGroupsRequest{GroupNames: []string{name}})
	sgNoErr(t, err)
	return out.SecurityGroups[0]
}

func TestDescribeSecurityGroupsFilters(t *testing.T) {
	s, ctx := sgTestService(t)
	def := sgDescribeByName(t, s, ctx, "default").GroupId
	other := sgMkVPC(t, s, ctx)
	web := sgMkGroup(t, s, ctx, "web", "")
	db := sgMkGroup(t, s, ctx, "db", other)
	app := sgMkGroup(t, s, ctx, "app", "")
	sgAllowIn(t, s, ctx, web, sgCIDRPerm("tcp", 443, 443, "0.0.0.0/0"), ec2api.IpPermission{IpProtocol: "tcp", FromPort: ptr(int32(80)), ToPort: ptr(int32(80)), Ipv6Ranges: []ec2api.Ipv6Range{{CidrIpv6: "::/0"}}})
	sgAllowIn(t, s, ctx, app, sgGroupPerm("tcp", 8080, 8080, web), sgCIDRPerm("icmp", 8, -1, "10.0.0.0/8"))
	_, err := s.AuthorizeSecurityGroupEgress(ctx, &ec2api.AuthorizeSecurityGroupEgressRequest{GroupId: db, IpPermissions: []ec2api.IpPermission{sgCIDRPerm("udp", 53, 53, "10.1.0.0/16")}})
	sgNoErr(t, err)
	// Tag directly through the store: CreateTags is not this file's.
	sc := scopeOf(ctx)
	sgNoErr(t, s.st.Update(ctx, func(tx store.Tx) error {
		return putTags(tx, sc, web, "security-group", []ec2api.Tag{{Key: "env", Value: "prod"}})
	}))

	sortIDs := func(ids ...string) []string {
		out := append([]string{}, ids...)
		for i := range out {
			for j := i + 1; j < len(out); j++ {
				if out[j] < out[i] {
					out[i], out[j] = out[j], out[i]
				}
			}
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		filters []ec2api.Filter
		want    []string
	}{
		{"none", nil, sortIDs(def, web, db, app)},
		{"group-name", []ec2api.Filter{{Name: "group-name", Values: []string{"web", "db"}}}, sortIDs(web, db)},
		{"group-name wildcard", []ec2api.Filter{{Name: "group-name", Values: []string{"d*"}}}, sortIDs(def, db)},
		{"group-id", []ec2api.Filter{{Name: "group-id", Values: []string{app}}}, []string{app}},
		{"description", []ec2api.Filter{{Name: "description", Values: []string{"d web"}}}, []string{web}},
		{"vpc-id", []ec2api.Filter{{Name: "vpc-id", Values: []string{other}}}, []string{db}},
		{"owner-id", []ec2api.Filter{{Name: "owner-id", Values: []string{sgTestAccount}}}, sortIDs(def, web, db, app)},
		{"owner-id other", []ec2api.Filter{{Name: "owner-id", Values: []string{"999999999999"}}}, nil},
		{"protocol", []ec2api.Filter{{Name: "ip-permission.protocol", Values: []string{"icmp"}}}, []string{app}},
		{"protocol all", []ec2api.Filter{{Name: "ip-permission.protocol", Values: []string{"-1"}}}, []string{def}},
		{"from-port", []ec2api.Filter{{Name: "ip-permission.from-port", Values: []string{"443"}}}, []string{web}},
		{"to-port", []ec2api.Filter{{Name: "ip-permission.to-port", Values: []string{"8080"}}}, []string{app}},
		{"cidr", []ec2api.Filter{{Name: "ip-permission.cidr", Values: []string{"0.0.0.0/0"}}}, []string{web}},
		{"ipv6-cidr", []ec2api.Filter{{Name: "ip-permission.ipv6-cidr", Values: []string{"::/0"}}}, []string{web}},
		{"group-id ref", []ec2api.Filter{{Name: "ip-permission.group-id", Values: []string{web}}}, []string{app}},
		{"group-name ref", []ec2api.Filter{{Name: "ip-permission.group-name", Values: []string{"web"}}}, []string{app}},
		{"user-id", []ec2api.Filter{{Name: "ip-permission.user-id", Values: []string{sgTestAccount}}}, sortIDs(def, app)},
		{"egress cidr", []ec2api.Filter{{Name: "egress.ip-permission.cidr", Values: []string{"10.1.0.0/16"}}}, []string{db}},
		{"egress cidr all", []ec2api.Filter{{Name: "egress.ip-permission.cidr", Values: []string{"0.0.0.0/0"}}}, sortIDs(def, web, db, app)},
		{"egress protocol", []ec2api.Filter{{Name: "egress.ip-permission.protocol", Values: []string{"udp"}}}, []string{db}},
		{"and across filters", []ec2api.Filter{{Name: "vpc-id", Values: []string{other}}, {Name: "group-name", Values: []string{"web"}}}, nil},
		{"tag", []ec2api.Filter{{Name: "tag:env", Values: []string{"prod"}}}, []string{web}},
		{"tag-key", []ec2api.Filter{{Name: "tag-key", Values: []string{"env"}}}, []string{web}},
		{"tag-value", []ec2api.Filter{{Name: "tag-value", Values: []string{"pr*"}}}, []string{web}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := s.DescribeSecurityGroups(ctx, &ec2api.DescribeSecurityGroupsRequest{Filters: tc.filters})
			sgNoErr(t, err)
			if got := sgGroupIDs(out.SecurityGroups); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}

	t.Run("ids and names", func(t *testing.T) {
		out, err := s.DescribeSecurityGroups(ctx, &ec2api.DescribeSecurityGroupsRequest{GroupIds: []string{web}, GroupNames: []string{"app"}})
		sgNoErr(t, err)
		if got, want := sgGroupIDs(out.SecurityGroups), sortIDs(web, app); !reflect.DeepEqual(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
		out, err = s.DescribeSecurityGroups(ctx, &ec2api.DescribeSecurityGroupsRequest{GroupIds: []string{web, app}, Filters: []ec2api.Filter{{Name: "group-name", Values: []string{"app"}}}})
		sgNoErr(t, err)
		if got := sgGroupIDs(out.SecurityGroups); !reflect.DeepEqual(got, []string{app}) {
			t.Fatalf("got %v", got)
		}
	})
	for _, tc := range []struct {
		name string
		in   ec2api.DescribeSecurityGroupsRequest
		code string
		msg  string
	}{
		{"missing id", ec2api.DescribeSecurityGroupsRequest{GroupIds: []string{web, "sg-00000000000000000"}}, "InvalidGroup.NotFound", "'sg-00000000000000000'"},
		{"malformed id", ec2api.DescribeSecurityGroupsRequest{GroupIds: []string{"web"}}, "InvalidGroupId.Malformed", ""},
		{"missing name", ec2api.DescribeSecurityGroupsRequest{GroupNames: []string{"nope"}}, "InvalidGroup.NotFound", "'nope'"},
		{"name not in default vpc", ec2api.DescribeSecurityGroupsRequest{GroupNames: []string{"db"}}, "InvalidGroup.NotFound", "default VPC"},
		{"unknown filter", ec2api.DescribeSecurityGroupsRequest{Filters: []ec2api.Filter{{Name: "group-colour", Values: []string{"x"}}}}, "InvalidParameterValue", "group-colour"},
		{"unknown rule filter", ec2api.DescribeSecurityGroupsRequest{Filters: []ec2api.Filter{{Name: "egress.ip-permission.colour", Values: []string{"x"}}}}, "InvalidParameterValue", ""},
		{"max results low", ec2api.DescribeSecurityGroupsRequest{MaxResults: ptr(int32(4))}, "InvalidParameterValue", ""},
		{"max results high", ec2api.DescribeSecurityGroupsRequest{MaxResults: ptr(int32(1001))}, "InvalidParameterValue", ""},
		{"bad token", ec2api.DescribeSecurityGroupsRequest{NextToken: "!!!"}, "InvalidNextToken", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.DescribeSecurityGroups(ctx, &tc.in)
			sgWantCode(t, err, tc.code, tc.msg)
		})
	}
}

func TestDescribeSecurityGroupsPaging(t *testing.T) {
	s, ctx := sgTestService(t)
	for i := range 11 {
		sgMkGroup(t, s, ctx, fmt.Sprintf("g%d", i), "")
	}
	var seen []string
	token := ""
	pages := 0
	for {
		out, err := s.DescribeSecurityGroups(ctx, &ec2api.DescribeSecurityGroupsRequest{MaxResults: ptr(int32(5)), NextToken: token})
		sgNoErr(t, err)
		pages++
		if len(out.SecurityGroups) > 5 {
			t.Fatalf("page of %d", len(out.SecurityGroups))
		}
		seen = append(seen, sgGroupIDs(out.SecurityGroups)...)
		if token = out.NextToken; token == "" {
			break
		}
	}
	if pages != 3 || len(seen) != 12 {
		t.Fatalf("%d pages, %d groups", pages, len(seen))
	}
	for i := 1; i < len(seen); i++ {
		if seen[i-1] >= seen[i] {
			t.Fatalf("not ordered by ID: %v", seen)
		}
	}
}

func TestSecurityGroupIsolation(t *testing.T) {
	s, ctx := sgTestService(t)
	id := sgMkGroup(t, s, ctx, "mine", "")
	for _, tc := range []struct {
		name string
		ctx  context.Context
	}{
		{"other account", sgCtx("210987654321", "us-east-1")},
		{"other region", sgCtx(sgTestAccount, "eu-west-1")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := s.DescribeSecurityGroups(tc.ctx, &ec2api.DescribeSecurityGroupsRequest{})
			sgNoErr(t, err)
			if len(out.SecurityGroups) != 1 || out.SecurityGroups[0].GroupName != "default" {
				t.Fatalf("sees %+v", out.SecurityGroups)
			}
			own := out.SecurityGroups[0]
			if own.OwnerId != scopeOf(tc.ctx).account || !strings.Contains(own.SecurityGroupArn, ":"+scopeOf(tc.ctx).region+":") {
				t.Fatalf("owner/arn = %s %s", own.OwnerId, own.SecurityGroupArn)
			}
			_, err = s.DescribeSecurityGroups(tc.ctx, &ec2api.DescribeSecurityGroupsRequest{GroupIds: []string{id}})
			sgWantCode(t, err, "InvalidGroup.NotFound", "")
			_, err = s.DeleteSecurityGroup(tc.ctx, &ec2api.DeleteSecurityGroupRequest{GroupId: id})
			sgWantCode(t, err, "InvalidGroup.NotFound", "")
			_, err = s.AuthorizeSecurityGroupIngress(tc.ctx, &ec2api.AuthorizeSecurityGroupIngressRequest{GroupId: id, IpPermissions: []ec2api.IpPermission{sgCIDRPerm("tcp", 1, 1, "1.2.3.4/32")}})
			sgWantCode(t, err, "InvalidGroup.NotFound", "")
			_, err = s.RevokeSecurityGroupEgress(tc.ctx, &ec2api.RevokeSecurityGroupEgressRequest{GroupId: id, IpPermissions: []ec2api.IpPermission{{IpProtocol: "-1", IpRanges: []ec2api.IpRange{{CidrIp: "0.0.0.0/0"}}}}})
			sgWantCode(t, err, "InvalidGroup.NotFound", "")
			// The same name is free there.
			sgMkGroup(t, s, tc.ctx, "mine", "")
			// Referencing the first group from there fails.
			other := sgMkGroup(t, s, tc.ctx, "ref", "")
			_, err = s.AuthorizeSecurityGroupIngress(tc.ctx, &ec2api.AuthorizeSecurityGroupIngressRequest{GroupId: other, IpPermissions: []ec2api.IpPermission{sgGroupPerm("tcp", 1, 1, id)}})
			sgWantCode(t, err, "InvalidGroup.NotFound", "")
		})
	}
	if g := sgDescribe(t, s, ctx, id); g.GroupName != "mine" {
		t.Fatalf("group = %+v", g)
	}
}

func TestAuthorizeSecurityGroupIngress(t *testing.T) {
	s, ctx := sgTestService(t)
	id := sgMkGroup(t, s, ctx, "web", "")
	peer := sgMkGroup(t, s, ctx, "peer", "")

	t.Run("output", func(t *testing.T) {
		out, err := s.AuthorizeSecurityGroupIngress(ctx, &ec2api.AuthorizeSecurityGroupIngressRequest{
			GroupId: id,
			IpPermissions: []ec2api.IpPermission{{
				IpProtocol: "tcp", FromPort: ptr(int32(22)), ToPort: ptr(int32(22)),
				IpRanges:         []ec2api.IpRange{{CidrIp: "10.0.0.0/8", Description: "ssh from lan"}, {CidrIp: "192.168.1.0/24"}},
				Ipv6Ranges:       []ec2api.Ipv6Range{{CidrIpv6: "2001:DB8::/32"}},
				PrefixListIds:    []ec2api.PrefixListId{{PrefixListId: "pl-12345678"}},
				UserIdGroupPairs: []ec2api.UserIdGroupPair{{GroupId: peer, Description: "peers"}},
			}},
			TagSpecifications: []ec2api.TagSpecification{{ResourceType: "security-group-rule", Tags: []ec2api.Tag{{Key: "team", Value: "ops"}}}},
		})
		sgNoErr(t, err)
		if !deref(out.Return) || len(out.SecurityGroupRules) != 5 {
			t.Fatalf("out = %+v", out)
		}
		r := out.SecurityGroupRules[0]
		want := ec2api.SecurityGroupRule{
			SecurityGroupRuleId: r.SecurityGroupRuleId, GroupId: id, GroupOwnerId: sgTestAccount, IsEgress: ptr(false),
			IpProtocol: "tcp", FromPort: ptr(int32(22)), ToPort: ptr(int32(22)), CidrIpv4: "10.0.0.0/8", Description: "ssh from lan",
			Tags:                 []ec2api.Tag{{Key: "team", Value: "ops"}},
			SecurityGroupRuleArn: "arn:aws:ec2:us-east-1:123456789012:security-group-rule/" + r.SecurityGroupRuleId,
		}
		if !strings.HasPrefix(r.SecurityGroupRuleId, "sgr-") || !reflect.DeepEqual(r, want) {
			t.Fatalf("rule\n%+v\nwant\n%+v", r, want)
		}
		if got := out.SecurityGroupRules[2].CidrIpv6; got != "2001:db8::/32" {
			t.Fatalf("ipv6 = %s", got)
		}
		if got := out.SecurityGroupRules[3].PrefixListId; got != "pl-12345678" {
			t.Fatalf("prefix list = %s", got)
		}
		if got := out.SecurityGroupRules[4].ReferencedGroupInfo; got == nil || got.GroupId != peer || got.UserId != sgTestAccount {
			t.Fatalf("referenced = %+v", got)
		}
		ids := map[string]bool{}
		for _, r := range out.SecurityGroupRules {
			ids[r.SecurityGroupRuleId] = true
		}
		if len(ids) != 5 {
			t.Fatalf("rule IDs not unique: %v", ids)
		}

		// Describe groups all five peers under one permission.
		g := sgDescribe(t, s, ctx, id)
		wantPerm := []ec2api.IpPermission{{
			IpProtocol: "tcp", FromPort: ptr(int32(22)), ToPort: ptr(int32(22)),
			IpRanges:         []ec2api.IpRange{{CidrIp: "10.0.0.0/8", Description: "ssh from lan"}, {CidrIp: "192.168.1.0/24"}},
			Ipv6Ranges:       []ec2api.Ipv6Range{{CidrIpv6: "2001:db8::/32"}},
			PrefixListIds:    []ec2api.PrefixListId{{PrefixListId: "pl-12345678"}},
			UserIdGroupPairs: []ec2api.UserIdGroupPair{{GroupId: peer, UserId: sgTestAccount, Description: "peers"}},
		}}
		if !reflect.DeepEqual(g.IpPermissions, wantPerm) {
			t.Fatalf("permissions\n%+v\nwant\n%+v", g.IpPermissions, wantPerm)
		}
	})

	t.Run("grouping and protocol normalisation", func(t *testing.T) {
		gid := sgMkGroup(t, s, ctx, "norm", "")
		sgAllowIn(t, s, ctx, gid,
			sgCIDRPerm("6", 80, 80, "1.0.0.0/8"),
			sgCIDRPerm("TCP", 80, 80, "2.0.0.0/8"),
			sgCIDRPerm("17", 53, 53, "3.0.0.0/8"),
			sgCIDRPerm("1", 8, 0, "4.0.0.0/8"),
			sgCIDRPerm("all", 1, 2, "5.0.0.0/8"),
			ec2api.IpPermission{IpProtocol: "icmpv6", Ipv6Ranges: []ec2api.Ipv6Range{{CidrIpv6: "::/0"}}},
			sgCIDRPerm("50", 100, 200, "6.0.0.0/8"),
		)
		g := sgDescribe(t, s, ctx, gid)
		type pk struct {
			proto    string
			from, to *int32
			n        int
		}
		var got []pk
		for _, p := range g.IpPermissions {
			got = append(got, pk{p.IpProtocol, p.FromPort, p.ToPort, len(p.IpRanges) + len(p.Ipv6Ranges)})
		}
		want := []pk{
			{"tcp", ptr(int32(80)), ptr(int32(80)), 2},
			{"udp", ptr(int32(53)), ptr(int32(53)), 1},
			{"icmp", ptr(int32(8)), ptr(int32(0)), 1},
			{"-1", nil, nil, 1},
			{"58", ptr(int32(-1)), ptr(int32(-1)), 1},
			{"50", nil, nil, 1},
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %+v\nwant %+v", got, want)
		}
		// "-1" and "all" are the same rule.
		_, err := s.AuthorizeSecurityGroupIngress(ctx, &ec2api.AuthorizeSecurityGroupIngressRequest{GroupId: gid, IpPermissions: []ec2api.IpPermission{{IpProtocol: "-1", IpRanges: []ec2api.IpRange{{CidrIp: "5.0.0.0/8"}}}}})
		sgWantCode(t, err, "InvalidPermission.Duplicate", `"peer: 5.0.0.0/8, ALL, ALLOW"`)
	})

	t.Run("legacy form", func(t *testing.T) {
		gid := sgMkGroup(t, s, ctx, "legacy", "")
		out, err := s.AuthorizeSecurityGroupIngress(ctx, &ec2api.AuthorizeSecurityGroupIngressRequest{GroupName: "legacy", IpProtocol: "tcp", FromPort: ptr(int32(3306)), ToPort: ptr(int32(3306)), CidrIp: "172.16.0.0/12"})
		sgNoErr(t, err)
		if len(out.SecurityGroupRules) != 1 || out.SecurityGroupRules[0].GroupId != gid || out.SecurityGroupRules[0].CidrIpv4 != "172.16.0.0/12" {
			t.Fatalf("out = %+v", out.SecurityGroupRules)
		}
		out, err = s.AuthorizeSecurityGroupIngress(ctx, &ec2api.AuthorizeSecurityGroupIngressRequest{GroupId: gid, SourceSecurityGroupName: "peer", SourceSecurityGroupOwnerId: sgTestAccount})
		sgNoErr(t, err)
		var protos []string
		for _, r := range out.SecurityGroupRules {
			if r.ReferencedGroupInfo == nil || r.ReferencedGroupInfo.GroupId != peer {
				t.Fatalf("rule = %+v", r)
			}
			protos = append(protos, fmt.Sprintf("%s %d-%d", r.IpProtocol, *r.FromPort, *r.ToPort))
		}
		if want := []string{"icmp -1--1", "tcp 0-65535", "udp 0-65535"}; !reflect.DeepEqual(protos, want) {
			t.Fatalf("rules %v, want %v", protos, want)
		}
	})

	t.Run("group reference by name", func(t *testing.T) {
		gid := sgMkGroup(t, s, ctx, "byname", "")
		out := sgAllowIn(t, s, ctx, gid, ec2api.IpPermission{IpProtocol: "tcp", FromPort: ptr(int32(1)), ToPort: ptr(int32(2)), UserIdGroupPairs: []ec2api.UserIdGroupPair{{GroupName: "peer"}}})
		if out[0].ReferencedGroupInfo.GroupId != peer {
			t.Fatalf("out = %+v", out[0])
		}
	})

	t.Run("errors", func(t *testing.T) {
		other := sgMkVPC(t, s, ctx)
		elsewhere := sgMkGroup(t, s, ctx, "elsewhere", other)
		sgAllowIn(t, s, ctx, id, sgCIDRPerm("udp", 1000, 2000, "0.0.0.0/0"), sgCIDRPerm("icmp", 3, 4, "0.0.0.0/0"))
		for _, tc := range []struct {
			name string
			in   ec2api.AuthorizeSecurityGroupIngressRequest
			code string
			msg  string
		}{
			{"unknown protocol", ec2api.AuthorizeSecurityGroupIngressRequest{GroupId: id, IpPermissions: []ec2api.IpPermission{sgCIDRPerm("tcpx", 1, 1, "1.1.1.1/32")}}, "InvalidParameterValue", "tcpx"},
			{"protocol number too big", ec2api.AuthorizeSecurityGroupIngressRequest{GroupId: id, IpPermissions: []ec2api.IpPermission{sgCIDRPerm("256", 1, 1, "1.1.1.1/32")}}, "InvalidParameterValue", ""},
			{"missing protocol", ec2api.AuthorizeSecurityGroupIngressRequest{GroupId: id, IpPermissions: []ec2api.IpPermission{sgCIDRPerm("", 1, 1, "1.1.1.1/32")}}, "MissingParameter", ""},
			{"tcp without ports", ec2api.AuthorizeSecurityGroupIngressRequest{GroupId: id, IpPermissions: []ec2api.IpPermission{{IpProtocol: "tcp", IpRanges: []ec2api.IpRange{{CidrIp: "1.1.1.1/32"}}}}}, "InvalidParameterValue", ""},
			{"port too high", ec2api.AuthorizeSecurityGroupIngressRequest{GroupId: id, IpPermissions: []ec2api.IpPermission{sgCIDRPerm("tcp", 1, 65536, "1.1.1.1/32")}}, "InvalidParameterValue", ""},
			{"port negative", ec2api.AuthorizeSecurityGroupIngressRequest{GroupId: id, IpPermissions: []ec2api.IpPermission{sgCIDRPerm("udp", -1, 5, "1.1.1.1/32")}}, "InvalidParameterValue", ""},
			{"from above to", ec2api.AuthorizeSecurityGroupIngressRequest{GroupId: id, IpPermissions: []ec2api.IpPermission{sgCIDRPerm("tcp", 90, 80, "1.1.1.1/32")}}, "InvalidParameterValue", ""},
			{"icmp type", ec2api.AuthorizeSecurityGroupIngressRequest{GroupId: id, IpPermissions: []ec2api.IpPermission{sgCIDRPerm("icmp", 256, 0, "1.1.1.1/32")}}, "InvalidParameterValue", ""},
			{"icmp code", ec2api.AuthorizeSecurityGroupIngressRequest{GroupId: id, IpPermissions: []ec2api.IpPermission{sgCIDRPerm("icmp", 8, -2, "1.1.1.1/32")}}, "InvalidParameterValue", ""},
			{"icmp code without type", ec2api.AuthorizeSecurityGroupIngressRequest{GroupId: id, IpPermissions: []ec2api.IpPermission{sgCIDRPerm("icmp", -1, 3, "1.1.1.1/32")}}, "InvalidParameterValue", ""},
			{"bad cidr", ec2api.AuthorizeSecurityGroupIngressRequest{GroupId: id, IpPermissions: []ec2api.IpPermission{sgCIDRPerm("tcp", 1, 1, "10.0.0.0/33")}}, "InvalidParameterValue", "CIDR block 10.0.0.0/33 is malformed"},
			{"bare address", ec2api.AuthorizeSecurityGroupIngressRequest{GroupId: id, IpPermissions: []ec2api.IpPermission{sgCIDRPerm("tcp", 1, 1, "10.0.0.1")}}, "InvalidParameterValue", "malformed"},
			{"v6 in v4", ec2api.AuthorizeSecurityGroupIngressRequest{GroupId: id, IpPermissions: []ec2api.IpPermission{sgCIDRPerm("tcp", 1, 1, "::/0")}}, "InvalidParameterValue", "malformed"},
			{"v4 in v6", ec2api.AuthorizeSecurityGroupIngressRequest{GroupId: id, IpPermissions: []ec2api.IpPermission{{IpProtocol: "tcp", FromPort: ptr(int32(1)), ToPort: ptr(int32(1)), Ipv6Ranges: []ec2api.Ipv6Range{{CidrIpv6: "0.0.0.0/0"}}}}}, "InvalidParameterValue", "malformed"},
			{"bad prefix list", ec2api.AuthorizeSecurityGroupIngressRequest{GroupId: id, IpPermissions: []ec2api.IpPermission{{IpProtocol: "tcp", FromPort: ptr(int32(1)), ToPort: ptr(int32(1)), PrefixListIds: []ec2api.PrefixListId{{PrefixListId: "x"}}}}}, "InvalidPrefixListId.Malformed", ""},
			{"no peer", ec2api.AuthorizeSecurityGroupIngressRequest{GroupId: id, IpPermissions: []ec2api.IpPermission{{IpProtocol: "tcp", FromPort: ptr(int32(1)), ToPort: ptr(int32(1))}}}, "InvalidParameterValue", ""},
			{"bad description", ec2api.AuthorizeSecurityGroupIngressRequest{GroupId: id, IpPermissions: []ec2api.IpPermission{{IpProtocol: "tcp", FromPort: ptr(int32(1)), ToPort: ptr(int32(1)), IpRanges: []ec2api.IpRange{{CidrIp: "1.1.1.1/32", Description: "no <tags>"}}}}}, "InvalidParameterValue", "rule description"},
			{"missing group", ec2api.AuthorizeSecurityGroupIngressRequest{GroupId: "sg-0123456789abcdef0", IpPermissions: []ec2api.IpPermission{sgCIDRPerm("tcp", 1, 1, "1.1.1.1/32")}}, "InvalidGroup.NotFound", ""},
			{"missing group by name", ec2api.AuthorizeSecurityGroupIngressRequest{GroupName: "nope", IpPermissions: []ec2api.IpPermission{sgCIDRPerm("tcp", 1, 1, "1.1.1.1/32")}}, "InvalidGroup.NotFound", "default VPC"},
			{"missing referenced group", ec2api.AuthorizeSecurityGroupIngressRequest{GroupId: id, IpPermissions: []ec2api.IpPermission{sgGroupPerm("tcp", 1, 1, "sg-0123456789abcdef0")}}, "InvalidGroup.NotFound", "sg-0123456789abcdef0"},
			{"referenced group in other vpc", ec2api.AuthorizeSecurityGroupIngressRequest{GroupId: id, IpPermissions: []ec2api.IpPermission{sgGroupPerm("tcp", 1, 1, elsewhere)}}, "InvalidGroup.NotFound", "different networks"},
			{"duplicate", ec2api.AuthorizeSecurityGroupIngressRequest{GroupId: id, IpPermissions: []ec2api.IpPermission{sgCIDRPerm("tcp", 22, 22, "10.0.0.0/8")}}, "InvalidPermission.Duplicate", `the specified rule "peer: 10.0.0.0/8, TCP, from port: 22, to port: 22, ALLOW" already exists`},
			{"duplicate udp", ec2api.AuthorizeSecurityGroupIngressRequest{GroupId: id, IpPermissions: []ec2api.IpPermission{sgCIDRPerm("udp", 1000, 2000, "0.0.0.0/0")}}, "InvalidPermission.Duplicate", "UDP, from port: 1000, to port: 2000"},
			{"duplicate icmp", ec2api.AuthorizeSecurityGroupIngressRequest{GroupId: id, IpPermissions: []ec2api.IpPermission{sgCIDRPerm("1", 3, 4, "0.0.0.0/0")}}, "InvalidPermission.Duplicate", "ICMP"},
			{"duplicate group", ec2api.AuthorizeSecurityGroupIngressRequest{GroupId: id, IpPermissions: []ec2api.IpPermission{sgGroupPerm("tcp", 22, 22, peer)}}, "InvalidPermission.Duplicate", "peer: " + peer},
			{"duplicate in request", ec2api.AuthorizeSecurityGroupIngressRequest{GroupId: id, IpPermissions: []ec2api.IpPermission{sgCIDRPerm("tcp", 7, 7, "9.9.9.9/32", "9.9.9.9/32")}}, "InvalidPermission.Duplicate", ""},
			{"legacy and permissions", ec2api.AuthorizeSecurityGroupIngressRequest{GroupId: id, CidrIp: "1.1.1.1/32", IpProtocol: "tcp", IpPermissions: []ec2api.IpPermission{sgCIDRPerm("tcp", 1, 1, "1.1.1.1/32")}}, "InvalidParameterCombination", ""},
			{"legacy source and protocol", ec2api.AuthorizeSecurityGroupIngressRequest{GroupId: id, SourceSecurityGroupName: "peer", IpProtocol: "tcp"}, "InvalidParameterCombination", ""},
			{"legacy without cidr", ec2api.AuthorizeSecurityGroupIngressRequest{GroupId: id, IpProtocol: "tcp", FromPort: ptr(int32(1)), ToPort: ptr(int32(1))}, "MissingParameter", ""},
			{"legacy missing source", ec2api.AuthorizeSecurityGroupIngressRequest{GroupId: id, SourceSecurityGroupName: "nope"}, "InvalidGroup.NotFound", "nope"},
			{"nothing", ec2api.AuthorizeSecurityGroupIngressRequest{GroupId: id}, "MissingParameter", ""},
			{"bad tag type", ec2api.AuthorizeSecurityGroupIngressRequest{GroupId: id, IpPermissions: []ec2api.IpPermission{sgCIDRPerm("tcp", 1, 1, "1.1.1.1/32")}, TagSpecifications: []ec2api.TagSpecification{{ResourceType: "security-group", Tags: []ec2api.Tag{{Key: "a"}}}}}, "InvalidParameterValue", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := sgDescribe(t, s, ctx, id)
				_, err := s.AuthorizeSecurityGroupIngress(ctx, &tc.in)
				sgWantCode(t, err, tc.code, tc.msg)
				if after := sgDescribe(t, s, ctx, id); !reflect.DeepEqual(before, after) {
					t.Fatalf("a failed call changed the group")
				}
			})
		}
	})
}

func TestSecurityGroupRuleLimit(t *testing.T) {
	s, ctx := sgTestService(t)
	id := sgMkGroup(t, s, ctx, "many", "")
	var perm ec2api.IpPermission
	perm = sgCIDRPerm("tcp", 1, 1)
	for i := range 59 {
		perm.IpRanges = append(perm.IpRanges, ec2api.IpRange{CidrIp: fmt.Sprintf("10.0.%d.0/24", i)})
	}
	sgAllowIn(t, s, ctx, id, perm)
	// IPv6 rules are counted separately.
	v6 := ec2api.IpPermission{IpProtocol: "tcp", FromPort: ptr(int32(1)), ToPort: ptr(int32(1))}
	for i := range 60 {
		v6.Ipv6Ranges = append(v6.Ipv6Ranges, ec2api.Ipv6Range{CidrIpv6: fmt.Sprintf("2001:db8:%x::/48", i)})
	}
	sgAllowIn(t, s, ctx, id, v6)
	sgAllowIn(t, s, ctx, id, sgCIDRPerm("tcp", 2, 2, "10.1.0.0/16")) // the 60th IPv4 rule
	_, err := s.AuthorizeSecurityGroupIngress(ctx, &ec2api.AuthorizeSecurityGroupIngressRequest{GroupId: id, IpPermissions: []ec2api.IpPermission{sgCIDRPerm("tcp", 3, 3, "10.2.0.0/16")}})
	sgWantCode(t, err, "RulesPerSecurityGroupLimitExceeded", "")
	// Egress has its own quota (one default rule so far).
	eg := sgCIDRPerm("tcp", 1, 1)
	for i := range 59 {
		eg.IpRanges = append(eg.IpRanges, ec2api.IpRange{CidrIp: fmt.Sprintf("10.0.%d.0/24", i)})
	}
	_, err = s.AuthorizeSecurityGroupEgress(ctx, &ec2api.AuthorizeSecurityGroupEgressRequest{GroupId: id, IpPermissions: []ec2api.IpPermission{eg}})
	sgNoErr(t, err)
	_, err = s.AuthorizeSecurityGroupEgress(ctx, &ec2api.AuthorizeSecurityGroupEgressRequest{GroupId: id, IpPermissions: []ec2api.IpPermission{sgCIDRPerm("udp", 1, 1, "1.1.1.1/32")}})
	sgWantCode(t, err, "RulesPerSecurityGroupLimitExceeded", "")
}

func TestAuthorizeSecurityGroupEgress(t *testing.T) {
	s, ctx := sgTestService(t)
	id := sgMkGroup(t, s, ctx, "out", "")
	out, err := s.AuthorizeSecurityGroupEgress(ctx, &ec2api.AuthorizeSecurityGroupEgressRequest{GroupId: id, IpPermissions: []ec2api.IpPermission{sgCIDRPerm("tcp", 443, 443, "0.0.0.0/0")}})
	sgNoErr(t, err)
	if !deref(out.Return) || len(out.SecurityGroupRules) != 1 || !deref(out.SecurityGroupRules[0].IsEgress) {
		t.Fatalf("out = %+v", out)
	}
	g := sgDescribe(t, s, ctx, id)
	if len(g.IpPermissionsEgress) != 2 || len(g.IpPermissions) != 0 {
		t.Fatalf("group = %+v", g)
	}
	// The default egress rule is a rule like any other.
	_, err = s.AuthorizeSecurityGroupEgress(ctx, &ec2api.AuthorizeSecurityGroupEgressRequest{GroupId: id, IpPermissions: []ec2api.IpPermission{{IpProtocol: "-1", IpRanges: []ec2api.IpRange{{CidrIp: "0.0.0.0/0"}}}}})
	sgWantCode(t, err, "InvalidPermission.Duplicate", "peer: 0.0.0.0/0, ALL, ALLOW")
	_, err = s.AuthorizeSecurityGroupEgress(ctx, &ec2api.AuthorizeSecurityGroupEgressRequest{GroupId: "sg-0123456789abcdef0", IpPermissions: []ec2api.IpPermission{sgCIDRPerm("tcp", 1, 1, "1.1.1.1/32")}})
	sgWantCode(t, err, "InvalidGroup.NotFound", "")
	_, err = s.AuthorizeSecurityGroupEgress(ctx, &ec2api.AuthorizeSecurityGroupEgressRequest{GroupId: id, IpPermissions: []ec2api.IpPermission{sgCIDRPerm("tcp", 1, 1, "300.1.1.1/32")}})
	sgWantCode(t, err, "InvalidParameterValue", "CIDR block 300.1.1.1/32 is malformed")
	// An ingress rule with the same values is a different rule.
	sgAllowIn(t, s, ctx, id, sgCIDRPerm("tcp", 443, 443, "0.0.0.0/0"))
}

func TestRevokeSecurityGroupIngress(t *testing.T) {
	s, ctx := sgTestService(t)

	t.Run("by permissions", func(t *testing.T) {
		id := sgMkGroup(t, s, ctx, "rp", "")
		rules := sgAllowIn(t, s, ctx, id, ec2api.IpPermission{IpProtocol: "tcp", FromPort: ptr(int32(22)), ToPort: ptr(int32(22)),
			IpRanges: []ec2api.IpRange{{CidrIp: "10.0.0.0/8", Description: "lan"}, {CidrIp: "192.168.0.0/16"}}})
		// The description need not be given; the protocol may be a number.
		out, err := s.RevokeSecurityGroupIngress(ctx, &ec2api.RevokeSecurityGroupIngressRequest{GroupId: id, IpPermissions: []ec2api.IpPermission{sgCIDRPerm("6", 22, 22, "10.0.0.0/8")}})
		sgNoErr(t, err)
		if !deref(out.Return) || out.UnknownIpPermissions != nil || len(out.RevokedSecurityGroupRules) != 1 {
			t.Fatalf("out = %+v", out)
		}
		if r := out.RevokedSecurityGroupRules[0]; r.SecurityGroupRuleId != rules[0].SecurityGroupRuleId || r.CidrIpv4 != "10.0.0.0/8" || r.Description != "lan" || deref(r.IsEgress) || r.GroupId != id {
			t.Fatalf("revoked = %+v", r)
		}
		g := sgDescribe(t, s, ctx, id)
		if len(g.IpPermissions) != 1 || !reflect.DeepEqual(g.IpPermissions[0].IpRanges, []ec2api.IpRange{{CidrIp: "192.168.0.0/16"}}) {
			t.Fatalf("left %+v", g.IpPermissions)
		}
	})

	t.Run("unknown in default vpc", func(t *testing.T) {
		id := sgMkGroup(t, s, ctx, "ru", "")
		sgAllowIn(t, s, ctx, id, sgCIDRPerm("tcp", 80, 80, "1.0.0.0/8"))
		out, err := s.RevokeSecurityGroupIngress(ctx, &ec2api.RevokeSecurityGroupIngressRequest{GroupId: id, IpPermissions: []ec2api.IpPermission{
			sgCIDRPerm("tcp", 80, 80, "1.0.0.0/8", "2.0.0.0/8"),
			sgCIDRPerm("tcp", 81, 81, "1.0.0.0/8"),
		}})
		sgNoErr(t, err)
		want := []ec2api.IpPermission{
			{IpProtocol: "tcp", FromPort: ptr(int32(80)), ToPort: ptr(int32(80)), IpRanges: []ec2api.IpRange{{CidrIp: "2.0.0.0/8"}}, Ipv6Ranges: []ec2api.Ipv6Range{}, PrefixListIds: []ec2api.PrefixListId{}, UserIdGroupPairs: []ec2api.UserIdGroupPair{}},
			{IpProtocol: "tcp", FromPort: ptr(int32(81)), ToPort: ptr(int32(81)), IpRanges: []ec2api.IpRange{{CidrIp: "1.0.0.0/8"}}, Ipv6Ranges: []ec2api.Ipv6Range{}, PrefixListIds: []ec2api.PrefixListId{}, UserIdGroupPairs: []ec2api.UserIdGroupPair{}},
		}
		if !deref(out.Return) || !reflect.DeepEqual(out.UnknownIpPermissions, want) || len(out.RevokedSecurityGroupRules) != 1 {
			t.Fatalf("out = %+v", out)
		}
		if g := sgDescribe(t, s, ctx, id); len(g.IpPermissions) != 0 {
			t.Fatalf("left %+v", g.IpPermissions)
		}
		// Nothing matching at all is still a success in the default VPC.
		out, err = s.RevokeSecurityGroupIngress(ctx, &ec2api.RevokeSecurityGroupIngressRequest{GroupId: id, IpPermissions: []ec2api.IpPermission{sgCIDRPerm("tcp", 80, 80, "1.0.0.0/8")}})
		sgNoErr(t, err)
		if !deref(out.Return) || len(out.UnknownIpPermissions) != 1 || out.RevokedSecurityGroupRules != nil {
			t.Fatalf("out = %+v", out)
		}
	})

	t.Run("unknown in other vpc", func(t *testing.T) {
		id := sgMkGroup(t, s, ctx, "rv", sgMkVPC(t, s, ctx))
		sgAllowIn(t, s, ctx, id, sgCIDRPerm("tcp", 80, 80, "1.0.0.0/8"))
		_, err := s.RevokeSecurityGroupIngress(ctx, &ec2api.RevokeSecurityGroupIngressRequest{GroupId: id, IpPermissions: []ec2api.IpPermission{sgCIDRPerm("tcp", 80, 80, "1.0.0.0/8", "2.0.0.0/8")}})
		sgWantCode(t, err, "InvalidPermission.NotFound", "The specified rule does not exist in this security group.")
		if g := sgDescribe(t, s, ctx, id); len(g.IpPermissions) != 1 {
			t.Fatalf("a failed revoke removed rules: %+v", g.IpPermissions)
		}
		// Port ranges must match exactly.
		_, err = s.RevokeSecurityGroupIngress(ctx, &ec2api.RevokeSecurityGroupIngressRequest{GroupId: id, IpPermissions: []ec2api.IpPermission{sgCIDRPerm("tcp", 79, 80, "1.0.0.0/8")}})
		sgWantCode(t, err, "InvalidPermission.NotFound", "")
		_, err = s.RevokeSecurityGroupIngress(ctx, &ec2api.RevokeSecurityGroupIngressRequest{GroupId: id, IpPermissions: []ec2api.IpPermission{sgCIDRPerm("tcp", 80, 80, "1.0.0.0/8")}})
		sgNoErr(t, err)
	})

	t.Run("legacy and by name", func(t *testing.T) {
		id := sgMkGroup(t, s, ctx, "rl", "")
		peer := sgMkGroup(t, s, ctx, "rlpeer", "")
		_, err := s.AuthorizeSecurityGroupIngress(ctx, &ec2api.AuthorizeSecurityGroupIngressRequest{GroupId: id, IpProtocol: "udp", FromPort: ptr(int32(53)), ToPort: ptr(int32(53)), CidrIp: "8.8.8.8/32"})
		sgNoErr(t, err)
		_, err = s.AuthorizeSecurityGroupIngress(ctx, &ec2api.AuthorizeSecurityGroupIngressRequest{GroupId: id, SourceSecurityGroupName: "rlpeer"})
		sgNoErr(t, err)
		out, err := s.RevokeSecurityGroupIngress(ctx, &ec2api.RevokeSecurityGroupIngressRequest{GroupName: "rl", IpProtocol: "udp", FromPort: ptr(int32(53)), ToPort: ptr(int32(53)), CidrIp: "8.8.8.8/32"})
		sgNoErr(t, err)
		if len(out.RevokedSecurityGroupRules) != 1 {
			t.Fatalf("out = %+v", out)
		}
		out, err = s.RevokeSecurityGroupIngress(ctx, &ec2api.RevokeSecurityGroupIngressRequest{GroupId: id, SourceSecurityGroupName: "rlpeer"})
		sgNoErr(t, err)
		if len(out.RevokedSecurityGroupRules) != 3 || out.RevokedSecurityGroupRules[0].ReferencedGroupId != peer {
			t.Fatalf("out = %+v", out)
		}
		if g := sgDescribe(t, s, ctx, id); len(g.IpPermissions) != 0 {
			t.Fatalf("left %+v", g.IpPermissions)
		}
	})

	t.Run("by rule ids", func(t *testing.T) {
		id := sgMkGroup(t, s, ctx, "rid", "")
		out, err := s.AuthorizeSecurityGroupIngress(ctx, &ec2api.AuthorizeSecurityGroupIngressRequest{
			GroupId: id, IpPermissions: []ec2api.IpPermission{sgCIDRPerm("tcp", 1, 1, "1.1.1.1/32", "2.2.2.2/32")},
			TagSpecifications: []ec2api.TagSpecification{{ResourceType: "security-group-rule", Tags: []ec2api.Tag{{Key: "k", Value: "v"}}}},
		})
		sgNoErr(t, err)
		r0, r1 := out.SecurityGroupRules[0].SecurityGroupRuleId, out.SecurityGroupRules[1].SecurityGroupRuleId
		egressID := sgEgressRuleID(t, s, ctx, id)
		for _, tc := range []struct {
			name string
			in   ec2api.RevokeSecurityGroupIngressRequest
			code string
		}{
			{"unknown id", ec2api.RevokeSecurityGroupIngressRequest{GroupId: id, SecurityGroupRuleIds: []string{r0, "sgr-0123456789abcdef0"}}, "InvalidSecurityGroupRuleId.NotFound"},
			{"egress id", ec2api.RevokeSecurityGroupIngressRequest{GroupId: id, SecurityGroupRuleIds: []string{egressID}}, "InvalidSecurityGroupRuleId.NotFound"},
			{"malformed id", ec2api.RevokeSecurityGroupIngressRequest{GroupId: id, SecurityGroupRuleIds: []string{"rule-1"}}, "InvalidSecurityGroupRuleId.Malformed"},
			{"ids and permissions", ec2api.RevokeSecurityGroupIngressRequest{GroupId: id, SecurityGroupRuleIds: []string{r0}, IpPermissions: []ec2api.IpPermission{sgCIDRPerm("tcp", 1, 1, "1.1.1.1/32")}}, "InvalidParameterCombination"},
			{"nothing", ec2api.RevokeSecurityGroupIngressRequest{GroupId: id}, "MissingParameter"},
			{"missing group", ec2api.RevokeSecurityGroupIngressRequest{GroupId: "sg-0123456789abcdef0", SecurityGroupRuleIds: []string{r0}}, "InvalidGroup.NotFound"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := s.RevokeSecurityGroupIngress(ctx, &tc.in)
				sgWantCode(t, err, tc.code, "")
			})
		}
		if g := sgDescribe(t, s, ctx, id); len(g.IpPermissions[0].IpRanges) != 2 {
			t.Fatalf("a failed revoke removed rules: %+v", g.IpPermissions)
		}
		rv, err := s.RevokeSecurityGroupIngress(ctx, &ec2api.RevokeSecurityGroupIngressRequest{GroupId: id, SecurityGroupRuleIds: []string{r1}})
		sgNoErr(t, err)
		if !deref(rv.Return) || len(rv.RevokedSecurityGroupRules) != 1 || rv.RevokedSecurityGroupRules[0].CidrIpv4 != "2.2.2.2/32" {
			t.Fatalf("out = %+v", rv)
		}
		if n := sgCountTags(t, s, ctx, r1); n != 0 {
			t.Fatalf("revoked rule kept %d tags", n)
		}
		if n := sgCountTags(t, s, ctx, r0); n != 1 {
			t.Fatalf("kept rule has %d tags", n)
		}
	})
}

func sgEgressRuleID(t *testing.T, s *Service, ctx context.Context, id string) string {
	t.Helper()
	sc := scopeOf(ctx)
	var rid string
	sgNoErr(t, s.st.View(ctx, func(tx store.Tx) error {
		g, err := getGroupByID(tx, sc, id)
		if err == nil {
			rid = g.Egress[0].ID
		}
		return err
	}))
	return rid
}

func TestRevokeSecurityGroupEgress(t *testing.T) {
	s, ctx := sgTestService(t)
	id := sgMkGroup(t, s, ctx, "eg", "")
	// Removing the default egress rule leaves no outbound rules.
	out, err := s.RevokeSecurityGroupEgress(ctx, &ec2api.RevokeSecurityGroupEgressRequest{GroupId: id, IpPermissions: []ec2api.IpPermission{{IpProtocol: "-1", IpRanges: []ec2api.IpRange{{CidrIp: "0.0.0.0/0"}}}}})
	sgNoErr(t, err)
	if !deref(out.Return) || len(out.RevokedSecurityGroupRules) != 1 || !deref(out.RevokedSecurityGroupRules[0].IsEgress) {
		t.Fatalf("out = %+v", out)
	}
	if g := sgDescribe(t, s, ctx, id); len(g.IpPermissionsEgress) != 0 {
		t.Fatalf("left %+v", g.IpPermissionsEgress)
	}
	// By ID.
	au, err := s.AuthorizeSecurityGroupEgress(ctx, &ec2api.AuthorizeSecurityGroupEgressRequest{GroupId: id, IpPermissions: []ec2api.IpPermission{sgCIDRPerm("tcp", 443, 443, "0.0.0.0/0")}})
	sgNoErr(t, err)
	_, err = s.RevokeSecurityGroupEgress(ctx, &ec2api.RevokeSecurityGroupEgressRequest{GroupId: id, SecurityGroupRuleIds: []string{"sgr-0123456789abcdef0"}})
	sgWantCode(t, err, "InvalidSecurityGroupRuleId.NotFound", "sgr-0123456789abcdef0")
	_, err = s.RevokeSecurityGroupEgress(ctx, &ec2api.RevokeSecurityGroupEgressRequest{GroupId: id, SecurityGroupRuleIds: []string{au.SecurityGroupRules[0].SecurityGroupRuleId}})
	sgNoErr(t, err)
	if g := sgDescribe(t, s, ctx, id); len(g.IpPermissionsEgress) != 0 {
		t.Fatalf("left %+v", g.IpPermissionsEgress)
	}
	// Unknown rules in the default VPC are reported, not an error.
	out, err = s.RevokeSecurityGroupEgress(ctx, &ec2api.RevokeSecurityGroupEgressRequest{GroupId: id, IpPermissions: []ec2api.IpPermission{sgCIDRPerm("tcp", 443, 443, "0.0.0.0/0")}})
	sgNoErr(t, err)
	if len(out.UnknownIpPermissions) != 1 {
		t.Fatalf("out = %+v", out)
	}
	_, err = s.RevokeSecurityGroupEgress(ctx, &ec2api.RevokeSecurityGroupEgressRequest{GroupId: id, IpPermissions: []ec2api.IpPermission{sgCIDRPerm("tcp", 443, 443, "0.0.0.0/64")}})
	sgWantCode(t, err, "InvalidParameterValue", "malformed")
}
