package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/kiln-dev/kiln/internal/blob"
)

// ImportOptions says whose image an import or pull becomes, and where.
type ImportOptions struct {
	Name        string // default: derived from the file or reference
	Description string
	Account     string // owner account (required)
	Region      string // required
	Public      bool   // launchable by every account
	// Platform picks an image from a multi-platform index (default
	// linux/amd64).
	Platform string
	// TempDir holds scratch files (an OCI layout tar is unpacked there);
	// default: the system temp dir. Use one on the data directory's
	// filesystem for large imports.
	TempDir string
	// Progress receives one line per step (nil: silent).
	Progress io.Writer
}

func (o *ImportOptions) logf(format string, args ...any) {
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, format+"\n", args...)
	}
}

func (o *ImportOptions) platform() (v1.Platform, error) {
	p := o.Platform
	if p == "" {
		p = "linux/amd64"
	}
	pl, err := v1.ParsePlatform(p)
	if err != nil {
		return v1.Platform{}, fmt.Errorf("%w: platform %q: %v", ErrInvalid, p, err)
	}
	return *pl, nil
}

// nameRE is EC2's rule for AMI names.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9()\[\] ./\-'@_]{3,128}$`)

// ValidName reports whether name is a valid AMI name.
func ValidName(name string) bool { return nameRE.MatchString(name) }

// sanitizeName turns a file or reference name into an AMI name.
func sanitizeName(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 128 && nameRE.MatchString(strings.Repeat(string(r), 3)) {
			return r
		}
		return '-'
	}, s)
	if len(s) > 128 {
		s = s[:128]
	}
	if len(s) < 3 {
		s += "-image"
	}
	return s
}

// Archive formats Import recognises.
const (
	FormatOCILayout  = "oci-layout"
	FormatDockerSave = "docker-save"
	FormatRootFS     = "rootfs"
)

// Import records the image in file: an OCI image layout (directory or
// tar), a `docker save` archive, or a root-filesystem tarball, each
// optionally gzip- or zstd-compressed. Layers are stored uncompressed in the
// region's blob store, addressed by the digest of the uncompressed tar
// (whiteout entries are kept as they are). The image belongs to
// opts.Account in opts.Region and runs kiln's init.
func Import(ctx context.Context, c *CatalogImpl, file string, opts ImportOptions) (Image, error) {
	if opts.Account == "" || opts.Region == "" {
		return Image{}, fmt.Errorf("%w: an import needs an account and a region", ErrInvalid)
	}
	if opts.Name == "" {
		opts.Name = sanitizeName(baseName(file))
	}
	if !ValidName(opts.Name) {
		return Image{}, fmt.Errorf("%w: image name %q: 3-128 letters, digits and ( ) [ ] space . / - ' @ _", ErrInvalid, opts.Name)
	}
	dst, err := c.blobs.Region(opts.Region)
	if err != nil {
		return Image{}, err
	}
	fi, err := os.Stat(file)
	if err != nil {
		return Image{}, err
	}
	img := Image{Name: opts.Name, Description: opts.Description, OwnerID: opts.Account, Region: opts.Region, Public: opts.Public, Source: "import:" + filepath.Base(file)}
	if fi.IsDir() {
		opts.logf("reading OCI image layout %s", file)
		if err := importLayoutDir(ctx, file, dst, &img, &opts); err != nil {
			return Image{}, err
		}
		return c.Register(ctx, img)
	}
	tarPath, stored, cleanup, err := uncompressed(ctx, file, dst, &opts)
	if err != nil {
		return Image{}, err
	}
	defer cleanup()
	format, err := sniffTar(tarPath)
	if err != nil {
		return Image{}, fmt.Errorf("%w: %s is not a tar archive (or a gzip/zstd-compressed one): %v", ErrInvalid, file, err)
	}
	opts.logf("format: %s", format)
	if stored != "" && format != FormatRootFS {
		// The decompressed archive is no layer: drop it when done.
		defer dst.Delete(context.WithoutCancel(ctx), stored)
	}
	switch format {
	case FormatDockerSave:
		v1img, err := tarball.Image(func() (io.ReadCloser, error) { return os.Open(tarPath) }, nil)
		if err != nil {
			return Image{}, fmt.Errorf("%w: docker save archive: %v", ErrInvalid, err)
		}
		if err := ingest(ctx, v1img, dst, &img, &opts); err != nil {
			return Image{}, err
		}
	case FormatOCILayout:
		dir, err := os.MkdirTemp(opts.TempDir, "kiln-oci-")
		if err != nil {
			return Image{}, err
		}
		defer os.RemoveAll(dir)
		if err := untar(tarPath, dir); err != nil {
			return Image{}, err
		}
		if err := importLayoutDir(ctx, dir, dst, &img, &opts); err != nil {
			return Image{}, err
		}
	default:
		f, err := os.Open(tarPath)
		if err != nil {
			return Image{}, err
		}
		desc, err := dst.Put(ctx, f, stored) // free when already stored
		f.Close()
		if err != nil {
			return Image{}, err
		}
		opts.logf("layer %s (%d bytes)", desc.Digest, desc.Size)
		img.Layers = blob.Plain(desc)
	}
	return c.Register(ctx, img)
}

func baseName(file string) string {
	b := filepath.Base(filepath.Clean(file))
	for _, ext := range []string{".gz", ".tgz", ".zst", ".zstd", ".tar", ".oci"} {
		b = strings.TrimSuffix(b, ext)
	}
	return b
}

// Compression magic numbers.
var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// uncompressed returns a path to the uncompressed tar: file itself, or a
// decompressed copy. The copy is made in the region's blob store when it
// keeps local files (stored is then its digest: a root-filesystem tarball
// is already its layer), else in a temp file that cleanup removes.
func uncompressed(ctx context.Context, file string, dst blob.Store, opts *ImportOptions) (p string, stored blob.Digest, cleanup func(), err error) {
	f, err := os.Open(file)
	if err != nil {
		return "", "", nil, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	head, _ := br.Peek(4)
	var r io.Reader
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		opts.logf("decompressing gzip")
		zr, err := gzip.NewReader(br)
		if err != nil {
			return "", "", nil, err
		}
		defer zr.Close()
		r = zr
	case bytes.HasPrefix(head, zstdMagic):
		opts.logf("decompressing zstd")
		zr, err := zstd.NewReader(br)
		if err != nil {
			return "", "", nil, err
		}
		defer zr.Close()
		r = zr
	default:
		return file, "", func() {}, nil
	}
	if lp, ok := dst.(blob.LocalPather); ok {
		desc, err := dst.Put(ctx, r, "")
		if err != nil {
			return "", "", nil, err
		}
		p, err := lp.Path(desc.Digest)
		if err != nil {
			return "", "", nil, err
		}
		return p, desc.Digest, func() {}, nil
	}
	tmp, err := os.CreateTemp(opts.TempDir, "kiln-import-*.tar")
	if err != nil {
		return "", "", nil, err
	}
	cleanup = func() { os.Remove(tmp.Name()) }
	if _, err := io.Copy(tmp, r); err != nil {
		tmp.Close()
		cleanup()
		return "", "", nil, err
	}
	if err := tmp.Close(); err != nil {
		cleanup()
		return "", "", nil, err
	}
	return tmp.Name(), "", cleanup, nil
}

// sniffTar reads the archive's entry names (seeking past contents) and
// classifies it.
func sniffTar(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	names := map[string]bool{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
		names[cleanName(h.Name)] = true
	}
	if len(names) == 0 {
		return "", errors.New("empty archive")
	}
	switch {
	case names["manifest.json"] && !names["etc"] && !names["bin"]:
		return FormatDockerSave, nil
	case names["oci-layout"] && names["index.json"]:
		return FormatOCILayout, nil
	}
	return FormatRootFS, nil
}

func cleanName(n string) string {
	return strings.TrimPrefix(path.Clean("/"+n), "/")
}

// untar unpacks the regular files and directories of an archive (an OCI
// layout: no links, no special files) under dir.
func untar(p, dir string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := cleanName(h.Name)
		if name == "" {
			continue
		}
		target := filepath.Join(dir, filepath.FromSlash(name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
			if err != nil {
				return err
			}
			_, err = io.Copy(out, tr)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
	}
}

// importLayoutDir picks the image for the platform from an OCI layout.
func importLayoutDir(ctx context.Context, dir string, dst blob.Store, img *Image, opts *ImportOptions) error {
	p, err := layout.FromPath(dir)
	if err != nil {
		return fmt.Errorf("%w: OCI layout %s: %v", ErrInvalid, dir, err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return fmt.Errorf("%w: OCI layout %s: %v", ErrInvalid, dir, err)
	}
	want, err := opts.platform()
	if err != nil {
		return err
	}
	v1img, err := pickImage(idx, want)
	if err != nil {
		return err
	}
	return ingest(ctx, v1img, dst, img, opts)
}

// pickImage finds the image for a platform in an index, descending into
// nested indexes; an index holding a single image yields it whatever its
// platform says.
func pickImage(idx v1.ImageIndex, want v1.Platform) (v1.Image, error) {
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var candidates []v1.Descriptor
	for _, d := range m.Manifests {
		if d.MediaType.IsImage() || d.MediaType.IsIndex() {
			candidates = append(candidates, d)
		}
	}
	for _, d := range candidates {
		if d.Platform != nil && !d.Platform.Satisfies(want) {
			continue
		}
		if len(candidates) > 1 && d.Platform == nil && d.MediaType.IsImage() {
			// Attestation manifests and the like carry no platform in
			// multi-image indexes; prefer a declared match.
			continue
		}
		if d.MediaType.IsIndex() {
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return nil, err
			}
			if img, err := pickImage(child, want); err == nil {
				return img, nil
			}
			continue
		}
		return idx.Image(d.Digest)
	}
	if len(candidates) == 1 && candidates[0].MediaType.IsImage() {
		return idx.Image(candidates[0].Digest)
	}
	return nil, fmt.Errorf("%w: no image for %s in the index (%d manifests)", ErrInvalid, want.String(), len(candidates))
}

// ingest stores an image's layers uncompressed (each checked against the
// config's diff IDs) and takes architecture and environment from its
// config.
func ingest(ctx context.Context, src v1.Image, dst blob.Store, img *Image, opts *ImportOptions) error {
	cfg, err := src.ConfigFile()
	if err != nil {
		return fmt.Errorf("image config: %w", err)
	}
	layers, err := src.Layers()
	if err != nil {
		return fmt.Errorf("image layers: %w", err)
	}
	if len(layers) == 0 {
		return fmt.Errorf("%w: the image has no layers", ErrInvalid)
	}
	for i, l := range layers {
		diffID, err := l.DiffID()
		if err != nil {
			return fmt.Errorf("layer %d: %w", i, err)
		}
		rc, err := l.Uncompressed()
		if err != nil {
			return fmt.Errorf("layer %d: %w", i, err)
		}
		desc, err := dst.Put(ctx, rc, blob.Digest(diffID.String()))
		rc.Close()
		if err != nil {
			return fmt.Errorf("layer %d (%s): %w", i, diffID, err)
		}
		opts.logf("layer %d/%d %s (%d bytes)", i+1, len(layers), desc.Digest, desc.Size)
		img.Layers = append(img.Layers, blob.Layer{Desc: desc})
	}
	switch cfg.Architecture {
	case "amd64", "":
		img.Architecture = "x86_64"
	case "arm64":
		img.Architecture = "arm64"
	default:
		return fmt.Errorf("%w: architecture %q (kiln runs x86_64 and arm64)", ErrInvalid, cfg.Architecture)
	}
	img.Env = cfg.Config.Env
	return nil
}
