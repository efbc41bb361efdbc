package disk

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sync"

	"github.com/kiln-dev/kiln/internal/blob"
)

// Regions holds one Store per region under a common directory
// (<dataDir>/blobs/<region>). Stores are opened on first use.
type Regions struct {
	root string

	mu     sync.Mutex
	stores map[string]*Store
}

var _ blob.Regions = (*Regions)(nil)

// NewRegions returns the regional stores under root.
func NewRegions(root string) *Regions {
	return &Regions{root: root, stores: map[string]*Store{}}
}

var regionRE = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// Region opens region's store.
func (r *Regions) Region(name string) (blob.Store, error) {
	return r.Disk(name)
}

// Disk is Region with the concrete type.
func (r *Regions) Disk(name string) (*Store, error) {
	if !regionRE.MatchString(name) {
		return nil, fmt.Errorf("blob: invalid region name %q", name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.stores[name]; ok {
		return s, nil
	}
	s, err := New(filepath.Join(r.root, name))
	if err != nil {
		return nil, err
	}
	r.stores[name] = s
	return s, nil
}

// Names lists the regions that have a store (a directory under root),
// whether or not this Regions has opened them.
func (r *Regions) Names() ([]string, error) {
	ents, err := os.ReadDir(r.root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && regionRE.MatchString(e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out, nil
}
