package kiln_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// TestEBSVolumesAndSnapshots drives the volume and snapshot API with
// aws-sdk-go-v2 end to end, the SDK's waiters included: a volume created,
// described, grown; a snapshot of it (never attached, so no runtime is
// needed) copied to another region and shared with a second account.
func TestEBSVolumesAndSnapshots(t *testing.T) {
	e := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	east := ec2.NewFromConfig(e.cfg("us-east-1"))
	west := ec2.NewFromConfig(e.cfg("us-west-2"))
	other := ec2.NewFromConfig(e.cfgAs("us-east-1", otherKey, otherSecret))

	cv, err := east.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1a"), Size: aws.Int32(2),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeVolume, Tags: []types.Tag{{Key: aws.String("Name"), Value: aws.String("data")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	vol := aws.ToString(cv.VolumeId)
	if cv.State != types.VolumeStateCreating || cv.VolumeType != types.VolumeTypeGp3 {
		t.Fatalf("created = %+v", cv)
	}
	if err := ec2.NewVolumeAvailableWaiter(east).Wait(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{vol}}, time.Minute); err != nil {
		t.Fatal(err)
	}
	_, err = east.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1z"), Size: aws.Int32(2)})
	if code := apiCode(t, err); code != "InvalidZone.NotFound" {
		t.Fatalf("bad zone: %s", code)
	}

	dv, err := east.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{Filters: []types.Filter{{Name: aws.String("tag:Name"), Values: []string{"data"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(dv.Volumes) != 1 || aws.ToInt32(dv.Volumes[0].Size) != 2 || aws.ToInt32(dv.Volumes[0].Iops) != 3000 || len(dv.Volumes[0].Tags) != 1 {
		t.Fatalf("described = %+v", dv.Volumes)
	}
	mv, err := east.ModifyVolume(ctx, &ec2.ModifyVolumeInput{VolumeId: aws.String(vol), Size: aws.Int32(4)})
	if err != nil {
		t.Fatal(err)
	}
	if mv.VolumeModification.ModificationState != types.VolumeModificationStateCompleted || aws.ToInt32(mv.VolumeModification.TargetSize) != 4 {
		t.Fatalf("modification = %+v", mv.VolumeModification)
	}
	_, err = east.ModifyVolume(ctx, &ec2.ModifyVolumeInput{VolumeId: aws.String(vol), Size: aws.Int32(3)})
	if code := apiCode(t, err); code != "InvalidParameterValue" {
		t.Fatalf("shrink: %s", code)
	}

	cs, err := east.CreateSnapshot(ctx, &ec2.CreateSnapshotInput{VolumeId: aws.String(vol), Description: aws.String("backup")})
	if err != nil {
		t.Fatal(err)
	}
	snap := aws.ToString(cs.SnapshotId)
	if cs.State != types.SnapshotStatePending || aws.ToInt32(cs.VolumeSize) != 4 {
		t.Fatalf("snapshot = %+v", cs)
	}
	if err := ec2.NewSnapshotCompletedWaiter(east).Wait(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{snap}}, time.Minute); err != nil {
		t.Fatal(err)
	}

	cp, err := west.CopySnapshot(ctx, &ec2.CopySnapshotInput{SourceRegion: aws.String("us-east-1"), SourceSnapshotId: aws.String(snap)})
	if err != nil {
		t.Fatal(err)
	}
	copied := aws.ToString(cp.SnapshotId)
	if err := ec2.NewSnapshotCompletedWaiter(west).Wait(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{copied}}, time.Minute); err != nil {
		t.Fatal(err)
	}
	ds, err := west.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{copied}})
	if err != nil {
		t.Fatal(err)
	}
	if s := ds.Snapshots[0]; aws.ToString(s.Description) != "[Copied "+snap+" from us-east-1]" || aws.ToString(s.VolumeId) != "vol-ffffffff" {
		t.Fatalf("copy = %+v", s)
	}

	// Sharing with the second account.
	_, err = other.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{snap}})
	if code := apiCode(t, err); code != "InvalidSnapshot.NotFound" {
		t.Fatalf("before sharing: %s", code)
	}
	_, err = east.ModifySnapshotAttribute(ctx, &ec2.ModifySnapshotAttributeInput{SnapshotId: aws.String(snap), Attribute: types.SnapshotAttributeNameCreateVolumePermission,
		CreateVolumePermission: &types.CreateVolumePermissionModifications{Add: []types.CreateVolumePermission{{UserId: aws.String(otherAcct)}}}})
	if err != nil {
		t.Fatal(err)
	}
	attr, err := east.DescribeSnapshotAttribute(ctx, &ec2.DescribeSnapshotAttributeInput{SnapshotId: aws.String(snap), Attribute: types.SnapshotAttributeNameCreateVolumePermission})
	if err != nil {
		t.Fatal(err)
	}
	if len(attr.CreateVolumePermissions) != 1 || aws.ToString(attr.CreateVolumePermissions[0].UserId) != otherAcct {
		t.Fatalf("attribute = %+v", attr.CreateVolumePermissions)
	}
	seen, err := other.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{RestorableByUserIds: []string{"self"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen.Snapshots) != 1 || aws.ToString(seen.Snapshots[0].SnapshotId) != snap || aws.ToString(seen.Snapshots[0].OwnerId) != testAccount {
		t.Fatalf("seen by the other account = %+v", seen.Snapshots)
	}
	ov, err := other.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1b"), SnapshotId: aws.String(snap)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(ov.Size) != 4 {
		t.Fatalf("volume from shared snapshot = %+v", ov)
	}

	// Clean up.
	if _, err := east.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(snap)}); err != nil {
		t.Fatal(err)
	}
	_, err = east.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{snap}})
	if code := apiCode(t, err); code != "InvalidSnapshot.NotFound" {
		t.Fatalf("deleted snapshot: %s", code)
	}
	if _, err := east.DeleteVolume(ctx, &ec2.DeleteVolumeInput{VolumeId: aws.String(vol)}); err != nil {
		t.Fatal(err)
	}
	if err := ec2.NewVolumeDeletedWaiter(east).Wait(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{vol}}, time.Minute); err != nil {
		t.Fatal(err)
	}
}
