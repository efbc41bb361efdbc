// Command toemain is a stand-alone `kiln toe` used by tests that run
// documents inside a chroot (built with CGO_ENABLED=0, so it runs in a
// busybox root without a C library). It behaves like `kiln toe <args>`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/kiln-dev/kiln/internal/toe/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
