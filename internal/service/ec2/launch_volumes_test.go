package ec2

import (
	"context"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/ebs"
	"github.com/kiln-dev/kiln/internal/image"
	"github.com/kiln-dev/kiln/internal/instance"
	"github.com/kiln-dev/kiln/internal/runtime"
	"github.com/kiln-dev/kiln/internal/store"
)

// TestLaunchVolumes: RunInstances' data volumes are the image's EBS
// devices as the request overrides or suppresses them, plus the ones it
// adds; each is checked as CreateVolume checks.
func TestLaunchVolumes(t *testing.T) {
	h := newEBSHarness(t)
	ctx := h.ctx
	snap := h.completedSnapshot(ctx, 4)
	img := image.Image{RootDeviceName: "/dev/xvda", BlockDevices: []image.BlockDevice{
		{DeviceName: "/dev/xvda", SnapshotID: "snap-root", VolumeSize: 8},
		{DeviceName: "/dev/sdf", SnapshotID: snap.SnapshotId, VolumeSize: 4, VolumeType: "gp3", DeleteOnTermination: false},
		{DeviceName: "/dev/sdg", SnapshotID: snap.SnapshotId, VolumeSize: 4, DeleteOnTermination: true},
		{DeviceName: "/dev/sdb", VirtualName: "ephemeral0"},
	}}
	lvs, err := h.s.launchVolumes(ctx, scopeOf(ctx), img, []ec2api.BlockDeviceMapping{
		{DeviceName: "/dev/xvda", Ebs: &ec2api.EbsBlockDevice{VolumeSize: ptr(int32(20))}}, // the root: not here
		{DeviceName: "/dev/sdf", Ebs: &ec2api.EbsBlockDevice{VolumeSize: ptr(int32(10)), DeleteOnTermination: ptr(true)}},
		{DeviceName: "/dev/sdg", NoDevice: "true"},
		{DeviceName: "/dev/sdh", Ebs: &ec2api.EbsBlockDevice{VolumeSize: ptr(int32(4)), VolumeType: "io1", Iops: ptr(int32(200))}},
	})
	sgNoErr(t, err)
	if len(lvs) != 2 {
		t.Fatalf("launch volumes %+v, want sdf and sdh", lvs)
	}
	f, hh := lvs[0], lvs[1]
	if f.device != "/dev/sdf" || f.spec.size != 10 || f.spec.typ != "gp3" || !f.deleteOn || f.snap.ID != snap.SnapshotId {
		t.Errorf("sdf = %+v", f)
	}
	if hh.device != "/dev/sdh" || hh.spec.size != 4 || hh.spec.typ != "io1" || hh.spec.iops != 200 || !hh.deleteOn || hh.snap.ID != "" {
		t.Errorf("sdh = %+v", hh)
	}
	v := f.volume(scopeOf(ctx), "i-0123456789abcdef0", "us-east-1a", h.clk.Now())
	if v.State != ebs.VolumeInUse || v.Attachment.State != ebs.Attaching || v.Attachment.Device != "/dev/sdf" || len(v.Layers) != len(f.snap.Layers) || v.SnapshotID != snap.SnapshotId {
		t.Errorf("volume record %+v", v)
	}

	bad := []struct {
		name string
		m    ec2api.BlockDeviceMapping
		code string
	}{
		{"device name", ec2api.BlockDeviceMapping{DeviceName: "/dev/nvme1n1", Ebs: &ec2api.EbsBlockDevice{VolumeSize: ptr(int32(1))}}, "InvalidBlockDeviceMapping"},
		{"no size or snapshot", ec2api.BlockDeviceMapping{DeviceName: "/dev/sdk", Ebs: &ec2api.EbsBlockDevice{}}, "InvalidBlockDeviceMapping"},
		{"smaller than the snapshot", ec2api.BlockDeviceMapping{DeviceName: "/dev/sdk", Ebs: &ec2api.EbsBlockDevice{SnapshotId: snap.SnapshotId, VolumeSize: ptr(int32(1))}}, "InvalidBlockDeviceMapping"},
		{"unknown snapshot", ec2api.BlockDeviceMapping{DeviceName: "/dev/sdk", Ebs: &ec2api.EbsBlockDevice{SnapshotId: "snap-0123456789abcdef0"}}, "InvalidSnapshot.NotFound"},
		{"too large", ec2api.BlockDeviceMapping{DeviceName: "/dev/sdk", Ebs: &ec2api.EbsBlockDevice{VolumeSize: ptr(int32(70000))}}, "InvalidParameterValue"},
		{"key without encryption", ec2api.BlockDeviceMapping{DeviceName: "/dev/sdk", Ebs: &ec2api.EbsBlockDevice{VolumeSize: ptr(int32(1)), KmsKeyId: "k1"}}, "InvalidParameterDependency"},
		{"other snapshot for the image's device", ec2api.BlockDeviceMapping{DeviceName: "/dev/sdf", Ebs: &ec2api.EbsBlockDevice{SnapshotId: "snap-0123456789abcdef0"}}, "InvalidBlockDeviceMapping"},
	}
	for _, c := range bad {
		_, err := h.s.launchVolumes(ctx, scopeOf(ctx), img, []ec2api.BlockDeviceMapping{c.m})
		sgWantCode(t, err, c.code, "")
	}
	_, err = h.s.launchVolumes(ctx, scopeOf(ctx), img, []ec2api.BlockDeviceMapping{
		{DeviceName: "/dev/sdk", Ebs: &ec2api.EbsBlockDevice{VolumeSize: ptr(int32(1))}},
		{DeviceName: "/dev/sdk", Ebs: &ec2api.EbsBlockDevice{VolumeSize: ptr(int32(1))}},
	})
	sgWantCode(t, err, "InvalidBlockDeviceMapping", "")
}

// TestInstanceStartingAttaches: a volume mapped at launch waits, quietly,
// while its instance has no container, and InstanceStarting (the
// controller's hook before a boot) attaches it; DescribeInstances then
// lists it after the root device.
func TestInstanceStartingAttaches(t *testing.T) {
	h := newEBSHarness(t)
	h.rt.needInstance = true
	ctx := h.ctx
	id := "i-0123456789abcdef0"
	h.putInstance(id, "us-east-1a", instance.Pending)
	lv := launchVolume{device: "/dev/sdf", spec: volumeSpec{typ: "gp3", size: 1}, deleteOn: true}
	v := lv.volume(scopeOf(ctx), id, "us-east-1a", h.clk.Now())
	sgNoErr(t, h.st.Update(context.Background(), func(tx store.Tx) error { return store.CreateJSON(tx, v.Key(), "", v) }))
	h.m.Kick()
	time.Sleep(100 * time.Millisecond) // the manager tries, and leaves it
	if got := h.volume(ctx, v.ID); got.Attachments[0].State != ebs.Attaching {
		t.Fatalf("before the container exists: %+v", got.Attachments)
	}
	// The controller created the container and is about to boot it.
	sgNoErr(t, h.rt.Create(ctx, runtime.Spec{ID: id}))
	r := instance.Record{ID: id, Account: instAcct, Region: "us-east-1", State: instance.Pending}
	sgNoErr(t, h.m.InstanceStarting(ctx, r))
	if got := h.volume(ctx, v.ID); got.Attachments[0].State != ebs.Attached {
		t.Fatalf("after InstanceStarting: %+v", got.Attachments)
	}
	if _, att := h.rt.state(); att[v.ID] == "" {
		t.Fatal("the runtime has no attachment")
	}
	var res []ec2api.Reservation
	sgNoErr(t, h.st.View(ctx, func(tx store.Tx) error {
		rec := instance.Record{ID: id, Account: instAcct, Region: "us-east-1", ReservationID: "r-1", State: instance.Running,
			RootDevice: "/dev/xvda", RootDeviceType: "ebs", RootVolumeID: "vol-root"}
		res = reservations([]instance.Record{rec}, tagIndex{})
		return dataVolumeMappings(tx, scopeOf(ctx), res)
	}))
	bdm := res[0].Instances[0].BlockDeviceMappings
	if len(bdm) != 2 || bdm[1].DeviceName != "/dev/sdf" || bdm[1].Ebs.VolumeId != v.ID || bdm[1].Ebs.Status != ebs.Attached {
		t.Fatalf("block device mappings %+v", bdm)
	}
}
