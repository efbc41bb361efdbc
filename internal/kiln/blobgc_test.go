package kiln_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/kiln-dev/kiln/internal/blob"
	"github.com/kiln-dev/kiln/internal/blob/disk"
	"github.com/kiln-dev/kiln/internal/ebs"
	"github.com/kiln-dev/kiln/internal/kiln"
	"github.com/kiln-dev/kiln/internal/store"
)

// blobFiles lists the digests stored in region's blob store, from the
// files on disk.
func blobFiles(t *testing.T, dir, region string) []blob.Digest {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "blobs", region, "sha256", "*", "*"))
	if err != nil {
		t.Fatal(err)
	}
	var out []blob.Digest
	for _, f := range files {
		out = append(out, blob.Digest("sha256:"+filepath.Base(f)))
	}
	return out
}

func onDisk(t *testing.T, dir, region string, d blob.Digest) bool {
	return slices.Contains(blobFiles(t, dir, region), d)
}

// snapshotWith records a completed snapshot of the test account holding
// layers, as CreateSnapshot leaves one (without a runtime there is
// nothing to capture here).
func snapshotWith(t *testing.T, e *env, region, id string, layers ...blob.Desc) {
	t.Helper()
	now := time.Now().UTC()
	sn := ebs.Snapshot{ID: id, OwnerID: testAccount, Region: region, VolumeID: "vol-ffffffff", VolumeSize: 1,
		State: ebs.SnapshotCompleted, Progress: 100, Started: now, Completed: now, Layers: blob.Plain(layers...)}
	err := e.k.Store.Update(context.Background(), func(tx store.Tx) error { return store.PutJSON(tx, sn.Key(), "", sn) })
	if err != nil {
		t.Fatal(err)
	}
}

func registerRoot(t *testing.T, c *ec2.Client, name, snap string) string {
	t.Helper()
	out, err := c.RegisterImage(context.Background(), &ec2.RegisterImageInput{Name: aws.String(name), RootDeviceName: aws.String("/dev/xvda"),
		BlockDeviceMappings: []types.BlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"), Ebs: &types.EbsBlockDevice{SnapshotId: aws.String(snap)}}}})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.ImageId)
}

func deregister(t *testing.T, c *ec2.Client, id string, wantSnaps int) {
	t.Helper()
	out, err := c.DeregisterImage(context.Background(), &ec2.DeregisterImageInput{ImageId: aws.String(id), DeleteAssociatedSnapshots: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.DeleteSnapshotResults) != wantSnaps {
		t.Fatalf("DeregisterImage %s deleted snapshots %+v, want %d", id, out.DeleteSnapshotResults, wantSnaps)
	}
}

// TestBlobGCAfterDeregisterImage: images registered from snapshots, one of
// them copied encrypted to another region; deregistering an image with
// DeleteAssociatedSnapshots frees the layers nothing else names (the
// collection the deregistration kicks removes the files), while a layer
// another registered image shares, the copy's sealed blob while the copy
// exists, and the quick-start layers stay.
func TestBlobGCAfterDeregisterImage(t *testing.T) {
	e := startWith(t, kiln.Options{BlobGC: kiln.BlobGCOptions{Grace: -1, Interval: -1, Debounce: 20 * time.Millisecond}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	east := ec2.NewFromConfig(e.cfg("us-east-1"))
	west := ec2.NewFromConfig(e.cfg("us-west-2"))
	// What kiln itself keeps: the quick-start layers linked into each
	// region when the region's images are first listed.
	for _, c := range []*ec2.Client{east, west} {
		if _, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"amazon"}}); err != nil {
			t.Fatal(err)
		}
	}
	baseEast, baseWest := blobFiles(t, e.dir, "us-east-1"), blobFiles(t, e.dir, "us-west-2")

	bs, err := disk.NewRegions(filepath.Join(e.dir, "blobs")).Disk("us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	put := func(data string) blob.Desc {
		d, err := bs.Put(ctx, bytes.NewReader(bytes.Repeat([]byte(data), 1000)), "")
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	shared, own := put("shared layer "), put("own layer ")
	snapshotWith(t, e, "us-east-1", "snap-0000000000000000a", shared, own)
	snapshotWith(t, e, "us-east-1", "snap-0000000000000000b", shared)
	one := registerRoot(t, east, "one", "snap-0000000000000000a")
	two := registerRoot(t, east, "two", "snap-0000000000000000b")

	cp, err := west.CopyImage(ctx, &ec2.CopyImageInput{SourceRegion: aws.String("us-east-1"), SourceImageId: aws.String(two), Name: aws.String("two-sealed"), Encrypted: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	copied := waitImage(t, west, aws.ToString(cp.ImageId))
	var wsnap ebs.Snapshot
	err = e.k.Store.View(ctx, func(tx store.Tx) error {
		var err error
		wsnap, err = store.GetJSON[ebs.Snapshot](tx, store.Key{Account: testAccount, Region: "us-west-2", Kind: ebs.SnapshotKind, ID: aws.ToString(copied.BlockDeviceMappings[0].Ebs.SnapshotId)})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(wsnap.Layers) != 1 || wsnap.Layers[0].Sealed == nil {
		t.Fatalf("copy's layers = %+v, want one sealed layer", wsnap.Layers)
	}
	sealed := wsnap.Layers[0].Sealed.Digest
	if !onDisk(t, e.dir, "us-west-2", sealed) || onDisk(t, e.dir, "us-west-2", shared.Digest) {
		t.Fatalf("us-west-2 holds %v; want the sealed blob %s and not the plaintext", blobFiles(t, e.dir, "us-west-2"), sealed)
	}

	// Everything is named by some record: a collection deletes nothing.
	st, err := e.k.CollectBlobs(ctx)
	if err != nil || st.Deleted != 0 || st.Referenced != st.Blobs {
		t.Fatalf("collection with every blob named: %+v, %v", st, err)
	}

	// Deregistering "one" with its snapshot frees its own layer; the
	// deregistration kicks a collection (no explicit call here).
	deregister(t, east, one, 1)
	eventually(t, "the own layer collected", 10*time.Second, func() bool { return !onDisk(t, e.dir, "us-east-1", own.Digest) })
	if !onDisk(t, e.dir, "us-east-1", shared.Digest) || !onDisk(t, e.dir, "us-west-2", sealed) {
		t.Fatal("a layer still named by image two or its copy was collected")
	}
	if rc, err := bs.Open(ctx, shared.Digest); err != nil {
		t.Fatal(err)
	} else {
		rc.Close()
	}

	// The copy goes: its sealed blob goes; the source layer stays.
	deregister(t, west, aws.ToString(copied.ImageId), 1)
	eventually(t, "the sealed blob collected", 10*time.Second, func() bool { return !onDisk(t, e.dir, "us-west-2", sealed) })
	if !onDisk(t, e.dir, "us-east-1", shared.Digest) {
		t.Fatal("the shared layer was collected while image two exists")
	}

	// The last image goes: so does the shared layer.
	deregister(t, east, two, 1)
	eventually(t, "the shared layer collected", 10*time.Second, func() bool { return !onDisk(t, e.dir, "us-east-1", shared.Digest) })
	if st, err := e.k.CollectBlobs(ctx); err != nil || st.Deleted != 0 {
		t.Fatalf("final collection: %+v, %v", st, err)
	}
	for region, want := range map[string][]blob.Digest{"us-east-1": baseEast, "us-west-2": baseWest} {
		if got := blobFiles(t, e.dir, region); !slices.Equal(got, want) {
			t.Errorf("%s holds %v at the end, want the quick-start layers %v", region, got, want)
		}
		if tmp, _ := os.ReadDir(filepath.Join(e.dir, "blobs", region, "tmp")); len(tmp) != 0 {
			t.Errorf("%s: temporary files left: %v", region, tmp)
		}
	}
}

// TestBlobGCDefaultGrace: with the default grace period an unnamed blob
// that was just stored is kept.
func TestBlobGCDefaultGrace(t *testing.T) {
	e := startWith(t, kiln.Options{BlobGC: kiln.BlobGCOptions{Interval: -1}})
	ctx := context.Background()
	bs, err := disk.NewRegions(filepath.Join(e.dir, "blobs")).Disk("eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	d, err := bs.Put(ctx, bytes.NewReader([]byte("in flight")), "")
	if err != nil {
		t.Fatal(err)
	}
	st, err := e.k.CollectBlobs(ctx)
	if err != nil || st.Deleted != 0 || st.Young != 1 || !onDisk(t, e.dir, "eu-west-1", d.Digest) {
		t.Fatalf("collection of a fresh blob: %+v, %v", st, err)
	}
}
