package image_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/blob"
	"github.com/kiln-dev/kiln/internal/blob/disk"
	"github.com/kiln-dev/kiln/internal/clock"
	"github.com/kiln-dev/kiln/internal/image"
	"github.com/kiln-dev/kiln/internal/store/sqlite"
)

const (
	alice = "111111111111"
	bob   = "222222222222"
	carol = "333333333333"
)

type fixture struct {
	c       *image.CatalogImpl
	regions *disk.Regions
	local   *disk.Store
	clk     *clock.Fake
	dir     string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	local, err := disk.New(filepath.Join(dir, "images"))
	if err != nil {
		t.Fatal(err)
	}
	regions := disk.NewRegions(filepath.Join(dir, "blobs"))
	clk := clock.NewFake(time.Date(2026, 11, 5, 10, 0, 0, 0, time.UTC))
	c := image.NewCatalog(sqlite.OpenTemp(t), regions, clk, image.Options{Local: local})
	return &fixture{c: c, regions: regions, local: local, clk: clk, dir: dir}
}

// layer puts bytes into region's store.
func (f *fixture) layer(t *testing.T, region, content string) blob.Desc {
	t.Helper()
	s, err := f.regions.Region(region)
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.Put(context.Background(), bytes.NewReader([]byte(content)), "")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (f *fixture) register(t *testing.T, img image.Image) image.Image {
	t.Helper()
	if img.Layers == nil {
		img.Layers = blob.Plain(f.layer(t, img.Region, "layer of "+img.Name))
	}
	out, err := f.c.Register(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func ids(imgs []image.Image) map[string]bool {
	m := map[string]bool{}
	for _, i := range imgs {
		m[i.Name] = true
	}
	return m
}

func TestVisibility(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	// A quick-start template.
	d, err := f.local.Put(ctx, bytes.NewReader([]byte("quick")), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.AddQuickStart(ctx, image.Image{Name: "kiln-minimal-20261105", Layers: blob.Plain(d)}); err != nil {
		t.Fatal(err)
	}
	own := f.register(t, image.Image{OwnerID: alice, Region: "us-east-1", Name: "alice-private"})
	f.register(t, image.Image{OwnerID: bob, Region: "us-east-1", Name: "bob-private"})
	f.register(t, image.Image{OwnerID: bob, Region: "us-east-1", Name: "bob-shared", LaunchPermissions: []string{alice}})
	f.register(t, image.Image{OwnerID: carol, Region: "us-east-1", Name: "carol-public", Public: true})
	f.register(t, image.Image{OwnerID: alice, Region: "eu-west-1", Name: "alice-in-eu"})

	cases := []struct {
		account, region string
		want            []string
	}{
		{alice, "us-east-1", []string{"kiln-minimal-20261105", "alice-private", "bob-shared", "carol-public"}},
		{bob, "us-east-1", []string{"kiln-minimal-20261105", "bob-private", "bob-shared", "carol-public"}},
		{carol, "us-east-1", []string{"kiln-minimal-20261105", "carol-public"}},
		{alice, "eu-west-1", []string{"kiln-minimal-20261105", "alice-in-eu"}},
		{bob, "ap-south-1", []string{"kiln-minimal-20261105"}},
	}
	for _, tc := range cases {
		got, err := f.c.Visible(ctx, tc.account, tc.region)
		if err != nil {
			t.Fatal(err)
		}
		names := ids(got)
		if len(names) != len(tc.want) {
			t.Errorf("%s in %s sees %v, want %v", tc.account, tc.region, names, tc.want)
			continue
		}
		for _, w := range tc.want {
			if !names[w] {
				t.Errorf("%s in %s sees %v, want %v", tc.account, tc.region, names, tc.want)
			}
		}
	}

	if _, err := f.c.Get(ctx, bob, "us-east-1", own.ID); !errors.Is(err, image.ErrNotFound) {
		t.Errorf("bob Get alice's private image: %v", err)
	}
	if _, err := f.c.Get(ctx, alice, "eu-west-1", own.ID); !errors.Is(err, image.ErrNotFound) {
		t.Errorf("Get in the wrong region: %v", err)
	}
	if got, err := f.c.Get(ctx, alice, "us-east-1", own.ID); err != nil || got.Name != "alice-private" {
		t.Errorf("Get own = %+v, %v", got, err)
	}

	// Quick-start images: owner amazon, public, one ID per region, layers
	// hard-linked into the region's store.
	us, _ := f.c.Visible(ctx, carol, "us-east-1")
	eu, _ := f.c.Visible(ctx, carol, "eu-west-1")
	var qUS, qEU image.Image
	for _, i := range us {
		if i.OwnerAlias == "amazon" {
			qUS = i
		}
	}
	for _, i := range eu {
		if i.OwnerAlias == "amazon" {
			qEU = i
		}
	}
	if qUS.OwnerID != image.AmazonOwnerID || !qUS.Public || qUS.Region != "us-east-1" || qUS.State != image.StateAvailable {
		t.Errorf("quick-start image = %+v", qUS)
	}
	if qUS.ID == qEU.ID || qEU.ID == "" {
		t.Errorf("quick-start IDs us=%s eu=%s, want distinct", qUS.ID, qEU.ID)
	}
	eus, _ := f.regions.Region("eu-west-1")
	if _, err := eus.Stat(ctx, d.Digest); err != nil {
		t.Errorf("quick-start layer not in eu-west-1's store: %v", err)
	}
	// Idempotent; the ID is stable.
	if err := f.c.EnsureQuickStart(ctx, "us-east-1"); err != nil {
		t.Fatal(err)
	}
	again, _ := f.c.Get(ctx, alice, "us-east-1", qUS.ID)
	if again.ID != qUS.ID {
		t.Errorf("quick-start ID changed: %s → %s", qUS.ID, again.ID)
	}

	// A new catalog over the same store (another process, a restart)
	// sees the same registration.
	c2 := image.NewCatalog(sqlite.OpenTemp(t), f.regions, f.clk, image.Options{Local: f.local})
	if got, err := c2.Get(ctx, bob, "us-east-1", qUS.ID); err != nil || got.Name != qUS.Name {
		t.Errorf("second catalog Get = %+v, %v", got, err)
	}
}

func TestRegister(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	img := f.register(t, image.Image{OwnerID: alice, Region: "us-east-1", Name: "web"})
	if img.Architecture != "x86_64" || img.RootDeviceName != "/dev/xvda" || img.RootDeviceType != "ebs" || img.RootSizeGiB != 8 || img.Init != image.InitKiln || !img.Created.Equal(f.clk.Now()) {
		t.Errorf("defaults not applied: %+v", img)
	}
	_, err := f.c.Register(ctx, image.Image{OwnerID: alice, Region: "us-east-1", Name: "web", Layers: img.Layers})
	if !errors.Is(err, image.ErrAlreadyExists) {
		t.Errorf("duplicate name: %v", err)
	}
	// Another owner may use the name.
	f.register(t, image.Image{OwnerID: bob, Region: "us-east-1", Name: "web"})
	// Layers must be in the region's store.
	_, err = f.c.Register(ctx, image.Image{OwnerID: alice, Region: "eu-west-1", Name: "x", Layers: img.Layers})
	if !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("layer missing from region: %v", err)
	}
	up, err := f.c.Update(ctx, alice, "us-east-1", img.ID, func(i *image.Image) error { i.Public = true; return nil })
	if err != nil || !up.Public {
		t.Fatalf("Update = %+v, %v", up, err)
	}
	if _, err := f.c.Get(ctx, carol, "us-east-1", img.ID); err != nil {
		t.Errorf("public after Update: %v", err)
	}
	if err := f.c.Delete(ctx, alice, "us-east-1", img.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.Get(ctx, alice, "us-east-1", img.ID); !errors.Is(err, image.ErrNotFound) {
		t.Errorf("Get after Delete: %v", err)
	}
}
