package ec2

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kiln-dev/kiln/internal/awserr"
	"github.com/kiln-dev/kiln/internal/awsgen/ec2api"
	"github.com/kiln-dev/kiln/internal/image"
	"github.com/kiln-dev/kiln/internal/store"
)

// SetImages gives the service its AMI catalog. Without one DescribeImages
// answers with no images.
func (s *Service) SetImages(c image.Catalog) { s.images = c }

var (
	amiIDRE     = regexp.MustCompile(`^ami-([0-9a-f]{8}|[0-9a-f]{17})$`)
	accountIDRE = regexp.MustCompile(`^[0-9]{12}$`)
)

// isoTime is EC2's timestamp format for image dates.
func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func amiNotFound(id string) error {
	return awserr.New(awserr.NotFound, "InvalidAMIID.NotFound", "The image id '[%s]' does not exist", id)
}

func amiMalformed(id string) error {
	return awserr.New(awserr.InvalidArgument, "InvalidAMIID.Malformed", "Invalid id: \"%s\" (expecting \"ami-...\")", id)
}

// imageLocation is what EC2 reports as ImageLocation: alias or owner, then
// the name.
func imageLocation(img image.Image) string {
	if img.OwnerAlias != "" {
		return img.OwnerAlias + "/" + img.Name
	}
	return img.OwnerID + "/" + img.Name
}

// The fixed block-device facts of kiln images: the root volume is gp3,
// unencrypted and deleted on termination.
const (
	rootVolumeType = "gp3"
)

func imageFields(img image.Image) fields {
	one := func(v string) ([]string, bool) {
		if v == "" {
			return nil, true
		}
		return []string{v}, true
	}
	return func(name string) ([]string, bool) {
		switch name {
		case "image-id":
			return one(img.ID)
		case "name":
			return one(img.Name)
		case "description":
			return one(img.Description)
		case "state":
			return one(img.State)
		case "architecture":
			return one(img.Architecture)
		case "owner-id":
			return one(img.OwnerID)
		case "owner-alias":
			return one(img.OwnerAlias)
		case "is-public":
			return []string{boolStr(img.Public)}, true
		case "root-device-type":
			return one(img.RootDeviceType)
		case "root-device-name":
			return one(img.RootDeviceName)
		case "virtualization-type":
			return one(img.VirtualizationType)
		case "platform-details":
			return one(img.PlatformDetails)
		case "usage-operation":
			return []string{"RunInstances"}, true
		case "image-type":
			return []string{"machine"}, true
		case "hypervisor":
			return []string{"xen"}, true
		case "ena-support":
			return []string{"true"}, true
		case "sriov-net-support":
			return []string{"simple"}, true
		case "boot-mode":
			return one(bootMode(img))
		case "creation-date":
			return []string{isoTime(img.Created)}, true
		case "deprecation-time":
			if img.DeprecationTime == nil {
				return nil, true
			}
			return []string{isoTime(*img.DeprecationTime)}, true
		case "image-location", "manifest-location":
			return []string{imageLocation(img)}, true
		case "state-reason-code", "state-reason-message":
			return one(img.StateReason)
		case "block-device-mapping.device-name", "block-device-mapping.volume-size", "block-device-mapping.volume-type",
			"block-device-mapping.delete-on-termination", "block-device-mapping.encrypted", "block-device-mapping.snapshot-id":
			var out []string
			for _, bd := range blockDevices(img) {
				switch name[len("block-device-mapping."):] {
				case "device-name":
					out = append(out, bd.DeviceName)
				case "volume-size":
					out = append(out, strconv.Itoa(int(bd.VolumeSize)))
				case "volume-type":
					out = append(out, bd.VolumeType)
				case "delete-on-termination":
					out = append(out, boolStr(bd.DeleteOnTermination))
				case "encrypted":
					out = append(out, boolStr(bd.Encrypted))
				case "snapshot-id":
					if bd.SnapshotID != "" {
						out = append(out, bd.SnapshotID)
					}
				}
			}
			return out, true
		case "source-image-id":
			return one(img.SourceImageID)
		case "source-image-region":
			return one(img.SourceRegion)
		case "platform", "kernel-id", "ramdisk-id", "product-code", "product-code.type", "source-instance-id", "imds-support", "tpm-support":
			// Linux images without these: the filter is valid and
			// matches nothing.
			return nil, true
		}
		return nil, false
	}
}

// blockDevices is the image's block device mapping; images without one
// (quick-start, imported) have a root volume of their size, gp3,
// unencrypted, deleted on termination, from no snapshot of their own.
func blockDevices(img image.Image) []image.BlockDevice {
	if len(img.BlockDevices) > 0 {
		return img.BlockDevices
	}
	return []image.BlockDevice{{DeviceName: img.RootDeviceName, VolumeSize: img.RootSizeGiB, VolumeType: rootVolumeType, DeleteOnTermination: true}}
}

func bootMode(img image.Image) string {
	if img.BootMode != "" {
		return img.BootMode
	}
	return "uefi-preferred"
}

// toEC2Image is the image as DescribeImages shows it, with every field
// Terraform's aws_ami data source reads.
func toEC2Image(img image.Image, tags []ec2api.Tag) ec2api.Image {
	out := ec2api.Image{
		ImageId:            img.ID,
		Name:               img.Name,
		Description:        img.Description,
		OwnerId:            img.OwnerID,
		ImageOwnerAlias:    img.OwnerAlias,
		ImageLocation:      imageLocation(img),
		State:              img.State,
		Architecture:       img.Architecture,
		CreationDate:       isoTime(img.Created),
		Public:             ptr(img.Public),
		RootDeviceName:     img.RootDeviceName,
		RootDeviceType:     img.RootDeviceType,
		VirtualizationType: img.VirtualizationType,
		Hypervisor:         "xen",
		PlatformDetails:    img.PlatformDetails,
		UsageOperation:     "RunInstances",
		ImageType:          "machine",
		EnaSupport:         ptr(true),
		SriovNetSupport:    "simple",
		BootMode:           bootMode(img),
		Tags:               tags,
		SourceImageId:      img.SourceImageID,
		SourceImageRegion:  img.SourceRegion,
	}
	for _, bd := range blockDevices(img) {
		m := ec2api.BlockDeviceMapping{DeviceName: bd.DeviceName, VirtualName: bd.VirtualName}
		if bd.VirtualName == "" && !bd.NoDevice {
			m.Ebs = &ec2api.EbsBlockDevice{
				SnapshotId: bd.SnapshotID, VolumeSize: ptr(bd.VolumeSize), VolumeType: bd.VolumeType,
				DeleteOnTermination: ptr(bd.DeleteOnTermination), Encrypted: ptr(bd.Encrypted),
			}
			if bd.Iops > 0 {
				m.Ebs.Iops = ptr(bd.Iops)
			}
			if bd.Throughput > 0 {
				m.Ebs.Throughput = ptr(bd.Throughput)
			}
		}
		out.BlockDeviceMappings = append(out.BlockDeviceMappings, m)
	}
	if !img.LastLaunched.IsZero() {
		out.LastLaunchedTime = isoTime(img.LastLaunched)
	}
	if img.DeprecationTime != nil {
		out.DeprecationTime = isoTime(*img.DeprecationTime)
	}
	if img.StateReason != "" {
		out.StateReason = &ec2api.StateReason{Code: img.StateReason, Message: img.StateReason}
	}
	return out
}

// ownerMatches applies Owners: self, amazon, aws-marketplace or account IDs.
func ownerMatches(owners []string, img image.Image, caller string) bool {
	if len(owners) == 0 {
		return true
	}
	for _, o := range owners {
		switch o {
		case "self":
			if img.OwnerID == caller {
				return true
			}
		case image.AmazonAlias, "aws-marketplace", "aws-backup-vault":
			if img.OwnerAlias == o {
				return true
			}
		default:
			if img.OwnerID == o {
				return true
			}
		}
	}
	return false
}

// executableMatches applies ExecutableUsers: self (images the caller may
// launch by ownership or explicit permission), all (public images) or
// account IDs (images shared with that account).
func executableMatches(users []string, img image.Image, caller string) bool {
	if len(users) == 0 {
		return true
	}
	for _, u := range users {
		switch u {
		case "all":
			if img.Public {
				return true
			}
		case "self":
			if img.OwnerID == caller || slices.Contains(img.LaunchPermissions, caller) {
				return true
			}
		default:
			if slices.Contains(img.LaunchPermissions, u) || (u == caller && img.OwnerID == caller) {
				return true
			}
		}
	}
	return false
}

func validateDescribeImages(in *ec2api.DescribeImagesRequest) error {
	for _, id := range in.ImageIds {
		if !amiIDRE.MatchString(id) {
			return amiMalformed(id)
		}
	}
	for _, o := range in.Owners {
		switch o {
		case "self", image.AmazonAlias, "aws-marketplace", "aws-backup-vault":
		default:
			if !accountIDRE.MatchString(o) {
				return awserr.New(awserr.InvalidArgument, "InvalidUserID.Malformed", "Invalid user id: \"%s\"", o)
			}
		}
	}
	for _, u := range in.ExecutableUsers {
		if u != "self" && u != "all" && !accountIDRE.MatchString(u) {
			return awserr.New(awserr.InvalidArgument, "InvalidUserID.Malformed", "Invalid user id: \"%s\"", u)
		}
	}
	if in.MaxResults != nil && len(in.ImageIds) > 0 {
		return awserr.New(awserr.InvalidArgument, "InvalidParameterCombination", "The parameter imageIdsSet cannot be used with the parameter maxResults")
	}
	return filterSet(in.Filters).check(imageFields(image.Image{}))
}

// DescribeImages lists the images the caller can see, narrowed by owners,
// executable users, image IDs and filters together (filters apply to
// requested IDs too). Every requested ID must exist and be visible.
// Deprecated images are left out unless IncludeDeprecated, the caller owns
// them or they were asked for by ID.
func (s *Service) DescribeImages(ctx context.Context, in *ec2api.DescribeImagesRequest) (*ec2api.DescribeImagesResult, error) {
	sc := scopeOf(ctx)
	if err := validateDescribeImages(in); err != nil {
		return nil, err
	}
	out := &ec2api.DescribeImagesResult{Images: []ec2api.Image{}}
	var imgs []image.Image
	if s.images != nil {
		var err error
		if imgs, err = s.images.Visible(ctx, sc.account, sc.region); err != nil {
			return nil, err
		}
	}
	byID := make(map[string]image.Image, len(imgs))
	for _, img := range imgs {
		byID[img.ID] = img
	}
	if len(in.ImageIds) > 0 {
		var want []image.Image
		seen := map[string]bool{}
		for _, id := range in.ImageIds {
			img, ok := byID[id]
			if !ok {
				return nil, amiNotFound(id)
			}
			if !seen[id] {
				seen[id] = true
				want = append(want, img)
			}
		}
		slices.SortFunc(want, func(a, b image.Image) int { return strings.Compare(a.ID, b.ID) })
		imgs = want
	}
	now := s.clock.Now()
	fs := filterSet(in.Filters)
	var kept []image.Image
	for _, img := range imgs {
		if !ownerMatches(in.Owners, img, sc.account) || !executableMatches(in.ExecutableUsers, img, sc.account) {
			continue
		}
		deprecated := img.DeprecationTime != nil && !img.DeprecationTime.After(now)
		if deprecated && !deref(in.IncludeDeprecated) && img.OwnerID != sc.account && len(in.ImageIds) == 0 {
			continue
		}
		kept = append(kept, img)
	}
	ids := make([]string, len(kept))
	for i, img := range kept {
		ids[i] = img.ID
	}
	var tags tagIndex
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		tags, err = loadTags(tx, sc, ids)
		return err
	})
	if err != nil {
		return nil, err
	}
	var matched []image.Image
	for _, img := range kept {
		if fs.matches(imageFields(img), tags.of(img.ID)) {
			matched = append(matched, img)
		}
	}
	pg, next, err := page(matched, func(i image.Image) string { return i.ID }, in.MaxResults, in.NextToken, 1, 1000)
	if err != nil {
		return nil, err
	}
	for _, img := range pg {
		e := toEC2Image(img, tags.of(img.ID))
		// enabled, enabled-with-cooldown, disabled-until-<time> during
		// the cooldown, or nothing.
		e.DeregistrationProtection = protectionState(img, now)
		out.Images = append(out.Images, e)
	}
	out.NextToken = next
	return out, nil
}

// imageNotFound maps the catalog's error to EC2's.
func imageNotFound(err error, id string) error {
	if errors.Is(err, image.ErrNotFound) {
		return amiNotFound(id)
	}
	return err
}
