// Package cli is the `kiln toe` command line: `run` and `validate` with
// the awstoe flags, the run folder (console.log, application.log,
// detailedoutput.json, chaining.json), terminal progress, S3 log upload
// and reboot-and-resume handling (state directory, boot trigger).
package cli

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/kiln-dev/kiln/internal/clock"
	"github.com/kiln-dev/kiln/internal/toe/action"
)

// Version is reported by --version.
const Version = "kiln-toe 1.0 (AWSTOE document schema 1.0)"

// Env holds the process-level dependencies; the zero value is the real
// system.
type Env struct {
	Clock clock.Clock
	// Root is the file-system root for boot triggers ("/" if empty).
	Root string
	// RebootCmd replaces the real reboot in tests.
	RebootCmd func(time.Duration) error
	// Argv is the command line re-run by the boot trigger (default
	// os.Args with the executable made absolute).
	Argv []string
	// Stdin is unused today; reserved for interactive prompts.
	Stdin io.Reader
}

// Main runs `kiln toe <args>` and returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return (&Env{}).Main(ctx, args, stdout, stderr)
}

// Main runs `kiln toe <args>` with this environment.
func (e *Env) Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if e.Clock == nil {
		e.Clock = clock.Real{}
	}
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "run":
		return e.run(ctx, args[1:], stdout, stderr)
	case "validate":
		return validate(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		usage(stdout)
		return 0
	case "-v", "--version", "version":
		fmt.Fprintln(stdout, Version)
		return 0
	}
	fmt.Fprintf(stderr, "kiln toe: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: kiln toe <command> [flags]

AWSTOE-compatible component runner.

commands:
  run       run documents:  kiln toe run --documents a.yml,b.yml [--phases build,validate]
            [--parameters k=v,...] [--execution-id ID] [--log-directory DIR]
            [--state-directory DIR] [--trace] [--config run.json] ...
  validate  validate documents:  kiln toe validate --documents a.yml,b.yml [--os linux|windows]
  version   print the version

Run 'kiln toe run -h' for every flag. See docs/toe.md.
`)
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func validate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("kiln toe validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var docs, owner, osName, endpoint, region string
	var trace bool
	stringFlag(fs, &docs, "documents", "d", "comma-separated documents: paths or s3:// URIs")
	fs.StringVar(&owner, "document-s3-bucket-owner", "", "expected owner of S3 documents")
	fs.StringVar(&osName, "os", "linux", "platform to validate for: linux, windows or macos")
	fs.StringVar(&endpoint, "s3-endpoint", "", "S3 endpoint URL")
	fs.StringVar(&region, "region", "", "AWS region for S3")
	boolFlag(fs, &trace, "trace", "t", "print the parsed structure of each document")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	refs := splitList(docs)
	if len(refs) == 0 {
		fmt.Fprintln(stderr, "kiln toe validate: --documents is required")
		return 2
	}
	l := &loader{owner: owner, os: osName, s3: s3Factory(endpoint, region)}
	failed := 0
	for _, ref := range refs {
		d, _, err := l.load(ctx, ref, "")
		if err != nil {
			failed++
			fmt.Fprintf(stdout, "Validation failed for %s:\n", ref)
			for _, line := range strings.Split(err.Error(), "\n") {
				fmt.Fprintf(stdout, "  %s\n", line)
			}
			continue
		}
		fmt.Fprintf(stdout, "Validation succeeded for %s (%s component, %d phase(s))\n", ref, d.ComponentType(), len(d.Phases))
		for _, w := range d.Warnings {
			fmt.Fprintf(stdout, "  warning: %s\n", w)
		}
		if trace {
			for _, p := range d.Phases {
				fmt.Fprintf(stdout, "  phase %s\n", p.Name)
				for _, s := range p.Steps {
					fmt.Fprintf(stdout, "    step %s: %s (line %d)\n", s.Name, s.Action, s.Line)
				}
			}
		}
	}
	if failed > 0 {
		return 1
	}
	return 0
}

func s3Factory(endpoint, region string) func(ctx context.Context) (action.S3API, error) {
	return func(ctx context.Context) (action.S3API, error) {
		return action.NewS3Client(ctx, endpoint, region)
	}
}
