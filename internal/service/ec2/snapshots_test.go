package ec2

import (
	"context"
	"strings"
	"testing"

	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/blob"
	"github.com/kiln-dev/kiln/internal/ebs"
	"github.com/kiln-dev/kiln/internal/image"
	"github.com/kiln-dev/kiln/internal/instance"
	"github.com/kiln-dev/kiln/internal/store"
)

func (h *ebsHarness) snapshot(ctx context.Context, id string) ec2api.Snapshot {
	h.t.Helper()
	out, err := h.s.DescribeSnapshots(ctx, &ec2api.DescribeSnapshotsRequest{SnapshotIds: []string{id}})
	sgNoErr(h.t, err)
	if len(out.Snapshots) != 1 {
		h.t.Fatalf("snapshots = %+v", out.Snapshots)
	}
	return out.Snapshots[0]
}

// completedSnapshot snapshots a new volume of size GiB and waits for it.
func (h *ebsHarness) completedSnapshot(ctx context.Context, size int32) ec2api.Snapshot {
	h.t.Helper()
	v := h.createVolume(ctx, &ec2api.CreateVolumeRequest{Size: ptr(size)})
	sn, err := h.s.CreateSnapshot(ctx, &ec2api.CreateSnapshotRequest{VolumeId: v.VolumeId})
	sgNoErr(h.t, err)
	h.idle()
	return h.snapshot(ctx, sn.SnapshotId)
}

// putSnapshot stores a snapshot record directly.
func (h *ebsHarness) putSnapshot(sn ebs.Snapshot) {
	h.t.Helper()
	sgNoErr(h.t, h.st.Update(context.Background(), func(tx store.Tx) error { return store.PutJSON(tx, sn.Key(), "", sn) }))
}

func TestCreateSnapshot(t *testing.T) {
	h := newEBSHarness(t)
	const inst = "i-0123456789abcdef0"
	h.putInstance(inst, "us-east-1a", instance.Running)
	v := h.createVolume(h.ctx, &ec2api.CreateVolumeRequest{Size: ptr(int32(4))})

	for _, c := range []struct {
		in        ec2api.CreateSnapshotRequest
		code, msg string
	}{
		{ec2api.CreateSnapshotRequest{VolumeId: "vol-0123456789abcdef0"}, "InvalidVolume.NotFound", "vol-0123456789abcdef0"},
		{ec2api.CreateSnapshotRequest{VolumeId: "vol-"}, "InvalidVolumeID.Malformed", ""},
		{ec2api.CreateSnapshotRequest{VolumeId: v.VolumeId, Description: strings.Repeat("x", 256)}, "InvalidParameterValue", "255"},
		{ec2api.CreateSnapshotRequest{VolumeId: v.VolumeId, TagSpecifications: []ec2api.TagSpecification{{ResourceType: "volume"}}}, "InvalidParameterValue", "volume"},
	} {
		_, err := h.s.CreateSnapshot(h.ctx, &c.in)
		sgWantCode(t, err, c.code, c.msg)
	}
	// Another account's volume is not found.
	_, err := h.s.CreateSnapshot(h.ctx2, &ec2api.CreateSnapshotRequest{VolumeId: v.VolumeId})
	sgWantCode(t, err, "InvalidVolume.NotFound", "")

	// A never-attached volume: the snapshot is its (empty) layers.
	sn, err := h.s.CreateSnapshot(h.ctx, &ec2api.CreateSnapshotRequest{VolumeId: v.VolumeId, Description: "first",
		TagSpecifications: []ec2api.TagSpecification{{ResourceType: "snapshot", Tags: []ec2api.Tag{{Key: "k", Value: "v"}}}}})
	sgNoErr(t, err)
	if sn.State != "pending" || sn.Progress != "0%" || deref(sn.VolumeSize) != 4 || sn.OwnerId != instAcct || sn.Description != "first" || len(sn.Tags) != 1 {
		t.Fatalf("created = %+v", sn)
	}
	h.idle()
	got := h.snapshot(h.ctx, sn.SnapshotId)
	if got.State != "completed" || got.Progress != "100%" || got.CompletionTime == nil || got.Tags[0].Key != "k" {
		t.Fatalf("completed = %+v", got)
	}

	// An attached (materialised) volume: its changes become a layer, and
	// a volume created from the snapshot starts from it.
	_, err = h.s.AttachVolume(h.ctx, &ec2api.AttachVolumeRequest{VolumeId: v.VolumeId, InstanceId: inst, Device: "/dev/sdf"})
	sgNoErr(t, err)
	h.idle()
	sn2, err := h.s.CreateSnapshot(h.ctx, &ec2api.CreateSnapshotRequest{VolumeId: v.VolumeId})
	sgNoErr(t, err)
	h.idle()
	var rec ebs.Snapshot
	sgNoErr(t, h.st.View(context.Background(), func(tx store.Tx) error {
		rec, err = getOwnSnapshot(tx, scopeOf(h.ctx), sn2.SnapshotId)
		return err
	}))
	if rec.State != ebs.SnapshotCompleted || len(rec.Layers) != 1 || rec.Work != nil {
		t.Fatalf("capture of an attached volume: %+v", rec)
	}
	nv := h.createVolume(h.ctx, &ec2api.CreateVolumeRequest{SnapshotId: sn2.SnapshotId})
	if deref(nv.Size) != 4 || nv.SnapshotId != sn2.SnapshotId {
		t.Fatalf("volume from snapshot = %+v", nv)
	}
	var vr ebs.Volume
	sgNoErr(t, h.st.View(context.Background(), func(tx store.Tx) error {
		vr, err = getVolume(tx, scopeOf(h.ctx), nv.VolumeId)
		return err
	}))
	if len(vr.Layers) != 1 || vr.Layers[0].Digest != rec.Layers[0].Digest {
		t.Fatalf("volume layers = %+v", vr.Layers)
	}
	_, err = h.s.CreateVolume(h.ctx, &ec2api.CreateVolumeRequest{AvailabilityZone: "us-east-1a", SnapshotId: sn2.SnapshotId, Size: ptr(int32(3))})
	sgWantCode(t, err, "InvalidParameterValue", "smaller than snapshot")
	big := h.createVolume(h.ctx, &ec2api.CreateVolumeRequest{SnapshotId: sn2.SnapshotId, Size: ptr(int32(9))})
	if deref(big.Size) != 9 {
		t.Fatalf("bigger volume = %+v", big)
	}
	// Another account cannot create volumes from it until it is shared.
	_, err = h.s.CreateVolume(h.ctx2, &ec2api.CreateVolumeRequest{AvailabilityZone: "us-east-1a", SnapshotId: sn2.SnapshotId})
	sgWantCode(t, err, "InvalidSnapshot.NotFound", sn2.SnapshotId)

	// A pending snapshot cannot be restored yet; it can be deleted.
	pend := ebs.Snapshot{ID: "snap-0000000000000000b", OwnerID: instAcct, Region: "us-east-1", VolumeID: v.VolumeId, VolumeSize: 4, State: ebs.SnapshotPending}
	h.putSnapshot(pend)
	_, err = h.s.CreateVolume(h.ctx, &ec2api.CreateVolumeRequest{AvailabilityZone: "us-east-1a", SnapshotId: pend.ID})
	sgWantCode(t, err, "IncorrectState", "pending")
	sgNoErr(t, h.s.DeleteSnapshot(h.ctx, &ec2api.DeleteSnapshotRequest{SnapshotId: pend.ID}))
}

func TestCreateVolumeFromEncryptedSnapshot(t *testing.T) {
	h := newEBSHarness(t)
	k := "arn:aws:kms:us-east-1:111122223333:key/k1"
	h.keys.add(k)
	sn := ebs.Snapshot{ID: "snap-0000000000000000c", OwnerID: instAcct, Region: "us-east-1", VolumeID: "vol-ffffffff", VolumeSize: 2,
		State: ebs.SnapshotCompleted, Encrypted: true, KmsKeyID: k, CreateVolumePermissions: []string{instAcct2}}
	h.putSnapshot(sn)
	// The owner's volume keeps the snapshot's key.
	v := h.createVolume(h.ctx, &ec2api.CreateVolumeRequest{SnapshotId: sn.ID})
	if !deref(v.Encrypted) || v.KmsKeyId != k {
		t.Fatalf("owner's volume = %+v", v)
	}
	// Another account's is encrypted under its own default key, and it
	// needs kms:Decrypt on the snapshot's key.
	v = h.createVolume(h.ctx2, &ec2api.CreateVolumeRequest{SnapshotId: sn.ID})
	if !deref(v.Encrypted) || v.KmsKeyId != "arn:aws:kms:us-east-1:444455556666:key/aws-ebs" {
		t.Fatalf("shared volume = %+v", v)
	}
	h.keys.denied[instAcct2+" "+k] = true
	_, err := h.s.CreateVolume(h.ctx2, &ec2api.CreateVolumeRequest{AvailabilityZone: "us-east-1a", SnapshotId: sn.ID})
	sgWantCode(t, err, "InvalidParameterValue", k)
}

func TestCopySnapshot(t *testing.T) {
	h := newEBSHarness(t)
	src := h.completedSnapshot(h.ctx, 3)
	west := sgCtx(instAcct, "us-west-2")
	copyIn := func(ctx context.Context, in ec2api.CopySnapshotRequest) (*ec2api.CopySnapshotResult, error) {
		return h.s.CopySnapshot(ctx, &in)
	}
	for _, c := range []struct {
		in        ec2api.CopySnapshotRequest
		code, msg string
	}{
		{ec2api.CopySnapshotRequest{SourceRegion: "mars-1", SourceSnapshotId: src.SnapshotId}, "InvalidParameterValue", "sourceRegion"},
		{ec2api.CopySnapshotRequest{SourceRegion: "us-east-1", SourceSnapshotId: "snap-0123456789abcdef0"}, "InvalidSnapshot.NotFound", ""},
		{ec2api.CopySnapshotRequest{SourceRegion: "us-east-1", SourceSnapshotId: "snap-q"}, "InvalidSnapshotID.Malformed", ""},
		{ec2api.CopySnapshotRequest{SourceRegion: "us-west-2", SourceSnapshotId: src.SnapshotId}, "InvalidSnapshot.NotFound", ""},
		{ec2api.CopySnapshotRequest{SourceRegion: "us-east-1", SourceSnapshotId: src.SnapshotId, KmsKeyId: "k"}, "InvalidParameterDependency", ""},
		{ec2api.CopySnapshotRequest{SourceRegion: "us-east-1", SourceSnapshotId: src.SnapshotId, DestinationRegion: "eu-west-1"}, "InvalidParameterValue", "destinationRegion"},
		{ec2api.CopySnapshotRequest{SourceRegion: "us-east-1", SourceSnapshotId: src.SnapshotId, Encrypted: ptr(true), KmsKeyId: "nope"}, "InvalidParameterValue", "nope"},
	} {
		_, err := copyIn(west, c.in)
		sgWantCode(t, err, c.code, c.msg)
	}
	// Not shared with the other account.
	_, err := copyIn(sgCtx(instAcct2, "us-west-2"), ec2api.CopySnapshotRequest{SourceRegion: "us-east-1", SourceSnapshotId: src.SnapshotId})
	sgWantCode(t, err, "InvalidSnapshot.NotFound", "")

	out, err := copyIn(west, ec2api.CopySnapshotRequest{SourceRegion: "us-east-1", SourceSnapshotId: src.SnapshotId, PresignedUrl: "https://ignored",
		TagSpecifications: []ec2api.TagSpecification{{ResourceType: "snapshot", Tags: []ec2api.Tag{{Key: "copy", Value: "1"}}}}})
	sgNoErr(t, err)
	if len(out.Tags) != 1 {
		t.Fatalf("copy = %+v", out)
	}
	h.idle()
	cp := h.snapshot(west, out.SnapshotId)
	if cp.State != "completed" || cp.VolumeId != "vol-ffffffff" || deref(cp.VolumeSize) != 3 || deref(cp.Encrypted) ||
		cp.Description != "[Copied "+src.SnapshotId+" from us-east-1]" || cp.OwnerId != instAcct {
		t.Fatalf("copied = %+v", cp)
	}
	// Encrypting a copy under the destination's default key.
	out, err = copyIn(west, ec2api.CopySnapshotRequest{SourceRegion: "us-east-1", SourceSnapshotId: src.SnapshotId, Encrypted: ptr(true), Description: "enc"})
	sgNoErr(t, err)
	h.idle()
	cp = h.snapshot(west, out.SnapshotId)
	if !deref(cp.Encrypted) || cp.KmsKeyId != "arn:aws:kms:us-west-2:111122223333:key/aws-ebs" || cp.Description != "enc" || cp.State != "completed" {
		t.Fatalf("encrypted copy = %+v", cp)
	}

	// An encrypted source: the copy stays encrypted, and the caller needs
	// kms:Decrypt on the source key in the source region.
	k := "arn:aws:kms:us-east-1:111122223333:key/src"
	dst := "arn:aws:kms:us-west-2:111122223333:key/dst"
	h.keys.add(k)
	h.keys.add(dst, "alias/dst")
	enc := ebs.Snapshot{ID: "snap-0000000000000000d", OwnerID: instAcct, Region: "us-east-1", VolumeID: "vol-ffffffff", VolumeSize: 1,
		State: ebs.SnapshotCompleted, Encrypted: true, KmsKeyID: k}
	h.putSnapshot(enc)
	out, err = copyIn(west, ec2api.CopySnapshotRequest{SourceRegion: "us-east-1", SourceSnapshotId: enc.ID})
	sgNoErr(t, err)
	if cp := h.snapshot(west, out.SnapshotId); !deref(cp.Encrypted) || cp.KmsKeyId != "arn:aws:kms:us-west-2:111122223333:key/aws-ebs" {
		t.Fatalf("copy of encrypted = %+v", cp)
	}
	out, err = copyIn(west, ec2api.CopySnapshotRequest{SourceRegion: "us-east-1", SourceSnapshotId: enc.ID, Encrypted: ptr(true), KmsKeyId: "alias/dst"})
	sgNoErr(t, err)
	var rec ebs.Snapshot
	sgNoErr(t, h.st.View(context.Background(), func(tx store.Tx) error {
		rec, err = getOwnSnapshot(tx, scopeOf(west), out.SnapshotId)
		return err
	}))
	if rec.KmsKeyID != dst || rec.Work == nil || rec.Work.Kind != ebs.CopyLayers || rec.Work.KeyARN != dst || rec.Work.FromRegion != "us-east-1" || rec.Work.Caller != instAcct {
		t.Fatalf("copy record = %+v %+v", rec, rec.Work)
	}
	// A same-region copy of one's own encrypted snapshot keeps its key.
	out, err = copyIn(h.ctx, ec2api.CopySnapshotRequest{SourceRegion: "us-east-1", SourceSnapshotId: enc.ID})
	sgNoErr(t, err)
	if cp := h.snapshot(h.ctx, out.SnapshotId); cp.KmsKeyId != k {
		t.Fatalf("same-region copy = %+v", cp)
	}
	h.keys.denied[instAcct+" "+k] = true
	_, err = copyIn(west, ec2api.CopySnapshotRequest{SourceRegion: "us-east-1", SourceSnapshotId: enc.ID})
	sgWantCode(t, err, "InvalidParameterValue", k)
	h.idle()

	// A pending source cannot be copied.
	pend := ebs.Snapshot{ID: "snap-0000000000000000e", OwnerID: instAcct, Region: "us-east-1", VolumeID: "vol-ffffffff", VolumeSize: 1, State: ebs.SnapshotPending}
	h.putSnapshot(pend)
	_, err = copyIn(west, ec2api.CopySnapshotRequest{SourceRegion: "us-east-1", SourceSnapshotId: pend.ID})
	sgWantCode(t, err, "IncorrectState", "pending")
}

func TestSnapshotSharing(t *testing.T) {
	h := newEBSHarness(t)
	sn := h.completedSnapshot(h.ctx, 2)
	id := sn.SnapshotId
	err := h.s.CreateTags(h.ctx, &ec2api.CreateTagsRequest{Resources: []string{id}, Tags: []ec2api.Tag{{Key: "secret", Value: "x"}}})
	sgNoErr(t, err)
	modify := func(ctx context.Context, in ec2api.ModifySnapshotAttributeRequest) error {
		in.SnapshotId = id
		return h.s.ModifySnapshotAttribute(ctx, &in)
	}
	add := func(ps ...ec2api.CreateVolumePermission) ec2api.ModifySnapshotAttributeRequest {
		return ec2api.ModifySnapshotAttributeRequest{Attribute: "createVolumePermission", CreateVolumePermission: &ec2api.CreateVolumePermissionModifications{Add: ps}}
	}
	for _, c := range []struct {
		in        ec2api.ModifySnapshotAttributeRequest
		code, msg string
	}{
		{add(ec2api.CreateVolumePermission{UserId: "12"}), "InvalidUserID.Malformed", "12"},
		{add(ec2api.CreateVolumePermission{Group: "friends"}), "InvalidParameterValue", "friends"},
		{ec2api.ModifySnapshotAttributeRequest{Attribute: "createVolumePermission"}, "MissingParameter", ""},
		{ec2api.ModifySnapshotAttributeRequest{Attribute: "createVolumePermission", UserIds: []string{instAcct2}}, "MissingParameter", "operationType"},
		{ec2api.ModifySnapshotAttributeRequest{Attribute: "productCodes", OperationType: "add", UserIds: []string{instAcct2}}, "InvalidParameterValue", "productCodes"},
	} {
		sgWantCode(t, modify(h.ctx, c.in), c.code, c.msg)
	}
	// Only the owner may share.
	sgWantCode(t, modify(h.ctx2, add(ec2api.CreateVolumePermission{UserId: instAcct2})), "InvalidSnapshot.NotFound", "")

	_, err = h.s.DescribeSnapshots(h.ctx2, &ec2api.DescribeSnapshotsRequest{SnapshotIds: []string{id}})
	sgWantCode(t, err, "InvalidSnapshot.NotFound", id)
	// The flat form.
	sgNoErr(t, modify(h.ctx, ec2api.ModifySnapshotAttributeRequest{Attribute: "createVolumePermission", OperationType: "add", UserIds: []string{instAcct2}}))
	got := h.snapshot(h.ctx2, id)
	if got.OwnerId != instAcct || len(got.Tags) != 0 {
		t.Fatalf("shared, seen by the other account = %+v", got)
	}
	for _, in := range []*ec2api.DescribeSnapshotsRequest{
		{RestorableByUserIds: []string{"self"}},
		{OwnerIds: []string{instAcct}},
		{Filters: []ec2api.Filter{{Name: "owner-id", Values: []string{instAcct}}}},
	} {
		out, err := h.s.DescribeSnapshots(h.ctx2, in)
		sgNoErr(t, err)
		if len(out.Snapshots) != 1 {
			t.Errorf("%+v: %+v", in, out.Snapshots)
		}
	}
	out, err := h.s.DescribeSnapshots(h.ctx2, &ec2api.DescribeSnapshotsRequest{OwnerIds: []string{"self"}})
	sgNoErr(t, err)
	if len(out.Snapshots) != 0 {
		t.Fatalf("self: %+v", out.Snapshots)
	}
	v := h.createVolume(h.ctx2, &ec2api.CreateVolumeRequest{SnapshotId: id})
	if v.SnapshotId != id {
		t.Fatalf("volume from shared = %+v", v)
	}
	// Not the other account's to delete or change.
	sgWantCode(t, h.s.DeleteSnapshot(h.ctx2, &ec2api.DeleteSnapshotRequest{SnapshotId: id}), "InvalidSnapshot.NotFound", "")
	_, err = h.s.DescribeSnapshotAttribute(h.ctx2, &ec2api.DescribeSnapshotAttributeRequest{SnapshotId: id, Attribute: "createVolumePermission"})
	sgWantCode(t, err, "InvalidSnapshot.NotFound", "")

	sgNoErr(t, modify(h.ctx, add(ec2api.CreateVolumePermission{Group: "all"})))
	attr, err := h.s.DescribeSnapshotAttribute(h.ctx, &ec2api.DescribeSnapshotAttributeRequest{SnapshotId: id, Attribute: "createVolumePermission"})
	sgNoErr(t, err)
	if len(attr.CreateVolumePermissions) != 2 || attr.CreateVolumePermissions[0].Group != "all" || attr.CreateVolumePermissions[1].UserId != instAcct2 {
		t.Fatalf("attribute = %+v", attr)
	}
	pc, err := h.s.DescribeSnapshotAttribute(h.ctx, &ec2api.DescribeSnapshotAttributeRequest{SnapshotId: id, Attribute: "productCodes"})
	sgNoErr(t, err)
	if pc.ProductCodes == nil || len(pc.ProductCodes) != 0 {
		t.Fatalf("product codes = %+v", pc)
	}
	// Public: a third account sees it too.
	third := sgCtx("777788889999", "us-east-1")
	h.snapshot(third, id)
	out, err = h.s.DescribeSnapshots(third, &ec2api.DescribeSnapshotsRequest{RestorableByUserIds: []string{"all"}})
	sgNoErr(t, err)
	if len(out.Snapshots) != 1 {
		t.Fatalf("restorable by all: %+v", out.Snapshots)
	}
	sgNoErr(t, modify(h.ctx, ec2api.ModifySnapshotAttributeRequest{Attribute: "createVolumePermission", OperationType: "remove", GroupNames: []string{"all"}}))
	_, err = h.s.DescribeSnapshots(third, &ec2api.DescribeSnapshotsRequest{SnapshotIds: []string{id}})
	sgWantCode(t, err, "InvalidSnapshot.NotFound", "")
	h.snapshot(h.ctx2, id)
	sgNoErr(t, h.s.ResetSnapshotAttribute(h.ctx, &ec2api.ResetSnapshotAttributeRequest{SnapshotId: id, Attribute: "createVolumePermission"}))
	_, err = h.s.DescribeSnapshots(h.ctx2, &ec2api.DescribeSnapshotsRequest{SnapshotIds: []string{id}})
	sgWantCode(t, err, "InvalidSnapshot.NotFound", "")
	sgWantCode(t, h.s.ResetSnapshotAttribute(h.ctx, &ec2api.ResetSnapshotAttributeRequest{SnapshotId: id, Attribute: "productCodes"}), "InvalidParameterValue", "")

	// Encrypted snapshots: never public; never shared under aws/ebs.
	k := "arn:aws:kms:us-east-1:111122223333:key/cmk"
	h.keys.add(k)
	for _, c := range []struct{ key, id string }{{k, "snap-0000000000000000f"}, {"arn:aws:kms:us-east-1:111122223333:key/aws-ebs", "snap-00000000000000010"}} {
		h.putSnapshot(ebs.Snapshot{ID: c.id, OwnerID: instAcct, Region: "us-east-1", VolumeID: "vol-ffffffff", VolumeSize: 1, State: ebs.SnapshotCompleted, Encrypted: true, KmsKeyID: c.key})
	}
	err = h.s.ModifySnapshotAttribute(h.ctx, &ec2api.ModifySnapshotAttributeRequest{SnapshotId: "snap-0000000000000000f", Attribute: "createVolumePermission", OperationType: "add", GroupNames: []string{"all"}})
	sgWantCode(t, err, "OperationNotPermitted", "public")
	sgNoErr(t, h.s.ModifySnapshotAttribute(h.ctx, &ec2api.ModifySnapshotAttributeRequest{SnapshotId: "snap-0000000000000000f", Attribute: "createVolumePermission", OperationType: "add", UserIds: []string{instAcct2}}))
	err = h.s.ModifySnapshotAttribute(h.ctx, &ec2api.ModifySnapshotAttributeRequest{SnapshotId: "snap-00000000000000010", Attribute: "createVolumePermission", OperationType: "add", UserIds: []string{instAcct2}})
	sgWantCode(t, err, "OperationNotPermitted", "default key")
}

func TestDescribeSnapshots(t *testing.T) {
	h := newEBSHarness(t)
	var ids []string
	for i := range 6 {
		ids = append(ids, h.completedSnapshot(h.ctx, int32(i+1)).SnapshotId)
	}
	h.completedSnapshot(h.ctx2, 1)
	h.putSnapshot(ebs.Snapshot{ID: "snap-00000000000000011", OwnerID: image.AmazonOwnerID, Region: "us-east-1", VolumeID: "vol-ffffffff", VolumeSize: 8, State: ebs.SnapshotCompleted, Progress: 100, Started: h.clk.Now(), Public: true, Description: "quick start"})
	count := func(in *ec2api.DescribeSnapshotsRequest) int {
		t.Helper()
		out, err := h.s.DescribeSnapshots(h.ctx, in)
		sgNoErr(t, err)
		return len(out.Snapshots)
	}
	flt := func(name string, values ...string) *ec2api.DescribeSnapshotsRequest {
		return &ec2api.DescribeSnapshotsRequest{Filters: []ec2api.Filter{{Name: name, Values: values}}}
	}
	for _, c := range []struct {
		in   *ec2api.DescribeSnapshotsRequest
		want int
	}{
		{&ec2api.DescribeSnapshotsRequest{}, 7}, // own and public
		{&ec2api.DescribeSnapshotsRequest{OwnerIds: []string{"self"}}, 6},
		{&ec2api.DescribeSnapshotsRequest{OwnerIds: []string{"amazon"}}, 1},
		{&ec2api.DescribeSnapshotsRequest{OwnerIds: []string{instAcct2}}, 0},
		{&ec2api.DescribeSnapshotsRequest{SnapshotIds: ids[:2]}, 2},
		{flt("owner-alias", "amazon"), 1},
		{flt("volume-size", "1", "2"), 2},
		{flt("status", "completed"), 7},
		{flt("progress", "100%"), 7},
		{flt("encrypted", "false"), 7},
		{flt("description", "quick*"), 1},
		{flt("snapshot-id", ids[3]), 1},
		{flt("start-time", "2025-01-02T*"), 7},
		{flt("kms-key-id", "*"), 0},
		{flt("volume-id", "vol-ffffffff"), 1},
	} {
		if got := count(c.in); got != c.want {
			t.Errorf("%+v: %d snapshots, want %d", c.in, got, c.want)
		}
	}
	out, err := h.s.DescribeSnapshots(h.ctx, &ec2api.DescribeSnapshotsRequest{OwnerIds: []string{"self"}, MaxResults: ptr(int32(5))})
	sgNoErr(t, err)
	if len(out.Snapshots) != 5 || out.NextToken == "" {
		t.Fatalf("page 1: %d %q", len(out.Snapshots), out.NextToken)
	}
	out, err = h.s.DescribeSnapshots(h.ctx, &ec2api.DescribeSnapshotsRequest{OwnerIds: []string{"self"}, MaxResults: ptr(int32(5)), NextToken: out.NextToken})
	sgNoErr(t, err)
	if len(out.Snapshots) != 1 || out.NextToken != "" {
		t.Fatalf("page 2: %d %q", len(out.Snapshots), out.NextToken)
	}
	for _, c := range []struct {
		in        *ec2api.DescribeSnapshotsRequest
		code, msg string
	}{
		{&ec2api.DescribeSnapshotsRequest{SnapshotIds: []string{"snap-0123456789abcdef0"}}, "InvalidSnapshot.NotFound", "snap-0123456789abcdef0"},
		{&ec2api.DescribeSnapshotsRequest{SnapshotIds: []string{"snap-zz"}}, "InvalidSnapshotID.Malformed", ""},
		{&ec2api.DescribeSnapshotsRequest{SnapshotIds: ids[:1], MaxResults: ptr(int32(5))}, "InvalidParameterCombination", ""},
		{&ec2api.DescribeSnapshotsRequest{MaxResults: ptr(int32(1001))}, "InvalidParameterValue", "maxResults"},
		{&ec2api.DescribeSnapshotsRequest{OwnerIds: []string{"bob"}}, "InvalidUserID.Malformed", "bob"},
		{&ec2api.DescribeSnapshotsRequest{RestorableByUserIds: []string{"bob"}}, "InvalidUserID.Malformed", "bob"},
		{flt("colour", "x"), "InvalidParameterValue", "colour"},
	} {
		_, err := h.s.DescribeSnapshots(h.ctx, c.in)
		sgWantCode(t, err, c.code, c.msg)
	}
}

func TestDeleteSnapshot(t *testing.T) {
	h := newEBSHarness(t)
	sn := h.completedSnapshot(h.ctx, 1)
	img := image.Image{ID: "ami-0123456789abcdef0", Name: "mine", OwnerID: instAcct, Region: "us-east-1", State: image.StateAvailable,
		RootDeviceName: "/dev/xvda", BlockDevices: []image.BlockDevice{{DeviceName: "/dev/xvda", SnapshotID: sn.SnapshotId}}}
	key := store.Key{Account: instAcct, Region: "us-east-1", Kind: image.Kind, ID: img.ID}
	sgNoErr(t, h.st.Update(context.Background(), func(tx store.Tx) error { return store.PutJSON(tx, key, img.Name, img) }))
	err := h.s.DeleteSnapshot(h.ctx, &ec2api.DeleteSnapshotRequest{SnapshotId: sn.SnapshotId})
	sgWantCode(t, err, "InvalidSnapshot.InUse", "in use by "+img.ID)
	sgNoErr(t, h.st.Update(context.Background(), func(tx store.Tx) error { return tx.Delete(key) }))
	sgWantCode(t, h.s.DeleteSnapshot(h.ctx2, &ec2api.DeleteSnapshotRequest{SnapshotId: sn.SnapshotId}), "InvalidSnapshot.NotFound", "")
	sgWantCode(t, h.s.DeleteSnapshot(h.ctx, &ec2api.DeleteSnapshotRequest{SnapshotId: "snap-"}), "InvalidSnapshotID.Malformed", "")
	sgNoErr(t, h.s.DeleteSnapshot(h.ctx, &ec2api.DeleteSnapshotRequest{SnapshotId: sn.SnapshotId}))
	_, err = h.s.DescribeSnapshots(h.ctx, &ec2api.DescribeSnapshotsRequest{SnapshotIds: []string{sn.SnapshotId}})
	sgWantCode(t, err, "InvalidSnapshot.NotFound", "")
	sgWantCode(t, h.s.DeleteSnapshot(h.ctx, &ec2api.DeleteSnapshotRequest{SnapshotId: sn.SnapshotId}), "InvalidSnapshot.NotFound", "")

	// Deleting while pending: the manager drops the outcome.
	v := h.createVolume(h.ctx, &ec2api.CreateVolumeRequest{Size: ptr(int32(1))})
	p, err := h.s.CreateSnapshot(h.ctx, &ec2api.CreateSnapshotRequest{VolumeId: v.VolumeId})
	sgNoErr(t, err)
	sgNoErr(t, h.s.DeleteSnapshot(h.ctx, &ec2api.DeleteSnapshotRequest{SnapshotId: p.SnapshotId}))
	h.idle()
	_, err = h.s.DescribeSnapshots(h.ctx, &ec2api.DescribeSnapshotsRequest{SnapshotIds: []string{p.SnapshotId}})
	sgWantCode(t, err, "InvalidSnapshot.NotFound", "")
}

// TestDeleteVolumeWaitsForSnapshot: a volume deleted right after
// CreateSnapshot is deleted only once the snapshot has captured it (as
// EC2's point-in-time snapshots keep their data), whatever order the
// manager meets the two in.
func TestDeleteVolumeWaitsForSnapshot(t *testing.T) {
	h := newEBSHarness(t)
	const inst = "i-0123456789abcdef0"
	h.putInstance(inst, "us-east-1a", instance.Running)
	for i := range 5 {
		v := h.createVolume(h.ctx, &ec2api.CreateVolumeRequest{Size: ptr(int32(1))})
		if i%2 == 1 { // written to: the snapshot needs the runtime's data
			_, err := h.s.AttachVolume(h.ctx, &ec2api.AttachVolumeRequest{VolumeId: v.VolumeId, InstanceId: inst, Device: "/dev/sdf"})
			sgNoErr(t, err)
			h.idle()
			_, err = h.s.DetachVolume(h.ctx, &ec2api.DetachVolumeRequest{VolumeId: v.VolumeId})
			sgNoErr(t, err)
			h.idle()
		}
		sn, err := h.s.CreateSnapshot(h.ctx, &ec2api.CreateSnapshotRequest{VolumeId: v.VolumeId})
		sgNoErr(t, err)
		sgNoErr(t, h.s.DeleteVolume(h.ctx, &ec2api.DeleteVolumeRequest{VolumeId: v.VolumeId}))
		h.idle()
		var rec ebs.Snapshot
		sgNoErr(t, h.st.View(context.Background(), func(tx store.Tx) error {
			rec, err = getOwnSnapshot(tx, scopeOf(h.ctx), sn.SnapshotId)
			return err
		}))
		if rec.State != ebs.SnapshotCompleted || len(rec.Layers) != 1 {
			t.Fatalf("round %d: snapshot %+v", i, rec)
		}
		want := blob.FromBytes(make([]byte, 1024)) // the empty layer
		if i%2 == 1 {
			want = blob.FromBytes([]byte("changes of " + v.VolumeId))
		}
		if rec.Layers[0].Digest != want {
			t.Errorf("round %d: layer %s, want %s", i, rec.Layers[0].Digest, want)
		}
		if vols, _ := h.rt.state(); vols[v.VolumeId] != nil {
			t.Errorf("round %d: the runtime still holds the volume", i)
		}
		_, err = h.s.DescribeVolumes(h.ctx, &ec2api.DescribeVolumesRequest{VolumeIds: []string{v.VolumeId}})
		sgWantCode(t, err, "InvalidVolume.NotFound", "")
	}
}
