package image

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/kiln-dev/kiln/internal/blob"
	"github.com/kiln-dev/kiln/internal/clock"
	"github.com/kiln-dev/kiln/internal/store"
)

// Options configures a CatalogImpl.
type Options struct {
	// Local is the store the builders write quick-start layers into
	// (<dataDir>/images); EnsureQuickStart links them into each region's
	// store. Required for building and registering quick-start images.
	Local blob.Store
	// Log receives quick-start registration problems (default: discard).
	Log *slog.Logger
}

// CatalogImpl is the state-store-backed Catalog. Image records live under
// Key{Account: owner, Region, Kind: Kind, ID}; their Name is the image
// name, unique per owner and region as in EC2.
type CatalogImpl struct {
	st    store.Store
	blobs blob.Regions
	clk   clock.Clock
	local blob.Store
	log   *slog.Logger

	mu      sync.Mutex                   // serializes EnsureQuickStart
	ensured map[string]map[string]string // region → template name → version registered
}

var _ Catalog = (*CatalogImpl)(nil)

// NewCatalog returns the catalog over st, with layers in blobs.
func NewCatalog(st store.Store, blobs blob.Regions, clk clock.Clock, opts Options) *CatalogImpl {
	if clk == nil {
		clk = clock.Real{}
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &CatalogImpl{st: st, blobs: blobs, clk: clk, local: opts.Local, log: log, ensured: map[string]map[string]string{}}
}

// Blobs is the regional blob stores the catalog's layers live in.
func (c *CatalogImpl) Blobs() blob.Regions { return c.blobs }

// Local is the builders' store (nil when not configured).
func (c *CatalogImpl) Local() blob.Store { return c.local }

// visibleTo reports whether account may see (and launch) img.
func visibleTo(img Image, account string) bool {
	if img.State == StateDeregistered {
		return false
	}
	return img.OwnerID == account || img.Public || slices.Contains(img.LaunchPermissions, account)
}

func notFound(id string) error { return fmt.Errorf("%w: %s", ErrNotFound, id) }

// Get returns an image the account can see in region.
func (c *CatalogImpl) Get(ctx context.Context, account, region, id string) (Image, error) {
	c.ensureQuiet(ctx, region)
	var out Image
	err := c.st.View(ctx, func(tx store.Tx) error {
		imgs, err := store.ListJSON[Image](tx, store.Query{AllAccounts: true, Region: region, Kind: Kind, IDs: []string{id}})
		if err != nil {
			return err
		}
		for _, img := range imgs {
			if visibleTo(img, account) {
				out = img
				return nil
			}
		}
		return notFound(id)
	})
	return out, err
}

// Visible lists the images account can see in region, ordered by ID.
func (c *CatalogImpl) Visible(ctx context.Context, account, region string) ([]Image, error) {
	c.ensureQuiet(ctx, region)
	var out []Image
	err := c.st.View(ctx, func(tx store.Tx) error {
		imgs, err := store.ListJSON[Image](tx, store.Query{AllAccounts: true, Region: region, Kind: Kind})
		if err != nil {
			return err
		}
		for _, img := range imgs {
			if visibleTo(img, account) {
				out = append(out, img)
			}
		}
		return nil
	})
	return out, err
}

// List returns every image in region, whoever owns it (admin listing).
func (c *CatalogImpl) List(ctx context.Context, region string) ([]Image, error) {
	var out []Image
	err := c.st.View(ctx, func(tx store.Tx) error {
		var err error
		out, err = store.ListJSON[Image](tx, store.Query{AllAccounts: true, Region: region, Kind: Kind})
		return err
	})
	return out, err
}

// NewID mints an AMI ID.
func NewID() string {
	var b [9]byte
	_, _ = rand.Read(b[:])
	return "ami-" + hex.EncodeToString(b[:])[:17]
}

// Register records img, whose layers must already be in img.Region's blob
// store. It mints the ID and creation time when they are empty and fills
// EC2's defaults (x86_64, /dev/xvda, ebs, hvm, Linux/UNIX, 8 GiB, kiln's
// init). ErrAlreadyExists if the owner has an image of that name there.
func (c *CatalogImpl) Register(ctx context.Context, img Image) (Image, error) {
	if img.OwnerID == "" || img.Region == "" || img.Name == "" {
		return Image{}, fmt.Errorf("%w: owner, region and name are required", ErrInvalid)
	}
	if img.ID == "" {
		img.ID = NewID()
	}
	if img.Created.IsZero() {
		img.Created = c.clk.Now()
	}
	applyDefaults(&img)
	if err := c.checkLayers(ctx, img.Region, img.Layers); err != nil {
		return Image{}, err
	}
	err := c.st.Update(ctx, func(tx store.Tx) error {
		return store.CreateJSON(tx, key(img), img.Name, img)
	})
	if errors.Is(err, store.ErrAlreadyExists) {
		return Image{}, fmt.Errorf("%w: %q is already in use by an image owned by %s in %s", ErrAlreadyExists, img.Name, img.OwnerID, img.Region)
	}
	return img, err
}

// Update applies fn to the stored image (found by owner, region and ID) and
// stores the result; fn must not change the key fields.
func (c *CatalogImpl) Update(ctx context.Context, owner, region, id string, fn func(*Image) error) (Image, error) {
	var out Image
	err := c.st.Update(ctx, func(tx store.Tx) error {
		k := store.Key{Account: owner, Region: region, Kind: Kind, ID: id}
		img, err := store.GetJSON[Image](tx, k)
		if errors.Is(err, store.ErrNotFound) {
			return notFound(id)
		}
		if err != nil {
			return err
		}
		if err := fn(&img); err != nil {
			return err
		}
		if img.ID != id || img.OwnerID != owner || img.Region != region {
			return fmt.Errorf("%w: an update may not move an image", ErrInvalid)
		}
		out = img
		return store.PutJSON(tx, k, img.Name, img)
	})
	return out, err
}

// Delete removes the image record (its layers stay in the blob store,
// possibly shared with other images).
func (c *CatalogImpl) Delete(ctx context.Context, owner, region, id string) error {
	err := c.st.Update(ctx, func(tx store.Tx) error {
		return tx.Delete(store.Key{Account: owner, Region: region, Kind: Kind, ID: id})
	})
	if errors.Is(err, store.ErrNotFound) {
		return notFound(id)
	}
	return err
}

func key(img Image) store.Key {
	return store.Key{Account: img.OwnerID, Region: img.Region, Kind: Kind, ID: img.ID}
}

func (c *CatalogImpl) checkLayers(ctx context.Context, region string, layers []blob.Layer) error {
	if len(layers) == 0 {
		return fmt.Errorf("%w: an image needs at least one layer", ErrInvalid)
	}
	bs, err := c.blobs.Region(region)
	if err != nil {
		return err
	}
	for _, l := range layers {
		if _, err := bs.Stat(ctx, l.Stored().Digest); err != nil {
			return fmt.Errorf("image: layer %s in %s: %w", l.Stored().Digest, region, err)
		}
	}
	return nil
}

// applyDefaults fills what EC2 fills for a Linux AMI.
func applyDefaults(img *Image) {
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&img.State, StateAvailable)
	def(&img.Architecture, "x86_64")
	def(&img.RootDeviceName, "/dev/xvda")
	def(&img.RootDeviceType, "ebs")
	def(&img.VirtualizationType, "hvm")
	def(&img.PlatformDetails, "Linux/UNIX")
	def(&img.Init, InitKiln)
	if img.RootSizeGiB == 0 {
		img.RootSizeGiB = 8
	}
}

// layersVersion identifies a layer list (to notice a rebuilt template).
func layersVersion(layers []blob.Layer) string {
	h := sha256.New()
	for _, l := range layers {
		h.Write([]byte(l.Digest))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}
