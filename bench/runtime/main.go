// Command runtime benchmarks kiln's containerd runtime against its anchors
// on the same machine in the same run: a raw `runc run` of an equivalent
// busybox bundle, `ctr run --rm` against the same containerd, then the
// Runtime's Create+Start (until PID 1 runs), sequential and 50 at once.
//
//	go run ./bench/runtime            (as root)
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kiln-dev/kiln/internal/netns"
	"github.com/kiln-dev/kiln/internal/runtime"
	rtc "github.com/kiln-dev/kiln/internal/runtime/containerd"
	"github.com/kiln-dev/kiln/internal/runtime/runtimetest"
)

var (
	n          = flag.Int("n", 9, "sequential runs per measurement (median reported)")
	concurrent = flag.Int("c", 50, "concurrent launches")
	keep       = flag.Bool("keep", false, "keep the scratch directory and containerd")
)

func main() {
	flag.Parse()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench/runtime: run as root (containerd and runc need it)")
		os.Exit(2)
	}
	dir, err := os.MkdirTemp("", "kbench")
	check(err)
	layerBytes, _, err := runtimetest.BusyboxLayer("")
	check(err)

	results := map[string]time.Duration{}
	order := []string{}
	report := func(name string, d time.Duration) {
		results[name] = d
		order = append(order, name)
		fmt.Printf("  %-44s %8.1f ms\n", name, ms(d))
	}

	fmt.Println("bench/runtime: busybox instance, median of", *n, "runs; load average", loadavg())

	// Anchor 1: raw runc run of an equivalent bundle.
	bundle := filepath.Join(dir, "bundle")
	check(makeBundle(bundle))
	runcRoot := filepath.Join(dir, "runc")
	runcRun := median(*n, func(i int) time.Duration {
		id := fmt.Sprintf("kbench-runc-%d", i)
		t0 := time.Now()
		out, err := exec.Command("runc", "--root", runcRoot, "run", "--bundle", bundle, id).CombinedOutput()
		d := time.Since(t0)
		if err != nil {
			fatalf("runc run: %v: %s", err, out)
		}
		return d
	})
	report("runc run /bin/true (anchor)", runcRun)

	ctx := context.Background()
	r, err := rtc.New(ctx, rtc.Options{DataDir: dir})
	check(err)
	cpid := r.DaemonPid()
	defer func() {
		r.Close()
		if !*keep {
			_ = syscall.Kill(cpid, syscall.SIGTERM)
			time.Sleep(500 * time.Millisecond)
			unmountUnder(dir)
			os.RemoveAll(dir)
		} else {
			fmt.Println("kept", dir, "containerd pid", cpid)
		}
	}()

	// Anchor 2: ctr run --rm against the same containerd.
	if _, err := exec.LookPath("ctr"); err == nil {
		if err := importImage(r.Address(), dir, layerBytes); err != nil {
			fmt.Println("  ctr: image import failed:", err)
		} else {
			d := median(*n, func(i int) time.Duration {
				t0 := time.Now()
				out, err := ctr(r.Address(), "run", "--rm", "kiln.local/bench:1", fmt.Sprintf("kbench-ctr-%d", i), "/bin/true")
				d := time.Since(t0)
				if err != nil {
					fatalf("ctr run: %v: %s", err, out)
				}
				return d
			})
			report("ctr run --rm /bin/true (anchor)", d)
		}
	} else {
		fmt.Println("  ctr not installed: anchor skipped")
	}

	layer := runtimetest.Layer(layerBytes, nil)
	args := []string{"/bin/sh", "-c", "exec sleep 1000"}
	launch := func(id string) time.Duration {
		t0 := time.Now()
		if err := r.Create(ctx, runtime.Spec{ID: id, Layers: []runtime.Layer{layer}, Args: args, VCPUs: 1, MemoryMiB: 128,
			ConsolePath: filepath.Join(dir, "console", id+".log")}); err != nil {
			fatalf("create %s: %v", id, err)
		}
		if err := r.Start(ctx, id); err != nil {
			fatalf("start %s: %v", id, err)
		}
		return time.Since(t0)
	}
	cleanup := func() {
		list, _ := r.List(ctx)
		for _, s := range list {
			_ = r.Delete(ctx, s.ID)
		}
	}

	report("kiln Create+Start, first (unpacks the layer)", launch("i-bench-cold"))
	cleanup()
	warm := median(*n, func(i int) time.Duration { return launch(fmt.Sprintf("i-bench-%d", i)) })
	report("kiln Create+Start (layer cached)", warm)
	stopDel := median(*n, func(i int) time.Duration {
		t0 := time.Now()
		if err := r.Delete(ctx, fmt.Sprintf("i-bench-%d", i)); err != nil {
			fatalf("delete: %v", err)
		}
		return time.Since(t0)
	})
	report("kiln Delete of a running instance", stopDel)

	// The network part of a launch: netns Attach (namespace, veth,
	// addresses, routes, anti-spoofing rules) and a launch joining it.
	if _, err := exec.LookPath("nft"); err == nil {
		tag := fmt.Sprintf("kb%d", os.Getpid()%100000)
		nw, err := netns.New(netns.Options{Bridge: tag, Table: tag, Prefix: tag + "-"})
		check(err)
		defer nw.Teardown(ctx)
		check(nw.Setup(ctx, []netip.Prefix{netip.MustParsePrefix("10.213.128.0/20")}))
		attach := median(*n, func(i int) time.Duration {
			t0 := time.Now()
			if _, err := nw.Attach(ctx, fmt.Sprintf("i-net-%d", i), netip.MustParsePrefix(fmt.Sprintf("10.213.128.%d/20", 10+i)), net.HardwareAddr{2, 0, 0, 0, 1, byte(i)}); err != nil {
				fatalf("attach: %v", err)
			}
			return time.Since(t0)
		})
		report("netns Attach", attach)
		detach := median(*n, func(i int) time.Duration {
			t0 := time.Now()
			if err := nw.Detach(ctx, fmt.Sprintf("i-net-%d", i)); err != nil {
				fatalf("detach: %v", err)
			}
			return time.Since(t0)
		})
		report("netns Detach", detach)
		full := median(*n, func(i int) time.Duration {
			id := fmt.Sprintf("i-full-%d", i)
			t0 := time.Now()
			a, err := nw.Attach(ctx, id, netip.MustParsePrefix(fmt.Sprintf("10.213.129.%d/20", 10+i)), net.HardwareAddr{2, 0, 0, 0, 2, byte(i)})
			if err != nil {
				fatalf("attach: %v", err)
			}
			if err := r.Create(ctx, runtime.Spec{ID: id, Layers: []runtime.Layer{layer}, Args: args, NetNSPath: a.NetNSPath, VCPUs: 1, MemoryMiB: 128}); err != nil {
				fatalf("create: %v", err)
			}
			if err := r.Start(ctx, id); err != nil {
				fatalf("start: %v", err)
			}
			return time.Since(t0)
		})
		report("kiln Attach+Create+Start (with network)", full)
		results["full"] = full
		cleanup()
		for i := range *n {
			_ = nw.Detach(ctx, fmt.Sprintf("i-full-%d", i))
		}
	}

	// Concurrent launches.
	var wg sync.WaitGroup
	t0 := time.Now()
	lat := make([]time.Duration, *concurrent)
	for i := range *concurrent {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat[i] = launch(fmt.Sprintf("i-conc-%d", i))
		}()
	}
	wg.Wait()
	wall := time.Since(t0)
	list, _ := r.List(ctx)
	running := 0
	for _, s := range list {
		if s.Running {
			running++
		}
	}
	slices.Sort(lat)
	fmt.Printf("  kiln %d concurrent Create+Start: %d running, wall %.0f ms, %.1f launches/s, p50 %.0f ms, max %.0f ms\n",
		*concurrent, running, ms(wall), float64(*concurrent)/wall.Seconds(), ms(lat[len(lat)/2]), ms(lat[len(lat)-1]))
	cleanup()

	if _, err := exec.LookPath("ctr"); err == nil {
		t0 = time.Now()
		var errs sync.Map
		for i := range *concurrent {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if out, err := ctr(r.Address(), "run", "-d", "kiln.local/bench:1", fmt.Sprintf("kbench-cc-%d", i), "/bin/sleep", "1000"); err != nil {
					errs.Store(i, string(out))
				}
			}()
		}
		wg.Wait()
		cwall := time.Since(t0)
		fmt.Printf("  ctr run -d, %d concurrent:                wall %.0f ms, %.1f launches/s\n", *concurrent, ms(cwall), float64(*concurrent)/cwall.Seconds())
		errs.Range(func(k, v any) bool { fmt.Println("    ctr error:", v); return false })
		for i := range *concurrent {
			id := fmt.Sprintf("kbench-cc-%d", i)
			_, _ = ctr(r.Address(), "task", "kill", "-s", "SIGKILL", id)
		}
		time.Sleep(300 * time.Millisecond)
		for i := range *concurrent {
			id := fmt.Sprintf("kbench-cc-%d", i)
			_, _ = ctr(r.Address(), "task", "rm", "-f", id)
			_, _ = ctr(r.Address(), "container", "rm", id)
		}
		fmt.Printf("  ratio kiln/ctr concurrent wall:             %.2fx\n", ms(wall)/ms(cwall))
	}

	fmt.Println("ratios:")
	fmt.Printf("  kiln Create+Start / runc run:                %.2fx\n", ms(warm)/ms(runcRun))
	if d, ok := results["full"]; ok {
		fmt.Printf("  kiln Attach+Create+Start / runc run:        %.2fx\n", ms(d)/ms(runcRun))
	}
	if d, ok := results["ctr run --rm /bin/true (anchor)"]; ok {
		fmt.Printf("  kiln Create+Start / ctr run --rm:            %.2fx\n", ms(warm)/ms(d))
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func median(n int, f func(i int) time.Duration) time.Duration {
	ds := make([]time.Duration, n)
	for i := range n {
		ds[i] = f(i)
	}
	slices.Sort(ds)
	return ds[n/2]
}

func check(err error) {
	if err != nil {
		fatalf("%v", err)
	}
}

func fatalf(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "bench/runtime: "+f+"\n", a...)
	os.Exit(1)
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// makeBundle writes an OCI bundle (busybox root, runc's default config
// running /bin/true without a terminal).
func makeBundle(bundle string) error {
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

func ctr(address string, args ...string) ([]byte, error) {
	return exec.Command("ctr", append([]string{"--address", address, "--namespace", "kbench"}, args...)...).CombinedOutput()
}

// importImage makes an OCI image archive holding the busybox layer and
// imports it with ctr.
func importImage(address, dir string, layer []byte) error {
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
			"annotations": map[string]string{"org.opencontainers.image.ref.name": "kiln.local/bench:1", "io.containerd.image.name": "kiln.local/bench:1"}}},
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
	if out, err := ctr(address, "images", "import", "--snapshotter", "overlayfs", p); err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}

func unmountUnder(dir string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var mps []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			mps = append(mps, f[4])
		}
	}
	for i := len(mps) - 1; i >= 0; i-- {
		_ = syscall.Unmount(mps[i], syscall.MNT_DETACH)
	}
}
