package containerd

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	client "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"golang.org/x/sys/unix"

	"github.com/kiln-dev/kiln/internal/runtime"
	"github.com/kiln-dev/kiln/internal/runtime/runtimetest"
)

// newVolRuntime is newRuntime plus a cleanup, run before the runtime's own
// (t.Cleanup is LIFO), that deletes every instance and volume left, drops
// the attachment directory's own mount and fails the test if anything is
// still mounted under the test's data directory.
func newVolRuntime(t *testing.T, dir string) *Runtime {
	t.Helper()
	r := newRuntime(t, dir)
	t.Cleanup(func() { volCleanup(t, r, dir) })
	return r
}

func volCleanup(t *testing.T, r *Runtime, dir string) {
	ctx := context.Background()
	if list, err := r.List(ctx); err == nil {
		for _, s := range list {
			if err := r.Delete(ctx, s.ID); err != nil {
				t.Errorf("cleanup: delete %s: %v", s.ID, err)
			}
		}
	}
	if vols, err := r.Volumes(ctx); err == nil {
		for _, v := range vols {
			if err := r.DeleteVolume(ctx, v); err != nil {
				t.Errorf("cleanup: delete volume %s: %v", v, err)
			}
		}
	}
	if err := r.UnmountVolumes(); err != nil {
		t.Errorf("cleanup: UnmountVolumes: %v", err)
	}
	if left := mountsUnder(dir); len(left) > 0 {
		t.Errorf("cleanup: mounts left under %s: %v", dir, left)
	}
}

// mountsUnder lists the mount points at or below dir, but for the
// encrypted store's (it outlives the runtime, like containerd).
func mountsUnder(dir string) []string {
	ms, _ := readMounts()
	var out []string
	for _, m := range ms {
		if m.point == filepath.Join(dir, "containerd", storeMount) {
			continue
		}
		if m.point == dir || strings.HasPrefix(m.point, dir+"/") {
			out = append(out, m.point+" ("+m.fstype+" "+m.source+")")
		}
	}
	return out
}

// attachmentMounts lists the mounts below the attachment directory.
func attachmentMounts(r *Runtime) []string {
	ms, _ := readMounts()
	var out []string
	for _, m := range ms {
		// <instance>/<name>: a volume (<instance> alone is the
		// instance's shared directory).
		if rel, ok := strings.CutPrefix(m.point, r.attachRoot+"/"); ok && strings.Contains(rel, "/") {
			out = append(out, rel+"="+m.source)
		}
	}
	return out
}

// TestVolumeAttach: a volume attached to a running instance appears inside
// it at once; what the instance writes survives detaching and shows in
// another instance (attached while stopped, then started, then stopped
// and started again); a restarted kiln sees and detaches the attachment;
// deleting an instance leaves the volume's data and no mounts.
func TestVolumeAttach(t *testing.T) {
	requireHost(t)
	ctx := context.Background()
	dir := shortDir(t)
	r := newVolRuntime(t, dir)
	const vol = "vol-0a1"
	if err := r.CreateVolume(ctx, vol, nil); err != nil {
		t.Fatal(err)
	}
	if err := r.CreateVolume(ctx, vol, nil); !errors.Is(err, runtime.ErrAlreadyExists) {
		t.Fatalf("second CreateVolume: %v, want ErrAlreadyExists", err)
	}
	if vols, err := r.Volumes(ctx); err != nil || !slices.Equal(vols, []string{vol}) {
		t.Fatalf("Volumes = %v, %v", vols, err)
	}

	conA := filepath.Join(dir, "a.log")
	a := runtime.Spec{ID: "i-va", Layers: []runtime.Layer{busybox(t)}, ConsolePath: conA, Args: []string{"/bin/sh", "-c", `
touch /mnt/ebs/x 2>/dev/null || echo ebs-dir-ro
until grep -q " /mnt/ebs/sdf " /proc/mounts; do sleep 0.05; done
echo hello from A > /mnt/ebs/sdf/hello.txt && sync && echo wrote
while grep -q " /mnt/ebs/sdf " /proc/mounts; do sleep 0.05; done
echo detached-seen
exec sleep 1000`}}
	if err := r.Create(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "A booted", 10*time.Second, func() bool { return strings.Contains(readFile(conA), "ebs-dir-ro") })
	for range 2 { // attaching again under the same name is a no-op
		if err := r.AttachVolume(ctx, a.ID, vol, "sdf"); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "A writing on the volume", 10*time.Second, func() bool { return strings.Contains(readFile(conA), "wrote") })

	// In use: no deletion, no second attachment.
	if err := r.DeleteVolume(ctx, vol); !errors.Is(err, runtime.ErrVolumeInUse) {
		t.Fatalf("DeleteVolume while attached: %v, want ErrVolumeInUse", err)
	}
	conB := filepath.Join(dir, "b.log")
	b := runtime.Spec{ID: "i-vb", Layers: []runtime.Layer{busybox(t)}, ConsolePath: conB, Args: []string{"/bin/sh", "-c",
		`echo "boot: $(cat /mnt/ebs/sdh/hello.txt)"; exec sleep 1000`}}
	if err := r.Create(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := r.AttachVolume(ctx, b.ID, vol, "sdh"); !errors.Is(err, runtime.ErrVolumeInUse) {
		t.Fatalf("attaching an attached volume elsewhere: %v, want ErrVolumeInUse", err)
	}

	if err := r.DetachVolume(ctx, a.ID, vol, "sdf"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "A seeing the detachment", 10*time.Second, func() bool { return strings.Contains(readFile(conA), "detached-seen") })
	if err := r.DetachVolume(ctx, a.ID, vol, "sdf"); err != nil {
		t.Fatalf("detaching again: %v", err)
	}

	// B: attached while stopped, then booted twice.
	if err := r.AttachVolume(ctx, b.ID, vol, "sdh"); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "B reading A's file", 10*time.Second, func() bool { return strings.Contains(readFile(conB), "boot: hello from A") })
	if err := r.Stop(ctx, b.ID, 0); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "B's second boot", 10*time.Second, func() bool { return strings.Count(readFile(conB), "boot: hello from A") == 2 })

	// kiln restarts: the attachment is still there and the new runtime
	// manages it.
	r2 := newRuntime(t, dir)
	if got := attachmentMounts(r2); !slices.Equal(got, []string{b.ID + "/sdh=" + vol}) {
		t.Fatalf("attachments seen after restart: %v", got)
	}
	if err := r2.DeleteVolume(ctx, vol); !errors.Is(err, runtime.ErrVolumeInUse) {
		t.Fatalf("DeleteVolume after restart: %v, want ErrVolumeInUse", err)
	}
	if err := r2.AttachVolume(ctx, b.ID, vol, "sdh"); err != nil {
		t.Fatalf("re-attach after restart: %v", err)
	}
	if err := r2.DetachVolume(ctx, b.ID, vol, ""); err != nil {
		t.Fatal(err)
	}
	if got := attachmentMounts(r2); len(got) != 0 {
		t.Fatalf("attachments after detach: %v", got)
	}
	if err := r2.AttachVolume(ctx, b.ID, vol, "sdh"); err != nil {
		t.Fatal(err)
	}

	// Delete with the volume attached: mounts gone, data kept.
	if err := r2.Delete(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if got := attachmentMounts(r2); len(got) != 0 {
		t.Fatalf("attachments after Delete: %v", got)
	}
	if _, err := os.Stat(r2.attachDir(b.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("attachment directory after Delete: %v", err)
	}
	var buf strings.Builder
	if _, err := r2.CaptureVolume(ctx, vol, &buf); err != nil {
		t.Fatal(err)
	}
	if files := tarFiles(t, buf.String()); files["hello.txt"] != "hello from A\n" {
		t.Fatalf("volume after Delete of its instance: %v", files)
	}
	if err := r2.DeleteVolume(ctx, vol); err != nil {
		t.Fatal(err)
	}
	if err := r2.DeleteVolume(ctx, vol); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("second DeleteVolume: %v, want ErrNotFound", err)
	}
}

// TestVolumeLayersAndCapture: a volume made from layers shows their files;
// its capture holds what the instance wrote and a whiteout for what it
// deleted, and nothing of the layers.
func TestVolumeLayersAndCapture(t *testing.T) {
	requireHost(t)
	ctx := context.Background()
	dir := shortDir(t)
	r := newVolRuntime(t, dir)
	data, _, err := runtimetest.FileLayer(map[string]string{"data/a.txt": "from the layer\n", "data/keep.txt": "kept\n"})
	if err != nil {
		t.Fatal(err)
	}
	const vol = "vol-0b2"
	if err := r.CreateVolume(ctx, vol, []runtime.Layer{runtimetest.Layer(data, nil)}); err != nil {
		t.Fatal(err)
	}
	con := filepath.Join(dir, "c.log")
	spec := runtime.Spec{ID: "i-vc", Layers: []runtime.Layer{busybox(t)}, ConsolePath: con, Args: []string{"/bin/sh", "-c", `
until [ -f /mnt/ebs/xvdb/data/a.txt ]; do sleep 0.05; done
echo "read: $(cat /mnt/ebs/xvdb/data/a.txt)"
mkdir /mnt/ebs/xvdb/new && echo fresh > /mnt/ebs/xvdb/new/b.txt && rm /mnt/ebs/xvdb/data/a.txt && sync && echo changed
exec sleep 1000`}}
	if err := r.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	if err := r.AttachVolume(ctx, spec.ID, vol, "xvdb"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "changes", 10*time.Second, func() bool { return strings.Contains(readFile(con), "changed") })
	if !strings.Contains(readFile(con), "read: from the layer") {
		t.Fatalf("console: %s", readFile(con))
	}
	var buf strings.Builder
	n, err := r.CaptureVolume(ctx, vol, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) {
		t.Fatalf("CaptureVolume = %d for %d bytes", n, buf.Len())
	}
	names := tarNames(t, buf.String())
	for _, want := range []string{"new/b.txt", "data/.wh.a.txt"} {
		if !slices.Contains(names, want) {
			t.Errorf("capture lacks %s: %v", want, names)
		}
	}
	if slices.Contains(names, "data/keep.txt") {
		t.Errorf("capture holds the layer's content: %v", names)
	}
	// The capture on top of the layer is a new volume with the changes.
	layer2 := runtimetest.Layer([]byte(buf.String()), nil)
	if err := r.CreateVolume(ctx, "vol-0b3", []runtime.Layer{runtimetest.Layer(data, nil), layer2}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.CaptureVolume(ctx, "vol-nope", io.Discard); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("capture of a missing volume: %v", err)
	}
	if err := r.AttachVolume(ctx, spec.ID, "vol-nope", "sdz"); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("attach missing volume: %v", err)
	}
	if err := r.AttachVolume(ctx, "i-nope", vol, "sdz"); !errors.Is(err, runtime.ErrNotFound) {
		t.Fatalf("attach to missing instance: %v", err)
	}
	if err := r.AttachVolume(ctx, spec.ID, "vol-0b3", "xvdb"); !errors.Is(err, runtime.ErrAlreadyExists) {
		t.Fatalf("attach under a taken name: %v", err)
	}
	if err := r.AttachVolume(ctx, spec.ID, "vol-0b3", "xvdc"); err != nil {
		t.Fatal(err)
	}
	mp := filepath.Join(r.attachDir(spec.ID), "xvdc")
	if got := readFile(filepath.Join(mp, "new/b.txt")); got != "fresh\n" {
		t.Fatalf("new volume new/b.txt = %q", got)
	}
	if _, err := os.Stat(filepath.Join(mp, "data/a.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("deleted file present in the new volume: %v", err)
	}
	if err := r.DeleteVolume(ctx, "vol-0b3"); !errors.Is(err, runtime.ErrVolumeInUse) {
		t.Fatalf("DeleteVolume attached: %v", err)
	}
	if err := r.Delete(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{vol, "vol-0b3"} {
		if err := r.DeleteVolume(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
}

// TestVolumePrune: leftovers of a crashed kiln — a half-created volume, an
// attachment of a deleted instance, one of a deleted volume, an empty
// attachment point, the directory of a deleted instance — are removed; a
// live attachment and the volumes are kept.
func TestVolumePrune(t *testing.T) {
	requireHost(t)
	ctx := context.Background()
	dir := shortDir(t)
	r := newVolRuntime(t, dir)
	nctx := namespaces.WithNamespace(ctx, Namespace)
	sn := r.client.SnapshotService(Snapshotter)
	for _, v := range []string{"vol-keep", "vol-orph"} {
		if err := r.CreateVolume(ctx, v, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"i-pkeep", "i-pgone"} {
		if err := r.Create(ctx, runtime.Spec{ID: id, Layers: []runtime.Layer{busybox(t)}, Args: []string{"/bin/sh", "-c", "exec sleep 1000"}}); err != nil {
			t.Fatal(err)
		}
		if err := r.Start(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.AttachVolume(ctx, "i-pkeep", "vol-keep", "sdf"); err != nil {
		t.Fatal(err)
	}
	if err := r.AttachVolume(ctx, "i-pgone", "vol-orph", "sdf"); err != nil {
		t.Fatal(err)
	}
	// The instance disappears without its attachment being unmounted.
	c, err := r.client.LoadContainer(nctx, "i-pgone")
	if err != nil {
		t.Fatal(err)
	}
	if tk, err := c.Task(nctx, nil); err == nil {
		_, _ = tk.Delete(nctx, client.WithProcessKill)
	}
	if err := c.Delete(nctx, client.WithSnapshotCleanup); err != nil {
		t.Fatal(err)
	}
	// An interrupted CreateVolume of an earlier process.
	chain, _ := chainIDs([]runtime.Layer{emptyLayer()})
	lctx, _, err := r.client.WithLease(nctx, leases.WithRandomID(), leases.WithExpiration(leaseTTL), leases.WithLabel(labelOwner, "deadbeef"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sn.Prepare(lctx, "vol-half", chain[0].String(), snapshots.WithLabels(map[string]string{labelVolume: "vol-half", labelManaged: "true"})); err != nil {
		t.Fatal(err)
	}
	// A mount of a volume that no longer exists, an empty attachment
	// point, the directory of an instance that is gone.
	ov := filepath.Join(dir, "ov")
	for _, d := range []string{"l", "u", "w"} {
		os.MkdirAll(filepath.Join(ov, d), 0o755)
	}
	stale := filepath.Join(r.attachDir("i-pkeep"), "sdg")
	os.Mkdir(stale, 0o755)
	if err := unix.Mount("vol-gone", stale, "overlay", 0, fmt.Sprintf("lowerdir=%s/l,upperdir=%s/u,workdir=%s/w", ov, ov, ov)); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(r.attachDir("i-pkeep"), "sdh"), 0o755)
	os.MkdirAll(r.attachDir("i-nothere"), 0o755)

	r2 := newRuntime(t, dir) // kiln restarted
	removed, err := r2.Prune(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(removed)
	if got := attachmentMounts(r2); !slices.Equal(got, []string{"i-pkeep/sdf=vol-keep"}) {
		t.Fatalf("attachments after Prune: %v", got)
	}
	ents, _ := os.ReadDir(r2.attachRoot)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"i-pkeep"}) {
		t.Fatalf("attachment directories after Prune: %v", names)
	}
	if ents, _ := os.ReadDir(r2.attachDir("i-pkeep")); len(ents) != 1 {
		t.Fatalf("i-pkeep's attachment points after Prune: %v", ents)
	}
	if _, err := sn.Stat(nctx, "vol-half"); err == nil {
		t.Error("half-created volume survived Prune")
	}
	if vols, err := r2.Volumes(ctx); err != nil || !slices.Equal(vols, []string{"vol-keep", "vol-orph"}) {
		t.Fatalf("volumes after Prune: %v, %v", vols, err)
	}
	// A retried CreateVolume of the interrupted one works.
	if err := r2.CreateVolume(ctx, "vol-half", nil); err != nil {
		t.Fatal(err)
	}
}

func tarFiles(t *testing.T, s string) map[string]string {
	t.Helper()
	out := map[string]string{}
	tr := tar.NewReader(strings.NewReader(s))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		} else if err != nil {
			t.Fatal(err)
		}
		b := new(strings.Builder)
		if _, err := io.Copy(b, tr); err != nil {
			t.Fatal(err)
		}
		out[strings.TrimPrefix(h.Name, "./")] = b.String()
	}
}
