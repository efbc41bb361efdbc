package kiln_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// TestEBSSettingsAndImageAttributes drives with aws-sdk-go-v2 the
// operations the other end-to-end tests do not: EBS encryption by default
// and its default key (a new volume follows them), the volume
// modification history, RegisterImage from a snapshot, resetting an
// image's and a snapshot's attributes, and undoing a deprecation.
func TestEBSSettingsAndImageAttributes(t *testing.T) {
	e := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := ec2.NewFromConfig(e.cfg("us-east-1"))
	other := ec2.NewFromConfig(e.cfgAs("us-east-1", otherKey, otherSecret))

	// Encryption by default, under a customer key, then reset.
	g, err := c.GetEbsEncryptionByDefault(ctx, &ec2.GetEbsEncryptionByDefaultInput{})
	if err != nil || aws.ToBool(g.EbsEncryptionByDefault) {
		t.Fatalf("default encryption at first: %+v %v", g, err)
	}
	dk, err := c.GetEbsDefaultKmsKeyId(ctx, &ec2.GetEbsDefaultKmsKeyIdInput{})
	if err != nil || !strings.HasSuffix(aws.ToString(dk.KmsKeyId), "alias/aws/ebs") {
		t.Fatalf("default key at first: %+v %v", dk, err)
	}
	key, err := kms.NewFromConfig(e.cfg("us-east-1")).CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	keyARN := aws.ToString(key.KeyMetadata.Arn)
	if en, err := c.EnableEbsEncryptionByDefault(ctx, &ec2.EnableEbsEncryptionByDefaultInput{}); err != nil || !aws.ToBool(en.EbsEncryptionByDefault) {
		t.Fatalf("enable: %+v %v", en, err)
	}
	if m, err := c.ModifyEbsDefaultKmsKeyId(ctx, &ec2.ModifyEbsDefaultKmsKeyIdInput{KmsKeyId: key.KeyMetadata.KeyId}); err != nil || aws.ToString(m.KmsKeyId) != keyARN {
		t.Fatalf("modify default key: %+v %v", m, err)
	}
	v, err := c.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1a"), Size: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	if !aws.ToBool(v.Encrypted) || aws.ToString(v.KmsKeyId) != keyARN {
		t.Fatalf("a volume under encryption by default: %+v", v)
	}
	if r, err := c.ResetEbsDefaultKmsKeyId(ctx, &ec2.ResetEbsDefaultKmsKeyIdInput{}); err != nil || aws.ToString(r.KmsKeyId) == keyARN {
		t.Fatalf("reset default key: %+v %v", r, err)
	}
	if d, err := c.DisableEbsEncryptionByDefault(ctx, &ec2.DisableEbsEncryptionByDefaultInput{}); err != nil || aws.ToBool(d.EbsEncryptionByDefault) {
		t.Fatalf("disable: %+v %v", d, err)
	}
	plain, err := c.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1a"), Size: aws.Int32(1)})
	if err != nil || aws.ToBool(plain.Encrypted) {
		t.Fatalf("a volume after disabling: %+v %v", plain, err)
	}
	vol := aws.ToString(plain.VolumeId)

	// Modification history.
	if _, err := c.ModifyVolume(ctx, &ec2.ModifyVolumeInput{VolumeId: aws.String(vol), Size: aws.Int32(3), VolumeType: types.VolumeTypeGp2}); err != nil {
		t.Fatal(err)
	}
	mods, err := c.DescribeVolumesModifications(ctx, &ec2.DescribeVolumesModificationsInput{VolumeIds: []string{vol}})
	if err != nil || len(mods.VolumesModifications) != 1 {
		t.Fatalf("modifications: %+v %v", mods, err)
	}
	if m := mods.VolumesModifications[0]; aws.ToInt32(m.OriginalSize) != 1 || aws.ToInt32(m.TargetSize) != 3 || m.TargetVolumeType != types.VolumeTypeGp2 {
		t.Fatalf("modification: %+v", m)
	}

	// A snapshot shared, then its permissions reset.
	cs, err := c.CreateSnapshot(ctx, &ec2.CreateSnapshotInput{VolumeId: aws.String(vol)})
	if err != nil {
		t.Fatal(err)
	}
	snap := aws.ToString(cs.SnapshotId)
	if err := ec2.NewSnapshotCompletedWaiter(c, func(o *ec2.SnapshotCompletedWaiterOptions) { o.MinDelay = 100 * time.Millisecond }).Wait(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{snap}}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ModifySnapshotAttribute(ctx, &ec2.ModifySnapshotAttributeInput{SnapshotId: aws.String(snap), Attribute: types.SnapshotAttributeNameCreateVolumePermission,
		CreateVolumePermission: &types.CreateVolumePermissionModifications{Add: []types.CreateVolumePermission{{UserId: aws.String(otherAcct)}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := other.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{snap}}); err != nil {
		t.Fatalf("shared: %v", err)
	}
	if _, err := c.ResetSnapshotAttribute(ctx, &ec2.ResetSnapshotAttributeInput{SnapshotId: aws.String(snap), Attribute: types.SnapshotAttributeNameCreateVolumePermission}); err != nil {
		t.Fatal(err)
	}
	if _, err := other.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{snap}}); apiCode(t, err) != "InvalidSnapshot.NotFound" {
		t.Fatalf("after the reset the other account sees it: %v", err)
	}

	// RegisterImage from it; launch permission and description reset;
	// a deprecation undone.
	reg, err := c.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String("registered"), Description: aws.String("from a snapshot"),
		RootDeviceName: aws.String("/dev/xvda"), Architecture: types.ArchitectureValuesX8664,
		BlockDeviceMappings: []types.BlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"), Ebs: &types.EbsBlockDevice{SnapshotId: aws.String(snap)}}}})
	if err != nil {
		t.Fatal(err)
	}
	ami := aws.ToString(reg.ImageId)
	img := waitImage(t, c, ami)
	if aws.ToString(img.Name) != "registered" || len(img.BlockDeviceMappings) != 1 || aws.ToString(img.BlockDeviceMappings[0].Ebs.SnapshotId) != snap || aws.ToInt32(img.BlockDeviceMappings[0].Ebs.VolumeSize) != 3 {
		t.Fatalf("registered image: %+v", img)
	}
	if _, err := c.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{ImageId: aws.String(ami),
		LaunchPermission: &types.LaunchPermissionModifications{Add: []types.LaunchPermission{{UserId: aws.String(otherAcct)}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := other.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{ami}}); err != nil {
		t.Fatalf("shared image: %v", err)
	}
	if _, err := c.ResetImageAttribute(ctx, &ec2.ResetImageAttributeInput{ImageId: aws.String(ami), Attribute: types.ResetImageAttributeNameLaunchPermission}); err != nil {
		t.Fatal(err)
	}
	if _, err := other.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{ami}}); apiCode(t, err) != "InvalidAMIID.NotFound" {
		t.Fatalf("after the reset the other account sees the image: %v", err)
	}
	if _, err := c.EnableImageDeprecation(ctx, &ec2.EnableImageDeprecationInput{ImageId: aws.String(ami), DeprecateAt: aws.Time(time.Now().Add(time.Hour))}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DisableImageDeprecation(ctx, &ec2.DisableImageDeprecationInput{ImageId: aws.String(ami)}); err != nil {
		t.Fatal(err)
	}
	if d, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{ami}}); err != nil || d.Images[0].DeprecationTime != nil {
		t.Fatalf("after DisableImageDeprecation: %+v %v", d, err)
	}
	if _, err := c.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(snap)}); apiCode(t, err) != "InvalidSnapshot.InUse" {
		t.Fatalf("deleting the image's snapshot: %v", err)
	}
	if _, err := c.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: aws.String(ami), DeleteAssociatedSnapshots: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{snap}}); apiCode(t, err) != "InvalidSnapshot.NotFound" {
		t.Fatalf("the deregistered image's snapshot: %v", err)
	}
}
