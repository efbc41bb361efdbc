package kiln

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/kiln-dev/kiln/internal/blob/disk"
	"github.com/kiln-dev/kiln/internal/image"
)

// Paths of the image stores inside the data directory: the regional blob
// stores (<dataDir>/blobs/<region>) and the builders' store of quick-start
// layers (<dataDir>/images), on one filesystem so that registering a
// quick-start image in a region hard-links its layers.
func blobsDir(dir string) string  { return filepath.Join(dir, "blobs") }
func imagesDir(dir string) string { return filepath.Join(dir, "images") }

// Images returns the AMI catalog and the regional blob stores of the data
// directory. Each call constructs them afresh (they keep no state that
// matters beyond the store and the files).
func (k *Kiln) Images() (*image.CatalogImpl, *disk.Regions, error) {
	local, err := disk.New(imagesDir(k.opts.DataDir))
	if err != nil {
		return nil, nil, fmt.Errorf("image store: %w", err)
	}
	regions := disk.NewRegions(blobsDir(k.opts.DataDir))
	cat := image.NewCatalog(k.Store, regions, k.opts.Clock, image.Options{Local: local, Log: k.opts.Log})
	return cat, regions, nil
}

// setupImages prepares the images at server start: it builds kiln-minimal
// from the local busybox when no kiln-minimal image exists yet (well under
// a second, no network) and returns the catalog for the EC2 service and
// the regional blob stores its layers live in. A missing busybox is
// logged, not fatal: kiln serves everything else.
func setupImages(k *Kiln) (*image.CatalogImpl, *disk.Regions, error) {
	cat, regions, err := k.Images()
	if err != nil {
		return nil, nil, err
	}
	start := time.Now()
	img, built, err := image.BuildMinimal(context.Background(), cat, image.MinimalOptions{})
	switch {
	case errors.Is(err, image.ErrNoBusybox):
		k.opts.Log.Warn("quick-start image kiln-minimal not available", "err", err)
	case err != nil:
		return nil, nil, fmt.Errorf("building kiln-minimal: %w", err)
	case built:
		k.opts.Log.Info("built quick-start image", "name", img.Name, "layer", img.Layers[0].Digest, "took", time.Since(start).Round(time.Millisecond).String())
	}
	return cat, regions, nil
}
