// Package anchor holds what the benchmarks under bench/ share: the anchors
// kiln's figures are divided by, measured in the same run on the same
// machine (a raw `runc run` of a busybox bundle, `ctr run` against a
// containerd), and the small helpers that report them.
package anchor

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kiln-dev/kiln/internal/runtime/runtimetest"
)

// MS is d in milliseconds.
func MS(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Median runs f n times (i = 0..n-1) and returns the median duration.
func Median(n int, f func(i int) time.Duration) time.Duration {
	ds := make([]time.Duration, n)
	for i := range n {
		ds[i] = f(i)
	}
	slices.Sort(ds)
	return ds[n/2]
}

// Loadavg is the 1, 5 and 15 minute load average.
func Loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// RuncRun is the runc anchor: it writes a busybox bundle under dir and
// returns the median of n `runc run` of /bin/true (foreground, no
// terminal: create, start, wait, delete).
func RuncRun(dir string, n int) (time.Duration, error) {
	bundle := filepath.Join(dir, "bundle")
	if err := MakeBundle(bundle); err != nil {
		return 0, err
	}
	root := filepath.Join(dir, "runc")
	var firstErr error
	d := Median(n, func(i int) time.Duration {
		t0 := time.Now()
		out, err := exec.Command("runc", "--root", root, "run", "--bundle", bundle, fmt.Sprintf("kbench-runc-%d", i)).CombinedOutput()
		d := time.Since(t0)
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("runc run: %v: %s", err, out)
		}
		return d
	})
	return d, firstErr
}

// MakeBundle writes an OCI bundle (busybox root, runc's default config
// running /bin/true without a terminal).
func MakeBundle(bundle string) error {
	rootfs := filepath.Join(bundle, "rootfs")
	for _, d := range []string{"bin", "proc", "sys", "dev", "tmp", "etc"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			return err
		}
	}
	bb, err := os.ReadFile(runtimetest.BusyboxPath)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(rootfs, "bin/busybox"), bb, 0o755); err != nil {
		return err
	}
	for _, a := range runtimetest.Applets {
		if err := os.Symlink("busybox", filepath.Join(rootfs, "bin", a)); err != nil {
			return err
		}
	}
	if out, err := exec.Command("runc", "spec", "--bundle", bundle).CombinedOutput(); err != nil {
		return fmt.Errorf("runc spec: %v: %s", err, out)
	}
	p := filepath.Join(bundle, "config.json")
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	var spec map[string]any
	if err := json.Unmarshal(b, &spec); err != nil {
		return err
	}
	proc := spec["process"].(map[string]any)
	proc["terminal"] = false
	proc["args"] = []string{"/bin/true"}
	b, _ = json.Marshal(spec)
	return os.WriteFile(p, b, 0o644)
}

// CtrImage is the busybox image ImportImage imports (namespace CtrNamespace).
const (
	CtrImage     = "kiln.local/bench:1"
	CtrNamespace = "kbench"
)

// HaveCtr reports whether the ctr client is installed.
func HaveCtr() bool { _, err := exec.LookPath("ctr"); return err == nil }

// Ctr runs ctr against the containerd at address, in CtrNamespace.
func Ctr(address string, args ...string) ([]byte, error) {
	return exec.Command("ctr", append([]string{"--address", address, "--namespace", CtrNamespace}, args...)...).CombinedOutput()
}

// CtrRun is the ctr anchor: the median of n `ctr run --rm` of /bin/true
// from CtrImage (imported first with ImportImage).
func CtrRun(address string, n int) (time.Duration, error) {
	var firstErr error
	d := Median(n, func(i int) time.Duration {
		t0 := time.Now()
		out, err := Ctr(address, "run", "--rm", CtrImage, fmt.Sprintf("kbench-ctr-%d", i), "/bin/true")
		d := time.Since(t0)
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("ctr run: %v: %s", err, out)
		}
		return d
	})
	return d, firstErr
}

// CtrConcurrent is raw containerd throughput: c concurrent `ctr run -d`
// of `sleep 1000` from CtrImage. It returns the wall time until every ctr
// returned (each task started) and the first error, then kills and removes
// the containers (not timed).
func CtrConcurrent(address string, c int) (time.Duration, error) {
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	t0 := time.Now()
	for i := range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if out, err := Ctr(address, "run", "-d", CtrImage, fmt.Sprintf("kbench-cc-%d", i), "/bin/sleep", "1000"); err != nil {
				once.Do(func() { firstErr = fmt.Errorf("ctr run -d: %v: %s", err, out) })
			}
		}()
	}
	wg.Wait()
	wall := time.Since(t0)
	for i := range c {
		_, _ = Ctr(address, "task", "kill", "-s", "SIGKILL", fmt.Sprintf("kbench-cc-%d", i))
	}
	time.Sleep(300 * time.Millisecond)
	for i := range c {
		id := fmt.Sprintf("kbench-cc-%d", i)
		_, _ = Ctr(address, "task", "rm", "-f", id)
		_, _ = Ctr(address, "container", "rm", id)
	}
	return wall, firstErr
}

// ImportImage makes an OCI image archive holding layer (named CtrImage)
// under dir and imports it with ctr.
func ImportImage(address, dir string, layer []byte) error {
	cfg, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux",
		"config": map[string]any{"Env": []string{"PATH=/bin"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{string(runtimetest.DigestOf(layer))}},
	})
	manifest, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": runtimetest.DigestOf(cfg), "size": len(cfg)},
		"layers":        []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": runtimetest.DigestOf(layer), "size": len(layer)}},
	})
	index, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"manifests": []any{map[string]any{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": runtimetest.DigestOf(manifest), "size": len(manifest),
			"annotations": map[string]string{"org.opencontainers.image.ref.name": CtrImage, "io.containerd.image.name": CtrImage}}},
	})
	files := map[string]string{
		"oci-layout": `{"imageLayoutVersion":"1.0.0"}`,
		"index.json": string(index),
	}
	for _, b := range [][]byte{cfg, manifest, layer} {
		files["blobs/sha256/"+runtimetest.DigestOf(b).Hex()] = string(b)
	}
	tarBytes, _, err := runtimetest.FileLayer(files)
	if err != nil {
		return err
	}
	p := filepath.Join(dir, "image.tar")
	if err := os.WriteFile(p, tarBytes, 0o644); err != nil {
		return err
	}
	if out, err := Ctr(address, "images", "import", "--snapshotter", "overlayfs", p); err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}

// UnmountUnder lazily unmounts every mount below dir, deepest first
// (runtimetest.UnmountUnder).
func UnmountUnder(dir string) { runtimetest.UnmountUnder(dir) }
