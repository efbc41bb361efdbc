package main

import (
	"context"
	"io"

	"github.com/kiln-dev/kiln/internal/toe/cli"
)

func init() {
	register("toe", command{summary: "run or validate AWSTOE component documents", run: runToe})
}

// runToe delegates `kiln toe …` to the AWSTOE-compatible runner.
func runToe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return cli.Main(ctx, args, stdout, stderr)
}
