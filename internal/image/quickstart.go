package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/kiln-dev/kiln/internal/blob"
	"github.com/kiln-dev/kiln/internal/store"
)

// KindQuickStart is the store kind of quick-start templates: global records
// (Account "", Region "") keyed by image name, whose layers are in the
// catalog's Local store. EnsureQuickStart turns each into a public image
// owned by AmazonOwnerID in every region that is used.
const KindQuickStart = "image-quickstart"

// AmazonAlias is the owner alias of quick-start images.
const AmazonAlias = "amazon"

// quickStartID is the AMI ID of a quick-start image in a region: derived
// from region and name, so it is stable across restarts and data
// directories built from the same templates (and differs per region, as
// AWS's do).
func quickStartID(region, name string) string {
	s := sha256.Sum256([]byte("kiln-quickstart\x00" + region + "\x00" + name))
	return "ami-" + hex.EncodeToString(s[:])[:17]
}

// AddQuickStart records a quick-start template whose layers are already in
// the Local store, replacing a template of the same name. Regions pick it
// up on their next EnsureQuickStart.
func (c *CatalogImpl) AddQuickStart(ctx context.Context, tpl Image) (Image, error) {
	if c.local == nil {
		return Image{}, fmt.Errorf("%w: the catalog has no local layer store", ErrInvalid)
	}
	if tpl.Name == "" || len(tpl.Layers) == 0 {
		return Image{}, fmt.Errorf("%w: a quick-start image needs a name and layers", ErrInvalid)
	}
	for _, l := range tpl.Layers {
		if _, err := c.local.Stat(ctx, l.Digest); err != nil {
			return Image{}, fmt.Errorf("image: quick-start layer %s: %w", l.Digest, err)
		}
	}
	tpl.ID, tpl.Region = "", ""
	tpl.OwnerID, tpl.OwnerAlias, tpl.Public = AmazonOwnerID, AmazonAlias, true
	tpl.LaunchPermissions = nil
	if tpl.Created.IsZero() {
		tpl.Created = c.clk.Now()
	}
	if tpl.Source == "" {
		tpl.Source = "quick-start"
	}
	applyDefaults(&tpl)
	err := c.st.Update(ctx, func(tx store.Tx) error {
		return store.PutJSON(tx, store.Key{Kind: KindQuickStart, ID: tpl.Name}, "", tpl)
	})
	return tpl, err
}

// QuickStarts lists the quick-start templates, by name.
func (c *CatalogImpl) QuickStarts(ctx context.Context) ([]Image, error) {
	var out []Image
	err := c.st.View(ctx, func(tx store.Tx) error {
		var err error
		out, err = store.ListJSON[Image](tx, store.Query{Kind: KindQuickStart})
		return err
	})
	return out, err
}

// LatestQuickStart returns the newest template whose name starts with
// prefix (names end in the build date), or ErrNotFound.
func (c *CatalogImpl) LatestQuickStart(ctx context.Context, prefix string) (Image, error) {
	tpls, err := c.QuickStarts(ctx)
	if err != nil {
		return Image{}, err
	}
	var match []Image
	for _, t := range tpls {
		if strings.HasPrefix(t.Name, prefix) {
			match = append(match, t)
		}
	}
	if len(match) == 0 {
		return Image{}, notFound(prefix + "*")
	}
	sort.Slice(match, func(i, j int) bool {
		if !match[i].Created.Equal(match[j].Created) {
			return match[i].Created.Before(match[j].Created)
		}
		return match[i].Name < match[j].Name
	})
	return match[len(match)-1], nil
}

// EnsureQuickStart registers every quick-start template in region: links
// its layers into the region's blob store and records a public image owned
// by AmazonOwnerID. It is idempotent; repeated calls cost one store read.
// Templates that fail are skipped (and reported in the joined error).
func (c *CatalogImpl) EnsureQuickStart(ctx context.Context, region string) error {
	tpls, err := c.QuickStarts(ctx)
	if err != nil || len(tpls) == 0 {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	done := c.ensured[region]
	if done == nil {
		done = map[string]string{}
		c.ensured[region] = done
	}
	var errs []error
	for _, tpl := range tpls {
		v := layersVersion(tpl.Layers) + tpl.Created.String()
		if done[tpl.Name] == v {
			continue
		}
		if err := c.registerQuickStart(ctx, region, tpl); err != nil {
			errs = append(errs, fmt.Errorf("quick-start image %s in %s: %w", tpl.Name, region, err))
			continue
		}
		done[tpl.Name] = v
	}
	return errors.Join(errs...)
}

// ensureQuiet is EnsureQuickStart for readers: failures are logged, and
// whatever is already registered stays visible.
func (c *CatalogImpl) ensureQuiet(ctx context.Context, region string) {
	if c.local == nil {
		return
	}
	if err := c.EnsureQuickStart(ctx, region); err != nil {
		c.log.Warn("registering quick-start images", "region", region, "err", err)
	}
}

func (c *CatalogImpl) registerQuickStart(ctx context.Context, region string, tpl Image) error {
	dst, err := c.blobs.Region(region)
	if err != nil {
		return err
	}
	for _, l := range tpl.Layers {
		if err := linkOrCopy(ctx, dst, c.local, l.Digest); err != nil {
			return err
		}
	}
	img := tpl
	img.ID, img.Region = quickStartID(region, tpl.Name), region
	return c.st.Update(ctx, func(tx store.Tx) error {
		k := key(img)
		old, err := store.GetJSON[Image](tx, k)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return err
		case layersVersion(old.Layers) == layersVersion(img.Layers) && old.Created.Equal(img.Created):
			return nil
		}
		return store.PutJSON(tx, k, img.Name, img)
	})
}

// linkOrCopy adds d to dst from src without copying when dst can link.
func linkOrCopy(ctx context.Context, dst, src blob.Store, d blob.Digest) error {
	if _, err := dst.Stat(ctx, d); err == nil {
		return nil
	}
	if l, ok := dst.(blob.Linker); ok {
		_, err := l.Link(ctx, src, d)
		return err
	}
	rc, err := src.Open(ctx, d)
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = dst.Put(ctx, rc, d)
	return err
}
