package ec2

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/clock"
	"github.com/kiln-dev/kiln/internal/image"
	"github.com/kiln-dev/kiln/internal/store"
	"github.com/kiln-dev/kiln/internal/store/sqlite"
)

// fakeCatalog applies EC2's visibility rules to a fixed list.
type fakeCatalog struct{ imgs []image.Image }

func (f *fakeCatalog) Visible(_ context.Context, account, region string) ([]image.Image, error) {
	var out []image.Image
	for _, i := range f.imgs {
		if i.Region == region && (i.OwnerID == account || i.Public || slices.Contains(i.LaunchPermissions, account)) {
			out = append(out, i)
		}
	}
	slices.SortFunc(out, func(a, b image.Image) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func (f *fakeCatalog) Get(ctx context.Context, account, region, id string) (image.Image, error) {
	vis, _ := f.Visible(ctx, account, region)
	for _, i := range vis {
		if i.ID == id {
			return i, nil
		}
	}
	return image.Image{}, image.ErrNotFound
}

func (f *fakeCatalog) EnsureQuickStart(context.Context, string) error { return nil }

const (
	imgAcct   = "123456789012"
	imgOther  = "210987654321"
	amiMin    = "ami-0000000000000000a"
	amiDebian = "ami-0000000000000000b"
	amiOwn    = "ami-0000000000000000c"
	amiShared = "ami-0000000000000000d"
	amiHidden = "ami-0000000000000000e"
	amiOld    = "ami-0000000000000000f"
	amiEU     = "ami-00000000000000010"
)

var imgNow = time.Date(2026, 11, 5, 12, 0, 0, 0, time.UTC)

func imgTestService(t *testing.T) (*Service, context.Context) {
	t.Helper()
	s := New(sqlite.OpenTemp(t), clock.NewFake(imgNow))
	base := image.Image{State: "available", Architecture: "x86_64", RootDeviceName: "/dev/xvda", RootDeviceType: "ebs", VirtualizationType: "hvm", PlatformDetails: "Linux/UNIX", RootSizeGiB: 8, Init: "kiln", Region: "us-east-1", Created: imgNow.Add(-time.Hour)}
	mk := func(id, name, owner string, f func(*image.Image)) image.Image {
		i := base
		i.ID, i.Name, i.OwnerID = id, name, owner
		if f != nil {
			f(&i)
		}
		return i
	}
	amazon := func(i *image.Image) { i.OwnerAlias, i.Public = "amazon", true }
	past := imgNow.Add(-24 * time.Hour)
	s.SetImages(&fakeCatalog{imgs: []image.Image{
		mk(amiMin, "kiln-minimal-20261105", image.AmazonOwnerID, amazon),
		mk(amiDebian, "debian-12-amd64-20261105", image.AmazonOwnerID, func(i *image.Image) { amazon(i); i.Description = "Debian 12"; i.RootSizeGiB = 10 }),
		mk(amiOwn, "web-server", imgAcct, nil),
		mk(amiShared, "shared-base", imgOther, func(i *image.Image) { i.LaunchPermissions = []string{imgAcct} }),
		mk(amiHidden, "private-other", imgOther, nil),
		mk(amiOld, "kiln-minimal-20240101", image.AmazonOwnerID, func(i *image.Image) { amazon(i); i.DeprecationTime = &past }),
		mk(amiEU, "kiln-minimal-20261105", image.AmazonOwnerID, func(i *image.Image) { amazon(i); i.Region = "eu-west-1" }),
	}})
	ctx := sgCtx(imgAcct, "us-east-1")
	// The caller's tag on its own image.
	err := s.st.Update(ctx, func(tx store.Tx) error {
		return tx.PutTag(store.Tag{Account: imgAcct, Region: "us-east-1", ResourceID: amiOwn, ResourceType: "image", Key: "Role", Value: "web"})
	})
	sgNoErr(t, err)
	return s, ctx
}

func imageIDs(out *ec2api.DescribeImagesResult) []string {
	var ids []string
	for _, i := range out.Images {
		ids = append(ids, i.ImageId)
	}
	return ids
}

func flt(name string, values ...string) ec2api.Filter {
	return ec2api.Filter{Name: name, Values: values}
}

func TestDescribeImages(t *testing.T) {
	s, ctx := imgTestService(t)
	cases := []struct {
		name string
		in   ec2api.DescribeImagesRequest
		want []string
	}{
		{"everything visible", ec2api.DescribeImagesRequest{}, []string{amiMin, amiDebian, amiOwn, amiShared}},
		{"owners amazon + name filter (Terraform, CDK)", ec2api.DescribeImagesRequest{Owners: []string{"amazon"}, Filters: []ec2api.Filter{flt("name", "kiln-minimal-*")}}, []string{amiMin}},
		{"owner-alias filter", ec2api.DescribeImagesRequest{Filters: []ec2api.Filter{flt("owner-alias", "amazon"), flt("architecture", "x86_64"), flt("virtualization-type", "hvm")}}, []string{amiMin, amiDebian}},
		{"owners self", ec2api.DescribeImagesRequest{Owners: []string{"self"}}, []string{amiOwn}},
		{"owners by account ID", ec2api.DescribeImagesRequest{Owners: []string{imgOther}}, []string{amiShared}},
		{"owners amazon ID", ec2api.DescribeImagesRequest{Owners: []string{image.AmazonOwnerID}}, []string{amiMin, amiDebian}},
		{"executable-users self", ec2api.DescribeImagesRequest{ExecutableUsers: []string{"self"}}, []string{amiOwn, amiShared}},
		{"executable-users all", ec2api.DescribeImagesRequest{ExecutableUsers: []string{"all"}}, []string{amiMin, amiDebian}},
		{"image-ids with filters applied together", ec2api.DescribeImagesRequest{ImageIds: []string{amiMin, amiDebian, amiOwn}, Filters: []ec2api.Filter{flt("name", "debian-*")}}, []string{amiDebian}},
		{"image-ids with owners", ec2api.DescribeImagesRequest{ImageIds: []string{amiMin, amiOwn}, Owners: []string{"self"}}, []string{amiOwn}},
		{"deprecated included on request", ec2api.DescribeImagesRequest{IncludeDeprecated: ptr(true), Filters: []ec2api.Filter{flt("name", "kiln-minimal-*")}}, []string{amiMin, amiOld}},
		{"deprecated by ID", ec2api.DescribeImagesRequest{ImageIds: []string{amiOld}}, []string{amiOld}},
		{"is-public false", ec2api.DescribeImagesRequest{Filters: []ec2api.Filter{flt("is-public", "false")}}, []string{amiOwn, amiShared}},
		{"volume size", ec2api.DescribeImagesRequest{Filters: []ec2api.Filter{flt("block-device-mapping.volume-size", "10")}}, []string{amiDebian}},
		{"description wildcard", ec2api.DescribeImagesRequest{Filters: []ec2api.Filter{flt("description", "Deb?an*")}}, []string{amiDebian}},
		{"state, root device, platform", ec2api.DescribeImagesRequest{Owners: []string{"self"}, Filters: []ec2api.Filter{flt("state", "available"), flt("root-device-type", "ebs"), flt("root-device-name", "/dev/xvda"), flt("platform-details", "Linux/UNIX"), flt("image-id", amiOwn), flt("owner-id", imgAcct)}}, []string{amiOwn}},
		{"tag filter", ec2api.DescribeImagesRequest{Filters: []ec2api.Filter{flt("tag:Role", "web")}}, []string{amiOwn}},
		{"tag-key", ec2api.DescribeImagesRequest{Filters: []ec2api.Filter{flt("tag-key", "Role")}}, []string{amiOwn}},
		{"platform windows matches nothing", ec2api.DescribeImagesRequest{Filters: []ec2api.Filter{flt("platform", "windows")}}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := s.DescribeImages(ctx, &tc.in)
			sgNoErr(t, err)
			if got := imageIDs(out); !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDescribeImagesErrors(t *testing.T) {
	s, ctx := imgTestService(t)
	cases := []struct {
		name      string
		in        ec2api.DescribeImagesRequest
		code, msg string
	}{
		{"not found", ec2api.DescribeImagesRequest{ImageIds: []string{"ami-12345678"}}, "InvalidAMIID.NotFound", "The image id '[ami-12345678]' does not exist"},
		{"not visible", ec2api.DescribeImagesRequest{ImageIds: []string{amiMin, amiHidden}}, "InvalidAMIID.NotFound", amiHidden},
		{"other region", ec2api.DescribeImagesRequest{ImageIds: []string{amiEU}}, "InvalidAMIID.NotFound", amiEU},
		{"malformed", ec2api.DescribeImagesRequest{ImageIds: []string{"ami-xyz"}}, "InvalidAMIID.Malformed", `Invalid id: "ami-xyz"`},
		{"malformed prefix", ec2api.DescribeImagesRequest{ImageIds: []string{"i-0123456789abcdef0"}}, "InvalidAMIID.Malformed", ""},
		{"bad filter", ec2api.DescribeImagesRequest{Filters: []ec2api.Filter{flt("colour", "red")}}, "InvalidParameterValue", "colour"},
		{"bad owner", ec2api.DescribeImagesRequest{Owners: []string{"someone"}}, "InvalidUserID.Malformed", ""},
		{"max results with ids", ec2api.DescribeImagesRequest{ImageIds: []string{amiMin}, MaxResults: ptr(int32(5))}, "InvalidParameterCombination", ""},
		{"max results range", ec2api.DescribeImagesRequest{MaxResults: ptr(int32(0))}, "InvalidParameterValue", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.DescribeImages(ctx, &tc.in)
			sgWantCode(t, err, tc.code, tc.msg)
		})
	}
}

func TestDescribeImagesPages(t *testing.T) {
	s, ctx := imgTestService(t)
	var all []string
	token := ""
	for range 10 {
		out, err := s.DescribeImages(ctx, &ec2api.DescribeImagesRequest{MaxResults: ptr(int32(3)), NextToken: token})
		sgNoErr(t, err)
		all = append(all, imageIDs(out)...)
		if token = out.NextToken; token == "" {
			break
		}
	}
	if want := []string{amiMin, amiDebian, amiOwn, amiShared}; !slices.Equal(all, want) {
		t.Fatalf("pages = %v, want %v", all, want)
	}
}

func TestDescribeImagesShape(t *testing.T) {
	s, ctx := imgTestService(t)
	out, err := s.DescribeImages(ctx, &ec2api.DescribeImagesRequest{ImageIds: []string{amiOwn, amiDebian}})
	sgNoErr(t, err)
	if len(out.Images) != 2 {
		t.Fatalf("%d images", len(out.Images))
	}
	deb, own := out.Images[0], out.Images[1]
	if deb.ImageOwnerAlias != "amazon" || deb.OwnerId != image.AmazonOwnerID || !*deb.Public || deb.ImageLocation != "amazon/debian-12-amd64-20261105" {
		t.Errorf("quick-start image: %+v", deb)
	}
	if own.CreationDate != "2026-11-05T11:00:00.000Z" || own.Hypervisor != "xen" || own.UsageOperation != "RunInstances" || own.ImageType != "machine" ||
		!*own.EnaSupport || own.SriovNetSupport != "simple" || own.BootMode == "" || own.State != "available" || own.Architecture != "x86_64" ||
		own.RootDeviceType != "ebs" || own.RootDeviceName != "/dev/xvda" || own.VirtualizationType != "hvm" || own.PlatformDetails != "Linux/UNIX" || *own.Public {
		t.Errorf("image: %+v", own)
	}
	if len(own.BlockDeviceMappings) != 1 {
		t.Fatalf("mappings: %+v", own.BlockDeviceMappings)
	}
	bdm := own.BlockDeviceMappings[0]
	if bdm.DeviceName != "/dev/xvda" || *bdm.Ebs.VolumeSize != 8 || bdm.Ebs.VolumeType != "gp3" || !*bdm.Ebs.DeleteOnTermination || *bdm.Ebs.Encrypted {
		t.Errorf("mapping: %+v %+v", bdm, *bdm.Ebs)
	}
	if len(own.Tags) != 1 || own.Tags[0].Key != "Role" {
		t.Errorf("tags: %+v", own.Tags)
	}
	old, err := s.DescribeImages(ctx, &ec2api.DescribeImagesRequest{ImageIds: []string{amiOld}})
	sgNoErr(t, err)
	if old.Images[0].DeprecationTime != "2026-11-04T12:00:00.000Z" {
		t.Errorf("deprecation time %q", old.Images[0].DeprecationTime)
	}
}

func TestDescribeImagesWithoutCatalog(t *testing.T) {
	s := New(sqlite.OpenTemp(t), clock.NewFake(imgNow))
	ctx := sgCtx(imgAcct, "us-east-1")
	out, err := s.DescribeImages(ctx, &ec2api.DescribeImagesRequest{})
	sgNoErr(t, err)
	if len(out.Images) != 0 {
		t.Fatal(out.Images)
	}
	_, err = s.DescribeImages(ctx, &ec2api.DescribeImagesRequest{ImageIds: []string{amiMin}})
	sgWantCode(t, err, "InvalidAMIID.NotFound", "")
}
