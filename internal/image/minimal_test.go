package image_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/image"
)

func needBusybox(t *testing.T) string {
	t.Helper()
	bb, err := image.FindBusybox()
	if errors.Is(err, image.ErrNoBusybox) {
		t.Skipf("precondition: a static busybox (apt-get install busybox-static): %v", err)
	} else if err != nil {
		t.Fatal(err)
	}
	return bb
}

func TestBuildMinimal(t *testing.T) {
	bb := needBusybox(t)
	ctx := context.Background()
	f := newFixture(t)
	start := time.Now()
	img, built, err := image.BuildMinimal(ctx, f.c, image.MinimalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kiln-minimal built in %v: %s (%d bytes)", time.Since(start), img.Layers[0].Digest, img.Layers[0].Size)
	if !built || img.Name != "kiln-minimal-20261105" || img.OwnerAlias != "amazon" || !img.Public || img.Init != image.InitKiln || img.RootSizeGiB != 8 {
		t.Fatalf("image = %+v built=%v", img, built)
	}
	// Cached: the second call builds nothing.
	img2, built, err := image.BuildMinimal(ctx, f.c, image.MinimalOptions{})
	if err != nil || built || img2.Name != img.Name {
		t.Fatalf("second BuildMinimal = %s built=%v err=%v", img2.Name, built, err)
	}
	// Deterministic: a forced rebuild (another day) has the same layer.
	f.clk.Advance(48 * time.Hour)
	img3, built, err := image.BuildMinimal(ctx, f.c, image.MinimalOptions{Force: true})
	if err != nil || !built {
		t.Fatal(err)
	}
	if img3.Layers[0] != img.Layers[0] || img3.Name != "kiln-minimal-20261107" {
		t.Fatalf("rebuild = %s %v, want the same layer as %v", img3.Name, img3.Layers[0], img.Layers[0])
	}
	var a, b bytes.Buffer
	if err := image.MinimalLayer(ctx, bb, &a); err != nil {
		t.Fatal(err)
	}
	if err := image.MinimalLayer(ctx, bb, &b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("two builds differ")
	}

	// Contents.
	rc, err := f.local.Open(ctx, img.Layers[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	got := map[string]*tar.Header{}
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got[strings.TrimSuffix(h.Name, "/")] = h
		names = append(names, h.Name)
		if h.Uid != 0 || h.Gid != 0 || !h.ModTime.Equal(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("%s: uid %d gid %d mtime %v", h.Name, h.Uid, h.Gid, h.ModTime)
		}
	}
	for i := 1; i < len(names); i++ {
		if names[i-1] >= names[i] {
			t.Fatalf("entries not sorted: %s before %s", names[i-1], names[i])
		}
	}
	for _, applet := range []string{"bin/sh", "usr/bin/wget", "bin/hostname", "sbin/ip", "usr/sbin/httpd", "bin/nc", "usr/bin/nc", "sbin/udhcpc", "usr/sbin/crond"} {
		if h, ok := got[applet]; ok {
			if h.Typeflag != tar.TypeSymlink || h.Linkname != "/bin/busybox" {
				t.Errorf("%s: %+v", applet, h)
			}
		} else if applet != "bin/nc" && applet != "usr/bin/nc" {
			t.Errorf("applet %s missing", applet)
		}
	}
	if got["bin/nc"] == nil && got["usr/bin/nc"] == nil {
		t.Error("nc missing")
	}
	if h := got["bin/busybox"]; h == nil || h.Typeflag != tar.TypeReg || h.Mode&0o111 == 0 {
		t.Errorf("bin/busybox: %+v", h)
	}
	if h := got["tmp"]; h == nil || h.Mode != 0o1777 {
		t.Errorf("tmp: %+v", h)
	}
	for _, p := range []string{"etc/passwd", "etc/group", "etc/hosts", "etc/resolv.conf", "etc/os-release", "root", "var/log", "var/lib", "usr/bin", "sbin", "proc", "sys", "dev", "run"} {
		if got[p] == nil {
			t.Errorf("%s missing", p)
		}
	}
	// The quick-start image appears in every region.
	vis, err := f.c.Visible(ctx, alice, "sa-east-1")
	if err != nil || len(vis) != 2 {
		t.Fatalf("Visible in sa-east-1 = %d images, %v", len(vis), err)
	}
}

func TestFindBusyboxMessage(t *testing.T) {
	_, _, err := image.BuildMinimal(context.Background(), newFixture(t).c, image.MinimalOptions{Busybox: "/nonexistent/busybox"})
	if err == nil || !strings.Contains(err.Error(), "busybox") {
		t.Fatalf("err = %v", err)
	}
}
