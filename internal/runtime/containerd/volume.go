package containerd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/kiln-dev/kiln/internal/blob"
	"github.com/kiln-dev/kiln/internal/runtime"
)

// Volumes (EBS data volumes).
//
// A volume is an active overlayfs snapshot named by its volume ID over the
// committed snapshots of its layers (an empty layer when it has none, so
// that the snapshotter always hands out an overlay mount, never a bind of
// the upper directory). It carries labelVolume while being created and
// containerd.io/gc.root once complete: a snapshot with labelVolume but
// without gc.root is the leftover of an interrupted CreateVolume.
//
// Attachments are host mounts. Every instance gets, at Create, the host
// directory <attachRoot>/<instance>, bind-mounted onto itself and made a
// shared mount of its own peer group (removed by Delete), and its
// container gets that directory bind-mounted read-only at
// runtime.VolumeDir with rslave propagation. Mounting a volume's overlay at
// <attachRoot>/<instance>/<name> on the host therefore propagates into the
// running container at VolumeDir/<name>, and unmounting it propagates too.
// The overlay's mount source is the volume ID, so /proc/self/mountinfo
// alone tells which volume is attached where: nothing else is recorded,
// and kill -9 of kiln loses nothing.

// labelVolume, on volume snapshots, is the volume ID.
const labelVolume = "dev.kiln.runtime/volume"

var _ runtime.Volumer = (*Runtime)(nil)

// emptyLayerTar is a tar archive without entries: the base layer of
// volumes created without layers.
var emptyLayerTar = make([]byte, 1024)

func emptyLayer() runtime.Layer {
	d := blob.Digest("sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef")
	return runtime.Layer{Digest: d, Size: int64(len(emptyLayerTar)), Open: func(context.Context) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(emptyLayerTar)), nil
	}}
}

func (r *Runtime) volumesSupported() error {
	if r.attachRoot == "" {
		return errors.New("containerd: volumes need Options.DataDir (the attachment directory)")
	}
	return nil
}

// attachDir is the host directory shown inside the instance at
// runtime.VolumeDir.
func (r *Runtime) attachDir(instanceID string) string {
	return filepath.Join(r.attachRoot, instanceID)
}

// validElem reports whether s can be one path element (and a mount
// source): no separators, blanks or escapes.
func validElem(what, s string) error {
	if s == "" || s == "." || s == ".." || strings.ContainsAny(s, "/\\ \t\n,:") {
		return fmt.Errorf("containerd: invalid %s %q", what, s)
	}
	return nil
}

// beginCreate marks id as being created by this process (Prune leaves it
// alone); the returned function ends the mark.
func (r *Runtime) beginCreate(id string) func() {
	r.creatingMu.Lock()
	r.creating[id]++
	r.creatingMu.Unlock()
	return func() {
		r.creatingMu.Lock()
		if r.creating[id]--; r.creating[id] <= 0 {
			delete(r.creating, id)
		}
		r.creatingMu.Unlock()
	}
}

func (r *Runtime) isCreating(id string) bool {
	r.creatingMu.Lock()
	defer r.creatingMu.Unlock()
	return r.creating[id] > 0
}

// volumeState classifies a snapshot's info as a volume.
func volumeState(info snapshots.Info) (isVolume, complete bool) {
	if info.Kind != snapshots.KindActive || info.Labels[labelVolume] != info.Name {
		return false, false
	}
	_, complete = info.Labels[labelGCRoot]
	return true, complete
}

// statVolume returns nil if id is a complete volume, else ErrNotFound.
func (r *Runtime) statVolume(ctx context.Context, id string) error {
	info, err := r.client.SnapshotService(Snapshotter).Stat(ctx, id)
	if err != nil {
		return mapErr(id, err)
	}
	if v, complete := volumeState(info); !v || !complete {
		return fmt.Errorf("%w: volume %s", runtime.ErrNotFound, id)
	}
	return nil
}

// CreateVolume unpacks the layers (an empty layer when there are none) and
// prepares the volume's writable snapshot over them, under an expiring
// lease; the snapshot becomes a garbage-collection root only at the end,
// so an interrupted CreateVolume leaves nothing for long (Prune or the
// lease's expiry removes it) and a retry replaces it.
func (r *Runtime) CreateVolume(ctx context.Context, id string, layers []runtime.Layer) (retErr error) {
	if err := r.volumesSupported(); err != nil {
		return err
	}
	if err := validElem("volume ID", id); err != nil {
		return err
	}
	ctx = r.ns(ctx)
	defer r.beginCreate(id)()
	sn := r.client.SnapshotService(Snapshotter)
	// exists reports whether id is taken; a stale volume (interrupted
	// CreateVolume) is removed.
	exists := func(ctx context.Context) (bool, error) {
		info, err := sn.Stat(ctx, id)
		if errdefs.IsNotFound(err) {
			return false, nil
		} else if err != nil {
			return false, mapErr(id, err)
		}
		if v, complete := volumeState(info); !v || complete {
			return true, nil
		}
		if err := sn.Remove(ctx, id); err != nil && !errdefs.IsNotFound(err) {
			return false, fmt.Errorf("containerd: %s: remove stale volume: %w", id, err)
		}
		return false, nil
	}
	if ok, err := exists(ctx); err != nil {
		return err
	} else if ok {
		return fmt.Errorf("%w: %s", runtime.ErrAlreadyExists, id)
	}
	if len(layers) == 0 {
		layers = []runtime.Layer{emptyLayer()}
	}
	return r.withLease(ctx, func(ctx context.Context) error {
		parent, err := r.unpack(ctx, layers)
		if err != nil {
			return err
		}
		labels := map[string]string{labelManaged: "true", labelVolume: id}
		if _, err := sn.Prepare(ctx, id, parent, snapshots.WithLabels(labels)); err != nil {
			if !errdefs.IsAlreadyExists(err) {
				return fmt.Errorf("containerd: %s: prepare volume: %w", id, err)
			}
			return fmt.Errorf("%w: %s", runtime.ErrAlreadyExists, id)
		}
		defer func() {
			if retErr != nil {
				cctx, cancel := cleanupCtx(ctx)
				defer cancel()
				_ = sn.Remove(cctx, id)
			}
		}()
		// Complete: a gc root from now on, outliving the lease.
		_, err = sn.Update(ctx, snapshots.Info{Name: id, Labels: map[string]string{
			labelGCRoot: time.Now().UTC().Format(time.RFC3339),
		}}, "labels."+labelGCRoot)
		if err != nil {
			return fmt.Errorf("containerd: %s: mark volume complete: %w", id, err)
		}
		return nil
	})
}

// DeleteVolume removes the volume's snapshot (its layers stay, as image
// layers do). It refuses with runtime.ErrVolumeInUse while the volume is
// mounted anywhere on the host.
func (r *Runtime) DeleteVolume(ctx context.Context, id string) error {
	if err := r.volumesSupported(); err != nil {
		return err
	}
	if err := validElem("volume ID", id); err != nil {
		return err
	}
	ctx = r.ns(ctx)
	r.volMu.Lock()
	defer r.volMu.Unlock()
	if err := r.statVolume(ctx, id); err != nil {
		return err
	}
	ms, err := readMounts()
	if err != nil {
		return err
	}
	for _, m := range ms {
		if m.isVolume(id) {
			return fmt.Errorf("%w: %s is mounted at %s", runtime.ErrVolumeInUse, id, m.point)
		}
	}
	if err := r.client.SnapshotService(Snapshotter).Remove(ctx, id); err != nil {
		return mapErr(id, err)
	}
	return nil
}

// CaptureVolume writes the volume's changes relative to its layers as an
// uncompressed tar layer (OCI whiteouts for deletions), as Capture does for
// an instance root. The volume may be attached; writes during the capture
// may or may not be included.
func (r *Runtime) CaptureVolume(ctx context.Context, id string, w io.Writer) (int64, error) {
	if err := r.volumesSupported(); err != nil {
		return 0, err
	}
	if err := validElem("volume ID", id); err != nil {
		return 0, err
	}
	ctx = r.ns(ctx)
	if err := r.statVolume(ctx, id); err != nil {
		return 0, err
	}
	return r.captureSnapshot(ctx, id, Snapshotter, id, w)
}

// Volumes lists the complete volumes, sorted.
func (r *Runtime) Volumes(ctx context.Context) ([]string, error) {
	if err := r.volumesSupported(); err != nil {
		return nil, err
	}
	ctx = r.ns(ctx)
	var out []string
	err := r.client.SnapshotService(Snapshotter).Walk(ctx, func(_ context.Context, info snapshots.Info) error {
		if v, complete := volumeState(info); v && complete {
			out = append(out, info.Name)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("containerd: walk snapshots: %w", err)
	}
	slices.Sort(out)
	return out, nil
}

// AttachVolume mounts the volume's overlay at <attachRoot>/<instance>/<name>
// on the host; the mount propagates into the instance at VolumeDir/<name>
// at once if it runs, and is part of its VolumeDir at every later boot.
// Attaching again under the same name succeeds; the volume attached
// elsewhere is runtime.ErrVolumeInUse; another volume attached under the
// name is runtime.ErrAlreadyExists.
func (r *Runtime) AttachVolume(ctx context.Context, instanceID, volumeID, name string) error {
	if err := r.volumesSupported(); err != nil {
		return err
	}
	for _, e := range [][2]string{{"instance ID", instanceID}, {"volume ID", volumeID}, {"attachment name", name}} {
		if err := validElem(e[0], e[1]); err != nil {
			return err
		}
	}
	ctx = r.ns(ctx)
	c, err := r.client.LoadContainer(ctx, instanceID)
	if err != nil {
		return mapErr(instanceID, err)
	}
	spec, err := c.Spec(ctx)
	if err != nil {
		return mapErr(instanceID, err)
	}
	if !slices.ContainsFunc(spec.Mounts, func(m specs.Mount) bool { return m.Destination == runtime.VolumeDir }) {
		return fmt.Errorf("containerd: %s was created without volume support (no %s mount)", instanceID, runtime.VolumeDir)
	}
	if err := r.statVolume(ctx, volumeID); err != nil {
		return err
	}
	r.volMu.Lock()
	defer r.volMu.Unlock()
	// Again under the lock: a concurrent Delete of the instance detaches
	// under it too, so no attachment outlives its instance.
	if _, err := r.client.LoadContainer(ctx, instanceID); err != nil {
		return mapErr(instanceID, err)
	}
	target := filepath.Join(r.attachDir(instanceID), name)
	ms, err := readMounts()
	if err != nil {
		return err
	}
	for _, m := range ms {
		if m.isVolume(volumeID) {
			if m.point == target {
				return nil
			}
			return fmt.Errorf("%w: %s is mounted at %s", runtime.ErrVolumeInUse, volumeID, m.point)
		}
	}
	for _, m := range ms {
		if m.point == target {
			return fmt.Errorf("%w: %s: %s/%s is taken (%s)", runtime.ErrAlreadyExists, instanceID, runtime.VolumeDir, name, m.source)
		}
	}
	mounts, err := r.client.SnapshotService(Snapshotter).Mounts(ctx, volumeID)
	if err != nil {
		return mapErr(volumeID, err)
	}
	if len(mounts) != 1 || mounts[0].Type != "overlay" {
		return fmt.Errorf("containerd: volume %s: unexpected snapshot mounts %+v (want one overlay)", volumeID, mounts)
	}
	m := mounts[0]
	m.Source = volumeID // how mountinfo tells which volume is attached
	// Normally done by Create/Start already; needed before mounting below
	// it (a later bind onto the directory would hide the volume).
	if err := r.ensureAttachDirLocked(instanceID); err != nil {
		return err
	}
	if err := os.Mkdir(target, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	if err := m.Mount(target); err != nil {
		_ = os.Remove(target)
		return fmt.Errorf("containerd: attach %s to %s: %w", volumeID, instanceID, err)
	}
	return nil
}

// DetachVolume unmounts the volume from the instance (lazily: processes of
// the instance still using it keep their open files, the mount is gone
// from every mount namespace at once). With name "", every attachment of
// the volume to the instance is removed. Detaching what is not attached
// succeeds.
func (r *Runtime) DetachVolume(ctx context.Context, instanceID, volumeID, name string) error {
	if err := r.volumesSupported(); err != nil {
		return err
	}
	if err := validElem("instance ID", instanceID); err != nil {
		return err
	}
	if err := validElem("volume ID", volumeID); err != nil {
		return err
	}
	if name != "" {
		if err := validElem("attachment name", name); err != nil {
			return err
		}
	}
	r.volMu.Lock()
	defer r.volMu.Unlock()
	ms, err := readMounts()
	if err != nil {
		return err
	}
	dir := r.attachDir(instanceID)
	var errs []error
	for _, m := range ms {
		if !m.isVolume(volumeID) || filepath.Dir(m.point) != dir || (name != "" && filepath.Base(m.point) != name) {
			continue
		}
		if err := unmountDir(m.point); err != nil {
			errs = append(errs, err)
		}
	}
	if name != "" {
		_ = os.Remove(filepath.Join(dir, name)) // an empty leftover of an interrupted attach
	}
	return errors.Join(errs...)
}

// unmountDir unmounts everything mounted at dir (lazily) and removes the
// then empty directory. It never removes anything recursively: a volume
// still mounted there makes rmdir fail instead of deleting its data.
func unmountDir(dir string) error {
	if err := mount.UnmountAll(dir, unix.MNT_DETACH); err != nil {
		return fmt.Errorf("containerd: unmount %s: %w", dir, err)
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("containerd: remove %s: %w", dir, err)
	}
	return nil
}

// detachAll unmounts every attachment of the instance and removes its
// attachment directory (Delete). The volumes' data is untouched.
func (r *Runtime) detachAll(instanceID string) error {
	if r.attachRoot == "" {
		return nil
	}
	r.volMu.Lock()
	defer r.volMu.Unlock()
	return r.removeAttachDirLocked(instanceID)
}

func (r *Runtime) removeAttachDirLocked(instanceID string) error {
	dir := r.attachDir(instanceID)
	ms, err := readMounts()
	if err != nil {
		return err
	}
	var errs []error
	for _, m := range slices.Backward(ms) { // children after parents in mountinfo
		if strings.HasPrefix(m.point, dir+"/") {
			if err := mount.UnmountAll(m.point, unix.MNT_DETACH); err != nil {
				errs = append(errs, fmt.Errorf("containerd: unmount %s: %w", m.point, err))
			}
		}
	}
	if len(errs) == 0 {
		if err := mount.UnmountAll(dir, unix.MNT_DETACH); err != nil {
			errs = append(errs, fmt.Errorf("containerd: unmount %s: %w", dir, err))
		}
	}
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return errors.Join(errs...)
	} else if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, e := range ents {
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil { // rmdir only
			errs = append(errs, err)
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// ensureAttachDir makes the instance's attachment directory a shared
// mount (idempotent).
func (r *Runtime) ensureAttachDir(instanceID string) error {
	r.volMu.Lock()
	defer r.volMu.Unlock()
	return r.ensureAttachDirLocked(instanceID)
}

func (r *Runtime) ensureAttachDirLocked(instanceID string) error {
	if err := ensureSharedDir(r.attachDir(instanceID)); err != nil {
		return fmt.Errorf("containerd: %s: attachment directory: %w", instanceID, err)
	}
	return nil
}

// UnmountVolumes detaches every volume from every instance and unmounts
// the instances' attachment directories: for tearing a host down (tests,
// after every instance is deleted). Close leaves attachments in place; this is
// the only way the runtime drops them all.
func (r *Runtime) UnmountVolumes() error {
	if r.attachRoot == "" {
		return nil
	}
	r.volMu.Lock()
	defer r.volMu.Unlock()
	ms, err := readMounts()
	if err != nil {
		return err
	}
	var errs []error
	for _, m := range slices.Backward(ms) {
		if strings.HasPrefix(m.point, r.attachRoot+"/") {
			if err := unmountDir(m.point); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := mount.UnmountAll(r.attachRoot, unix.MNT_DETACH); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// pruneAttachments removes attachment mounts of instances or volumes that
// no longer exist, empty leftovers of interrupted attaches, and the
// attachment directories of instances without a container.
func (r *Runtime) pruneAttachments(ctx context.Context) ([]string, error) {
	if r.attachRoot == "" {
		return nil, nil
	}
	r.volMu.Lock()
	defer r.volMu.Unlock()
	var removed []string
	var errs []error
	instances := map[string]bool{}
	instanceExists := func(id string) bool {
		if ok, seen := instances[id]; seen {
			return ok
		}
		_, err := r.client.LoadContainer(ctx, id)
		ok := err == nil || !errdefs.IsNotFound(err) || r.isCreating(id)
		instances[id] = ok
		return ok
	}
	ms, err := readMounts()
	if err != nil {
		return nil, err
	}
	mounted := map[string]bool{}
	for _, m := range ms {
		rel, ok := strings.CutPrefix(m.point, r.attachRoot+"/")
		if !ok {
			continue
		}
		iid, name, ok := strings.Cut(rel, "/")
		if !ok || strings.Contains(name, "/") {
			continue
		}
		why := ""
		if !instanceExists(iid) {
			why = "instance gone"
		} else if err := r.statVolume(ctx, m.source); errors.Is(err, runtime.ErrNotFound) {
			why = "volume gone"
		}
		if why == "" {
			mounted[m.point] = true
			continue
		}
		if err := unmountDir(m.point); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, fmt.Sprintf("attachment %s/%s of %s (%s)", iid, name, m.source, why))
	}
	ents, err := os.ReadDir(r.attachRoot)
	if err != nil {
		return removed, errors.Join(append(errs, err)...)
	}
	for _, e := range ents {
		iid := e.Name()
		if !e.IsDir() {
			continue
		}
		if !instanceExists(iid) {
			if err := r.removeAttachDirLocked(iid); err != nil {
				errs = append(errs, err)
			} else {
				removed = append(removed, "attachment directory "+iid)
			}
			continue
		}
		subs, _ := os.ReadDir(r.attachDir(iid))
		for _, s := range subs {
			p := filepath.Join(r.attachDir(iid), s.Name())
			if !mounted[p] && os.Remove(p) == nil { // rmdir: empty leftovers only
				removed = append(removed, "empty attachment point "+iid+"/"+s.Name())
			}
		}
	}
	return removed, errors.Join(errs...)
}

// mountEntry is one line of /proc/self/mountinfo.
type mountEntry struct {
	point, fstype, source string
	shared                bool
}

func (m mountEntry) isVolume(id string) bool { return m.fstype == "overlay" && m.source == id }

// readMounts parses /proc/self/mountinfo (in mount order: parents first).
func readMounts() ([]mountEntry, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var out []mountEntry
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 7 {
			continue
		}
		sep := slices.Index(f, "-")
		if sep < 6 || len(f) < sep+3 {
			continue
		}
		e := mountEntry{point: unescapeMountinfo(f[4]), fstype: f[sep+1], source: unescapeMountinfo(f[sep+2])}
		for _, o := range f[6:sep] {
			if strings.HasPrefix(o, "shared:") {
				e.shared = true
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// unescapeMountinfo decodes the octal escapes (\040 etc.) of mountinfo.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// ensureSharedDir makes dir a mount point of its own peer group (bind onto
// itself, private, then shared), once: the container's VolumeDir mount is
// a slave of it, so mounts made below it on the host propagate into it.
// Making it private first keeps it out of the peer group of its parent (a
// shared / would otherwise carry kiln's attachments into every other mount
// namespace following /).
func ensureSharedDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ms, err := readMounts()
	if err != nil {
		return err
	}
	var top *mountEntry
	for i := range ms {
		if ms[i].point == dir {
			top = &ms[i] // the last one is the visible one
		}
	}
	if top != nil && top.shared {
		return nil
	}
	if top == nil {
		if err := unix.Mount(dir, dir, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind %s: %w", dir, err)
		}
	}
	if err := unix.Mount("", dir, "", unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make-private %s: %w", dir, err)
	}
	if err := unix.Mount("", dir, "", unix.MS_SHARED, ""); err != nil {
		return fmt.Errorf("make-shared %s: %w", dir, err)
	}
	return nil
}
