package containerd

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/errdefs"

	"github.com/kiln-dev/kiln/internal/runtime"
)

var _ runtime.Pruner = (*Runtime)(nil)

// Prune removes what interrupted operations of earlier kiln processes left
// in containerd: their leases (releasing half-written content and
// half-applied layers to the garbage collector at once instead of after
// the lease's hour), temporary unpack and capture snapshots, instance
// root snapshots without a container, volume snapshots of interrupted
// CreateVolumes (never a complete volume), attachment mounts of instances
// or volumes that no longer exist, attachment directories of instances
// without a container, and the parent views of interrupted captures. Work of this Runtime in flight is
// left alone. It reports what it removed.
func (r *Runtime) Prune(ctx context.Context) ([]string, error) {
	ctx = r.ns(ctx)
	var removed []string
	var errs []error
	ls := r.client.LeasesService()
	all, err := ls.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("containerd: leases: %w", err)
	}
	stale := 0
	for _, l := range all {
		owner, ok := l.Labels[labelOwner]
		if !ok || owner == r.token {
			continue
		}
		stale++
		if err := ls.Delete(ctx, l); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, err)
		} else {
			removed = append(removed, "lease "+l.ID)
		}
	}

	sn := r.client.SnapshotService(Snapshotter)
	var candidates []string
	err = sn.Walk(ctx, func(_ context.Context, info snapshots.Info) error {
		if info.Kind == snapshots.KindCommitted {
			return nil
		}
		name := info.Name
		if isVol, complete := volumeState(info); isVol {
			// A volume is never pruned; one without its gc root is
			// the leftover of an interrupted CreateVolume.
			if !complete && !r.isCreating(name) {
				candidates = append(candidates, name)
			}
			return nil
		}
		if info.Labels[labelVolume] != "" {
			return nil // not a volume of ours after all: leave it
		}
		if strings.HasPrefix(name, "extract-") || strings.HasPrefix(name, "capture-") {
			if !strings.Contains(name, "-"+r.token+"-") {
				candidates = append(candidates, name)
			}
			return nil
		}
		candidates = append(candidates, name) // an instance root: checked below
		return nil
	})
	if err != nil {
		errs = append(errs, fmt.Errorf("containerd: walk snapshots: %w", err))
	}
	for _, name := range candidates {
		if !strings.HasPrefix(name, "extract-") && !strings.HasPrefix(name, "capture-") {
			if r.isCreating(name) {
				continue
			}
			if info, err := sn.Stat(ctx, name); err == nil {
				if isVol, complete := volumeState(info); isVol && complete {
					continue // completed meanwhile
				}
			}
			if _, err := r.client.LoadContainer(ctx, name); err == nil || !errdefs.IsNotFound(err) {
				continue // it has a container (or we cannot tell)
			}
		}
		if err := sn.Remove(ctx, name); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("containerd: remove snapshot %s: %w", name, err))
			continue
		}
		removed = append(removed, "snapshot "+name)
	}
	// Attachments after snapshots: a volume removed above was never
	// complete, so never attached.
	att, err := r.pruneAttachments(ctx)
	removed = append(removed, att...)
	if err != nil {
		errs = append(errs, err)
	}
	views, err := r.pruneCaptureMounts()
	removed = append(removed, views...)
	if err != nil {
		errs = append(errs, err)
	}
	if stale > 0 {
		// Collect what the deleted leases held now rather than later.
		if l, err := ls.Create(ctx, leases.WithRandomID()); err == nil {
			_ = ls.Delete(ctx, l, leases.SynchronousDelete)
		}
	}
	return removed, errors.Join(errs...)
}
