package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/kiln-dev/kiln/internal/image"
	"github.com/kiln-dev/kiln/internal/kiln"
)

func init() {
	register("images", command{summary: "base images: list | bootstrap minimal|debian-12 | import FILE | pull REF", run: runImages})
}

const imagesUsage = `usage:
  kiln images list      [--region R] [--data-dir DIR]
  kiln images bootstrap minimal   [--force] [--data-dir DIR]
  kiln images bootstrap debian-12 [--mirror URL] [--force] [--data-dir DIR]
  kiln images import FILE [--name N] [--description D] [--account-id ID] [--region R] [--public] [--platform os/arch] [--data-dir DIR]
  kiln images pull REF    [--name N] [--description D] [--account-id ID] [--region R] [--public] [--platform os/arch] [--insecure] [--data-dir DIR]

Quick-start images (bootstrap) belong to the "amazon" owner alias and appear in
every account and region. Imports and pulls become private images of one
account (default: the admin account) in one region (default: us-east-1).
FILE is an OCI image layout (directory or tar), a "docker save" archive or a
root-filesystem tarball, optionally gzip- or zstd-compressed.`

// parseMixed parses flags that may come before or after positional
// arguments and returns the positionals.
func parseMixed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func runImages(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stderr, imagesUsage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	sub, rest := args[0], args[1:]
	fs := flag.NewFlagSet("kiln images "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", kiln.DefaultDataDir(), "data directory")
	region := fs.String("region", "us-east-1", "region")
	force := fs.Bool("force", false, "build again even if the image exists")
	mirror := fs.String("mirror", image.DefaultMirror, "Debian mirror (bootstrap debian-12)")
	var iopts image.ImportOptions
	var insecure bool
	fs.StringVar(&iopts.Name, "name", "", "image name (default: from the file or reference)")
	fs.StringVar(&iopts.Description, "description", "", "image description")
	fs.StringVar(&iopts.Account, "account-id", "", "owner account (default: the admin account)")
	fs.BoolVar(&iopts.Public, "public", false, "make the image launchable by every account")
	fs.StringVar(&iopts.Platform, "platform", "linux/amd64", "platform to pick from a multi-platform image")
	fs.BoolVar(&insecure, "insecure", false, "allow a plain-HTTP registry (pull)")
	pos, err := parseMixed(fs, rest)
	if err != nil {
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "kiln images %s: %v\n", sub, err)
		return 1
	}
	k, err := kiln.Open(kiln.Options{DataDir: *dataDir})
	if err != nil {
		return fail(err)
	}
	defer k.Close()
	cat, _, err := k.Images()
	if err != nil {
		return fail(err)
	}
	tmp := filepath.Join(*dataDir, "tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return fail(err)
	}

	switch sub {
	case "list":
		return imagesList(ctx, cat, *region, stdout, fail)
	case "bootstrap":
		if len(pos) != 1 {
			fmt.Fprintln(stderr, "kiln images bootstrap: which image? minimal or debian-12")
			return 2
		}
		start := time.Now()
		var img image.Image
		var built bool
		switch pos[0] {
		case "minimal", "kiln-minimal":
			img, built, err = image.BuildMinimal(ctx, cat, image.MinimalOptions{Force: *force})
		case "debian-12", "debian", "bookworm":
			fmt.Fprintf(stdout, "bootstrapping debian-12 from %s (about a minute, ~200 MB)\n", *mirror)
			img, built, err = image.BuildDebian(ctx, cat, image.DebianOptions{Mirror: *mirror, Force: *force, TempDir: tmp, Progress: stdout})
		default:
			fmt.Fprintf(stderr, "kiln images bootstrap: unknown image %q (minimal or debian-12)\n", pos[0])
			return 2
		}
		if err != nil {
			return fail(err)
		}
		if !built {
			fmt.Fprintf(stdout, "%s is already there (built %s); use --force to build again\n", img.Name, img.Created.Format("2006-01-02"))
			return 0
		}
		fmt.Fprintf(stdout, "built %s in %s: layer %s (%s); every account sees it in every region (owner alias amazon)\n",
			img.Name, time.Since(start).Round(time.Millisecond), img.Layers[0].Digest, size(img.Layers[0].Size))
		return 0
	case "import", "pull":
		if len(pos) != 1 {
			fmt.Fprintf(stderr, "kiln images %s: exactly one %s\n", sub, map[string]string{"import": "FILE", "pull": "REF"}[sub])
			return 2
		}
		acct, err := ownerAccount(ctx, k, iopts.Account)
		if err != nil {
			return fail(err)
		}
		iopts.Account, iopts.Region, iopts.TempDir, iopts.Progress = acct, *region, tmp, stdout
		var img image.Image
		if sub == "import" {
			img, err = image.Import(ctx, cat, pos[0], iopts)
		} else {
			img, err = image.Pull(ctx, cat, pos[0], image.PullOptions{ImportOptions: iopts, Insecure: insecure})
		}
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "registered %s (%s) for account %s in %s, %d layer(s)\n", img.ID, img.Name, img.OwnerID, img.Region, len(img.Layers))
		return 0
	}
	fmt.Fprintf(stderr, "kiln images: unknown subcommand %q\n\n%s\n", sub, imagesUsage)
	return 2
}

// ownerAccount is the account an import belongs to: the one asked for
// (which must exist), else the admin account, else the first.
func ownerAccount(ctx context.Context, k *kiln.Kiln, want string) (string, error) {
	if want != "" {
		ok, err := k.Accounts.Exists(ctx, want)
		if err != nil {
			return "", err
		}
		if !ok {
			return "", fmt.Errorf("no account %s (kiln accounts list)", want)
		}
		return want, nil
	}
	if _, err := k.EnsureAdmin(ctx); err != nil {
		return "", err
	}
	accts, err := k.Accounts.List(ctx)
	if err != nil {
		return "", err
	}
	if len(accts) == 0 {
		return "", errors.New("no accounts")
	}
	for _, a := range accts {
		if a.Name == kiln.AdminProfile {
			return a.ID, nil
		}
	}
	return accts[0].ID, nil
}

func imagesList(ctx context.Context, cat *image.CatalogImpl, region string, stdout io.Writer, fail func(error) int) int {
	tpls, err := cat.QuickStarts(ctx)
	if err != nil {
		return fail(err)
	}
	if err := cat.EnsureQuickStart(ctx, region); err != nil {
		return fail(err)
	}
	imgs, err := cat.List(ctx, region)
	if err != nil {
		return fail(err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "QUICK-START IMAGE\tSIZE\tCREATED\tLAYER")
	for _, t := range tpls {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.Name, size(layersSize(t)), t.Created.Format("2006-01-02T15:04:05Z"), short(string(t.Layers[0].Digest)))
	}
	if len(tpls) == 0 {
		fmt.Fprintln(tw, "(none: kiln up builds kiln-minimal; kiln images bootstrap debian-12)")
	}
	tw.Flush()
	fmt.Fprintf(stdout, "\nimages registered in %s:\n", region)
	tw = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "IMAGE ID\tNAME\tOWNER\tPUBLIC\tSTATE\tSIZE\tSOURCE")
	for _, i := range imgs {
		owner := i.OwnerID
		if i.OwnerAlias != "" {
			owner = i.OwnerAlias
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\t%s\t%s\n", i.ID, i.Name, owner, i.Public, i.State, size(layersSize(i)), i.Source)
	}
	tw.Flush()
	if len(imgs) == 0 {
		fmt.Fprintln(stdout, "(none)")
	}
	return 0
}

func layersSize(i image.Image) int64 {
	var n int64
	for _, l := range i.Layers {
		n += l.Size
	}
	return n
}

func size(n int64) string {
	switch {
	case n >= 10<<20:
		return fmt.Sprintf("%d MB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KB", (n+1023)>>10)
}

func short(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}
