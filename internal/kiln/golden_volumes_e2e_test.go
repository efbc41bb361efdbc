package kiln_test

import (
	"context"
	"encoding/base64"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// dataUserData writes to the data volume the launch mapped at /dev/sdf —
// which works only if the volume is attached before the instance boots:
// /mnt/ebs is read-only except for attached volumes — and serves it.
const dataUserData = `#!/bin/sh
echo "data on sdf" > /mnt/ebs/sdf/payload || echo "sdf not attached at boot" > /mnt/ebs-missing
mkdir -p /www
printf '#!/bin/sh\ncp /mnt/ebs/sdf/payload /www/index.html\nhttpd -h /www -p 80\n' > /etc/rc.local
chmod +x /etc/rc.local
/etc/rc.local
`

// TestGoldenImageWithDataVolume: RunInstances with a block device mapping
// gets a data volume attached before it boots; DescribeInstances lists it;
// CreateImage snapshots it into the image's mapping; an instance of the
// golden image gets a volume from that snapshot, with the data, at boot;
// termination deletes the volumes marked DeleteOnTermination and keeps the
// others; the kept one, attached to a running instance, brings its data.
func TestGoldenImageWithDataVolume(t *testing.T) {
	e, _ := startInstances(t)
	ctx := context.Background()
	c := ec2.NewFromConfig(e.cfg("us-east-1"))
	base := launchRunning(t, c, &ec2.RunInstancesInput{ImageId: aws.String(minimalAMI(t, c)),
		UserData: aws.String(base64.StdEncoding.EncodeToString([]byte(dataUserData))),
		BlockDeviceMappings: []types.BlockDeviceMapping{{DeviceName: aws.String("/dev/sdf"),
			Ebs: &types.EbsBlockDevice{VolumeSize: aws.Int32(1), DeleteOnTermination: aws.Bool(false)}}}})
	eventually(t, "the page from the data volume", 30*time.Second, func() bool {
		p, err := get("http://" + base.IP + "/")
		return err == nil && p == "data on sdf\n"
	})
	d, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{base.ID}})
	if err != nil {
		t.Fatal(err)
	}
	bdm := d.Reservations[0].Instances[0].BlockDeviceMappings
	if len(bdm) != 2 || aws.ToString(bdm[1].DeviceName) != "/dev/sdf" || bdm[1].Ebs.Status != types.AttachmentStatusAttached || aws.ToBool(bdm[1].Ebs.DeleteOnTermination) {
		t.Fatalf("block device mappings: %+v", bdm)
	}
	dataVol := aws.ToString(bdm[1].Ebs.VolumeId)

	created, err := c.CreateImage(ctx, &ec2.CreateImageInput{InstanceId: aws.String(base.ID), Name: aws.String("with data"), NoReboot: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	golden := waitImage(t, c, aws.ToString(created.ImageId))
	var sdf *types.BlockDeviceMapping
	for i, m := range golden.BlockDeviceMappings {
		if aws.ToString(m.DeviceName) == "/dev/sdf" {
			sdf = &golden.BlockDeviceMappings[i]
		}
	}
	if len(golden.BlockDeviceMappings) != 2 || sdf == nil || sdf.Ebs == nil || aws.ToString(sdf.Ebs.SnapshotId) == "" {
		t.Fatalf("golden image mappings: %+v", golden.BlockDeviceMappings)
	}

	// The golden image's instance: the data volume comes from the image,
	// marked for deletion on termination by this request.
	child := launchRunning(t, c, &ec2.RunInstancesInput{ImageId: created.ImageId,
		BlockDeviceMappings: []types.BlockDeviceMapping{{DeviceName: aws.String("/dev/sdf"), Ebs: &types.EbsBlockDevice{DeleteOnTermination: aws.Bool(true)}}}})
	eventually(t, "the golden image's page from its data volume", 30*time.Second, func() bool {
		p, err := get("http://" + child.IP + "/")
		return err == nil && p == "data on sdf\n"
	})
	d, err = c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{child.ID}})
	if err != nil {
		t.Fatal(err)
	}
	cb := d.Reservations[0].Instances[0].BlockDeviceMappings
	if len(cb) != 2 || !aws.ToBool(cb[1].Ebs.DeleteOnTermination) {
		t.Fatalf("child mappings: %+v", cb)
	}
	childVol := aws.ToString(cb[1].Ebs.VolumeId)
	vs, err := c.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{childVol}})
	if err != nil || aws.ToString(vs.Volumes[0].SnapshotId) != aws.ToString(sdf.Ebs.SnapshotId) {
		t.Fatalf("the child's data volume: %+v %v", vs, err)
	}

	// Termination: the child's volume goes, the first one's stays.
	if _, err := c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{base.ID, child.ID}}); err != nil {
		t.Fatal(err)
	}
	if err := ec2.NewVolumeDeletedWaiter(c).Wait(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{childVol}}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := ec2.NewVolumeAvailableWaiter(c).Wait(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{dataVol}}, time.Minute); err != nil {
		t.Fatal(err)
	}

	// The kept volume, attached live to another running instance, brings
	// its data; detached, it is available again.
	third := launchRunning(t, c, &ec2.RunInstancesInput{ImageId: aws.String(minimalAMI(t, c)),
		UserData: aws.String(base64.StdEncoding.EncodeToString([]byte(waitForVolume)))})
	if _, err := c.AttachVolume(ctx, &ec2.AttachVolumeInput{VolumeId: aws.String(dataVol), InstanceId: aws.String(third.ID), Device: aws.String("/dev/sdg")}); err != nil {
		t.Fatal(err)
	}
	if err := ec2.NewVolumeInUseWaiter(c).Wait(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{dataVol}}, time.Minute); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the page from the volume attached live", 30*time.Second, func() bool {
		p, err := get("http://" + third.IP + "/")
		return err == nil && p == "data on sdf\n"
	})
	if _, err := c.DetachVolume(ctx, &ec2.DetachVolumeInput{VolumeId: aws.String(dataVol)}); err != nil {
		t.Fatal(err)
	}
	if err := ec2.NewVolumeAvailableWaiter(c).Wait(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{dataVol}}, time.Minute); err != nil {
		t.Fatal(err)
	}
}

// waitForVolume serves the payload of the volume attached at /dev/sdg
// once it appears.
const waitForVolume = `#!/bin/sh
mkdir -p /www
(until [ -f /mnt/ebs/sdg/payload ]; do sleep 0.1; done; cp /mnt/ebs/sdg/payload /www/index.html; httpd -h /www -p 80) &
`
