package image

import (
	"context"
	"fmt"
	"net/http"
	"path"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// PullOptions configures Pull.
type PullOptions struct {
	ImportOptions
	// Insecure allows plain HTTP (registries on localhost, 127.0.0.1 and
	// private addresses use HTTP anyway).
	Insecure bool
	// Transport overrides the HTTP transport (tests).
	Transport http.RoundTripper
}

// Pull fetches an image from an OCI registry (credentials from the Docker
// config, as `docker login` writes them) and records it like Import:
// layers uncompressed in the region's blob store, checked against the
// image's diff IDs.
func Pull(ctx context.Context, c *CatalogImpl, ref string, opts PullOptions) (Image, error) {
	if opts.Account == "" || opts.Region == "" {
		return Image{}, fmt.Errorf("%w: a pull needs an account and a region", ErrInvalid)
	}
	var nopts []name.Option
	if opts.Insecure {
		nopts = append(nopts, name.Insecure)
	}
	r, err := name.ParseReference(ref, nopts...)
	if err != nil {
		return Image{}, fmt.Errorf("%w: reference %q: %v", ErrInvalid, ref, err)
	}
	if opts.Name == "" {
		opts.Name = refName(r)
	}
	if !ValidName(opts.Name) {
		return Image{}, fmt.Errorf("%w: image name %q", ErrInvalid, opts.Name)
	}
	pl, err := opts.platform()
	if err != nil {
		return Image{}, err
	}
	dst, err := c.blobs.Region(opts.Region)
	if err != nil {
		return Image{}, err
	}
	ropts := []remote.Option{remote.WithContext(ctx), remote.WithPlatform(pl), remote.WithAuthFromKeychain(authn.DefaultKeychain)}
	if opts.Transport != nil {
		ropts = append(ropts, remote.WithTransport(opts.Transport))
	}
	opts.logf("pulling %s", r.Name())
	src, err := remote.Image(r, ropts...)
	if err != nil {
		return Image{}, fmt.Errorf("pulling %s: %w", r.Name(), err)
	}
	img := Image{Name: opts.Name, Description: opts.Description, OwnerID: opts.Account, Region: opts.Region, Public: opts.Public, Source: "pull:" + r.Name()}
	if d, err := src.Digest(); err == nil {
		img.Source += "@" + d.String()
	}
	if err := ingest(ctx, src, dst, &img, &opts.ImportOptions); err != nil {
		return Image{}, err
	}
	return c.Register(ctx, img)
}

// refName makes an AMI name of a reference: the repository's last path
// element and the tag, e.g. "debian-bookworm" for debian:bookworm.
func refName(r name.Reference) string {
	repo := path.Base(r.Context().RepositoryStr())
	id := r.Identifier()
	if strings.HasPrefix(id, "sha256:") {
		id = id[len("sha256:") : len("sha256:")+12]
	}
	return sanitizeName(repo + "-" + id)
}
