// Package containerd is kiln's real instance runtime: it starts and
// supervises its own containerd (or uses one at a given address), unpacks
// image layers into containerd's overlayfs snapshotter once per layer
// chain, and runs every instance as a container with runc. It is the only
// package that imports containerd's client.
//
// containerd and its shims run in their own session, so kiln exiting (even
// kill -9) never stops instances; a new kiln re-uses the containerd serving
// the socket and re-adopts the tasks it finds.
package containerd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	client "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"

	"github.com/kiln-dev/kiln/internal/runtime"
)

// Namespace is the containerd namespace holding kiln's containers.
const Namespace = "kiln"

// Snapshotter is the snapshotter instance root filesystems live in.
const Snapshotter = "overlayfs"

// Options configure New.
type Options struct {
	// DataDir holds kiln's containerd (root, state, socket, config, log)
	// under DataDir/containerd, the volume attachment mounts under
	// DataDir/containerd/attach and the parent views of captures under
	// DataDir/containerd/capture. Required unless Address is set; with
	// Address and no DataDir, volumes are not supported (the Volumer
	// methods fail and instances get no VolumeDir mount).
	DataDir string
	// Address, when set, is the socket of an existing containerd to use
	// (--containerd-address); kiln then neither starts nor supervises one.
	Address string
	// Binary is the containerd executable (default: "containerd" on PATH).
	Binary string
	// Log receives the runtime's messages (default: discarded).
	Log *slog.Logger
	// SuperviseEvery is how often the supervisor checks that containerd
	// answers (default 1s).
	SuperviseEvery time.Duration
	// StorageKey, when set (64 bytes), encrypts containerd's root — every
	// unpacked layer and instance and volume filesystem — on the host's
	// disk (store.go). Only with DataDir.
	StorageKey []byte
	// StorageSize is the size of the encrypted store's sparse filesystem
	// file when it is made (default: the host filesystem's size).
	StorageSize int64
}

// Runtime implements runtime.Runtime with containerd and runc.
type Runtime struct {
	client  *client.Client
	address string
	daemon  *daemon // nil when Address was given
	log     *slog.Logger
	runcDir string   // runc's state root, per containerd
	caps    []string // instance capabilities the host can give

	// layer unpacking is serialised per chain ID within this process.
	unpackMu sync.Mutex
	unpacks  map[string]*sync.Mutex

	// killed records the task PIDs kiln itself stopped, so that Exited
	// reports only exits that happened by themselves.
	killedMu sync.Mutex
	killed   map[string]uint32

	// token identifies this Runtime's leases and temporary snapshots, so
	// that Prune removes only what earlier (crashed) processes left.
	token string
	// creating holds the IDs of Creates in flight (their root snapshot
	// exists before their container).
	creatingMu sync.Mutex
	creating   map[string]int

	// attachRoot holds one shared mount per instance under which its
	// volumes are mounted (<attachRoot>/<instance>/<name>); "" when
	// volumes are not supported. volMu serialises attachment changes within the process.
	attachRoot string
	volMu      sync.Mutex
	// captureRoot holds the read-only parent views of direct overlay
	// captures (<captureRoot>/<token>-…); "" without a DataDir (captures
	// then use containerd's diff service).
	captureRoot string

	bg     context.Context // cancelled by Close; parent of Exited waiters
	cancel context.CancelFunc
}

var _ runtime.Runtime = (*Runtime)(nil)

// New connects to containerd, starting kiln's own one unless o.Address is
// set (an already running containerd on kiln's socket is re-used).
func New(ctx context.Context, o Options) (*Runtime, error) {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Runtime{
		log:      log,
		unpacks:  map[string]*sync.Mutex{},
		killed:   map[string]uint32{},
		caps:     availableCaps(),
		token:    randomHex(),
		creating: map[string]int{},
	}
	if o.DataDir != "" {
		dir, err := filepath.Abs(filepath.Join(o.DataDir, "containerd", "attach"))
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("containerd: volume attachment directory: %w", err)
		}
		r.attachRoot = dir
		r.captureRoot = filepath.Join(filepath.Dir(dir), "capture")
	}
	if o.Address != "" {
		r.address = o.Address
		r.runcDir = "" // the shim's default
	} else {
		if o.DataDir == "" {
			return nil, errors.New("containerd: DataDir or Address is required")
		}
		bin := o.Binary
		if bin == "" {
			bin = "containerd"
		}
		path, err := exec.LookPath(bin)
		if err != nil {
			return nil, fmt.Errorf("containerd: %w (install the containerd package)", err)
		}
		dir, err := filepath.Abs(filepath.Join(o.DataDir, "containerd"))
		if err != nil {
			return nil, err
		}
		r.daemon = &daemon{dir: dir, binary: path, log: log}
		if o.StorageKey != nil {
			root, err := openStore(dir, o.StorageKey, o.StorageSize)
			switch {
			case errors.Is(err, errPlainRoot):
				log.Warn("containerd: this data directory's root predates storage encryption; it stays unencrypted", "dir", dir)
			case err != nil:
				return nil, err
			}
			r.daemon.rootDir = root
		}
		if err := r.daemon.ensure(ctx); err != nil {
			return nil, err
		}
		every := o.SuperviseEvery
		if every <= 0 {
			every = time.Second
		}
		r.daemon.supervise(every)
		r.address = r.daemon.socket()
		r.runcDir = filepath.Join(r.daemon.state(), "runc")
	}
	c, err := client.New(r.address,
		client.WithDefaultNamespace(Namespace),
		client.WithDefaultRuntime(runcShim),
		client.WithTimeout(10*time.Second))
	if err != nil {
		r.closeDaemon()
		return nil, fmt.Errorf("containerd: connect %s: %w", r.address, err)
	}
	r.client = c
	vctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := c.Version(r.ns(vctx)); err != nil {
		c.Close()
		r.closeDaemon()
		return nil, fmt.Errorf("containerd: version on %s: %w", r.address, err)
	}
	r.bg, r.cancel = context.WithCancel(context.Background())
	return r, nil
}

// Address is the socket of the containerd in use.
func (r *Runtime) Address() string { return r.address }

// DaemonPid is the process ID of the containerd kiln started or re-used,
// or 0 when an external containerd (Options.Address) is in use.
func (r *Runtime) DaemonPid() int {
	if r.daemon == nil {
		return 0
	}
	return r.daemon.Pid()
}

// Close closes the client and stops supervising containerd. It never stops
// containerd or any instance, and leaves volume attachments mounted (the
// instances keep using them; a new Runtime finds them in the mount table).
// UnmountVolumes removes them.
func (r *Runtime) Close() error {
	r.cancel()
	r.closeDaemon()
	return r.client.Close()
}

func (r *Runtime) closeDaemon() {
	if r.daemon != nil {
		r.daemon.close()
	}
}

func (r *Runtime) ns(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, Namespace)
}

// cleanupCtx is a fresh context for deferred rollbacks: it survives the
// caller's cancellation but not forever.
func cleanupCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(namespaces.WithNamespace(context.WithoutCancel(ctx), Namespace), 30*time.Second)
}

// mapErr translates containerd's errors into the runtime vocabulary.
func mapErr(id string, err error) error {
	switch {
	case err == nil:
		return nil
	case errdefs.IsNotFound(err):
		return fmt.Errorf("%w: %s", runtime.ErrNotFound, id)
	case errdefs.IsAlreadyExists(err):
		return fmt.Errorf("%w: %s", runtime.ErrAlreadyExists, id)
	}
	return fmt.Errorf("containerd: %s: %w", id, err)
}
