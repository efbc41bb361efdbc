package image

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"strings"

	"github.com/kiln-dev/kiln/internal/blob"
)

// MinimalPrefix starts the name of every kiln-minimal image.
const MinimalPrefix = "kiln-minimal-"

// busyboxPaths are where Debian's busybox-static installs busybox.
var busyboxPaths = []string{"/bin/busybox", "/usr/bin/busybox"}

// MinimalOptions configures BuildMinimal.
type MinimalOptions struct {
	// Busybox is the static busybox binary (default: /bin/busybox, then
	// /usr/bin/busybox).
	Busybox string
	// Force builds even when a kiln-minimal image exists.
	Force bool
}

// ErrNoBusybox: the static busybox kiln-minimal is built from is missing.
var ErrNoBusybox = errors.New("image: kiln-minimal needs a static busybox")

// FindBusybox returns the busybox binary to build kiln-minimal from.
func FindBusybox() (string, error) {
	for _, p := range busyboxPaths {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w at %s; install Debian's busybox-static package (apt-get install busybox-static)", ErrNoBusybox, strings.Join(busyboxPaths, " or "))
}

// BuildMinimal builds the kiln-minimal quick-start image from the local
// static busybox, with no network, unless one exists already (then it
// returns the newest; built reports which). The root filesystem is one
// deterministic layer: the same busybox gives the same digest.
func BuildMinimal(ctx context.Context, c *CatalogImpl, opts MinimalOptions) (img Image, built bool, err error) {
	if !opts.Force {
		if img, err := c.LatestQuickStart(ctx, MinimalPrefix); err == nil {
			return img, false, nil
		} else if !errors.Is(err, ErrNotFound) {
			return Image{}, false, err
		}
	}
	if c.local == nil {
		return Image{}, false, fmt.Errorf("%w: the catalog has no local layer store", ErrInvalid)
	}
	bb := opts.Busybox
	if bb == "" {
		if bb, err = FindBusybox(); err != nil {
			return Image{}, false, err
		}
	}
	entries, err := minimalEntries(ctx, bb)
	if err != nil {
		return Image{}, false, err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeTar(pw, entries)) }()
	desc, err := c.local.Put(ctx, pr, "")
	pr.CloseWithError(err)
	if err != nil {
		return Image{}, false, fmt.Errorf("image: storing kiln-minimal: %w", err)
	}
	now := c.clk.Now()
	img, err = c.AddQuickStart(ctx, Image{
		Name:        MinimalPrefix + now.Format("20060102"),
		Description: "kiln minimal: busybox root filesystem (sh, wget, nc, httpd, ip, udhcpc, …)",
		Layers:      blob.Plain(desc),
		Init:        InitKiln,
		Created:     now,
		Source:      "quick-start:busybox:" + bb,
	})
	return img, err == nil, err
}

// MinimalLayer writes kiln-minimal's root filesystem tarball to w (what
// BuildMinimal stores), for inspection and tests.
func MinimalLayer(ctx context.Context, busybox string, w io.Writer) error {
	entries, err := minimalEntries(ctx, busybox)
	if err != nil {
		return err
	}
	return writeTar(w, entries)
}

// minimalEntries lays out the root filesystem: the standard directories, a
// few /etc files, /bin/busybox and one symlink per applet (what
// `busybox --install -s` would create).
func minimalEntries(ctx context.Context, bb string) ([]entry, error) {
	fi, err := os.Stat(bb)
	if err != nil {
		return nil, fmt.Errorf("image: busybox: %w", err)
	}
	out, err := exec.CommandContext(ctx, bb, "--list-full").Output()
	if err != nil {
		return nil, fmt.Errorf("image: %s --list-full: %w (is it Debian's busybox-static?)", bb, err)
	}
	var es []entry
	dirs := map[string]bool{}
	dir := func(name string, mode int64) {
		if !dirs[name] {
			dirs[name] = true
			es = append(es, entry{name: name, typ: tar.TypeDir, mode: mode})
		}
	}
	for _, d := range []string{"bin", "dev", "etc", "proc", "run", "sbin", "sys", "usr", "usr/bin", "usr/sbin", "var", "var/lib", "var/log", "var/spool", "var/spool/cron", "var/www", "home", "mnt", "opt"} {
		dir(d, 0o755)
	}
	dir("root", 0o700)
	dir("tmp", 0o1777)
	dir("var/tmp", 0o1777)
	file := func(name, body string, mode int64) {
		es = append(es, entry{name: name, typ: tar.TypeReg, mode: mode, body: []byte(body)})
	}
	file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nwww-data:x:33:33:www-data:/var/www:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n", 0o644)
	file("etc/group", "root:x:0:\ndaemon:x:1:\nwww-data:x:33:\nnogroup:x:65534:\n", 0o644)
	file("etc/shadow", "root:*:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\nwww-data:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n", 0o640)
	file("etc/hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n", 0o644)
	file("etc/resolv.conf", "# Written by kiln at launch.\n", 0o644)
	file("etc/hostname", "localhost\n", 0o644)
	file("etc/shells", "/bin/sh\n/bin/ash\n", 0o644)
	file("etc/profile", "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nexport PS1='\\u@\\h:\\w\\$ '\n", 0o644)
	file("etc/os-release", "NAME=\"kiln minimal\"\nPRETTY_NAME=\"kiln minimal (busybox)\"\nID=kiln-minimal\nID_LIKE=busybox\nHOME_URL=\"https://github.com/kiln-dev/kiln\"\n", 0o644)
	es = append(es, entry{name: "bin/busybox", typ: tar.TypeReg, mode: 0o755, size: fi.Size(), open: func() (io.ReadCloser, error) {
		f, err := os.Open(bb)
		if err != nil {
			return nil, err
		}
		// The size was taken earlier: refuse a binary that changed since.
		if st, err := f.Stat(); err != nil || st.Size() != fi.Size() {
			f.Close()
			return nil, fmt.Errorf("image: %s changed while building", bb)
		}
		return f, nil
	}})
	seen := map[string]bool{"bin/busybox": true}
	for _, line := range bytes.Split(out, []byte("\n")) {
		name := path.Clean(strings.TrimPrefix(strings.TrimSpace(string(line)), "/"))
		if name == "." || name == "" || seen[name] || strings.HasPrefix(name, "..") {
			continue
		}
		seen[name] = true
		for d := path.Dir(name); d != "."; d = path.Dir(d) {
			dir(d, 0o755)
		}
		es = append(es, entry{name: name, typ: tar.TypeSymlink, mode: 0o777, linkname: "/bin/busybox"})
	}
	return es, nil
}
