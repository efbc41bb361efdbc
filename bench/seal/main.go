// Command seal benchmarks encryption at rest (internal/seal) for what
// CopyImage and CopySnapshot do to a 1 GiB layer, against `cp` of the same
// file on the same filesystem in the same run: Put into a disk blob store
// plain and sealed, Copy between two disk stores plain → plain, plain →
// sealed and sealed → sealed (re-encrypted under another key), and reading
// a sealed layer back (OpenLayer to /dev/null). It prints MB/s, the ratio
// to cp and the process's peak RSS.
//
//	go run ./bench/seal [-size bytes] [-dir scratch] [-n runs] [-cpuprofile f]
//
// Targets (CopyImage of a 1 GB image): ≥ 50% of cp unencrypted, ≥ 30%
// encrypted. Every timed step starts after a sync(2), so that writeback
// left by the previous step is not charged to it; cp is timed without
// fsync and with an fsync of the copy: the blob store fsyncs before it
// commits, so targets are judged against cp + fsync (a bare cp of 1 GiB on
// a machine with enough memory may never touch the disk).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kiln-dev/kiln/bench/internal/anchor"
	"github.com/kiln-dev/kiln/internal/blob"
	"github.com/kiln-dev/kiln/internal/blob/disk"
	"github.com/kiln-dev/kiln/internal/seal"
	"github.com/kiln-dev/kiln/internal/seal/sealtest"
)

func main() {
	size := flag.Int64("size", 1<<30, "layer size in bytes")
	dir := flag.String("dir", "", "scratch directory (default: a temp dir under bench/ on the repository's filesystem)")
	runs := flag.Int("n", 3, "runs of each step (the median is reported)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the kiln steps to this file")
	flag.Parse()
	ctx := context.Background()

	base := *dir
	if base == "" {
		base = "bench"
		if _, err := os.Stat(base); err != nil {
			base = os.TempDir()
		}
	}
	tmp, err := os.MkdirTemp(base, ".sealbench.")
	check(err)
	defer os.RemoveAll(tmp)

	src := filepath.Join(tmp, "layer.tar")
	writeRandom(src, *size)
	stores := map[string]*disk.Store{}
	for _, n := range []string{"us-east-1", "eu-west-1"} {
		s, err := disk.New(filepath.Join(tmp, "blobs", n))
		check(err)
		stores[n] = s
	}
	east, west := stores["us-east-1"], stores["eu-west-1"]
	krEast := sealtest.New("arn:aws:kms:us-east-1:123456789012:key/bench-east")
	krWest := sealtest.New("arn:aws:kms:eu-west-1:123456789012:key/bench-west")

	cpDst := filepath.Join(tmp, "layer.cp")
	var childCPU time.Duration // cp's CPU time
	cp := func(fsync bool) func() {
		return func() {
			cmd := exec.Command("cp", src, cpDst)
			out, err := cmd.CombinedOutput()
			check(err, string(out))
			childCPU += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
			if fsync {
				f, err := os.Open(cpDst)
				check(err)
				check(f.Sync())
				check(f.Close())
			}
		}
	}
	putFile := func(s blob.Store, kr seal.Keyring) blob.Layer {
		f, err := os.Open(src)
		check(err)
		defer f.Close()
		l, err := seal.Put(ctx, s, f, "", kr)
		check(err)
		return l
	}
	var plain, sealed, copied blob.Layer
	drop := func(s blob.Store, l *blob.Layer) func() {
		return func() {
			if l.Digest != "" {
				_ = s.Delete(ctx, l.Stored().Digest)
			}
		}
	}
	copyOf := func(from *blob.Layer, srcKr, dstKr seal.Keyring) func() {
		return func() {
			var err error
			copied, err = seal.Copy(ctx, east, west, *from, srcKr, dstKr)
			check(err)
		}
	}
	steps := []struct {
		name       string
		target     int // % of cp+fsync; 0 = none
		kiln       bool
		setup, run func()
		teardown   func()
	}{
		{name: "cp", run: cp(false), teardown: func() { os.Remove(cpDst) }},
		{name: "cp + fsync (anchor)", run: cp(true), teardown: func() { os.Remove(cpDst) }},
		{name: "Put plain (disk store)", target: 50, kiln: true, setup: drop(east, &plain), run: func() { plain = putFile(east, nil) }},
		{name: "Put sealed", target: 30, kiln: true, setup: drop(east, &sealed), run: func() { sealed = putFile(east, krEast) }},
		{name: "Copy plain -> plain (two disk stores)", target: 50, kiln: true, run: copyOf(&plain, nil, nil), teardown: drop(west, &copied)},
		{name: "Copy plain -> sealed", target: 30, kiln: true, run: copyOf(&plain, nil, krWest), teardown: drop(west, &copied)},
		{name: "Copy sealed -> sealed (re-encrypt)", target: 30, kiln: true, run: copyOf(&sealed, krEast, krWest), teardown: drop(west, &copied)},
		{name: "OpenLayer sealed -> /dev/null", kiln: true, run: func() {
			rc, err := seal.OpenLayer(ctx, east, sealed, krEast)
			check(err)
			_, err = io.Copy(io.Discard, rc)
			check(err)
			check(rc.Close())
		}},
	}

	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		check(err)
		check(pprof.StartCPUProfile(f))
		defer pprof.StopCPUProfile()
	}
	// Runs are interleaved (every step once, then again) so that a change
	// of load on this shared machine hits anchors and kiln alike.
	durs := make([][]time.Duration, len(steps))
	cpus := make([][]time.Duration, len(steps))
	for range *runs {
		for i, st := range steps {
			if st.setup != nil {
				st.setup()
			}
			syscall.Sync()
			childCPU = 0
			c0 := selfCPU()
			t0 := time.Now()
			st.run()
			durs[i] = append(durs[i], time.Since(t0))
			cpus[i] = append(cpus[i], selfCPU()-c0+childCPU)
			if st.teardown != nil {
				st.teardown()
			}
		}
	}
	pprof.StopCPUProfile()
	median := func(ds []time.Duration) time.Duration {
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	med := make([]time.Duration, len(steps))
	for i := range durs {
		med[i] = median(durs[i])
	}

	mbps := func(d time.Duration) float64 { return float64(*size) / d.Seconds() / 1e6 }
	cpDur, anchorDur := med[0], med[1]
	fmt.Printf("\nseal: %d MiB layer, scratch %s, load %s, median of %d\n", *size>>20, tmp, anchor.Loadavg(), *runs)
	fmt.Printf("%-40s %7s  %8s  %12s  %9s\n", "", "MB/s", "% of cp", "% of cp+fsync", "CPU s/GiB")
	for i, st := range steps {
		verdict := ""
		if st.target > 0 {
			verdict = fmt.Sprintf("(target >= %d%%) ", st.target)
			if anchorDur.Seconds()/med[i].Seconds() >= float64(st.target)/100 {
				verdict += "ok"
			} else {
				verdict += "MISSED"
			}
		}
		fmt.Printf("%-40s %7.0f  %7.0f%%  %12.0f%%  %9.2f  %s\n", st.name, mbps(med[i]),
			100*cpDur.Seconds()/med[i].Seconds(), 100*anchorDur.Seconds()/med[i].Seconds(),
			median(cpus[i]).Seconds()/(float64(*size)/(1<<30)), verdict)
	}
	fmt.Printf("%-40s %7.1f MB (ciphertext overhead %.3f%%)\n", "peak RSS (VmHWM)", vmHWM(), 100*float64(sealed.Sealed.Size-sealed.Size)/float64(sealed.Size))
}

// selfCPU is the user+system CPU time of this process so far (all threads).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	check(syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// vmHWM is the process's peak resident set in MB.
func vmHWM() float64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}

// writeRandom writes size incompressible bytes to path.
func writeRandom(path string, size int64) {
	f, err := os.Create(path)
	check(err)
	r := rand.NewChaCha8([32]byte{1})
	buf := make([]byte, 4<<20)
	for left := size; left > 0; left -= int64(len(buf)) {
		c := buf[:min(int64(len(buf)), left)]
		_, _ = r.Read(c)
		_, err := f.Write(c)
		check(err)
	}
	check(f.Sync())
	check(f.Close())
}

func check(err error, ctx ...string) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "sealbench: %v %s\n", err, strings.Join(ctx, " "))
		os.Exit(1)
	}
}
