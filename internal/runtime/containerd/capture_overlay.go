package containerd

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/pkg/archive"
	"github.com/containerd/continuity/fs"
	"golang.org/x/sys/unix"

	"github.com/kiln-dev/kiln/internal/blob"
)

// Direct overlay capture.
//
// An overlayfs snapshot's changes are exactly the contents of its upper
// directory (files written, overlay whiteouts for deletions, the opaque
// xattr for replaced directories), so the layer tar is written straight
// from there into the caller's writer and hashed once: no copy of the
// whole tar in containerd's content store, no read back over gRPC. The
// parent chain is mounted read-only (a view) only to tell modifications
// from additions and to drop whiteouts of names the parent lacks. The
// view is mounted under <DataDir>/containerd/capture/<token>-…, so that a
// later process's Prune unmounts what a killed one left.
//
// It applies only when the upper directory alone is the truth: an
// overlay mount with an upperdir kiln can read, and neither metacopy
// (data left in the lower layers) nor redirect_dir (renamed directories
// pointing at lower ones) in use. Otherwise captureSnapshot falls back to
// containerd's diff service.

// errNoDirect means the snapshot cannot be captured from its upper
// directory; the diff service is used instead.
var errNoDirect = errors.New("containerd: no direct overlay capture")

// overlayUpper returns the upper directory of an overlay snapshot's
// mounts when the direct capture applies to it.
func overlayUpper(mounts []mount.Mount) (string, bool) {
	if len(mounts) != 1 || mounts[0].Type != "overlay" {
		return "", false
	}
	upper := ""
	for _, o := range mounts[0].Options {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "upperdir":
			upper = v
		case "metacopy", "redirect_dir":
			if v != "off" && v != "nofollow" {
				return "", false
			}
		}
	}
	if upper == "" || overlayFeatureOn("metacopy") || overlayFeatureOn("redirect_dir") {
		return "", false
	}
	if fi, err := os.Stat(upper); err != nil || !fi.IsDir() {
		return "", false // another mount namespace's containerd
	}
	return upper, true
}

// overlayFeatureOn reports whether the overlay module enables a feature
// by default (then containerd's mounts, which do not set it, use it).
func overlayFeatureOn(name string) bool {
	b, err := os.ReadFile("/sys/module/overlay/parameters/" + name)
	if err != nil {
		return false
	}
	v := strings.TrimSpace(string(b))
	return v == "Y" || v == "on"
}

// captureOverlay writes the tar of upper's changes against the lower
// mounts (the parent view) to w and returns its digest and size.
func (r *Runtime) captureOverlay(ctx context.Context, id, upper string, lower []mount.Mount, w io.Writer) (blob.Desc, error) {
	if r.captureRoot == "" {
		return blob.Desc{}, errNoDirect
	}
	if err := os.MkdirAll(r.captureRoot, 0o700); err != nil {
		return blob.Desc{}, fmt.Errorf("containerd: capture mount directory: %w", err)
	}
	root, err := os.MkdirTemp(r.captureRoot, r.token+"-")
	if err != nil {
		return blob.Desc{}, fmt.Errorf("containerd: capture mount directory: %w", err)
	}
	defer func() {
		if err := unmountCapture(root); err != nil {
			r.log.Warn("capture: unmount parent view", "id", id, "dir", root, "err", err)
		}
	}()
	if err := mount.All(mount.RemoveVolatileOption(lower), root); err != nil {
		return blob.Desc{}, fmt.Errorf("containerd: %s: mount the parent layers: %w", id, err)
	}
	h := sha256.New()
	cnt := &countWriter{w: io.MultiWriter(w, h)}
	// The tar writer writes headers and 32 KiB pieces of files; hand the
	// consumer large pieces instead.
	bw := bufio.NewWriterSize(cnt, captureBuf)
	cw := archive.NewChangeWriter(bw, upper)
	if err := fs.DiffDirChanges(ctx, root, upper, fs.DiffSourceOverlayFS, cw.HandleChange); err != nil {
		return blob.Desc{}, fmt.Errorf("containerd: %s: diff: %w", id, err)
	}
	if err := cw.Close(); err != nil {
		return blob.Desc{}, err
	}
	if err := bw.Flush(); err != nil {
		return blob.Desc{}, err
	}
	return blob.Desc{Digest: blob.FromHash(h.Sum(nil)), Size: cnt.n}, nil
}

// unmountCapture unmounts a capture's parent view and removes its mount
// point (Remove, never RemoveAll: a view still mounted is left alone
// rather than emptied).
func unmountCapture(dir string) error {
	if err := mount.UnmountAll(dir, 0); err != nil {
		if err := mount.UnmountAll(dir, unix.MNT_DETACH); err != nil {
			return err
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// pruneCaptureMounts unmounts and removes the parent views that captures
// of earlier processes left (kill -9 mid-capture).
func (r *Runtime) pruneCaptureMounts() ([]string, error) {
	if r.captureRoot == "" {
		return nil, nil
	}
	ents, err := os.ReadDir(r.captureRoot)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), r.token+"-") {
			continue // in flight in this process
		}
		dir := filepath.Join(r.captureRoot, e.Name())
		if err := unmountCapture(dir); err != nil {
			errs = append(errs, fmt.Errorf("containerd: capture view %s: %w", dir, err))
			continue
		}
		removed = append(removed, "capture view "+dir)
	}
	return removed, errors.Join(errs...)
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
