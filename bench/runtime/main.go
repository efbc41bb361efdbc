// Command runtime benchmarks kiln's containerd runtime against its anchors
// on the same machine in the same run: a raw `runc run` of an equivalent
// busybox bundle, `ctr run --rm` against the same containerd, then the
// Runtime's Create+Start (until PID 1 runs), sequential and 50 at once.
//
//	go run ./bench/runtime            (as root)
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/kiln-dev/kiln/bench/internal/anchor"
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

	fmt.Println("bench/runtime: busybox instance, median of", *n, "runs; load average", anchor.Loadavg())

	// Anchor 1: raw runc run of an equivalent bundle.
	runcRun, err := anchor.RuncRun(dir, *n)
	check(err)
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
			anchor.UnmountUnder(dir)
			os.RemoveAll(dir)
		} else {
			fmt.Println("kept", dir, "containerd pid", cpid)
		}
	}()

	// Anchor 2: ctr run --rm against the same containerd.
	if anchor.HaveCtr() {
		if err := anchor.ImportImage(r.Address(), dir, layerBytes); err != nil {
			fmt.Println("  ctr: image import failed:", err)
		} else {
			d, err := anchor.CtrRun(r.Address(), *n)
			check(err)
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

	if anchor.HaveCtr() {
		cwall, err := anchor.CtrConcurrent(r.Address(), *concurrent)
		fmt.Printf("  ctr run -d, %d concurrent:                wall %.0f ms, %.1f launches/s\n", *concurrent, ms(cwall), float64(*concurrent)/cwall.Seconds())
		if err != nil {
			fmt.Println("    ctr error:", err)
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

var (
	ms     = anchor.MS
	median = anchor.Median
)

func check(err error) {
	if err != nil {
		fatalf("%v", err)
	}
}

func fatalf(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "bench/runtime: "+f+"\n", a...)
	os.Exit(1)
}
