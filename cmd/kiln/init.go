package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/kiln-dev/kiln/internal/initd"
)

func init() {
	register("init", command{summary: "PID 1 inside instances (kiln's init)", run: runInit})
	register("poweroff", command{summary: "inside an instance: shut it down", run: func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
		return signalInit(initd.SignalPoweroff, "poweroff", stderr)
	}})
	register("reboot", command{summary: "inside an instance: reboot it", run: func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
		return signalInit(initd.SignalReboot, "reboot", stderr)
	}})
}

// runInit runs kiln's init. As PID 1 it is the instance's init; otherwise
// it only runs the boot sequence once when asked to with --once (for
// trying user data against a directory tree).
func runInit(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("kiln init", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", "/", "the instance's root filesystem")
	imdsURL := fs.String("imds", "http://169.254.169.254", "metadata service base URL")
	once := fs.Bool("once", false, "not PID 1: run the boot sequence once against --root and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	pid1 := os.Getpid() == 1
	if !pid1 && !*once {
		fmt.Fprintln(stderr, "kiln init: not PID 1; it is the init of kiln instances (use --once to run the boot sequence once)")
		return 2
	}
	if pid1 {
		// kiln's main cancels ctx on SIGTERM/SIGINT; the init handles
		// those signals itself, so it runs on its own context.
		ctx = context.Background()
	}
	return initd.Run(ctx, initd.Config{Root: *root, IMDS: *imdsURL, PID1: pid1, Console: stdout})
}

func signalInit(sig syscall.Signal, what string, stderr io.Writer) int {
	if err := syscall.Kill(1, sig); err != nil {
		fmt.Fprintf(stderr, "kiln %s: signalling PID 1: %v\n", what, err)
		return 1
	}
	return 0
}
