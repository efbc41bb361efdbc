package containerd

import (
	"bufio"
	"context"
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
)

// Direct overlay capture.
//
// An overlayfs snapshot's changes are exactly the contents of its upper
// directory (files written, overlay whiteouts for deletions, the opaque
// xattr for replaced directories), so the layer tar is written straight
// from there into the caller's writer: no copy of the whole tar in
// containerd's content store, no read back over gRPC, and no hashing (the
// caller hashes once as it stores). The lower directories of the same
// mount are mounted read-only on their own, only to tell modifications
// from additions and to drop whiteouts of names they lack; containerd is
// asked for nothing but the mounts. The lower view is mounted under
// <DataDir>/containerd/capture/<token>-…, so that a later process's Prune
// unmounts what a killed one left.
//
// It applies only when the upper directory alone is the truth: an
// overlay mount with an upperdir kiln can read, and neither metacopy
// (data left in the lower layers) nor redirect_dir (renamed directories
// pointing at lower ones) in use. Otherwise captureSnapshot falls back to
// containerd's diff service.

// errNoDirect means the snapshot cannot be captured from its upper
// directory; the diff service is used instead.
var errNoDirect = errors.New("containerd: no direct overlay capture")

// overlayDirs returns the upper and lower directories of an overlay
// snapshot's mounts when the direct capture applies to them.
func overlayDirs(mounts []mount.Mount) (upper string, lower []string, ok bool) {
	if len(mounts) != 1 || mounts[0].Type != "overlay" {
		return "", nil, false
	}
	for _, o := range mounts[0].Options {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "upperdir":
			upper = v
		case "lowerdir":
			lower = strings.Split(v, ":")
		case "metacopy", "redirect_dir":
			if v != "off" && v != "nofollow" {
				return "", nil, false
			}
		}
	}
	if upper == "" || len(lower) == 0 || overlayFeatureOn("metacopy") || overlayFeatureOn("redirect_dir") {
		return "", nil, false
	}
	for _, d := range append([]string{upper}, lower...) {
		if !filepath.IsAbs(d) {
			return "", nil, false
		}
	}
	if fi, err := os.Stat(upper); err != nil || !fi.IsDir() {
		return "", nil, false // another mount namespace's containerd
	}
	return upper, lower, true
}

// lowerView is the read-only mount of lower directories (topmost first):
// a bind mount of a single one, an overlay without upper of several.
func lowerView(lower []string) []mount.Mount {
	if len(lower) == 1 {
		return []mount.Mount{{Type: "bind", Source: lower[0], Options: []string{"ro", "rbind"}}}
	}
	return []mount.Mount{{Type: "overlay", Source: "overlay", Options: []string{"ro", "lowerdir=" + strings.Join(lower, ":")}}}
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

// captureOverlay writes the tar of an overlay snapshot's changes (its
// mounts: upper) to w and returns its size; errNoDirect when it does not
// apply.
func (r *Runtime) captureOverlay(ctx context.Context, id string, upper []mount.Mount, w io.Writer) (int64, error) {
	upperDir, lowerDirs, ok := overlayDirs(upper)
	if !ok || r.captureRoot == "" {
		return 0, errNoDirect
	}
	if err := os.MkdirAll(r.captureRoot, 0o700); err != nil {
		return 0, fmt.Errorf("containerd: capture mount directory: %w", err)
	}
	root, err := os.MkdirTemp(r.captureRoot, r.token+"-")
	if err != nil {
		return 0, fmt.Errorf("containerd: capture mount directory: %w", err)
	}
	defer func() {
		if err := unmountCapture(root); err != nil {
			r.log.Warn("capture: unmount parent view", "id", id, "dir", root, "err", err)
		}
	}()
	if err := mount.All(lowerView(lowerDirs), root); err != nil {
		return 0, fmt.Errorf("containerd: %s: mount the parent layers: %w", id, err)
	}
	cnt := &countWriter{w: w}
	// The tar writer writes headers and 32 KiB pieces of files; hand the
	// consumer large pieces instead.
	bw := bufio.NewWriterSize(cnt, captureBuf)
	cw := archive.NewChangeWriter(bw, upperDir)
	if err := fs.DiffDirChanges(ctx, root, upperDir, fs.DiffSourceOverlayFS, cw.HandleChange); err != nil {
		return 0, fmt.Errorf("containerd: %s: diff: %w", id, err)
	}
	if err := cw.Close(); err != nil {
		return 0, err
	}
	if err := bw.Flush(); err != nil {
		return 0, err
	}
	return cnt.n, nil
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
