package ec2

import (
	"context"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/blob/disk"
	"github.com/kiln-dev/kiln/internal/clock"
	"github.com/kiln-dev/kiln/internal/ebs"
	"github.com/kiln-dev/kiln/internal/instance"
	"github.com/kiln-dev/kiln/internal/instance/insttest"
	"github.com/kiln-dev/kiln/internal/runtime"
	"github.com/kiln-dev/kiln/internal/store"
	"github.com/kiln-dev/kiln/internal/store/sqlite"
)

// fakeKeys is a KMS: key refs (IDs, ARNs, aliases) map to ARNs; keys can
// be disabled, or denied to an account.
type fakeKeys struct {
	mu       sync.Mutex
	arns     map[string]string
	disabled map[string]bool
	denied   map[string]bool // account + " " + ARN
}

func newFakeKeys() *fakeKeys {
	return &fakeKeys{arns: map[string]string{}, disabled: map[string]bool{}, denied: map[string]bool{}}
}

// add registers a key and its refs.
func (k *fakeKeys) add(arn string, refs ...string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.arns[arn] = arn
	for _, r := range refs {
		k.arns[r] = arn
	}
}

func (k *fakeKeys) Resolve(_ context.Context, account, region, ref string, actions ...string) (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	arn, ok := k.arns[ref]
	switch {
	case !ok:
		return "", awserr.New(awserr.NotFound, "NotFoundException", "Key '%s' does not exist", ref)
	case k.disabled[arn]:
		return "", awserr.New(awserr.Conflict, "DisabledException", "%s is disabled.", arn)
	case k.denied[account+" "+arn]:
		return "", awserr.New(awserr.Forbidden, "AccessDeniedException", "not allowed: %v", actions)
	}
	return arn, nil
}

func (k *fakeKeys) DefaultKey(_ context.Context, account, region string) (string, error) {
	arn := "arn:aws:kms:" + region + ":" + account + ":key/aws-ebs"
	k.add(arn)
	return arn, nil
}

// volRuntime is a test-only runtime.Volumer over the instance fake: it
// records volumes (their layers' digests and captured changes) and
// attachments.
type volRuntime struct {
	*insttest.Runtime
	mu       sync.Mutex
	vols     map[string][]string // volume ID → layer digests
	attached map[string]string   // volume ID → "instance name"
	// needInstance: AttachVolume answers ErrNotFound, as the real
	// runtimes do, unless the instance's container exists.
	needInstance bool
}

var _ runtime.Volumer = (*volRuntime)(nil)

func newVolRuntime() *volRuntime {
	return &volRuntime{Runtime: insttest.NewRuntime(), vols: map[string][]string{}, attached: map[string]string{}}
}

func (r *volRuntime) CreateVolume(ctx context.Context, id string, layers []runtime.Layer) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.vols[id]; ok {
		return runtime.ErrAlreadyExists
	}
	ds := []string{}
	for _, l := range layers {
		ds = append(ds, string(l.Digest))
	}
	r.vols[id] = ds
	return nil
}

func (r *volRuntime) DeleteVolume(_ context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.vols[id]; !ok {
		return runtime.ErrNotFound
	}
	if r.attached[id] != "" {
		return runtime.ErrVolumeInUse
	}
	delete(r.vols, id)
	return nil
}

// CaptureVolume writes a layer naming the volume as its changes.
func (r *volRuntime) CaptureVolume(_ context.Context, id string, w io.Writer) (int64, error) {
	n, err := w.Write([]byte("changes of " + id))
	return int64(n), err
}

func (r *volRuntime) AttachVolume(ctx context.Context, instanceID, volumeID, name string) error {
	if r.needInstance {
		if _, err := r.Status(ctx, instanceID); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.vols[volumeID]; !ok {
		return runtime.ErrNotFound
	}
	r.attached[volumeID] = instanceID + " " + name
	return nil
}

func (r *volRuntime) DetachVolume(_ context.Context, instanceID, volumeID, name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.attached, volumeID)
	return nil
}

func (r *volRuntime) Volumes(context.Context) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for id := range r.vols {
		out = append(out, id)
	}
	return out, nil
}

func (r *volRuntime) state() (map[string][]string, map[string]string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, a := map[string][]string{}, map[string]string{}
	for k, x := range r.vols {
		v[k] = x
	}
	for k, x := range r.attached {
		a[k] = x
	}
	return v, a
}

// ebsHarness is the EC2 service with EBS enabled over a sqlite store, a
// disk blob store per region, the fake KMS and a running EBS manager.
type ebsHarness struct {
	t     *testing.T
	s     *Service
	st    store.Store
	clk   *clock.Fake
	keys  *fakeKeys
	rt    *volRuntime
	blobs *disk.Regions
	m     *ebs.Manager
	ctx   context.Context // instAcct in us-east-1
	ctx2  context.Context // instAcct2 in us-east-1
}

func newEBSHarness(t *testing.T) *ebsHarness {
	t.Helper()
	h := &ebsHarness{t: t, st: sqlite.OpenTemp(t), clk: clock.NewFake(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)),
		keys: newFakeKeys(), rt: newVolRuntime(), blobs: disk.NewRegions(t.TempDir()),
		ctx: sgCtx(instAcct, "us-east-1"), ctx2: sgCtx(instAcct2, "us-east-1")}
	h.s = New(h.st, h.clk)
	h.m = ebs.New(ebs.Config{Store: h.st, Blobs: h.blobs, Runtime: h.rt, Clock: h.clk, Tick: time.Hour})
	h.m.Start()
	t.Cleanup(func() { h.m.Close() })
	h.s.EnableEBS(EBSDeps{Kick: h.m.Kick, Keys: h.keys})
	return h
}

// idle waits for the manager to finish all pending work.
func (h *ebsHarness) idle() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sgNoErr(h.t, h.m.Idle(ctx))
}

func (h *ebsHarness) createVolume(ctx context.Context, in *ec2api.CreateVolumeRequest) *ec2api.Volume {
	h.t.Helper()
	if in.AvailabilityZone == "" && in.AvailabilityZoneId == "" {
		in.AvailabilityZone = "us-east-1a"
	}
	v, err := h.s.CreateVolume(ctx, in)
	sgNoErr(h.t, err)
	return v
}

func (h *ebsHarness) volume(ctx context.Context, id string) ec2api.Volume {
	h.t.Helper()
	out, err := h.s.DescribeVolumes(ctx, &ec2api.DescribeVolumesRequest{VolumeIds: []string{id}})
	sgNoErr(h.t, err)
	if len(out.Volumes) != 1 {
		h.t.Fatalf("volumes = %+v", out.Volumes)
	}
	return out.Volumes[0]
}

// putInstance stores an instance record of instAcct in us-east-1.
func (h *ebsHarness) putInstance(id, az, state string) {
	h.t.Helper()
	r := instance.Record{ID: id, Account: instAcct, Region: "us-east-1", AZ: az, State: state, RootDevice: "/dev/xvda", RootDeviceType: "ebs"}
	sgNoErr(h.t, h.st.Update(context.Background(), func(tx store.Tx) error {
		return store.PutJSON(tx, store.Key{Account: instAcct, Region: "us-east-1", Kind: instance.Kind, ID: id}, "", r)
	}))
}

func TestCreateVolumeErrors(t *testing.T) {
	h := newEBSHarness(t)
	h.keys.add("arn:aws:kms:us-east-1:111122223333:key/k1", "k1", "alias/k1")
	h.keys.add("arn:aws:kms:us-east-1:111122223333:key/off", "off")
	h.keys.disabled["arn:aws:kms:us-east-1:111122223333:key/off"] = true
	i32 := func(n int32) *int32 { return &n }
	tr := true
	cases := []struct {
		name      string
		in        ec2api.CreateVolumeRequest
		code, msg string
	}{
		{"no zone", ec2api.CreateVolumeRequest{Size: i32(1)}, "MissingParameter", "AvailabilityZone"},
		{"unknown zone", ec2api.CreateVolumeRequest{AvailabilityZone: "us-east-1z", Size: i32(1)}, "InvalidZone.NotFound", "us-east-1z"},
		{"other region's zone", ec2api.CreateVolumeRequest{AvailabilityZone: "us-west-2a", Size: i32(1)}, "InvalidZone.NotFound", ""},
		{"unknown zone id", ec2api.CreateVolumeRequest{AvailabilityZoneId: "use1-az9", Size: i32(1)}, "InvalidZone.NotFound", ""},
		{"no size or snapshot", ec2api.CreateVolumeRequest{AvailabilityZone: "us-east-1a"}, "MissingParameter", "size or snapshotId"},
		{"gp3 too small", ec2api.CreateVolumeRequest{AvailabilityZone: "us-east-1a", Size: i32(0)}, "InvalidParameterValue", "too small"},
		{"gp3 too large", ec2api.CreateVolumeRequest{AvailabilityZone: "us-east-1a", Size: i32(16385)}, "InvalidParameterValue", "too large for volume type gp3"},
		{"standard too large", ec2api.CreateVolumeRequest{AvailabilityZone: "us-east-1a", Size: i32(1025), VolumeType: "standard"}, "InvalidParameterValue", "maximum is 1024GiB"},
		{"st1 too small", ec2api.CreateVolumeRequest{AvailabilityZone: "us-east-1a", Size: i32(124), VolumeType: "st1"}, "InvalidParameterValue", "minimum is 125GB"},
		{"sc1 too small", ec2api.CreateVolumeRequest{AvailabilityZone: "us-east-1a", Size: i32(100), VolumeType: "sc1"}, "InvalidParameterValue", "minimum is 125GB"},
		{"io1 too small", ec2api.CreateVolumeRequest{AvailabilityZone: "us-east-1a", Size: i32(3), VolumeType: "io1", Iops: i32(100)}, "InvalidParameterValue", "minimum is 4GB"},
		{"io1 without iops", ec2api.CreateVolumeRequest{AvailabilityZone: "us-east-1a", Size: i32(10), VolumeType: "io1"}, "MissingParameter", "iops"},
		{"io2 without iops", ec2api.CreateVolumeRequest{AvailabilityZone: "us-east-1a", Size: i32(10), VolumeType: "io2"}, "MissingParameter", "iops"},
		{"io1 ratio", ec2api.CreateVolumeRequest{AvailabilityZone: "us-east-1a", Size: i32(10), VolumeType: "io1", Iops: i32(1000)}, "InvalidParameterValue", "ratio"},
		{"io1 iops low", ec2api.CreateVolumeRequest{AvailabilityZone: "us-east-1a", Size: i32(10), VolumeType: "io1", Iops: i32(50)}, "InvalidParameterValue", "too low"},
		{"gp2 iops", ec2api.CreateVolumeRequest{AvailabilityZone: "us-east-1a", Size: i32(10), VolumeType: "gp2", Iops: i32(300)}, "InvalidParameterCombination", "iops is not supported for gp2"},
		{"standard iops", ec2api.CreateVolumeRequest{AvailabilityZone: "us-east-1a", Size: i32(10), VolumeType: "standard", Iops: i32(300)}, "InvalidParameterCombination", ""},
		{"io1 throughput", ec2api.CreateVolumeRequest{AvailabilityZone: "us-east-1a", Size: i32(10), VolumeType: "io1", Iops: i32(100), Throughput: i32(200)}, "InvalidParameterCombination", "throughput"},
		{"gp3 iops low", ec2api.CreateVolumeRequest{AvailabilityZone: "us-east-1a", Size: i32(10), Iops: i32(2000)}, "InvalidParameterValue", "too low; minimum is 3000"},
		{"gp3 iops high", ec2api.CreateVolumeRequest{AvailabilityZone: "us-east-1a", Size: i32(100), Iops: i32(16001)}, "InvalidParameterValue", "too high; maximum is 16000"},
		{"gp3 iops ratio", ec2api.CreateVolumeRequest{AvailabilityZone: "us-east-1a", Size: i32(8), Iops: i32(5000)}, "InvalidParameterValue", "ratio"},
		{"gp3 throughput low", ec2api.CreateVolumeRequest{AvailabilityZone: "us-east-1a", Size: i32(10), Throughput: i32(100)}, "InvalidParameterValue", "minimum is 125MiB/s"},
		{"gp3 throughput high", ec2api.CreateVolumeRequest{AvailabilityZone: "us-east-1a", Size: i32(100), Iops: i32(16000), Throughput: i32(1001)}, "InvalidParameterValue", "maximum is 1000MiB/s"},
		{"gp3 throughput ratio", ec2api.CreateVolumeRequest{AvailabilityZone: "us-east-1a", Size: i32(100), Throughput: i32(1000)}, "InvalidParameterValue", "ratio"},
		{"unknown snapshot", ec2api.CreateVolumeRequest{AvailabilityZone: "us-east-1a", SnapshotId: "snap-0123456789abcdef0"}, "InvalidSnapshot.NotFound", "snap-0123456789abcdef0"},
		{"malformed snapshot", ec2api.CreateVolumeRequest{AvailabilityZone: "us-east-1a", SnapshotId: "snap-xyz"}, "InvalidSnapshotID.Malformed", ""},
		{"key without encrypted", ec2api.CreateVolumeRequest{AvailabilityZone: "us-east-1a", Size: i32(1), KmsKeyId: "k1"}, "InvalidParameterDependency", "KmsKeyId"},
		{"unknown key", ec2api.CreateVolumeRequest{AvailabilityZone: "us-east-1a", Size: i32(1), Encrypted: &tr, KmsKeyId: "nope"}, "InvalidParameterValue", "'nope'"},
		{"disabled key", ec2api.CreateVolumeRequest{AvailabilityZone: "us-east-1a", Size: i32(1), Encrypted: &tr, KmsKeyId: "off"}, "IncorrectState", ""},
		{"tag spec type", ec2api.CreateVolumeRequest{AvailabilityZone: "us-east-1a", Size: i32(1), TagSpecifications: []ec2api.TagSpecification{{ResourceType: "snapshot"}}}, "InvalidParameterValue", "snapshot"},
		{"multi-attach", ec2api.CreateVolumeRequest{AvailabilityZone: "us-east-1a", Size: i32(10), VolumeType: "io2", Iops: i32(100), MultiAttachEnabled: &tr}, "UnsupportedOperation", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := c.in
			_, err := h.s.CreateVolume(h.ctx, &in)
			sgWantCode(t, err, c.code, c.msg)
		})
	}
	// Without EBS the action is refused.
	_, err := New(h.st, h.clk).CreateVolume(h.ctx, &ec2api.CreateVolumeRequest{AvailabilityZone: "us-east-1a", Size: i32(1)})
	sgWantCode(t, err, "UnsupportedOperation", "")
}

func TestCreateVolume(t *testing.T) {
	h := newEBSHarness(t)
	v := h.createVolume(h.ctx, &ec2api.CreateVolumeRequest{Size: ptr(int32(10)),
		TagSpecifications: []ec2api.TagSpecification{{ResourceType: "volume", Tags: []ec2api.Tag{{Key: "Name", Value: "data"}}}}})
	if v.State != "creating" || v.VolumeType != "gp3" || deref(v.Iops) != 3000 || deref(v.Throughput) != 125 || deref(v.Encrypted) || len(v.Tags) != 1 {
		t.Fatalf("created = %+v", v)
	}
	d := h.volume(h.ctx, v.VolumeId)
	if d.State != "available" || deref(d.Size) != 10 || d.AvailabilityZoneId != "use1-az1" || len(d.Attachments) != 0 || d.Tags[0].Value != "data" {
		t.Fatalf("described = %+v", d)
	}
	// The same client token answers the same volume.
	a := h.createVolume(h.ctx, &ec2api.CreateVolumeRequest{Size: ptr(int32(2)), ClientToken: "tok"})
	b := h.createVolume(h.ctx, &ec2api.CreateVolumeRequest{Size: ptr(int32(2)), ClientToken: "tok"})
	if a.VolumeId != b.VolumeId {
		t.Fatalf("client token: %s, then %s", a.VolumeId, b.VolumeId)
	}
	// gp2 reports its baseline IOPS; io2 its provisioned ones.
	g := h.createVolume(h.ctx, &ec2api.CreateVolumeRequest{Size: ptr(int32(10)), VolumeType: "gp2"})
	if deref(g.Iops) != 100 || g.Throughput != nil {
		t.Fatalf("gp2 = %+v", g)
	}
	io := h.createVolume(h.ctx, &ec2api.CreateVolumeRequest{Size: ptr(int32(10)), VolumeType: "io2", Iops: ptr(int32(5000))})
	if deref(io.Iops) != 5000 {
		t.Fatalf("io2 = %+v", io)
	}
	// Tags are per account: the other account sees nothing.
	_, err := h.s.DescribeVolumes(h.ctx2, &ec2api.DescribeVolumesRequest{VolumeIds: []string{v.VolumeId}})
	sgWantCode(t, err, "InvalidVolume.NotFound", v.VolumeId)
}

func TestVolumeEncryption(t *testing.T) {
	h := newEBSHarness(t)
	k1 := "arn:aws:kms:us-east-1:111122223333:key/k1"
	h.keys.add(k1, "alias/k1")
	def := "arn:aws:kms:us-east-1:111122223333:key/aws-ebs"

	v := h.createVolume(h.ctx, &ec2api.CreateVolumeRequest{Size: ptr(int32(1)), Encrypted: ptr(true)})
	if !deref(v.Encrypted) || v.KmsKeyId != def {
		t.Fatalf("default key: %+v", v)
	}
	v = h.createVolume(h.ctx, &ec2api.CreateVolumeRequest{Size: ptr(int32(1)), Encrypted: ptr(true), KmsKeyId: "alias/k1"})
	if v.KmsKeyId != k1 {
		t.Fatalf("alias: %+v", v)
	}

	// Encryption by default, and a default key of one's own.
	g, err := h.s.GetEbsEncryptionByDefault(h.ctx, nil)
	sgNoErr(t, err)
	if deref(g.EbsEncryptionByDefault) {
		t.Fatal("encryption by default is on at first")
	}
	e, err := h.s.EnableEbsEncryptionByDefault(h.ctx, nil)
	sgNoErr(t, err)
	if !deref(e.EbsEncryptionByDefault) {
		t.Fatal("enable answered false")
	}
	v = h.createVolume(h.ctx, &ec2api.CreateVolumeRequest{Size: ptr(int32(1)), Encrypted: ptr(false)})
	if !deref(v.Encrypted) || v.KmsKeyId != def {
		t.Fatalf("by default: %+v", v)
	}
	// Only in that region and account.
	v = h.createVolume(h.ctx2, &ec2api.CreateVolumeRequest{Size: ptr(int32(1))})
	if deref(v.Encrypted) {
		t.Fatalf("other account: %+v", v)
	}
	k, err := h.s.GetEbsDefaultKmsKeyId(h.ctx, nil)
	sgNoErr(t, err)
	if k.KmsKeyId != "arn:aws:kms:us-east-1:111122223333:alias/aws/ebs" {
		t.Fatalf("default key id = %s", k.KmsKeyId)
	}
	_, err = h.s.ModifyEbsDefaultKmsKeyId(h.ctx, &ec2api.ModifyEbsDefaultKmsKeyIdRequest{KmsKeyId: "nope"})
	sgWantCode(t, err, "InvalidParameterValue", "nope")
	m, err := h.s.ModifyEbsDefaultKmsKeyId(h.ctx, &ec2api.ModifyEbsDefaultKmsKeyIdRequest{KmsKeyId: "alias/k1"})
	sgNoErr(t, err)
	if m.KmsKeyId != k1 {
		t.Fatalf("modify = %s", m.KmsKeyId)
	}
	v = h.createVolume(h.ctx, &ec2api.CreateVolumeRequest{Size: ptr(int32(1))})
	if v.KmsKeyId != k1 {
		t.Fatalf("own default key: %+v", v)
	}
	// A default key the caller may no longer use fails the request.
	h.keys.denied[instAcct+" "+k1] = true
	_, err = h.s.CreateVolume(h.ctx, &ec2api.CreateVolumeRequest{AvailabilityZone: "us-east-1a", Size: ptr(int32(1))})
	sgWantCode(t, err, "InvalidParameterValue", "")
	delete(h.keys.denied, instAcct+" "+k1)
	r, err := h.s.ResetEbsDefaultKmsKeyId(h.ctx, nil)
	sgNoErr(t, err)
	if r.KmsKeyId != "arn:aws:kms:us-east-1:111122223333:alias/aws/ebs" {
		t.Fatalf("reset = %s", r.KmsKeyId)
	}
	d, err := h.s.DisableEbsEncryptionByDefault(h.ctx, nil)
	sgNoErr(t, err)
	if deref(d.EbsEncryptionByDefault) {
		t.Fatal("disable answered true")
	}
	v = h.createVolume(h.ctx, &ec2api.CreateVolumeRequest{Size: ptr(int32(1))})
	if deref(v.Encrypted) {
		t.Fatalf("after disable: %+v", v)
	}

	// The integrator's helper reads the same settings.
	_, _ = h.s.EnableEbsEncryptionByDefault(h.ctx, nil)
	sgNoErr(t, h.st.View(context.Background(), func(tx store.Tx) error {
		on, ref, err := h.s.ebsDefaultKey(context.Background(), tx, scopeOf(h.ctx))
		if !on || ref != "" || err != nil {
			t.Fatalf("ebsDefaultKey = %v %q %v", on, ref, err)
		}
		return nil
	}))
}

func TestDescribeVolumes(t *testing.T) {
	h := newEBSHarness(t)
	var ids []string
	for i := range 7 {
		v := h.createVolume(h.ctx, &ec2api.CreateVolumeRequest{Size: ptr(int32(i + 1)), AvailabilityZone: fmt.Sprintf("us-east-1%c", 'a'+i%3),
			TagSpecifications: []ec2api.TagSpecification{{ResourceType: "volume", Tags: []ec2api.Tag{{Key: "n", Value: fmt.Sprint(i)}}}}})
		ids = append(ids, v.VolumeId)
	}
	h.createVolume(h.ctx2, &ec2api.CreateVolumeRequest{Size: ptr(int32(1))})
	count := func(in *ec2api.DescribeVolumesRequest) int {
		t.Helper()
		out, err := h.s.DescribeVolumes(h.ctx, in)
		sgNoErr(t, err)
		return len(out.Volumes)
	}
	flt := func(name string, values ...string) *ec2api.DescribeVolumesRequest {
		return &ec2api.DescribeVolumesRequest{Filters: []ec2api.Filter{{Name: name, Values: values}}}
	}
	for _, c := range []struct {
		in   *ec2api.DescribeVolumesRequest
		want int
	}{
		{&ec2api.DescribeVolumesRequest{}, 7},
		{&ec2api.DescribeVolumesRequest{VolumeIds: ids[:2]}, 2},
		{flt("size", "1", "2"), 2},
		{flt("availability-zone", "us-east-1a"), 3},
		{flt("volume-type", "gp3"), 7},
		{flt("status", "available"), 7},
		{flt("encrypted", "false"), 7},
		{flt("tag:n", "3"), 1},
		{flt("tag-key", "n"), 7},
		{flt("volume-id", ids[4]), 1},
		{flt("snapshot-id", ""), 7},
		{flt("create-time", "2025-01-02T03:04:05.000Z"), 7},
		{flt("attachment.instance-id", "i-*"), 0},
	} {
		if got := count(c.in); got != c.want {
			t.Errorf("%+v: %d volumes, want %d", c.in, got, c.want)
		}
	}
	// Pagination.
	out, err := h.s.DescribeVolumes(h.ctx, &ec2api.DescribeVolumesRequest{MaxResults: ptr(int32(5))})
	sgNoErr(t, err)
	if len(out.Volumes) != 5 || out.NextToken == "" {
		t.Fatalf("page 1: %d, %q", len(out.Volumes), out.NextToken)
	}
	out, err = h.s.DescribeVolumes(h.ctx, &ec2api.DescribeVolumesRequest{MaxResults: ptr(int32(5)), NextToken: out.NextToken})
	sgNoErr(t, err)
	if len(out.Volumes) != 2 || out.NextToken != "" {
		t.Fatalf("page 2: %d, %q", len(out.Volumes), out.NextToken)
	}
	for _, c := range []struct {
		in        *ec2api.DescribeVolumesRequest
		code, msg string
	}{
		{&ec2api.DescribeVolumesRequest{VolumeIds: []string{"vol-0123456789abcdef0"}}, "InvalidVolume.NotFound", "vol-0123456789abcdef0"},
		{&ec2api.DescribeVolumesRequest{VolumeIds: []string{"vol-bad"}}, "InvalidVolumeID.Malformed", "vol-bad"},
		{&ec2api.DescribeVolumesRequest{VolumeIds: ids[:1], MaxResults: ptr(int32(5))}, "InvalidParameterCombination", ""},
		{&ec2api.DescribeVolumesRequest{MaxResults: ptr(int32(4))}, "InvalidParameterValue", "maxResults"},
		{&ec2api.DescribeVolumesRequest{MaxResults: ptr(int32(501))}, "InvalidParameterValue", "maxResults"},
		{&ec2api.DescribeVolumesRequest{NextToken: "!!"}, "InvalidNextToken", ""},
		{flt("colour", "red"), "InvalidParameterValue", "colour"},
	} {
		_, err := h.s.DescribeVolumes(h.ctx, c.in)
		sgWantCode(t, err, c.code, c.msg)
	}
}

func TestAttachDetachVolume(t *testing.T) {
	h := newEBSHarness(t)
	const inst, instB, pend = "i-0123456789abcdef0", "i-0123456789abcdef1", "i-0123456789abcdef2"
	h.putInstance(inst, "us-east-1a", instance.Running)
	h.putInstance(instB, "us-east-1b", instance.Stopped)
	h.putInstance(pend, "us-east-1a", instance.Pending)
	v := h.createVolume(h.ctx, &ec2api.CreateVolumeRequest{Size: ptr(int32(1))})
	other := h.createVolume(h.ctx, &ec2api.CreateVolumeRequest{Size: ptr(int32(1))})
	theirs := h.createVolume(h.ctx2, &ec2api.CreateVolumeRequest{Size: ptr(int32(1))})

	attach := func(vol, i, dev string) (*ec2api.VolumeAttachment, error) {
		return h.s.AttachVolume(h.ctx, &ec2api.AttachVolumeRequest{VolumeId: vol, InstanceId: i, Device: dev})
	}
	for _, c := range []struct {
		vol, inst, dev string
		code, msg      string
	}{
		{v.VolumeId, inst, "sdf", "InvalidParameterValue", "not a valid EBS device name"},
		{v.VolumeId, inst, "/dev/sdf9x", "InvalidParameterValue", "not a valid EBS device name"},
		{"vol-x", inst, "/dev/sdf", "InvalidVolumeID.Malformed", ""},
		{v.VolumeId, "i-x", "/dev/sdf", "InvalidInstanceID.Malformed", ""},
		{theirs.VolumeId, inst, "/dev/sdf", "InvalidVolume.NotFound", theirs.VolumeId},
		{v.VolumeId, "i-0123456789abcdef9", "/dev/sdf", "InvalidInstanceID.NotFound", ""},
		{v.VolumeId, instB, "/dev/sdf", "InvalidVolume.ZoneMismatch", instB},
		{v.VolumeId, pend, "/dev/sdf", "IncorrectState", "'running' or 'stopped'"},
		{v.VolumeId, inst, "/dev/xvda", "InvalidParameterValue", "already in use"},
	} {
		_, err := attach(c.vol, c.inst, c.dev)
		sgWantCode(t, err, c.code, c.msg)
	}

	a, err := attach(v.VolumeId, inst, "/dev/sdf")
	sgNoErr(t, err)
	if a.State != "attaching" || a.InstanceId != inst || a.Device != "/dev/sdf" {
		t.Fatalf("attach = %+v", a)
	}
	h.idle()
	d := h.volume(h.ctx, v.VolumeId)
	if d.State != "in-use" || len(d.Attachments) != 1 || d.Attachments[0].State != "attached" {
		t.Fatalf("after attach: %+v", d)
	}
	vols, att := h.rt.state()
	if _, ok := vols[v.VolumeId]; !ok || att[v.VolumeId] != inst+" sdf" {
		t.Fatalf("runtime: %v %v", vols, att)
	}
	// Filters see the attachment.
	out, err := h.s.DescribeVolumes(h.ctx, &ec2api.DescribeVolumesRequest{Filters: []ec2api.Filter{
		{Name: "attachment.instance-id", Values: []string{inst}}, {Name: "attachment.status", Values: []string{"attached"}},
		{Name: "attachment.device", Values: []string{"/dev/sdf"}}, {Name: "attachment.delete-on-termination", Values: []string{"false"}}}})
	sgNoErr(t, err)
	if len(out.Volumes) != 1 {
		t.Fatalf("attachment filters: %+v", out.Volumes)
	}

	_, err = attach(v.VolumeId, inst, "/dev/sdg")
	sgWantCode(t, err, "VolumeInUse", v.VolumeId)
	_, err = attach(other.VolumeId, inst, "/dev/sdf")
	sgWantCode(t, err, "InvalidParameterValue", "already in use")
	err = h.s.DeleteVolume(h.ctx, &ec2api.DeleteVolumeRequest{VolumeId: v.VolumeId})
	sgWantCode(t, err, "VolumeInUse", inst)

	detach := func(in ec2api.DetachVolumeRequest) (*ec2api.VolumeAttachment, error) {
		return h.s.DetachVolume(h.ctx, &in)
	}
	_, err = detach(ec2api.DetachVolumeRequest{VolumeId: v.VolumeId, InstanceId: instB})
	sgWantCode(t, err, "InvalidAttachment.NotFound", instB)
	_, err = detach(ec2api.DetachVolumeRequest{VolumeId: v.VolumeId, Device: "/dev/sdz"})
	sgWantCode(t, err, "InvalidAttachment.NotFound", "/dev/sdz")
	_, err = detach(ec2api.DetachVolumeRequest{VolumeId: other.VolumeId})
	sgWantCode(t, err, "IncorrectState", "'available' state")
	_, err = detach(ec2api.DetachVolumeRequest{VolumeId: theirs.VolumeId})
	sgWantCode(t, err, "InvalidVolume.NotFound", "")
	a, err = detach(ec2api.DetachVolumeRequest{VolumeId: v.VolumeId, InstanceId: inst, Device: "/dev/sdf"})
	sgNoErr(t, err)
	if a.State != "detaching" {
		t.Fatalf("detach = %+v", a)
	}
	h.idle()
	d = h.volume(h.ctx, v.VolumeId)
	if d.State != "available" || len(d.Attachments) != 0 {
		t.Fatalf("after detach: %+v", d)
	}
	if _, att := h.rt.state(); att[v.VolumeId] != "" {
		t.Fatalf("still attached in the runtime: %v", att)
	}
	// A stopped instance takes volumes too.
	b := h.createVolume(h.ctx, &ec2api.CreateVolumeRequest{Size: ptr(int32(1)), AvailabilityZone: "us-east-1b"})
	_, err = attach(b.VolumeId, instB, "/dev/xvdf")
	sgNoErr(t, err)

	// A materialised volume is deleted by the manager, runtime data first.
	sgNoErr(t, h.s.DeleteVolume(h.ctx, &ec2api.DeleteVolumeRequest{VolumeId: v.VolumeId}))
	// The manager may already have finished: deleting, or gone.
	if out, err := h.s.DescribeVolumes(h.ctx, &ec2api.DescribeVolumesRequest{VolumeIds: []string{v.VolumeId}}); err == nil && out.Volumes[0].State != "deleting" {
		t.Fatalf("delete: %+v", out.Volumes[0])
	}
	h.idle()
	_, err = h.s.DescribeVolumes(h.ctx, &ec2api.DescribeVolumesRequest{VolumeIds: []string{v.VolumeId}})
	sgWantCode(t, err, "InvalidVolume.NotFound", "")
	if vols, _ := h.rt.state(); vols[v.VolumeId] != nil {
		t.Fatalf("runtime volume kept: %v", vols)
	}
	// One never attached is deleted at once.
	sgNoErr(t, h.s.DeleteVolume(h.ctx, &ec2api.DeleteVolumeRequest{VolumeId: other.VolumeId}))
	_, err = h.s.DescribeVolumes(h.ctx, &ec2api.DescribeVolumesRequest{VolumeIds: []string{other.VolumeId}})
	sgWantCode(t, err, "InvalidVolume.NotFound", "")
	err = h.s.DeleteVolume(h.ctx, &ec2api.DeleteVolumeRequest{VolumeId: other.VolumeId})
	sgWantCode(t, err, "InvalidVolume.NotFound", "")
}

func TestRootVolumeAndEncryptedAttach(t *testing.T) {
	h := newEBSHarness(t)
	const inst = "i-0123456789abcdef0"
	h.putInstance(inst, "us-east-1a", instance.Running)
	root := ebs.Volume{ID: "vol-0000000000000000a", OwnerID: instAcct, Region: "us-east-1", AZ: "us-east-1a", SizeGiB: 8, Type: "gp3", Iops: 3000, Throughput: 125,
		State: ebs.VolumeInUse, Root: true, Attachment: &ebs.Attachment{InstanceID: inst, Device: "/dev/xvda", State: ebs.Attached, DeleteOnTermination: true}}
	sgNoErr(t, h.st.Update(context.Background(), func(tx store.Tx) error { return putVolume(tx, root) }))
	_, err := h.s.DetachVolume(h.ctx, &ec2api.DetachVolumeRequest{VolumeId: root.ID})
	sgWantCode(t, err, "IncorrectState", "Unable to detach root volume")
	err = h.s.DeleteVolume(h.ctx, &ec2api.DeleteVolumeRequest{VolumeId: root.ID})
	sgWantCode(t, err, "VolumeInUse", "")

	k := "arn:aws:kms:us-east-1:111122223333:key/k1"
	h.keys.add(k)
	v := h.createVolume(h.ctx, &ec2api.CreateVolumeRequest{Size: ptr(int32(1)), Encrypted: ptr(true), KmsKeyId: k})
	h.keys.denied[instAcct+" "+k] = true
	_, err = h.s.AttachVolume(h.ctx, &ec2api.AttachVolumeRequest{VolumeId: v.VolumeId, InstanceId: inst, Device: "/dev/sdf"})
	sgWantCode(t, err, "InvalidParameterValue", k)
	delete(h.keys.denied, instAcct+" "+k)
	h.keys.disabled[k] = true
	_, err = h.s.AttachVolume(h.ctx, &ec2api.AttachVolumeRequest{VolumeId: v.VolumeId, InstanceId: inst, Device: "/dev/sdf"})
	sgWantCode(t, err, "IncorrectState", "")
}

func TestModifyVolume(t *testing.T) {
	h := newEBSHarness(t)
	v := h.createVolume(h.ctx, &ec2api.CreateVolumeRequest{Size: ptr(int32(10))})
	untouched := h.createVolume(h.ctx, &ec2api.CreateVolumeRequest{Size: ptr(int32(10))})
	modify := func(in ec2api.ModifyVolumeRequest) (*ec2api.ModifyVolumeResult, error) {
		in.VolumeId = v.VolumeId
		return h.s.ModifyVolume(h.ctx, &in)
	}
	for _, c := range []struct {
		in        ec2api.ModifyVolumeRequest
		code, msg string
	}{
		{ec2api.ModifyVolumeRequest{Size: ptr(int32(5))}, "InvalidParameterValue", "smaller"},
		{ec2api.ModifyVolumeRequest{Size: ptr(int32(10))}, "InvalidParameterCombination", "equal"},
		{ec2api.ModifyVolumeRequest{VolumeType: "io1"}, "MissingParameter", "iops"},
		{ec2api.ModifyVolumeRequest{VolumeType: "st1"}, "InvalidParameterValue", "minimum is 125GB"},
		{ec2api.ModifyVolumeRequest{VolumeType: "gp2", Iops: ptr(int32(3000))}, "InvalidParameterCombination", ""},
		{ec2api.ModifyVolumeRequest{Iops: ptr(int32(20000))}, "InvalidParameterValue", ""},
		{ec2api.ModifyVolumeRequest{Size: ptr(int32(20000))}, "InvalidParameterValue", "too large"},
	} {
		_, err := modify(c.in)
		sgWantCode(t, err, c.code, c.msg)
	}
	_, err := h.s.ModifyVolume(h.ctx, &ec2api.ModifyVolumeRequest{VolumeId: "vol-0123456789abcdef0", Size: ptr(int32(20))})
	sgWantCode(t, err, "InvalidVolume.NotFound", "")

	out, err := modify(ec2api.ModifyVolumeRequest{Size: ptr(int32(20)), Throughput: ptr(int32(250))})
	sgNoErr(t, err)
	m := out.VolumeModification
	if m.ModificationState != "completed" || deref(m.OriginalSize) != 10 || deref(m.TargetSize) != 20 || deref(m.TargetThroughput) != 250 || deref(m.TargetIops) != 3000 {
		t.Fatalf("modification = %+v", m)
	}
	out, err = modify(ec2api.ModifyVolumeRequest{VolumeType: "io2", Iops: ptr(int32(4000))})
	sgNoErr(t, err)
	if m := out.VolumeModification; m.OriginalVolumeType != "gp3" || m.TargetVolumeType != "io2" || m.TargetThroughput != nil {
		t.Fatalf("type change = %+v", m)
	}
	d := h.volume(h.ctx, v.VolumeId)
	if d.VolumeType != "io2" || deref(d.Size) != 20 || deref(d.Iops) != 4000 || d.Throughput != nil {
		t.Fatalf("volume = %+v", d)
	}

	mods, err := h.s.DescribeVolumesModifications(h.ctx, &ec2api.DescribeVolumesModificationsRequest{})
	sgNoErr(t, err)
	if len(mods.VolumesModifications) != 1 || mods.VolumesModifications[0].VolumeId != v.VolumeId || deref(mods.VolumesModifications[0].Progress) != 100 {
		t.Fatalf("modifications = %+v", mods.VolumesModifications)
	}
	mods, err = h.s.DescribeVolumesModifications(h.ctx, &ec2api.DescribeVolumesModificationsRequest{Filters: []ec2api.Filter{{Name: "target-volume-type", Values: []string{"gp3"}}}})
	sgNoErr(t, err)
	if len(mods.VolumesModifications) != 0 {
		t.Fatalf("filtered = %+v", mods.VolumesModifications)
	}
	_, err = h.s.DescribeVolumesModifications(h.ctx, &ec2api.DescribeVolumesModificationsRequest{VolumeIds: []string{untouched.VolumeId}})
	sgWantCode(t, err, "InvalidVolumeModification.NotFound", untouched.VolumeId)
	_, err = h.s.DescribeVolumesModifications(h.ctx, &ec2api.DescribeVolumesModificationsRequest{Filters: []ec2api.Filter{{Name: "size", Values: []string{"1"}}}})
	sgWantCode(t, err, "InvalidParameterValue", "size")
}
