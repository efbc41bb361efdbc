package containerd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/errdefs"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/kiln-dev/kiln/internal/runtime"
)

// Labels kiln puts on containerd objects.
const (
	labelGCRoot  = "containerd.io/gc.root"
	labelLayer   = "dev.kiln.runtime/layer"
	labelManaged = "dev.kiln.runtime/managed"
	labelConsole = "dev.kiln.runtime/console"
	labelExit    = "dev.kiln.runtime/exit-code"
	labelPrefix  = "dev.kiln.runtime/"
	labelOwner   = "dev.kiln.runtime/owner" // on leases: the Runtime that made them
)

const layerMediaType = ocispec.MediaTypeImageLayer // application/vnd.oci.image.layer.v1.tar

// leaseTTL bounds how long objects created by an interrupted Create (kiln
// killed mid-launch) survive: containerd's garbage collector removes them
// once the lease expires.
const leaseTTL = time.Hour

// withLease runs fn under a fresh expiring lease, so that everything fn
// creates is either referenced by the end (a container, a gc-root layer
// snapshot) or collected by containerd.
func (r *Runtime) withLease(ctx context.Context, fn func(ctx context.Context) error) error {
	lctx, done, err := r.client.WithLease(ctx, leases.WithRandomID(), leases.WithExpiration(leaseTTL),
		leases.WithLabel(labelOwner, r.token))
	if err != nil {
		return fmt.Errorf("containerd: lease: %w", err)
	}
	defer func() {
		cctx, cancel := cleanupCtx(ctx)
		defer cancel()
		_ = done(cctx)
	}()
	return fn(lctx)
}

// chainIDs returns the snapshot chain ID of every layer prefix.
func chainIDs(layers []runtime.Layer) ([]digest.Digest, error) {
	ds := make([]digest.Digest, len(layers))
	for i, l := range layers {
		if err := l.Digest.Validate(); err != nil {
			return nil, fmt.Errorf("%w: layer %d: %q", err, i, l.Digest)
		}
		ds[i] = digest.Digest(l.Digest)
	}
	chain := make([]digest.Digest, len(ds))
	copy(chain, ds)
	identity.ChainIDs(chain)
	return chain, nil
}

// unpack makes sure every layer's committed snapshot exists and returns
// the chain ID of the top one (the parent of the instance's snapshot).
// Layers already unpacked are not read at all.
func (r *Runtime) unpack(ctx context.Context, layers []runtime.Layer) (string, error) {
	chain, err := chainIDs(layers)
	if err != nil {
		return "", err
	}
	sn := r.client.SnapshotService(Snapshotter)
	parent := ""
	for i, l := range layers {
		key := chain[i].String()
		if _, err := sn.Stat(ctx, key); err == nil {
			parent = key
			continue
		}
		if err := r.unpackOne(ctx, sn, l, key, parent); err != nil {
			return "", fmt.Errorf("containerd: unpack layer %d (%s): %w", i, l.Digest, err)
		}
		parent = key
	}
	return parent, nil
}

func (r *Runtime) chainLock(key string) *sync.Mutex {
	r.unpackMu.Lock()
	defer r.unpackMu.Unlock()
	m, ok := r.unpacks[key]
	if !ok {
		m = &sync.Mutex{}
		r.unpacks[key] = m
	}
	return m
}

func (r *Runtime) unpackOne(ctx context.Context, sn snapshots.Snapshotter, l runtime.Layer, key, parent string) (retErr error) {
	mu := r.chainLock(key)
	mu.Lock()
	defer mu.Unlock()
	if _, err := sn.Stat(ctx, key); err == nil {
		return nil // another launch unpacked it meanwhile
	}
	desc := ocispec.Descriptor{MediaType: layerMediaType, Digest: digest.Digest(l.Digest), Size: l.Size}
	cs := r.client.ContentStore()
	if info, err := cs.Info(ctx, desc.Digest); err != nil {
		if !errdefs.IsNotFound(err) {
			return err
		}
		if l.Open == nil {
			return fmt.Errorf("layer has no reader")
		}
		rc, err := l.Open(ctx)
		if err != nil {
			return err
		}
		err = content.WriteBlob(ctx, cs, "kiln-"+l.Digest.Hex(), rc, desc)
		rc.Close()
		if err != nil {
			return err
		}
	} else {
		desc.Size = info.Size
	}

	tmp := "extract-" + r.token + "-" + randomHex() + "-" + key
	mounts, err := sn.Prepare(ctx, tmp, parent)
	if err != nil {
		return err
	}
	defer func() {
		if retErr != nil {
			cctx, cancel := cleanupCtx(ctx)
			defer cancel()
			_ = sn.Remove(cctx, tmp)
		}
	}()
	if _, err := r.client.DiffService().Apply(ctx, desc, mounts); err != nil {
		return err
	}
	err = sn.Commit(ctx, key, tmp, snapshots.WithLabels(map[string]string{
		labelGCRoot: time.Now().UTC().Format(time.RFC3339),
		labelLayer:  string(l.Digest),
	}))
	if errdefs.IsAlreadyExists(err) { // unpacked by another process
		cctx, cancel := cleanupCtx(ctx)
		defer cancel()
		_ = sn.Remove(cctx, tmp)
		return nil
	}
	return err
}

func randomHex() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
