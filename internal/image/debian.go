package image

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kiln-dev/kiln/internal/blob"
)

// DebianPrefix starts the name of every debian-12 image.
const DebianPrefix = "debian-12-amd64-"

// DefaultMirror is the Debian mirror debootstrap downloads from.
const DefaultMirror = "http://deb.debian.org/debian"

// debianPackages are added to minbase so that user data can reach the
// metadata service (curl, with TLS roots) and inspect the network.
var debianPackages = []string{"curl", "ca-certificates", "iproute2"}

// DebianOptions configures BuildDebian.
type DebianOptions struct {
	Mirror      string // default DefaultMirror
	Force       bool   // build even when a debian-12 image exists
	TempDir     string // where the root filesystem is assembled (default: system temp dir)
	Debootstrap string // the debootstrap program (default: from PATH)
	Progress    io.Writer
}

func (o *DebianOptions) logf(format string, args ...any) {
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, format+"\n", args...)
	}
}

// BuildDebian builds the debian-12 quick-start image with debootstrap
// (minbase variant of bookworm plus curl, ca-certificates and iproute2)
// unless one exists (then it returns the newest; built reports which).
// It needs root and the mirror; it takes about a minute.
func BuildDebian(ctx context.Context, c *CatalogImpl, opts DebianOptions) (img Image, built bool, err error) {
	if !opts.Force {
		if img, err := c.LatestQuickStart(ctx, DebianPrefix); err == nil {
			return img, false, nil
		} else if !errors.Is(err, ErrNotFound) {
			return Image{}, false, err
		}
	}
	if c.local == nil {
		return Image{}, false, fmt.Errorf("%w: the catalog has no local layer store", ErrInvalid)
	}
	if opts.Mirror == "" {
		opts.Mirror = DefaultMirror
	}
	prog := opts.Debootstrap
	if prog == "" {
		if prog, err = exec.LookPath("debootstrap"); err != nil {
			return Image{}, false, errors.New("image: debootstrap not found; install Debian's debootstrap package (apt-get install debootstrap)")
		}
	}
	if os.Geteuid() != 0 && opts.Debootstrap == "" {
		return Image{}, false, errors.New("image: debootstrap must run as root")
	}
	tmp, err := os.MkdirTemp(opts.TempDir, "kiln-debootstrap-")
	if err != nil {
		return Image{}, false, err
	}
	defer removeTree(tmp, opts.logf)
	rootfs := filepath.Join(tmp, "rootfs")
	start := time.Now()
	args := []string{"--variant=minbase", "--include=" + strings.Join(debianPackages, ","), "bookworm", rootfs, opts.Mirror}
	opts.logf("debootstrap %s", strings.Join(args, " "))
	if err := runLogged(ctx, opts.Progress, prog, args...); err != nil {
		return Image{}, false, fmt.Errorf("image: debootstrap: %w", err)
	}
	opts.logf("debootstrap finished in %s", time.Since(start).Round(time.Second))
	if err := tidyDebian(rootfs); err != nil {
		return Image{}, false, err
	}
	opts.logf("storing the root filesystem")
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(TarDir(ctx, rootfs, pw)) }()
	desc, err := c.local.Put(ctx, pr, "")
	pr.CloseWithError(err)
	if err != nil {
		return Image{}, false, fmt.Errorf("image: storing debian-12: %w", err)
	}
	opts.logf("layer %s (%d MB)", desc.Digest, desc.Size>>20)
	now := c.clk.Now()
	img, err = c.AddQuickStart(ctx, Image{
		Name:        DebianPrefix + now.Format("20060102"),
		Description: "Debian 12 (bookworm) minbase with curl, ca-certificates and iproute2, built by debootstrap from " + opts.Mirror,
		Layers:      blob.Plain(desc),
		Init:        InitKiln,
		Created:     now,
		Source:      "quick-start:debootstrap:" + opts.Mirror,
	})
	return img, err == nil, err
}

// tidyDebian replaces host files debootstrap copies in (resolv.conf,
// hostname) with neutral ones and drops downloaded packages.
func tidyDebian(root string) error {
	for name, body := range map[string]string{
		"etc/resolv.conf": "# Written by kiln at launch.\n",
		"etc/hostname":    "localhost\n",
	} {
		p := filepath.Join(root, name)
		_ = os.Remove(p) // may be a symlink
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			return err
		}
	}
	debs, _ := filepath.Glob(filepath.Join(root, "var/cache/apt/archives/*.deb"))
	for _, d := range debs {
		_ = os.Remove(d)
	}
	return nil
}

// runLogged runs a program, passing its output on line by line.
func runLogged(ctx context.Context, progress io.Writer, prog string, args ...string) error {
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "DEBIAN_FRONTEND=noninteractive")
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	done := make(chan struct{})
	var tail []string
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			if progress != nil {
				fmt.Fprintln(progress, "  "+line)
			}
			tail = append(tail, line)
			if len(tail) > 5 {
				tail = tail[1:]
			}
		}
		io.Copy(io.Discard, pr)
	}()
	err := cmd.Run()
	pw.Close()
	<-done
	if err != nil && len(tail) > 0 {
		return fmt.Errorf("%w: %s", err, strings.Join(tail, " | "))
	}
	return err
}

// removeTree deletes a build directory after unmounting anything a failed
// debootstrap left mounted in it (proc, sys), so that removal never walks
// into a live filesystem.
func removeTree(dir string, logf func(string, ...any)) {
	mounts, _ := os.ReadFile("/proc/self/mounts")
	var under []string
	for _, line := range strings.Split(string(mounts), "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && strings.HasPrefix(f[1]+"/", dir+"/") {
			under = append(under, f[1])
		}
	}
	// Deepest first.
	for i := len(under) - 1; i >= 0; i-- {
		if err := unix.Unmount(under[i], unix.MNT_DETACH); err != nil {
			logf("leaving %s in place: cannot unmount %s: %v", dir, under[i], err)
			return
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		logf("removing %s: %v", dir, err)
	}
}
