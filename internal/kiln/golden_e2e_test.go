package kiln_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/kiln-dev/kiln/internal/blob"
)

// goldenUserData configures a web server that rc.local starts at every
// boot: an image made from the instance serves the page without user data.
const goldenUserData = `#!/bin/sh
mkdir -p /www
echo "golden page" > /www/index.html
printf '#!/bin/sh\n[ -e /bin/vi ] || echo no-vi > /www/vi.txt\nhttpd -h /www -p 80\n' > /etc/rc.local
chmod +x /etc/rc.local
rm /bin/vi
httpd -h /www -p 80
echo "user data done"
`

func waitImage(t *testing.T, c *ec2.Client, id string) types.Image {
	t.Helper()
	if err := ec2.NewImageAvailableWaiter(c, func(o *ec2.ImageAvailableWaiterOptions) {
		o.MinDelay = 200 * time.Millisecond
		o.MaxDelay = time.Second
	}).
		Wait(context.Background(), &ec2.DescribeImagesInput{ImageIds: []string{id}}, 2*time.Minute); err != nil {
		t.Fatalf("image %s: %v", id, err)
	}
	out, err := c.DescribeImages(context.Background(), &ec2.DescribeImagesInput{ImageIds: []string{id}})
	if err != nil || len(out.Images) != 1 {
		t.Fatalf("describe %s: %v %v", id, out, err)
	}
	return out.Images[0]
}

// TestGoldenImage is scenarios 2 and 3 with real containerd: configure an
// instance with user data, CreateImage (with the reboot, and NoReboot),
// launch from the golden image — the page is served without user data and
// a deleted file stays deleted — then CopyImage to another region, check
// the bytes moved (digests in the destination's blob store) and launch
// there. Deregistering with DeleteAssociatedSnapshots cleans up.
func TestGoldenImage(t *testing.T) {
	e, _ := startInstances(t)
	ctx := context.Background()
	c := ec2.NewFromConfig(e.cfg("ap-northeast-2"))
	base := launchRunning(t, c, &ec2.RunInstancesInput{ImageId: aws.String(minimalAMI(t, c)), InstanceType: types.InstanceTypeT3Micro,
		UserData: aws.String(base64.StdEncoding.EncodeToString([]byte(goldenUserData)))})
	eventually(t, "the configured page", 30*time.Second, func() bool { p, err := get("http://" + base.IP + "/"); return err == nil && p == "golden page\n" })

	// Default: the instance reboots for the capture and serves again after.
	created, err := c.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: aws.String(base.ID), Name: aws.String("My server"),
		Description: aws.String("golden"), TagSpecifications: []types.TagSpecification{
			{ResourceType: types.ResourceTypeImage, Tags: []types.Tag{{Key: aws.String("role"), Value: aws.String("web")}}},
			{ResourceType: types.ResourceTypeSnapshot, Tags: []types.Tag{{Key: aws.String("role"), Value: aws.String("web-root")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	golden := waitImage(t, c, aws.ToString(created.ImageId))
	if len(golden.BlockDeviceMappings) != 1 || golden.BlockDeviceMappings[0].Ebs == nil || aws.ToString(golden.BlockDeviceMappings[0].Ebs.SnapshotId) == "" {
		t.Fatalf("block devices: %+v", golden.BlockDeviceMappings)
	}
	if len(golden.Tags) != 1 || aws.ToString(golden.Tags[0].Value) != "web" {
		t.Fatalf("image tags: %+v", golden.Tags)
	}
	eventually(t, "the page after the capture reboot", 30*time.Second, func() bool { _, err := get("http://" + base.IP + "/"); return err == nil })
	snapID := aws.ToString(golden.BlockDeviceMappings[0].Ebs.SnapshotId)
	snaps, err := c.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{snapID}})
	if err != nil || len(snaps.Snapshots) != 1 || snaps.Snapshots[0].State != types.SnapshotStateCompleted || len(snaps.Snapshots[0].Tags) != 1 {
		t.Fatalf("snapshot: %+v %v", snaps, err)
	}

	// NoReboot: frozen, not stopped; the page is served throughout.
	nr, err := c.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: aws.String(base.ID), Name: aws.String("My server (no reboot)"), NoReboot: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	waitImage(t, c, aws.ToString(nr.ImageId))
	if _, err := get("http://" + base.IP + "/"); err != nil {
		t.Fatalf("page after a no-reboot capture: %v", err)
	}

	// A golden instance: no user data, everything installed.
	g := launchRunning(t, c, &ec2.RunInstancesInput{ImageId: created.ImageId, InstanceType: types.InstanceTypeT3Micro})
	eventually(t, "the page of an instance of the golden image", 30*time.Second, func() bool { p, err := get("http://" + g.IP + "/"); return err == nil && p == "golden page\n" })
	if p, err := get("http://" + g.IP + "/vi.txt"); err != nil || p != "no-vi\n" {
		t.Fatalf("a file deleted before the capture is back in the golden image: %q %v", p, err)
	}

	// Scenario 3: copy to ap-northeast-1 as users type it.
	c1 := ec2.NewFromConfig(e.cfg("ap-northeast-1"))
	cp, err := c1.CopyImage(ctx, &ec2.CopyImageInput{SourceImageId: created.ImageId, SourceRegion: aws.String("ap-northeast-2"),
		Name: aws.String("My server"), CopyImageTags: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	copied := waitImage(t, c1, aws.ToString(cp.ImageId))
	if aws.ToString(copied.SourceImageId) != aws.ToString(created.ImageId) || aws.ToString(copied.SourceImageRegion) != "ap-northeast-2" || len(copied.Tags) != 1 {
		t.Fatalf("copy: %+v", copied)
	}
	// The bytes are in the destination region's store, verified by digest.
	cat, regions, err := e.k.Images()
	if err != nil {
		t.Fatal(err)
	}
	img, err := cat.Get(ctx, "123456789012", "ap-northeast-1", aws.ToString(cp.ImageId))
	if err != nil {
		t.Fatal(err)
	}
	dst, _ := regions.Region("ap-northeast-1")
	for _, l := range img.Layers {
		rc, err := dst.Open(ctx, l.Stored().Digest)
		if err != nil {
			t.Fatalf("layer %s not in ap-northeast-1: %v", l.Digest, err)
		}
		h := sha256.New()
		if _, err := io.Copy(h, rc); err != nil || blob.FromHash(h.Sum(nil)) != l.Stored().Digest {
			t.Fatalf("layer %s in ap-northeast-1: %v", l.Digest, err)
		}
		rc.Close()
	}
	g1 := launchRunning(t, c1, &ec2.RunInstancesInput{ImageId: cp.ImageId, InstanceType: types.InstanceTypeT3Micro})
	eventually(t, "the page in ap-northeast-1", 30*time.Second, func() bool { p, err := get("http://" + g1.IP + "/"); return err == nil && p == "golden page\n" })
	out, err := c1.GetConsoleOutput(ctx, &ec2.GetConsoleOutputInput{InstanceId: aws.String(g1.ID)})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := base64.StdEncoding.DecodeString(aws.ToString(out.Output)); strings.Contains(string(b), "user data done") {
		t.Fatal("the copied image's instance ran user data")
	}

	if _, err := c.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(snapID)}); apiCode(t, err) != "InvalidSnapshot.InUse" {
		t.Fatalf("delete of a snapshot in use: %v", err)
	}
	dr, err := c.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: created.ImageId, DeleteAssociatedSnapshots: aws.Bool(true)})
	if err != nil || len(dr.DeleteSnapshotResults) != 1 || aws.ToString(dr.DeleteSnapshotResults[0].SnapshotId) != snapID {
		t.Fatalf("deregister: %+v %v", dr, err)
	}
	if _, err := c.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{snapID}}); apiCode(t, err) != "InvalidSnapshot.NotFound" {
		t.Fatalf("snapshot after deregister: %v", err)
	}
	// The golden instance keeps running from its own disk.
	if _, err := get("http://" + g.IP + "/"); err != nil {
		t.Fatalf("instance of a deregistered image: %v", err)
	}
}
