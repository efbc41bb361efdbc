// Package ebs is kiln's Elastic Block Store: volume and snapshot records,
// and the manager that does their slow work in the background — capturing
// an instance's root disk or a data volume into a snapshot (CreateSnapshot,
// CreateImage), copying snapshots between regions and re-encrypting them
// (CopySnapshot, CopyImage), and keeping root volumes in step with their
// instances.
//
// A snapshot is a list of layers in its region's blob store: the layers of
// what the volume was created from plus one layer holding the volume's
// changes, so snapshots (and the AMIs made of them) are incremental and
// share unchanged layers by content. Encrypted snapshots store every layer
// sealed under their KMS key (package seal).
//
// The API writes a pending record carrying its Work and kicks the manager;
// the manager performs the work and records the outcome in one write. Work
// is idempotent (blob writes are atomic and content-addressed), so after a
// crash pending work simply runs again.
package ebs

import (
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/kiln-dev/kiln/internal/blob"
)

// Store kinds, keyed by (owner account, region, ID).
const (
	VolumeKind   = "volume"
	SnapshotKind = "snapshot"
)

// Volume states.
const (
	VolumeCreating  = "creating"
	VolumeAvailable = "available"
	VolumeInUse     = "in-use"
	VolumeDeleting  = "deleting"
	VolumeError     = "error"
)

// Attachment states.
const (
	Attaching = "attaching"
	Attached  = "attached"
	Detaching = "detaching"
	Detached  = "detached"
)

// Snapshot states.
const (
	SnapshotPending   = "pending"
	SnapshotCompleted = "completed"
	SnapshotError     = "error"
)

// Attachment is a volume's attachment to an instance.
type Attachment struct {
	InstanceID          string    `json:"instanceId"`
	Device              string    `json:"device"` // /dev/sdf
	State               string    `json:"state"`
	Time                time.Time `json:"time"`
	DeleteOnTermination bool      `json:"deleteOnTermination"`
}

// Volume is one EBS volume. A root volume's data lives in its instance's
// root filesystem (the runtime's instance, Root true); every other
// volume's data lives in the runtime's volume of the same ID, created from
// Layers when it is first attached.
type Volume struct {
	ID         string    `json:"id"`
	OwnerID    string    `json:"ownerId"`
	Region     string    `json:"region"`
	AZ         string    `json:"az"`
	SizeGiB    int32     `json:"sizeGiB"`
	Type       string    `json:"type"` // gp3, gp2, io1, io2, st1, sc1, standard
	Iops       int32     `json:"iops,omitempty"`
	Throughput int32     `json:"throughput,omitempty"`
	SnapshotID string    `json:"snapshotId,omitempty"`
	Encrypted  bool      `json:"encrypted"`
	KmsKeyID   string    `json:"kmsKeyId,omitempty"` // key ARN
	State      string    `json:"state"`
	Created    time.Time `json:"created"`
	// Layers is what the volume's filesystem starts from (its snapshot's
	// layers, or its root image's; a detached root volume gets its
	// captured changes appended).
	Layers     []blob.Layer `json:"layers,omitempty"`
	Root       bool         `json:"root,omitempty"`
	Attachment *Attachment  `json:"attachment,omitempty"`
	// Materialized: the runtime holds the volume (created from Layers).
	Materialized bool `json:"materialized,omitempty"`
	// Modification is the last ModifyVolume.
	Modification *Modification `json:"modification,omitempty"`
}

// Modification is a ModifyVolume request and its progress.
type Modification struct {
	State          string    `json:"state"` // modifying | optimizing | completed
	Started        time.Time `json:"started"`
	Ended          time.Time `json:"ended,omitzero"`
	OriginalSize   int32     `json:"originalSize"`
	TargetSize     int32     `json:"targetSize"`
	OriginalType   string    `json:"originalType"`
	TargetType     string    `json:"targetType"`
	OriginalIops   int32     `json:"originalIops,omitempty"`
	TargetIops     int32     `json:"targetIops,omitempty"`
	OriginalThrput int32     `json:"originalThroughput,omitempty"`
	TargetThrput   int32     `json:"targetThroughput,omitempty"`
}

// Snapshot is one EBS snapshot.
type Snapshot struct {
	ID           string       `json:"id"`
	OwnerID      string       `json:"ownerId"`
	Region       string       `json:"region"`
	VolumeID     string       `json:"volumeId"`
	VolumeSize   int32        `json:"volumeSize"`
	Description  string       `json:"description,omitempty"`
	State        string       `json:"state"`
	StateMessage string       `json:"stateMessage,omitempty"`
	Progress     int          `json:"progress"` // percent
	Started      time.Time    `json:"started"`
	Completed    time.Time    `json:"completed,omitzero"`
	Encrypted    bool         `json:"encrypted"`
	KmsKeyID     string       `json:"kmsKeyId,omitempty"` // key ARN
	Layers       []blob.Layer `json:"layers,omitempty"`
	// Public and CreateVolumePermissions: who else may create volumes
	// from (and copy) the snapshot.
	Public                  bool     `json:"public,omitempty"`
	CreateVolumePermissions []string `json:"createVolumePermissions,omitempty"`
	// ImageID is the AMI whose creation or copy made the snapshot; the
	// image becomes available when all its snapshots complete.
	ImageID string `json:"imageId,omitempty"`
	// Work is the pending work (nil once done).
	Work *Work `json:"work,omitempty"`
}

// Bytes is the total plaintext size of the snapshot's layers.
func (s *Snapshot) Bytes() int64 {
	var n int64
	for _, l := range s.Layers {
		n += l.Size
	}
	return n
}

// Work kinds.
const (
	// CaptureRoot snapshots an instance's root volume.
	CaptureRoot = "capture-root"
	// CaptureVolume snapshots a data volume.
	CaptureVolume = "capture-volume"
	// CopyLayers copies a snapshot's layers from another region (or the
	// same one), re-encrypting them as asked.
	CopyLayers = "copy"
)

// Work is what a pending snapshot still needs.
type Work struct {
	Kind string `json:"kind"`
	// Caller is the account whose KMS permissions the work uses.
	Caller string `json:"caller"`
	// Capture: the instance or volume, and the layers under its changes.
	InstanceID string       `json:"instanceId,omitempty"`
	VolumeID   string       `json:"volumeId,omitempty"`
	Base       []blob.Layer `json:"base,omitempty"`
	// Reboot stops the instance for the capture and boots it again
	// (CreateImage without NoReboot); otherwise a running instance is
	// frozen while its changes are read.
	Reboot bool `json:"reboot,omitempty"`
	// Copy: where the layers come from.
	FromRegion string       `json:"fromRegion,omitempty"`
	FromLayers []blob.Layer `json:"fromLayers,omitempty"`
	// KeyARN, when set, seals the snapshot's layers under this key
	// (encrypted targets); layers already sealed under it are kept.
	KeyARN string `json:"keyArn,omitempty"`
}

// NewID mints an EBS resource ID: prefix, dash, 17 hex digits.
func NewID(prefix string) string {
	var b [9]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])[:17]
}
