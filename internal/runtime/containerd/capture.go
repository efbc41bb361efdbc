package containerd

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/diff"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/errdefs"

	"github.com/kiln-dev/kiln/internal/runtime"
)

var _ runtime.Capturer = (*Runtime)(nil)

// captureBuf is the size of the pieces a capture hands its writer (and of
// the reads of captured diffs from containerd's content store, below
// gRPC's 16 MiB message limit).
const captureBuf = 4 << 20

// Capture writes the difference between the instance's root snapshot and
// its parent chain to w as an uncompressed tar.
func (r *Runtime) Capture(ctx context.Context, id string, w io.Writer) (int64, error) {
	ctx = r.ns(ctx)
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return 0, mapErr(id, err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		return 0, mapErr(id, err)
	}
	return r.captureSnapshot(ctx, id, info.Snapshotter, info.SnapshotKey, w)
}

// captureSnapshot writes the changes of the active snapshot key (of
// snapshotter) relative to its parent chain to w as an uncompressed tar
// layer and returns its size: straight from the overlay upper directory
// when it can (capture_overlay.go), else through containerd's diff
// service. id names the object in errors (an instance or a volume).
// Instance and volume captures share it.
func (r *Runtime) captureSnapshot(ctx context.Context, id, snapshotter, key string, w io.Writer) (int64, error) {
	sn := r.client.SnapshotService(snapshotter)
	upper, err := sn.Mounts(ctx, key)
	if err != nil {
		return 0, mapErr(id, err)
	}
	n, err := r.captureOverlay(ctx, id, upper, w)
	if !errors.Is(err, errNoDirect) {
		return n, err
	}
	return r.captureDiffService(ctx, id, sn, key, upper, w)
}

// captureDiffService has containerd's diff service compare a read-only
// view of the snapshot's parent with it, which writes the tar into the
// content store (under an expiring lease, deleted afterwards), and copies
// it to w, checking containerd's digest.
func (r *Runtime) captureDiffService(ctx context.Context, id string, sn snapshots.Snapshotter, key string, upper []mount.Mount, w io.Writer) (int64, error) {
	var n int64
	err := r.withLease(ctx, func(ctx context.Context) error {
		si, err := sn.Stat(ctx, key)
		if err != nil {
			return mapErr(id, err)
		}
		viewKey := "capture-" + r.token + "-" + randomHex() + "-" + id
		lower, err := sn.View(ctx, viewKey, si.Parent)
		if err != nil {
			return fmt.Errorf("containerd: %s: view of the parent layers: %w", id, err)
		}
		defer func() {
			cctx, cancel := cleanupCtx(ctx)
			defer cancel()
			_ = sn.Remove(cctx, viewKey)
		}()
		desc, err := r.client.DiffService().Compare(ctx, lower, upper,
			diff.WithMediaType(layerMediaType), diff.WithReference("kiln-capture-"+randomHex()))
		if err != nil {
			return fmt.Errorf("containerd: %s: diff: %w", id, err)
		}
		cs := r.client.ContentStore()
		defer func() {
			cctx, cancel := cleanupCtx(ctx)
			defer cancel()
			if err := cs.Delete(cctx, desc.Digest); err != nil && !errdefs.IsNotFound(err) {
				r.log.Warn("capture: delete diff content", "id", id, "err", err)
			}
		}()
		ra, err := cs.ReaderAt(ctx, desc)
		if err != nil {
			return err
		}
		defer ra.Close()
		v := desc.Digest.Verifier()
		// Each read of the content store is a gRPC call: read in large
		// pieces (io.Copy's 32 KiB would make one call per 32 KiB).
		n, err = io.CopyBuffer(struct{ io.Writer }{io.MultiWriter(w, v)}, struct{ io.Reader }{content.NewReader(ra)}, make([]byte, captureBuf))
		if err != nil {
			return err
		}
		if !v.Verified() {
			return fmt.Errorf("containerd: %s: diff content does not match its digest %s", id, desc.Digest)
		}
		return nil
	})
	return n, err
}

// Pause freezes the instance's processes: through its cgroup's freezer
// directly (freeze.go), or through containerd where that is not
// reachable.
func (r *Runtime) Pause(ctx context.Context, id string) error {
	if f, err := freezerOf(id); err == nil {
		return f.set(ctx, true)
	}
	ctx = r.ns(ctx)
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return mapErr(id, err)
	}
	t, err := c.Task(ctx, nil)
	if err != nil {
		return mapErr(id, err)
	}
	return mapErr(id, t.Pause(ctx))
}

// Resume thaws a paused instance.
func (r *Runtime) Resume(ctx context.Context, id string) error {
	if f, err := freezerOf(id); err == nil {
		return f.set(ctx, false)
	}
	ctx = r.ns(ctx)
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return mapErr(id, err)
	}
	t, err := c.Task(ctx, nil)
	if err != nil {
		return mapErr(id, err)
	}
	return mapErr(id, t.Resume(ctx))
}
