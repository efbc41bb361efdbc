// Package runtime defines how kiln runs instances: a Runtime turns an
// image's layers into a writable root filesystem and boots it as a Linux
// container. The containerd sub-package is the real implementation (it
// alone imports containerd's client); fake is a scriptable one for API
// tests.
package runtime

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/kiln-dev/kiln/internal/blob"
)

// Errors.
var (
	ErrNotFound      = errors.New("runtime: no such instance")
	ErrAlreadyExists = errors.New("runtime: instance exists")
	// ErrRunning: the operation needs a stopped instance (Resize).
	ErrRunning = errors.New("runtime: instance is running")
)

// Layer is one image layer: an uncompressed tar whose SHA-256 is Digest.
type Layer struct {
	Digest blob.Digest
	Size   int64
	// Open reads the layer (from the region's blob store). Runtimes call it
	// only for layers they do not already have.
	Open func(ctx context.Context) (io.ReadCloser, error)
}

// Mount is an extra bind mount into the instance.
type Mount struct {
	Source, Target string
	ReadOnly       bool
}

// Spec is everything needed to create an instance's container.
type Spec struct {
	ID       string  // the instance ID (i-…); also the container and snapshot name
	Layers   []Layer // bottom first
	Hostname string
	// Resource limits from the instance type.
	VCPUs     int
	MemoryMiB int64
	// NetNSPath is the network namespace the instance joins (from netns).
	NetNSPath string
	// InitPath is the host path of the kiln binary; it is bind-mounted
	// read-only at InitTarget and runs as PID 1 with InitArgs.
	InitPath string
	Args     []string // the PID 1 command line; default [InitTarget, "init"]
	Env      []string
	Mounts   []Mount
	// ConsolePath is a host file that receives the instance's console
	// (stdout and stderr of PID 1), appended across boots.
	ConsolePath string
	Labels      map[string]string
}

// InitTarget is where the kiln binary appears inside instances.
const InitTarget = "/.kiln/kiln"

// Status is what the runtime knows of one instance.
type Status struct {
	ID       string
	Running  bool // a task (booted PID 1) exists and runs
	Pid      int
	ExitCode int // of the last task, when not running
	Labels   map[string]string
}

// Runtime creates, boots, stops and removes instances. Stop ends every
// process (it is not a pause); the root filesystem survives until Delete.
type Runtime interface {
	// Create prepares the root filesystem (a writable snapshot over the
	// layers) and the container; ErrAlreadyExists if it exists.
	Create(ctx context.Context, s Spec) error
	// Start boots the instance (a new task running PID 1).
	Start(ctx context.Context, id string) error
	// Stop sends SIGTERM to PID 1, waits up to grace, then kills every
	// process; the root filesystem is kept. Stopping a stopped instance
	// succeeds.
	Stop(ctx context.Context, id string, grace time.Duration) error
	// Delete stops the instance if needed and removes its container and
	// root filesystem. Deleting a missing instance returns ErrNotFound.
	Delete(ctx context.Context, id string) error
	// Status reports one instance; ErrNotFound if it has no container.
	Status(ctx context.Context, id string) (Status, error)
	// List reports every instance container the runtime holds (for
	// reconciliation after a restart).
	List(ctx context.Context) ([]Status, error)
	// Exited returns a channel that receives the instance's exit code when
	// its current task ends by itself (shutdown from inside the instance).
	Exited(ctx context.Context, id string) (<-chan int, error)
	// Close releases the runtime (it never stops running instances).
	Close() error
}

// Capturer is implemented by runtimes that can turn an instance's disk
// changes into an image layer (CreateImage). Consumers type-assert it.
type Capturer interface {
	// Capture writes the changes of the instance's root filesystem
	// relative to its image layers to w as an uncompressed tar layer
	// (OCI whiteouts for deletions) and returns its size. Whoever keeps
	// the layer hashes it (once, as it stores it). The instance may be
	// running; pause it for a consistent capture.
	Capture(ctx context.Context, id string, w io.Writer) (int64, error)
	// Pause freezes every process of a running instance (NoReboot
	// captures); Resume thaws them.
	Pause(ctx context.Context, id string) error
	Resume(ctx context.Context, id string) error
}

// Pruner is implemented by runtimes that can clean up after interrupted
// operations of earlier processes (kiln killed mid-Create or mid-Capture):
// call it during reconciliation on start. It returns a description of
// what it removed.
type Pruner interface {
	Prune(ctx context.Context) ([]string, error)
}

// Resizer is implemented by runtimes that can change the resource limits
// of an existing instance (ModifyInstanceAttribute InstanceType on a
// stopped instance). Consumers type-assert it.
type Resizer interface {
	// Resize updates the limits the next Start applies, with the meaning
	// of Spec's VCPUs and MemoryMiB (0: no limit). The instance must be
	// stopped (no running task), else ErrRunning; ErrNotFound if it has no
	// container. Resizing to the current limits succeeds.
	Resize(ctx context.Context, id string, vcpus int, memoryMiB int64) error
}

// VolumeDir is where attached EBS volumes appear inside instances: the
// volume attached as /dev/sdf is the directory /mnt/ebs/sdf (the device
// name's last element). Instances see attachments and detachments while
// running.
const VolumeDir = "/mnt/ebs"

// Volumer is implemented by runtimes that keep EBS data volumes apart from
// instances (CreateVolume, AttachVolume, CreateSnapshot of a data volume).
// A volume is a writable filesystem over zero or more layers; its data
// survives detaching and attaching to another instance. Consumers
// type-assert it.
type Volumer interface {
	// CreateVolume prepares the writable volume id over layers (bottom
	// first; none for an empty volume). ErrAlreadyExists if it exists.
	CreateVolume(ctx context.Context, id string, layers []Layer) error
	// DeleteVolume removes the volume and its data; it must be detached
	// (ErrVolumeInUse). ErrNotFound if it does not exist. Runtime.Delete
	// of an instance detaches its volumes and never deletes them.
	DeleteVolume(ctx context.Context, id string) error
	// CaptureVolume writes the volume's changes relative to its layers to
	// w as an uncompressed tar layer (like Capturer.Capture).
	CaptureVolume(ctx context.Context, id string, w io.Writer) (int64, error)
	// AttachVolume makes the volume visible inside the instance at
	// VolumeDir/name (name is one path element, e.g. "sdf" for /dev/sdf),
	// at once if it runs and on every later boot, until DetachVolume or
	// Delete of the instance. Attaching an attached volume again under
	// the same name succeeds. ErrNotFound if the instance or the volume
	// does not exist; ErrVolumeInUse if the volume is attached anywhere
	// else (another instance or name); ErrAlreadyExists if another volume
	// is attached to the instance under name.
	AttachVolume(ctx context.Context, instanceID, volumeID, name string) error
	// DetachVolume removes the attachment (name "": under whatever name
	// the volume is attached to the instance); detaching a volume that is
	// not attached succeeds. The instance sees the volume disappear at
	// once; processes that still hold files open on it keep them.
	DetachVolume(ctx context.Context, instanceID, volumeID, name string) error
	// Volumes lists the volume IDs the runtime holds (reconciliation).
	Volumes(ctx context.Context) ([]string, error)
}

// ErrVolumeInUse: the volume is attached to an instance.
var ErrVolumeInUse = errors.New("runtime: volume is attached")
