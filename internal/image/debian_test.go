package image_test

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/image"
)

// fakeDebootstrap creates a tiny root filesystem where debootstrap would
// (its second-to-last argument) and prints debootstrap-like progress.
const fakeDebootstrap = `#!/bin/sh
set -e
for a in "$@"; do prev2=$prev; prev=$a; done
target=$prev2
echo "I: Retrieving InRelease"
mkdir -p "$target/etc" "$target/bin" "$target/usr/bin" "$target/var/cache/apt/archives"
echo 'ID=debian' > "$target/etc/os-release"
echo 'VERSION_ID="12"' >> "$target/etc/os-release"
echo 'nameserver 10.0.0.1' > "$target/etc/resolv.conf"
echo 'buildhost' > "$target/etc/hostname"
echo 'binary' > "$target/usr/bin/curl"
chmod 755 "$target/usr/bin/curl"
ln "$target/usr/bin/curl" "$target/usr/bin/curl-hardlink"
ln -s /usr/bin/curl "$target/bin/curl"
touch "$target/var/cache/apt/archives/curl.deb"
echo "args: $*"
echo "I: Base system installed successfully."
`

func TestBuildDebianWithFakeDebootstrap(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	prog := filepath.Join(t.TempDir(), "debootstrap")
	if err := os.WriteFile(prog, []byte(fakeDebootstrap), 0o755); err != nil {
		t.Fatal(err)
	}
	var progress bytes.Buffer
	tmp := t.TempDir()
	img, built, err := image.BuildDebian(ctx, f.c, image.DebianOptions{Debootstrap: prog, TempDir: tmp, Progress: &progress, Mirror: "http://mirror.example/debian"})
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	if !built || img.Name != "debian-12-amd64-20261105" || img.OwnerAlias != "amazon" || !img.Public {
		t.Fatalf("image = %+v", img)
	}
	out := progress.String()
	for _, want := range []string{"--variant=minbase", "--include=curl,ca-certificates,iproute2", "bookworm", "http://mirror.example/debian", "I: Base system installed successfully."} {
		if !strings.Contains(out, want) {
			t.Errorf("progress lacks %q:\n%s", want, out)
		}
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("build directory left behind: %v", ents)
	}
	rc, err := f.local.Open(ctx, img.Layers[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got := map[string]*tar.Header{}
	bodies := map[string]string{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got[h.Name] = h
		b, _ := io.ReadAll(tr)
		bodies[h.Name] = string(b)
	}
	if !strings.Contains(bodies["etc/os-release"], "ID=debian") {
		t.Errorf("os-release = %q", bodies["etc/os-release"])
	}
	if strings.Contains(bodies["etc/resolv.conf"], "10.0.0.1") || bodies["etc/hostname"] != "localhost\n" {
		t.Errorf("host files kept: resolv.conf %q hostname %q", bodies["etc/resolv.conf"], bodies["etc/hostname"])
	}
	if h := got["bin/curl"]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "/usr/bin/curl" {
		t.Errorf("bin/curl = %+v", h)
	}
	if h := got["usr/bin/curl-hardlink"]; h == nil || h.Typeflag != tar.TypeLink || h.Linkname != "usr/bin/curl" {
		t.Errorf("hard link = %+v", h)
	}
	if h := got["etc/"]; h == nil || h.Typeflag != tar.TypeDir {
		t.Errorf("etc/ = %+v", h)
	}
	if _, ok := got["var/cache/apt/archives/curl.deb"]; ok {
		t.Error("downloaded packages kept")
	}
	// Cached.
	var again bytes.Buffer
	img2, built, err := image.BuildDebian(ctx, f.c, image.DebianOptions{Debootstrap: prog, Progress: &again})
	if err != nil || built || img2.Name != img.Name || again.Len() != 0 {
		t.Fatalf("second build: built=%v err=%v progress=%q", built, err, again.String())
	}
	// Visible as a quick-start image.
	vis, _ := f.c.Visible(ctx, bob, "us-west-2")
	if len(vis) != 1 || vis[0].Name != img.Name {
		t.Fatalf("visible = %+v", vis)
	}
}

func TestBuildDebianFailure(t *testing.T) {
	f := newFixture(t)
	prog := filepath.Join(t.TempDir(), "debootstrap")
	os.WriteFile(prog, []byte("#!/bin/sh\necho 'E: Failed getting release file'\nexit 1\n"), 0o755)
	tmp := t.TempDir()
	_, _, err := image.BuildDebian(context.Background(), f.c, image.DebianOptions{Debootstrap: prog, TempDir: tmp})
	if err == nil || !strings.Contains(err.Error(), "Failed getting release file") {
		t.Fatalf("err = %v", err)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("build directory left behind: %v", ents)
	}
	if _, err := f.c.LatestQuickStart(context.Background(), image.DebianPrefix); err == nil {
		t.Error("a failed build registered an image")
	}
}

// TestBuildDebianReal runs the real debootstrap against the Debian mirror:
// about 70 s and 200 MB, as root, with network access.
func TestBuildDebianReal(t *testing.T) {
	if os.Getenv("KILN_TEST_DEBOOTSTRAP") != "1" {
		t.Skip("opt-in: set KILN_TEST_DEBOOTSTRAP=1 to run the real debootstrap (~70 s, ~200 MB, needs root and the Debian mirror)")
	}
	if os.Geteuid() != 0 {
		t.Skip("debootstrap needs root")
	}
	ctx := context.Background()
	f := newFixture(t)
	start := time.Now()
	img, built, err := image.BuildDebian(ctx, f.c, image.DebianOptions{TempDir: t.TempDir(), Mirror: os.Getenv("KILN_TEST_DEBIAN_MIRROR"), Progress: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("debian-12 built in %s: %s, %d MB", time.Since(start).Round(time.Second), img.Layers[0].Digest, img.Layers[0].Size>>20)
	if !built {
		t.Fatal("not built")
	}
	rc, err := f.local.Open(ctx, img.Layers[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	need := map[string]bool{"usr/bin/curl": false, "bin/bash": false, "usr/bin/bash": false, "etc/os-release": false, "usr/lib/os-release": false, "usr/sbin/ip": false, "sbin/ip": false, "bin/ip": false}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := need[h.Name]; ok {
			need[h.Name] = true
		}
	}
	if !need["usr/bin/curl"] || !(need["bin/bash"] || need["usr/bin/bash"]) || !(need["usr/sbin/ip"] || need["sbin/ip"] || need["bin/ip"]) {
		t.Fatalf("missing files: %v", need)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
