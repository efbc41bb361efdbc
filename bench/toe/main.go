// Command toebench measures the AWSTOE runner against its performance
// targets in one run on this machine: per-step ExecuteBash overhead versus
// a bare `bash -c true` fork/exec, a 1,000-step document end to end
// through `kiln toe run`, and parsing/validating a 100-step document.
//
//	go run ./bench/toe [-steps 1000] [-bare 300] [-cpuprofile f]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	osexec "os/exec"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/kiln-dev/kiln/internal/toe/cli"
	"github.com/kiln-dev/kiln/internal/toe/document"
)

func genDoc(steps int) string {
	var b strings.Builder
	b.WriteString("name: bench\nschemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n")
	for i := 0; i < steps; i++ {
		fmt.Fprintf(&b, "      - name: Step%d\n        action: ExecuteBash\n        inputs:\n          commands:\n            - 'true'\n", i)
	}
	return b.String()
}

func main() {
	steps := flag.Int("steps", 1000, "steps in the end-to-end document")
	bare := flag.Int("bare", 300, "bare bash -c true executions")
	prof := flag.String("cpuprofile", "", "write a CPU profile of the end-to-end run")
	flag.Parse()

	bash, err := osexec.LookPath("bash")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bash is required:", err)
		os.Exit(1)
	}
	dir, err := os.MkdirTemp("", "toebench-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	// 1. Bare fork/exec of bash -c true.
	start := time.Now()
	for i := 0; i < *bare; i++ {
		if err := osexec.Command(bash, "-c", "true").Run(); err != nil {
			panic(err)
		}
	}
	barePer := time.Since(start) / time.Duration(*bare)

	// 2. A document of N ExecuteBash `true` steps through the CLI.
	docPath := filepath.Join(dir, "steps.yml")
	if err := os.WriteFile(docPath, []byte(genDoc(*steps)), 0o644); err != nil {
		panic(err)
	}
	if *prof != "" {
		f, _ := os.Create(*prof)
		pprof.StartCPUProfile(f)
	}
	start = time.Now()
	code := cli.Main(context.Background(), []string{"run", "--documents", docPath, "--log-directory", dir,
		"--state-directory", filepath.Join(dir, "state")}, io.Discard, os.Stderr)
	total := time.Since(start)
	if *prof != "" {
		pprof.StopCPUProfile()
	}
	if code != 0 {
		fmt.Fprintln(os.Stderr, "run failed with exit code", code)
		os.Exit(1)
	}
	stepPer := total / time.Duration(*steps)

	// 3. Parse and validate a 100-step document.
	doc100 := []byte(genDoc(100))
	n := 200
	start = time.Now()
	for i := 0; i < n; i++ {
		if _, err := document.Parse("bench.yml", doc100, document.Options{}); err != nil {
			panic(err)
		}
	}
	parsePer := time.Since(start) / time.Duration(n)

	ratio := float64(stepPer) / float64(barePer)
	verdict := func(ok bool) string {
		if ok {
			return "ok"
		}
		return "OVER TARGET"
	}
	fmt.Printf("bare bash -c true:            %8.2f ms per exec (n=%d)\n", ms(barePer), *bare)
	fmt.Printf("ExecuteBash true per step:    %8.2f ms per step (n=%d)\n", ms(stepPer), *steps)
	fmt.Printf("per-step ratio vs bare:       %8.2fx   (target <= 2x)  %s\n", ratio, verdict(ratio <= 2))
	fmt.Printf("%d-step document:           %8.2f s      (target < 5 s) %s\n", *steps, total.Seconds(), verdict(total < 5*time.Second))
	fmt.Printf("parse+validate 100 steps:     %8.3f ms     (target < 5 ms) %s\n", ms(parsePer), verdict(parsePer < 5*time.Millisecond))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
