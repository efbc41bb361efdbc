package image_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/kiln-dev/kiln/internal/blob"
	"github.com/kiln-dev/kiln/internal/image"
)

// testImage is a random two-layer image with an architecture and PATH.
func testImage(t *testing.T, arch string) v1.Image {
	t.Helper()
	img, err := random.Image(4096, 2)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", arch
	cfg.Config.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"}
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// checkLayers verifies the imported image's layers are the source's
// uncompressed layers, stored in the region.
func checkLayers(t *testing.T, f *fixture, got image.Image, src v1.Image) {
	t.Helper()
	ls, err := src.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Layers) != len(ls) {
		t.Fatalf("%d layers, want %d", len(got.Layers), len(ls))
	}
	store, _ := f.regions.Region(got.Region)
	for i, l := range ls {
		diff, _ := l.DiffID()
		if string(got.Layers[i].Digest) != diff.String() {
			t.Fatalf("layer %d = %s, want %s", i, got.Layers[i].Digest, diff)
		}
		rc, err := store.Open(context.Background(), got.Layers[i].Digest)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			t.Fatal(err)
		}
		rc.Close()
	}
	if got.Architecture != "x86_64" || got.Env[0] != "PATH=/usr/local/bin:/usr/bin:/bin" || got.OwnerID != alice || got.Init != image.InitKiln {
		t.Fatalf("image = %+v", got)
	}
	// Nothing else is left in the region's store (no staging archives).
	n := 0
	_ = store.Walk(context.Background(), func(blob.Desc) error { n++; return nil })
	if n != len(ls) {
		t.Fatalf("region store holds %d blobs, want %d", n, len(ls))
	}
}

func opts(name string) image.ImportOptions {
	return image.ImportOptions{Name: name, Account: alice, Region: "us-east-1"}
}

func writeOCILayout(t *testing.T, dir string, imgs map[string]v1.Image) {
	t.Helper()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	for arch, img := range imgs {
		if err := p.AppendImage(img, layout.WithPlatform(v1.Platform{OS: "linux", Architecture: arch})); err != nil {
			t.Fatal(err)
		}
	}
}

// tarDir archives a directory (for an OCI layout as a tar).
func tarDir(t *testing.T, dir, out string) {
	t.Helper()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	err = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		h, _ := tar.FileInfoHeader(fi, "")
		h.Name = filepath.ToSlash(rel)
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			_, err = tw.Write(b)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

func compress(t *testing.T, src, dst, kind string) {
	t.Helper()
	in, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	switch kind {
	case "gz":
		w := gzip.NewWriter(&buf)
		w.Write(in)
		w.Close()
	case "zst":
		w, _ := zstd.NewWriter(&buf)
		w.Write(in)
		w.Close()
	}
	if err := os.WriteFile(dst, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestImportOCILayout(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	amd, arm := testImage(t, "amd64"), testImage(t, "arm64")
	dir := filepath.Join(t.TempDir(), "layout")
	writeOCILayout(t, dir, map[string]v1.Image{"amd64": amd, "arm64": arm})

	got, err := image.Import(ctx, f.c, dir, opts("from-dir"))
	if err != nil {
		t.Fatal(err)
	}
	checkLayers(t, f, got, amd) // linux/amd64 picked from the index

	f2 := newFixture(t)
	tarPath := filepath.Join(t.TempDir(), "layout.tar")
	tarDir(t, dir, tarPath)
	got, err = image.Import(ctx, f2.c, tarPath, opts("from-tar"))
	if err != nil {
		t.Fatal(err)
	}
	checkLayers(t, f2, got, amd)

	f3 := newFixture(t)
	compress(t, tarPath, tarPath+".zst", "zst")
	got, err = image.Import(ctx, f3.c, tarPath+".zst", image.ImportOptions{Account: alice, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	checkLayers(t, f3, got, amd)
	if got.Name != "layout" {
		t.Errorf("default name = %q", got.Name)
	}
}

func TestImportDockerSave(t *testing.T) {
	ctx := context.Background()
	img := testImage(t, "amd64")
	p := filepath.Join(t.TempDir(), "web.tar")
	if err := tarball.WriteToFile(p, mustTag(t, "example.com/web:1.0"), img); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"", "gz"} {
		t.Run("compression="+kind, func(t *testing.T) {
			f := newFixture(t)
			file := p
			if kind != "" {
				file = p + "." + kind
				compress(t, p, file, kind)
			}
			got, err := image.Import(ctx, f.c, file, opts("docker-web"))
			if err != nil {
				t.Fatal(err)
			}
			checkLayers(t, f, got, img)
			if got.Source != "import:"+filepath.Base(file) {
				t.Errorf("source = %q", got.Source)
			}
		})
	}
}

// rootfsTar is a small root filesystem with an OCI whiteout entry.
func rootfsTar(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range []struct {
		name string
		typ  byte
		body string
	}{
		{"./", tar.TypeDir, ""},
		{"./etc/", tar.TypeDir, ""},
		{"./etc/os-release", tar.TypeReg, "ID=test\n"},
		{"./etc/.wh.motd", tar.TypeReg, ""},
		{"./bin/", tar.TypeDir, ""},
		{"./bin/sh", tar.TypeSymlink, "busybox"},
	} {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: 0o755, Size: int64(len(e.body))}
		if e.typ == tar.TypeSymlink {
			h.Linkname, h.Size = e.body, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	return buf.Bytes()
}

func TestImportRootFS(t *testing.T) {
	ctx := context.Background()
	raw := rootfsTar(t)
	sum := sha256.Sum256(raw)
	want := "sha256:" + hex.EncodeToString(sum[:])
	dir := t.TempDir()
	plain := filepath.Join(dir, "rootfs.tar")
	if err := os.WriteFile(plain, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	compress(t, plain, plain+".gz", "gz")
	compress(t, plain, plain+".zst", "zst")
	for _, file := range []string{plain, plain + ".gz", plain + ".zst"} {
		t.Run(filepath.Base(file), func(t *testing.T) {
			f := newFixture(t)
			got, err := image.Import(ctx, f.c, file, opts("my-rootfs"))
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Layers) != 1 || string(got.Layers[0].Digest) != want || got.Layers[0].Size != int64(len(raw)) {
				t.Fatalf("layers = %+v, want one %s", got.Layers, want)
			}
			store, _ := f.regions.Region("us-east-1")
			rc, err := store.Open(ctx, got.Layers[0].Digest)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(rc)
			rc.Close()
			if !bytes.Equal(b, raw) || !bytes.Contains(b, []byte(".wh.motd")) {
				t.Fatal("stored layer differs from the uncompressed tarball (whiteouts must be kept)")
			}
			vis, _ := f.c.Visible(ctx, alice, "us-east-1")
			if len(vis) != 1 || vis[0].ID != got.ID {
				t.Fatalf("visible = %+v", vis)
			}
			if vis, _ := f.c.Visible(ctx, bob, "us-east-1"); len(vis) != 0 {
				t.Fatalf("private import visible to another account: %+v", vis)
			}
		})
	}
}

func TestImportErrors(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	junk := filepath.Join(t.TempDir(), "junk.bin")
	os.WriteFile(junk, []byte("this is not a tar archive at all, no no no"), 0o644)
	if _, err := image.Import(ctx, f.c, junk, opts("junk")); !errors.Is(err, image.ErrInvalid) {
		t.Errorf("junk: %v", err)
	}
	raw := filepath.Join(t.TempDir(), "r.tar")
	os.WriteFile(raw, rootfsTar(t), 0o644)
	if _, err := image.Import(ctx, f.c, raw, opts("bad:name")); !errors.Is(err, image.ErrInvalid) {
		t.Errorf("bad name: %v", err)
	}
	if _, err := image.Import(ctx, f.c, raw, opts("dup")); err != nil {
		t.Fatal(err)
	}
	if _, err := image.Import(ctx, f.c, raw, opts("dup")); !errors.Is(err, image.ErrAlreadyExists) {
		t.Errorf("duplicate: %v", err)
	}
	if _, err := image.Import(ctx, f.c, raw, image.ImportOptions{Name: "x-y-z"}); !errors.Is(err, image.ErrInvalid) {
		t.Errorf("no account: %v", err)
	}
}

func TestPullFromRegistry(t *testing.T) {
	ctx := context.Background()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	img := testImage(t, "amd64")
	ref := host + "/team/base:2026.11"
	if err := remote.Write(mustRef(t, ref), img); err != nil {
		t.Fatal(err)
	}
	// A multi-platform index too.
	arm := testImage(t, "arm64")
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
		mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
	)
	multi := host + "/team/multi:latest"
	if err := remote.WriteIndex(mustRef(t, multi), idx); err != nil {
		t.Fatal(err)
	}

	f := newFixture(t)
	got, err := image.Pull(ctx, f.c, ref, image.PullOptions{ImportOptions: image.ImportOptions{Account: alice, Region: "us-east-1"}})
	if err != nil {
		t.Fatal(err)
	}
	checkLayers(t, f, got, img)
	if got.Name != "base-2026.11" || !strings.HasPrefix(got.Source, "pull:"+host+"/team/base:2026.11@sha256:") {
		t.Errorf("name %q source %q", got.Name, got.Source)
	}

	f2 := newFixture(t)
	got, err = image.Pull(ctx, f2.c, multi, image.PullOptions{ImportOptions: image.ImportOptions{Account: alice, Region: "us-east-1", Name: "multi"}})
	if err != nil {
		t.Fatal(err)
	}
	checkLayers(t, f2, got, img)

	if _, err := image.Pull(ctx, f2.c, host+"/team/absent:1", image.PullOptions{ImportOptions: image.ImportOptions{Account: alice, Region: "us-east-1"}}); err == nil {
		t.Error("pulling an absent image succeeded")
	}
}

func mustTag(t *testing.T, s string) name.Tag {
	tag, err := name.NewTag(s)
	if err != nil {
		t.Fatal(err)
	}
	return tag
}

func mustRef(t *testing.T, s string) name.Reference {
	r, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
