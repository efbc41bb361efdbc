// Package image is kiln's AMI catalog: image records (layers in the
// region's blob store plus block-device metadata) in the state store, the
// quick-start images every account sees (owner alias "amazon"), and the
// builders that make them: kiln-minimal from busybox, debian-12 from
// debootstrap, and imports of OCI layouts, `docker save` archives and
// root-filesystem tarballs.
package image

import (
	"context"
	"time"

	"github.com/kiln-dev/kiln/internal/blob"
)

// Kind is the store kind of image records, keyed by (owner account, region).
const Kind = "image"

// AmazonOwnerID is the owner account of quick-start images, reported with
// ImageOwnerAlias "amazon" (AWS's own account for Amazon-owned AMIs).
const AmazonOwnerID = "137112412989"

// Image states, as EC2 names them.
const (
	StatePending      = "pending"
	StateAvailable    = "available"
	StateFailed       = "failed"
	StateDeregistered = "deregistered"
)

// Boot modes of an image's PID 1.
const (
	InitKiln  = "kiln"  // kiln's init (the kiln binary, read-only) is PID 1
	InitImage = "image" // the image's own /sbin/init boots
)

// Image is one AMI.
type Image struct {
	ID                 string       `json:"id"` // ami-…
	Name               string       `json:"name"`
	Description        string       `json:"description,omitempty"`
	OwnerID            string       `json:"ownerId"`
	OwnerAlias         string       `json:"ownerAlias,omitempty"` // "amazon" for quick-start images
	Region             string       `json:"region"`
	State              string       `json:"state"`
	StateReason        string       `json:"stateReason,omitempty"`
	Architecture       string       `json:"architecture"`       // x86_64 | arm64
	RootDeviceName     string       `json:"rootDeviceName"`     // /dev/xvda
	RootDeviceType     string       `json:"rootDeviceType"`     // ebs | instance-store
	VirtualizationType string       `json:"virtualizationType"` // hvm
	BootMode           string       `json:"bootMode,omitempty"`
	PlatformDetails    string       `json:"platformDetails"` // Linux/UNIX
	RootSizeGiB        int32        `json:"rootSizeGiB"`
	Layers             []blob.Layer `json:"layers"` // uncompressed tars, bottom first
	Init               string       `json:"init"`   // InitKiln | InitImage
	Public             bool         `json:"public"`
	LaunchPermissions  []string     `json:"launchPermissions,omitempty"` // account IDs
	Created            time.Time    `json:"created"`
	DeprecationTime    *time.Time   `json:"deprecationTime,omitempty"`
	Source             string       `json:"source,omitempty"` // how it was made: quick-start, import:<file>, create-image:<instance>
	// Env is the environment an imported container image declares
	// (PATH=…); empty for images built as root filesystems.
	Env []string `json:"env,omitempty"`

	// BlockDevices is the image's block device mapping; the root
	// device's snapshot holds Layers. Empty for quick-start and imported
	// images, whose root volume has no snapshot of its own.
	BlockDevices []BlockDevice `json:"blockDevices,omitempty"`
	// Encrypted: the root snapshot's layers are sealed under KmsKeyID.
	Encrypted bool   `json:"encrypted,omitempty"`
	KmsKeyID  string `json:"kmsKeyId,omitempty"`
	// SourceImageID and SourceRegion name the image a copy was made from.
	SourceImageID string `json:"sourceImageId,omitempty"`
	SourceRegion  string `json:"sourceRegion,omitempty"`
	// Protection is deregistration protection: "", "enabled" or
	// "enabled-with-cooldown"; ProtectedUntil is when a protection
	// disabled with cooldown lapses.
	Protection     string    `json:"protection,omitempty"`
	ProtectedUntil time.Time `json:"protectedUntil,omitzero"`
	LastLaunched   time.Time `json:"lastLaunched,omitzero"`
	Deregistered   time.Time `json:"deregistered,omitzero"`
}

// BlockDevice is one entry of an image's block device mapping.
type BlockDevice struct {
	DeviceName          string `json:"deviceName"`
	SnapshotID          string `json:"snapshotId,omitempty"`
	VolumeSize          int32  `json:"volumeSize,omitempty"`
	VolumeType          string `json:"volumeType,omitempty"`
	Iops                int32  `json:"iops,omitempty"`
	Throughput          int32  `json:"throughput,omitempty"`
	DeleteOnTermination bool   `json:"deleteOnTermination"`
	Encrypted           bool   `json:"encrypted,omitempty"`
	KmsKeyID            string `json:"kmsKeyId,omitempty"`
	VirtualName         string `json:"virtualName,omitempty"` // ephemeralN
	NoDevice            bool   `json:"noDevice,omitempty"`
}

// Root is the block device of the image's root device (nil without one).
func (img *Image) Root() *BlockDevice {
	for i := range img.BlockDevices {
		if img.BlockDevices[i].DeviceName == img.RootDeviceName {
			return &img.BlockDevices[i]
		}
	}
	return nil
}

// Catalog finds and records images. Visibility follows EC2: an account sees
// its own images, public images (every quick-start image) and images whose
// launch permissions name it.
type Catalog interface {
	// Get returns an image the account can see in region, or an error
	// wrapping ErrNotFound (InvalidAMIID.NotFound on the wire).
	Get(ctx context.Context, account, region, id string) (Image, error)
	// Visible lists every image the account can see in region.
	Visible(ctx context.Context, account, region string) ([]Image, error)
	// EnsureQuickStart registers the quick-start images that exist locally
	// in region (linking their layers into the region's blob store) the
	// first time a region is used.
	EnsureQuickStart(ctx context.Context, region string) error
}
