package containerd

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/diff"
	"github.com/containerd/errdefs"

	"github.com/kiln-dev/kiln/internal/blob"
	"github.com/kiln-dev/kiln/internal/runtime"
)

var _ runtime.Capturer = (*Runtime)(nil)

// captureBuf is the size of the reads of captured diffs from containerd's
// content store (below gRPC's 16 MiB message limit).
const captureBuf = 4 << 20

// Capture writes the difference between the instance's root snapshot and
// its parent chain to w as an uncompressed tar: straight from the overlay
// upper directory when it can (capture_overlay.go), else computed by
// containerd's diff service, whose intermediate content lives under an
// expiring lease and is deleted afterwards.
func (r *Runtime) Capture(ctx context.Context, id string, w io.Writer) (blob.Desc, error) {
	ctx = r.ns(ctx)
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return blob.Desc{}, mapErr(id, err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		return blob.Desc{}, mapErr(id, err)
	}
	return r.captureSnapshot(ctx, id, info.Snapshotter, info.SnapshotKey, w)
}

// captureSnapshot writes the changes of the active snapshot key (of
// snapshotter) relative to its parent chain to w as an uncompressed tar
// layer and returns its digest and size, comparing it with a read-only
// view of the parent. id names the object in
// errors (an instance or a volume). Instance and volume captures share it.
func (r *Runtime) captureSnapshot(ctx context.Context, id, snapshotter, key string, w io.Writer) (blob.Desc, error) {
	var out blob.Desc
	err := r.withLease(ctx, func(ctx context.Context) error {
		sn := r.client.SnapshotService(snapshotter)
		si, err := sn.Stat(ctx, key)
		if err != nil {
			return mapErr(id, err)
		}
		upper, err := sn.Mounts(ctx, key)
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
		if upperDir, ok := overlayUpper(upper); ok {
			lm, err := sn.Mounts(ctx, viewKey)
			if err != nil {
				return mapErr(id, err)
			}
			out, err = r.captureOverlay(ctx, id, upperDir, lm, w)
			if !errors.Is(err, errNoDirect) {
				return err
			}
		}
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
		h := sha256.New()
		// Each read of the content store is a gRPC call: read in large
		// pieces (io.Copy's 32 KiB would make one call per 32 KiB).
		n, err := io.CopyBuffer(struct{ io.Writer }{io.MultiWriter(w, h)}, struct{ io.Reader }{content.NewReader(ra)}, make([]byte, captureBuf))
		if err != nil {
			return err
		}
		out = blob.Desc{Digest: blob.Digest("sha256:" + hex.EncodeToString(h.Sum(nil))), Size: n}
		if string(out.Digest) != desc.Digest.String() {
			return fmt.Errorf("%w: diff content %s read as %s", blob.ErrDigestMismatch, desc.Digest, out.Digest)
		}
		return nil
	})
	return out, err
}

// Pause freezes the instance's processes (cgroup freezer).
func (r *Runtime) Pause(ctx context.Context, id string) error {
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
