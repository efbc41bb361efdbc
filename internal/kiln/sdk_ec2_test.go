package kiln_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"golang.org/x/crypto/ssh"
)

func apiCode(t *testing.T, err error) string {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want an API error, got %v", err)
	}
	return ae.ErrorCode()
}

func TestSTSGetCallerIdentity(t *testing.T) {
	e := start(t)
	out, err := sts.NewFromConfig(e.cfg("eu-west-1")).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.Account) != testAccount || aws.ToString(out.Arn) != "arn:aws:iam::"+testAccount+":root" {
		t.Fatalf("identity = %+v", out)
	}
}

func TestEC2RegionsAndZones(t *testing.T) {
	e := start(t)
	c := ec2.NewFromConfig(e.cfg("ap-northeast-2"))
	ctx := context.Background()
	regs, err := c.DescribeRegions(ctx, &ec2.DescribeRegionsInput{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range regs.Regions {
		found = found || aws.ToString(r.RegionName) == "ap-northeast-2"
	}
	if !found || len(regs.Regions) < 30 {
		t.Fatalf("regions: %d, ap-northeast-2 found=%v", len(regs.Regions), found)
	}
	one, err := c.DescribeRegions(ctx, &ec2.DescribeRegionsInput{Filters: []types.Filter{{Name: aws.String("region-name"), Values: []string{"ap-*-2"}}}})
	if err != nil || len(one.Regions) < 2 {
		t.Fatalf("wildcard filter: %v %v", one, err)
	}
	if _, err := c.DescribeRegions(ctx, &ec2.DescribeRegionsInput{RegionNames: []string{"mars-1"}}); apiCode(t, err) != "InvalidParameterValue" {
		t.Fatal(err)
	}
	zs, err := c.DescribeAvailabilityZones(ctx, &ec2.DescribeAvailabilityZonesInput{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, z := range zs.AvailabilityZones {
		names = append(names, aws.ToString(z.ZoneName))
	}
	if strings.Join(names, ",") != "ap-northeast-2a,ap-northeast-2b,ap-northeast-2c" {
		t.Fatalf("zones %v", names)
	}
}

func TestEC2KeyPairs(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	c := ec2.NewFromConfig(e.cfg("us-east-1"))
	rsaKey, err := c.CreateKeyPair(ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("web"),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeKeyPair, Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("img")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ssh.ParseRawPrivateKey([]byte(aws.ToString(rsaKey.KeyMaterial))); err != nil {
		t.Fatalf("RSA key material does not parse: %v", err)
	}
	if !strings.HasPrefix(aws.ToString(rsaKey.KeyPairId), "key-") || strings.Count(aws.ToString(rsaKey.KeyFingerprint), ":") != 19 {
		t.Fatalf("rsa key = %+v", rsaKey)
	}
	edKey, err := c.CreateKeyPair(ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("ed"), KeyType: types.KeyTypeEd25519})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ssh.ParseRawPrivateKey([]byte(aws.ToString(edKey.KeyMaterial))); err != nil {
		t.Fatalf("ED25519 key material does not parse: %v", err)
	}
	if _, err := c.CreateKeyPair(ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("web")}); apiCode(t, err) != "InvalidKeyPair.Duplicate" {
		t.Fatal(err)
	}
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	sp, _ := ssh.NewPublicKey(pub)
	imp, err := c.ImportKeyPair(ctx, &ec2.ImportKeyPairInput{KeyName: aws.String("imported"), PublicKeyMaterial: ssh.MarshalAuthorizedKey(sp)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ImportKeyPair(ctx, &ec2.ImportKeyPairInput{KeyName: aws.String("bad"), PublicKeyMaterial: []byte("not a key")}); apiCode(t, err) != "InvalidKey.Format" {
		t.Fatal(err)
	}
	all, err := c.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{IncludePublicKey: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.KeyPairs) != 3 {
		t.Fatalf("want 3 key pairs, got %d", len(all.KeyPairs))
	}
	for _, kp := range all.KeyPairs {
		if aws.ToString(kp.KeyName) == "imported" && (aws.ToString(kp.KeyFingerprint) != aws.ToString(imp.KeyFingerprint) || !strings.HasPrefix(aws.ToString(kp.PublicKey), "ssh-ed25519 ")) {
			t.Fatalf("imported = %+v", kp)
		}
	}
	byTag, err := c.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{Filters: []types.Filter{{Name: aws.String("tag:team"), Values: []string{"img"}}}})
	if err != nil || len(byTag.KeyPairs) != 1 || aws.ToString(byTag.KeyPairs[0].KeyName) != "web" || len(byTag.KeyPairs[0].Tags) != 1 {
		t.Fatalf("tag filter: %+v %v", byTag, err)
	}
	byType, err := c.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{Filters: []types.Filter{{Name: aws.String("key-type"), Values: []string{"ed25519"}}}})
	if err != nil || len(byType.KeyPairs) != 2 {
		t.Fatalf("key-type filter: %+v %v", byType, err)
	}
	if _, err := c.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{KeyNames: []string{"web", "nope"}}); apiCode(t, err) != "InvalidKeyPair.NotFound" {
		t.Fatal(err)
	}
	if _, err := c.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{Filters: []types.Filter{{Name: aws.String("bogus"), Values: []string{"x"}}}}); apiCode(t, err) != "InvalidParameterValue" {
		t.Fatal(err)
	}
	// Other accounts and other regions see nothing.
	other := ec2.NewFromConfig(e.cfgAs("us-east-1", otherKey, otherSecret))
	if o, err := other.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{}); err != nil || len(o.KeyPairs) != 0 {
		t.Fatalf("other account sees %v %v", o, err)
	}
	west := ec2.NewFromConfig(e.cfg("us-west-2"))
	if o, err := west.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{}); err != nil || len(o.KeyPairs) != 0 {
		t.Fatalf("other region sees %v %v", o, err)
	}
	if _, err := c.DeleteKeyPair(ctx, &ec2.DeleteKeyPairInput{KeyName: aws.String("web")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteKeyPair(ctx, &ec2.DeleteKeyPairInput{KeyName: aws.String("web")}); err != nil {
		t.Fatalf("deleting a missing name succeeds on AWS: %v", err)
	}
	if _, err := c.DeleteKeyPair(ctx, &ec2.DeleteKeyPairInput{KeyPairId: aws.String("key-0123456789abcdef0")}); apiCode(t, err) != "InvalidKeyPair.NotFound" {
		t.Fatal(err)
	}
	if _, err := c.CreateKeyPair(ctx, &ec2.CreateKeyPairInput{KeyName: aws.String("dry"), DryRun: aws.Bool(true)}); apiCode(t, err) != "DryRunOperation" {
		t.Fatal(err)
	}
}

func TestEC2TagsVPCSubnets(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	c := ec2.NewFromConfig(e.cfg("ap-northeast-1"))
	vpcs, err := c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: []types.Filter{{Name: aws.String("is-default"), Values: []string{"true"}}}})
	if err != nil || len(vpcs.Vpcs) != 1 || aws.ToString(vpcs.Vpcs[0].CidrBlock) != "172.31.0.0/16" || !aws.ToBool(vpcs.Vpcs[0].IsDefault) {
		t.Fatalf("default vpc: %+v %v", vpcs, err)
	}
	vpcID := aws.ToString(vpcs.Vpcs[0].VpcId)
	subs, err := c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []types.Filter{{Name: aws.String("vpc-id"), Values: []string{vpcID}}}})
	if err != nil || len(subs.Subnets) != 3 {
		t.Fatalf("subnets: %+v %v", subs, err)
	}
	if aws.ToString(subs.Subnets[0].AvailabilityZone)[:len("ap-northeast-1")] != "ap-northeast-1" || aws.ToInt32(subs.Subnets[0].AvailableIpAddressCount) != 4091 {
		t.Fatalf("subnet %+v", subs.Subnets[0])
	}
	subnetID := aws.ToString(subs.Subnets[0].SubnetId)
	if _, err := c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{vpcID, subnetID}, Tags: []types.Tag{{Key: aws.String("Name"), Value: aws.String("main")}, {Key: aws.String("env"), Value: aws.String("dev")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{"vpc-0000000000000000a"}, Tags: []types.Tag{{Key: aws.String("x"), Value: aws.String("y")}}}); apiCode(t, err) != "InvalidVpcID.NotFound" {
		t.Fatal(err)
	}
	if _, err := c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{vpcID}, Tags: []types.Tag{{Key: aws.String("aws:x"), Value: aws.String("y")}}}); apiCode(t, err) != "InvalidParameterValue" {
		t.Fatal(err)
	}
	tags, err := c.DescribeTags(ctx, &ec2.DescribeTagsInput{Filters: []types.Filter{{Name: aws.String("resource-type"), Values: []string{"subnet"}}}})
	if err != nil || len(tags.Tags) != 2 {
		t.Fatalf("describe tags: %+v %v", tags, err)
	}
	// Pagination over all four tags, two at a time (MaxResults min is 5 on AWS).
	p := ec2.NewDescribeTagsPaginator(c, &ec2.DescribeTagsInput{MaxResults: aws.Int32(5)})
	n := 0
	for p.HasMorePages() {
		pg, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n += len(pg.Tags)
	}
	if n != 4 {
		t.Fatalf("paginated %d tags", n)
	}
	byTag, err := c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []types.Filter{{Name: aws.String("tag:Name"), Values: []string{"ma*"}}}})
	if err != nil || len(byTag.Subnets) != 1 {
		t.Fatalf("tag filter on subnets: %v %v", byTag, err)
	}
	if _, err := c.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{subnetID}, Tags: []types.Tag{{Key: aws.String("env")}}}); err != nil {
		t.Fatal(err)
	}
	tags, _ = c.DescribeTags(ctx, &ec2.DescribeTagsInput{Filters: []types.Filter{{Name: aws.String("resource-id"), Values: []string{subnetID}}}})
	if len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Key) != "Name" {
		t.Fatalf("after delete: %+v", tags.Tags)
	}
	attrs, err := c.DescribeAccountAttributes(ctx, &ec2.DescribeAccountAttributesInput{AttributeNames: []types.AccountAttributeName{types.AccountAttributeNameDefaultVpc}})
	if err != nil || aws.ToString(attrs.AccountAttributes[0].AttributeValues[0].AttributeValue) != vpcID {
		t.Fatalf("account attributes: %+v %v", attrs, err)
	}
	if _, err := c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{"vpc-nope"}}); apiCode(t, err) != "InvalidVpcID.NotFound" {
		t.Fatal(err)
	}
}
