package containerd

import (
	"archive/tar"
	"context"
	"fmt"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/netns"
	"github.com/kiln-dev/kiln/internal/runtime"
	"github.com/kiln-dev/kiln/internal/runtime/runtimetest"
)

// TestNetworkNamespace: an instance joins the namespace netns made and
// reaches a host server on the metadata address, which sees its address.
func TestNetworkNamespace(t *testing.T) {
	requireHost(t)
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("precondition: nft not installed")
	}
	ctx := context.Background()
	tag := fmt.Sprintf("kr%d", os.Getpid()%100000)
	n, err := netns.New(netns.Options{Bridge: tag, Table: tag, Prefix: tag + "-"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Teardown(context.Background()) })
	if err := n.Setup(ctx, []netip.Prefix{netip.MustParsePrefix("10.213.64.0/20")}); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "169.254.169.254:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "caller="+r.RemoteAddr+"\n")
	})}
	go srv.Serve(l)
	defer srv.Close()

	dir := shortDir(t)
	r := newRuntime(t, dir)
	id := "i-net" + strconv.Itoa(os.Getpid())
	a, err := n.Attach(ctx, id, netip.MustParsePrefix("10.213.64.10/20"), net.HardwareAddr{2, 0, 0, 0, 0, 9})
	if err != nil {
		t.Fatal(err)
	}
	console := filepath.Join(dir, "net.log")
	spec := runtime.Spec{ID: id, Layers: []runtime.Layer{busybox(t)}, NetNSPath: a.NetNSPath, ConsolePath: console,
		Args: []string{"/bin/sh", "-c", "ip -4 addr show eth0; wget -qO- http://" + l.Addr().String() + "/; exec sleep 1000"}}
	if err := r.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "metadata answer in console", 10*time.Second, func() bool {
		return strings.Contains(readFile(console), "caller=10.213.64.10:")
	})
	if err := r.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := n.Detach(ctx, id); err != nil {
		t.Fatal(err)
	}
}

// TestKill9 runs a runtime in a child process that is killed with
// SIGKILL after starting an instance: containerd and the instance keep
// running, and a new runtime adopts and stops it.
func TestKill9(t *testing.T) {
	if os.Getenv("KILN_RUNTIME_CHILD") != "" {
		return // the child's work is done by TestMain
	}
	requireHost(t)
	dir := shortDir(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill9$")
	cmd.Env = append(os.Environ(), "KILN_RUNTIME_CHILD="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	nr, _ := io.ReadAtLeast(out, buf, 1)
	line := strings.TrimSpace(string(buf[:nr]))
	if !strings.HasPrefix(line, "running ") {
		cmd.Process.Kill()
		t.Fatalf("child said %q", line)
	}
	var cpid, ipid int
	fmt.Sscanf(line, "running %d %d", &cpid, &ipid)
	t.Cleanup(func() {
		if isContainerd(cpid) {
			syscall.Kill(cpid, syscall.SIGTERM)
			waitGone(cpid, 10*time.Second)
		}
	})
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	time.Sleep(200 * time.Millisecond)
	if !isContainerd(cpid) {
		t.Fatal("containerd died with kiln")
	}
	if !procAlive(ipid) {
		t.Fatal("instance died with kiln")
	}
	// The shim keeps writing the console while kiln is gone.
	n1 := strings.Count(readFile(filepath.Join(dir, "k9.log")), "tick")
	waitFor(t, "console written without kiln", 5*time.Second, func() bool {
		return strings.Count(readFile(filepath.Join(dir, "k9.log")), "tick") > n1+3
	})
	// The volume attachment (a host mount) survives too.
	n2 := strings.Count(readFile(filepath.Join(dir, "k9.log")), "vol-seen")
	waitFor(t, "volume seen without kiln", 5*time.Second, func() bool {
		return strings.Count(readFile(filepath.Join(dir, "k9.log")), "vol-seen") > n2+3
	})
	r := newVolRuntime(t, dir)
	if got := attachmentMounts(r); !slices.Equal(got, []string{"i-k9/sdf=vol-k9"}) {
		t.Fatalf("attachments after kill -9: %v", got)
	}
	if r.DaemonPid() != cpid {
		t.Fatalf("new runtime did not re-use containerd %d (got %d)", cpid, r.DaemonPid())
	}
	st, err := r.Status(context.Background(), "i-k9")
	if err != nil || !st.Running || st.Pid != ipid {
		t.Fatalf("adopted status %+v %v", st, err)
	}
	if err := r.Delete(context.Background(), "i-k9"); err != nil {
		t.Fatal(err)
	}
	if procAlive(ipid) {
		t.Fatal("instance alive after Delete")
	}
	if got := attachmentMounts(r); len(got) != 0 {
		t.Fatalf("attachments after Delete: %v", got)
	}
	if err := r.DeleteVolume(context.Background(), "vol-k9"); err != nil {
		t.Fatal(err)
	}
}

func TestMain(m *testing.M) {
	if dir := os.Getenv("KILN_RUNTIME_CHILD"); dir != "" {
		ctx := context.Background()
		r, err := New(ctx, Options{DataDir: dir})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		b, _, _ := busyboxBytes()
		if err := r.Create(ctx, runtime.Spec{ID: "i-k9", Layers: []runtime.Layer{b}, ConsolePath: filepath.Join(dir, "k9.log"),
			Args: []string{"/bin/sh", "-c", `while true; do echo tick; grep -q " /mnt/ebs/sdf " /proc/mounts && echo vol-seen; sleep 0.1; done`}}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := r.Start(ctx, "i-k9"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := r.CreateVolume(ctx, "vol-k9", nil); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := r.AttachVolume(ctx, "i-k9", "vol-k9", "sdf"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		st, _ := r.Status(ctx, "i-k9")
		fmt.Printf("running %d %d\n", r.DaemonPid(), st.Pid)
		select {} // until killed
	}
	os.Exit(m.Run())
}

// TestCapture: the diff of a running instance's root holds what it wrote
// and a whiteout for what it deleted, and nothing of the image.
func TestCapture(t *testing.T) {
	requireHost(t)
	ctx := context.Background()
	dir := shortDir(t)
	r := newRuntime(t, dir)
	console := filepath.Join(dir, "cap.log")
	spec := runtime.Spec{ID: "i-cap", Layers: []runtime.Layer{busybox(t)}, ConsolePath: console,
		Args: []string{"/bin/sh", "-c", "mkdir -p /opt/app; echo built > /opt/app/version; rm /etc/hostname; echo ready; exec sleep 1000"}}
	if err := r.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "ready", 10*time.Second, func() bool { return strings.Contains(readFile(console), "ready") })
	if err := r.Pause(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	n, err := r.Capture(ctx, spec.ID, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Resume(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) {
		t.Fatalf("Capture = %d for %d bytes", n, buf.Len())
	}
	names := tarNames(t, buf.String())
	for _, want := range []string{"opt/app/version", "etc/.wh.hostname"} {
		if !slices.Contains(names, want) {
			t.Errorf("capture lacks %s: %v", want, names)
		}
	}
	if slices.Contains(names, "bin/busybox") {
		t.Errorf("capture holds image content: %v", names)
	}
	// The captured layer boots as the top of a new image.
	layer := runtimetest.Layer([]byte(buf.String()), nil)
	child := runtime.Spec{ID: "i-cap2", Layers: []runtime.Layer{busybox(t), layer}, ConsolePath: filepath.Join(dir, "cap2.log"),
		Args: []string{"/bin/sh", "-c", "cat /opt/app/version; test -e /etc/hostname || echo hostname-gone"}}
	if err := r.Create(ctx, child); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx, child.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "child boot", 10*time.Second, func() bool {
		s := readFile(filepath.Join(dir, "cap2.log"))
		return strings.Contains(s, "built") && strings.Contains(s, "hostname-gone")
	})
}

func tarNames(t *testing.T, s string) []string {
	t.Helper()
	tr := tar.NewReader(strings.NewReader(s))
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, strings.TrimPrefix(h.Name, "./"))
	}
}

// TestPrune: leftovers of an interrupted Create of an earlier process (its
// lease, a half-applied layer, a root snapshot without a container) are
// removed; instances, their roots and unpacked layers are kept.
func TestPrune(t *testing.T) {
	requireHost(t)
	ctx := context.Background()
	dir := shortDir(t)
	r := newRuntime(t, dir)
	spec := runtime.Spec{ID: "i-keep", Layers: []runtime.Layer{busybox(t)}, Args: []string{"/bin/true"}}
	if err := r.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	nctx := namespaces.WithNamespace(ctx, Namespace)
	sn := r.client.SnapshotService(Snapshotter)
	chain, _ := chainIDs(spec.Layers)
	// An earlier process, killed mid-Create.
	lctx, _, err := r.client.WithLease(nctx, leases.WithRandomID(), leases.WithExpiration(leaseTTL), leases.WithLabel(labelOwner, "deadbeef"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sn.Prepare(lctx, "extract-deadbeef-00-sha256:x", chain[0].String()); err != nil {
		t.Fatal(err)
	}
	if _, err := sn.Prepare(lctx, "i-orphan", chain[0].String()); err != nil {
		t.Fatal(err)
	}
	r2 := newRuntime(t, dir) // kiln restarted
	removed, err := r2.Prune(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(removed)
	for _, gone := range []string{"extract-deadbeef-00-sha256:x", "i-orphan"} {
		if _, err := sn.Stat(nctx, gone); err == nil {
			t.Errorf("%s survived Prune", gone)
		}
	}
	for _, kept := range []string{"i-keep", chain[0].String()} {
		if _, err := sn.Stat(nctx, kept); err != nil {
			t.Errorf("%s removed by Prune: %v", kept, err)
		}
	}
	if ls, _ := r.client.LeasesService().List(nctx); len(ls) != 0 {
		t.Errorf("leases left: %+v", ls)
	}
}

// TestExternalAddress: with Address, the runtime uses that containerd and
// neither starts nor supervises one.
func TestExternalAddress(t *testing.T) {
	requireHost(t)
	ctx := context.Background()
	own := newRuntime(t, shortDir(t))
	r, err := New(ctx, Options{Address: own.Address()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.DaemonPid() != 0 {
		t.Fatalf("DaemonPid = %d with an external containerd", r.DaemonPid())
	}
	spec := runtime.Spec{ID: "i-ext", Layers: []runtime.Layer{busybox(t)}, Args: []string{"/bin/sh", "-c", "exec sleep 1000"}}
	if err := r.Create(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
	if err := r.Delete(ctx, spec.ID); err != nil {
		t.Fatal(err)
	}
}
