package kiln_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// needImages checks that kiln.Open prepared the image stores, and skips
// when busybox-static (which kiln-minimal is built from) is missing.
func needImages(t *testing.T, e *env) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(e.dir, "images")); err != nil {
		t.Fatalf("kiln.Open did not prepare the image stores: %v", err)
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		if _, err := os.Stat("/usr/bin/busybox"); err != nil {
			t.Skip("kiln-minimal needs Debian's busybox-static package")
		}
	}
}

func TestEC2DescribeImagesQuickStart(t *testing.T) {
	e := start(t)
	needImages(t, e)
	ctx := context.Background()
	c := ec2.NewFromConfig(e.cfg("us-east-1"))

	// The lookup Terraform's aws_ami and CDK's MachineImage.lookup make.
	out, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{
		Owners:  []string{"amazon"},
		Filters: []types.Filter{{Name: aws.String("name"), Values: []string{"kiln-minimal-*"}}, {Name: aws.String("state"), Values: []string{"available"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Images) != 1 {
		t.Fatalf("found %d kiln-minimal images", len(out.Images))
	}
	img := out.Images[0]
	if !strings.HasPrefix(aws.ToString(img.Name), "kiln-minimal-") || aws.ToString(img.ImageOwnerAlias) != "amazon" || aws.ToString(img.OwnerId) != "137112412989" ||
		!aws.ToBool(img.Public) || img.State != types.ImageStateAvailable || img.Architecture != types.ArchitectureValuesX8664 ||
		aws.ToString(img.RootDeviceName) != "/dev/xvda" || img.RootDeviceType != types.DeviceTypeEbs || img.VirtualizationType != types.VirtualizationTypeHvm ||
		img.Hypervisor != types.HypervisorTypeXen || aws.ToString(img.CreationDate) == "" || aws.ToString(img.PlatformDetails) != "Linux/UNIX" ||
		aws.ToString(img.UsageOperation) != "RunInstances" || img.ImageType != types.ImageTypeValuesMachine || !aws.ToBool(img.EnaSupport) {
		t.Fatalf("image = %+v", img)
	}
	if len(img.BlockDeviceMappings) != 1 || aws.ToInt32(img.BlockDeviceMappings[0].Ebs.VolumeSize) != 8 || img.BlockDeviceMappings[0].Ebs.VolumeType != types.VolumeTypeGp3 {
		t.Fatalf("mappings = %+v", img.BlockDeviceMappings)
	}
	id := aws.ToString(img.ImageId)

	// --image-ids together with --filters.
	out, err = c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}, Filters: []types.Filter{{Name: aws.String("name"), Values: []string{"debian-*"}}}})
	if err != nil || len(out.Images) != 0 {
		t.Fatalf("image-ids + non-matching filter = %v, %v", out, err)
	}
	out, err = c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}, Filters: []types.Filter{{Name: aws.String("name"), Values: []string{"kiln-*"}}}})
	if err != nil || len(out.Images) != 1 {
		t.Fatalf("image-ids + matching filter = %v, %v", out, err)
	}

	// Every account sees it; another region has its own copy.
	other, err := ec2.NewFromConfig(e.cfgAs("us-east-1", otherKey, otherSecret)).DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
	if err != nil || len(other.Images) != 1 {
		t.Fatalf("other account = %v, %v", other, err)
	}
	eu, err := ec2.NewFromConfig(e.cfg("eu-west-1")).DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"amazon"}, Filters: []types.Filter{{Name: aws.String("name"), Values: []string{"kiln-minimal-*"}}}})
	if err != nil || len(eu.Images) != 1 || aws.ToString(eu.Images[0].ImageId) == id {
		t.Fatalf("eu-west-1 = %+v, %v", eu, err)
	}
	if _, err := ec2.NewFromConfig(e.cfg("eu-west-1")).DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}}); apiCode(t, err) != "InvalidAMIID.NotFound" {
		t.Fatalf("us-east-1's ID in eu-west-1: %v", err)
	}
}

func TestEC2DescribeImagesErrors(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	c := ec2.NewFromConfig(e.cfg("us-east-1"))
	_, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{"ami-0123456789abcdef0"}})
	if code := apiCode(t, err); code != "InvalidAMIID.NotFound" {
		t.Fatalf("code = %s", code)
	}
	if !strings.Contains(err.Error(), "The image id '[ami-0123456789abcdef0]' does not exist") {
		t.Fatalf("message = %v", err)
	}
	_, err = c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{"ami-nope"}})
	if code := apiCode(t, err); code != "InvalidAMIID.Malformed" {
		t.Fatalf("code = %s", code)
	}
	// No match is an empty list, not an error.
	out, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"amazon"}, Filters: []types.Filter{{Name: aws.String("name"), Values: []string{"amzn2-ami-hvm*"}}}})
	if err != nil || len(out.Images) != 0 {
		t.Fatalf("no match = %v, %v", out, err)
	}
}
