package ebs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/kiln-dev/kiln/internal/blob"
	"github.com/kiln-dev/kiln/internal/image"
	"github.com/kiln-dev/kiln/internal/runtime"
	"github.com/kiln-dev/kiln/internal/seal"
	"github.com/kiln-dev/kiln/internal/store"
)

// runSnapshot performs a pending snapshot's work and records the outcome.
// A cancelled context (kiln shutting down) leaves the snapshot pending.
func (m *Manager) runSnapshot(ctx context.Context, s Snapshot) {
	start := m.clk.Now()
	layers, err := m.snapshotWork(ctx, s)
	if ctx.Err() != nil || errors.Is(err, errNoRuntime) {
		return // stays pending
	}
	if err != nil {
		m.log.Warn("ebs: snapshot failed", "id", s.ID, "work", s.Work.Kind, "err", err)
	} else {
		m.log.Info("ebs: snapshot completed", "id", s.ID, "work", s.Work.Kind, "layers", len(layers), "took", m.clk.Now().Sub(start).String())
	}
	if ferr := m.finish(ctx, s.Key(), layers, err); ferr != nil && ctx.Err() == nil {
		m.log.Error("ebs: record snapshot outcome", "id", s.ID, "err", ferr)
	}
}

// Key is the snapshot's store key.
func (s *Snapshot) Key() store.Key {
	return store.Key{Account: s.OwnerID, Region: s.Region, Kind: SnapshotKind, ID: s.ID}
}

// Key is the volume's store key.
func (v *Volume) Key() store.Key {
	return store.Key{Account: v.OwnerID, Region: v.Region, Kind: VolumeKind, ID: v.ID}
}

func (m *Manager) snapshotWork(ctx context.Context, s Snapshot) ([]blob.Layer, error) {
	w := s.Work
	bs, err := m.region(s.Region)
	if err != nil {
		return nil, err
	}
	kr := m.keyring(w.Caller, s.Region, w.KeyARN)
	if w.KeyARN == "" {
		kr = nil
	}
	switch w.Kind {
	case CaptureRoot:
		return m.captureRoot(ctx, s, bs, kr)
	case CaptureVolume:
		return m.captureVolume(ctx, s, bs, kr)
	case CopyLayers:
		return m.copyLayers(ctx, s, bs, kr)
	}
	return nil, fmt.Errorf("ebs: unknown work %q", w.Kind)
}

// captureRoot snapshots an instance's root volume: its image layers plus
// one layer of its changes, read while the instance is stopped (reboot) or
// frozen.
func (m *Manager) captureRoot(ctx context.Context, s Snapshot, bs blob.Store, kr seal.Keyring) ([]blob.Layer, error) {
	w := s.Work
	rt, holder := m.deps()
	capt, ok := rt.(runtime.Capturer)
	if !ok || holder == nil {
		return nil, errNoRuntime
	}
	var top blob.Layer
	err := holder.Hold(ctx, s.OwnerID, s.Region, w.InstanceID, w.Reboot, func(ctx context.Context, running bool) (err error) {
		if running {
			if err := capt.Pause(ctx, w.InstanceID); err != nil {
				// Left frozen by a capture that kiln's crash cut short?
				// Thaw and freeze again.
				if rerr := capt.Resume(ctx, w.InstanceID); rerr != nil {
					return fmt.Errorf("freeze: %w", err)
				}
				if err := capt.Pause(ctx, w.InstanceID); err != nil {
					return fmt.Errorf("freeze: %w", err)
				}
			}
			defer func() {
				if rerr := capt.Resume(context.WithoutCancel(ctx), w.InstanceID); rerr != nil && err == nil {
					err = fmt.Errorf("thaw: %w", rerr)
				}
			}()
		}
		top, err = putCaptured(ctx, bs, kr, func(w2 io.Writer) (int64, error) {
			return capt.Capture(ctx, w.InstanceID, w2)
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return append(append([]blob.Layer(nil), w.Base...), top), nil
}

// captureVolume snapshots a data volume: its layers plus its changes (a
// volume the runtime never held has none).
func (m *Manager) captureVolume(ctx context.Context, s Snapshot, bs blob.Store, kr seal.Keyring) ([]blob.Layer, error) {
	w := s.Work
	var v Volume
	err := m.st.View(ctx, func(tx store.Tx) error {
		var err error
		v, err = store.GetJSON[Volume](tx, store.Key{Account: s.OwnerID, Region: s.Region, Kind: VolumeKind, ID: w.VolumeID})
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		// Deleted meanwhile. A volume the runtime held is deleted only
		// after its pending snapshots (snapshotPending), so this one never
		// was: its data is its layers.
		v = Volume{}
	} else if err != nil {
		return nil, err
	}
	if v.Root && v.Attachment != nil {
		w2 := *w
		w2.InstanceID = v.Attachment.InstanceID
		s.Work = &w2
		return m.captureRoot(ctx, s, bs, kr)
	}
	if !v.Materialized {
		if len(w.Base) == 0 {
			// Never written, from no snapshot: an empty filesystem,
			// stored as a layer like any other (images need one).
			l, err := seal.Put(ctx, bs, bytes.NewReader(emptyLayerTar[:]), "", kr)
			if err != nil {
				return nil, fmt.Errorf("store: %w", err)
			}
			return []blob.Layer{l}, nil
		}
		return append([]blob.Layer(nil), w.Base...), nil
	}
	vr, err := m.volumer()
	if err != nil {
		return nil, err
	}
	top, err := putCaptured(ctx, bs, kr, func(w2 io.Writer) (int64, error) {
		return vr.CaptureVolume(ctx, v.ID, w2)
	})
	if err != nil {
		return nil, err
	}
	return append(append([]blob.Layer(nil), w.Base...), top), nil
}

// emptyLayerTar is a tar archive without entries (its end marker).
var emptyLayerTar [1024]byte

// snapshotPending reports whether a snapshot of volume v still waits to
// capture it: the volume must not go away before.
func (m *Manager) snapshotPending(ctx context.Context, v Volume) (bool, error) {
	pending := false
	err := m.st.View(ctx, func(tx store.Tx) error {
		ss, err := store.ListJSON[Snapshot](tx, store.Query{Account: v.OwnerID, Region: v.Region, Kind: SnapshotKind})
		for _, s := range ss {
			if s.State == SnapshotPending && s.Work != nil && s.Work.Kind == CaptureVolume && s.Work.VolumeID == v.ID {
				pending = true
			}
		}
		return err
	})
	return pending, err
}

// errSnapshotPending: a volume to delete has a snapshot still capturing
// it; the deletion is retried once the snapshot completes.
var errSnapshotPending = errors.New("ebs: a snapshot of the volume is still pending")

// putCaptured streams what capture writes into bs (sealed under kr when
// set) and checks that both sides saw the same bytes.
func putCaptured(ctx context.Context, bs blob.Store, kr seal.Keyring, capture func(io.Writer) (int64, error)) (blob.Layer, error) {
	pr, pw := io.Pipe()
	type result struct {
		n   int64
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := capture(pw)
		pw.CloseWithError(err)
		done <- result{n, err}
	}()
	l, err := seal.Put(ctx, bs, pr, "", kr)
	pr.CloseWithError(errors.Join(err, io.ErrClosedPipe)) // unblock the writer
	c := <-done
	if c.err != nil {
		return blob.Layer{}, fmt.Errorf("capture: %w", c.err)
	}
	if err != nil {
		return blob.Layer{}, fmt.Errorf("store: %w", err)
	}
	if l.Size != c.n {
		return blob.Layer{}, fmt.Errorf("capture: wrote %d bytes, %d stored", c.n, l.Size)
	}
	return l, nil
}

// copyLayers copies the source layers into s's region, sealing them under
// the work's key when set. Progress is recorded after every layer.
func (m *Manager) copyLayers(ctx context.Context, s Snapshot, dst blob.Store, dstKr seal.Keyring) ([]blob.Layer, error) {
	w := s.Work
	src, err := m.region(w.FromRegion)
	if err != nil {
		return nil, err
	}
	srcKr := m.keyring(w.Caller, w.FromRegion, "")
	var total, done int64
	for _, l := range w.FromLayers {
		total += l.Size
	}
	out := make([]blob.Layer, 0, len(w.FromLayers))
	for _, l := range w.FromLayers {
		var nl blob.Layer
		if w.FromRegion == s.Region && l.Sealed != nil && dstKr != nil && sameKey(ctx, dst, l, w.KeyARN) {
			nl = l // already sealed under the target key in this store
		} else {
			nl, err = seal.Copy(ctx, src, dst, l, srcKr, dstKr)
			if err != nil {
				return nil, fmt.Errorf("copy layer %s: %w", l.Digest, err)
			}
		}
		out = append(out, nl)
		done += l.Size
		if total > 0 {
			m.progress(ctx, s.Key(), int(done*100/total))
		}
	}
	return out, nil
}

// sameKey reports whether a sealed layer in bs is sealed under keyARN.
func sameKey(ctx context.Context, bs blob.Store, l blob.Layer, keyARN string) bool {
	rc, err := bs.Open(ctx, l.Sealed.Digest)
	if err != nil {
		return false
	}
	defer rc.Close()
	arn, err := seal.KeyARN(rc)
	return err == nil && arn == keyARN
}

// progress records a pending snapshot's progress (at most 99% until done).
func (m *Manager) progress(ctx context.Context, k store.Key, pct int) {
	pct = min(pct, 99)
	err := m.st.Update(ctx, func(tx store.Tx) error {
		s, err := store.GetJSON[Snapshot](tx, k)
		if err != nil || s.State != SnapshotPending || s.Progress >= pct {
			return err
		}
		s.Progress = pct
		return store.PutJSON(tx, k, "", s)
	})
	if err != nil && ctx.Err() == nil && !errors.Is(err, store.ErrNotFound) {
		m.log.Warn("ebs: record progress", "id", k.ID, "err", err)
	}
}

// finish records a snapshot's outcome and, when it belongs to a pending
// image, the image's outcome once all its snapshots are done.
func (m *Manager) finish(ctx context.Context, k store.Key, layers []blob.Layer, werr error) error {
	now := m.clk.Now()
	return m.st.Update(ctx, func(tx store.Tx) error {
		s, err := store.GetJSON[Snapshot](tx, k)
		if errors.Is(err, store.ErrNotFound) {
			return nil // deleted while pending
		}
		if err != nil {
			return err
		}
		if s.State != SnapshotPending || s.Work == nil {
			return nil
		}
		s.Work = nil
		if werr != nil {
			s.State = SnapshotError
			s.StateMessage = werr.Error()
		} else {
			s.State = SnapshotCompleted
			s.Progress = 100
			s.Layers = layers
			s.Completed = now
		}
		if err := store.PutJSON(tx, k, "", s); err != nil {
			return err
		}
		if s.ImageID == "" {
			return nil
		}
		return finishImage(tx, s)
	})
}

// finishImage makes a pending image available when all its snapshots
// completed (its layers are the root snapshot's), or failed when one
// failed.
func finishImage(tx store.Tx, s Snapshot) error {
	ik := store.Key{Account: s.OwnerID, Region: s.Region, Kind: image.Kind, ID: s.ImageID}
	img, err := store.GetJSON[image.Image](tx, ik)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil || img.State != image.StatePending {
		return err
	}
	failed := ""
	var rootLayers []blob.Layer
	for _, bd := range img.BlockDevices {
		if bd.SnapshotID == "" {
			continue
		}
		bs := s
		if bd.SnapshotID != s.ID {
			bs, err = store.GetJSON[Snapshot](tx, store.Key{Account: s.OwnerID, Region: s.Region, Kind: SnapshotKind, ID: bd.SnapshotID})
			if errors.Is(err, store.ErrNotFound) {
				failed = "snapshot " + bd.SnapshotID + " was deleted"
				break
			}
			if err != nil {
				return err
			}
		}
		switch bs.State {
		case SnapshotPending:
			return nil // not yet
		case SnapshotError:
			failed = bs.StateMessage
		}
		if bd.DeviceName == img.RootDeviceName {
			rootLayers = bs.Layers
		}
	}
	if failed == "" && len(rootLayers) == 0 {
		failed = "the image has no root snapshot"
	}
	if failed != "" {
		img.State = image.StateFailed
		img.StateReason = failed
	} else {
		img.State = image.StateAvailable
		img.Layers = rootLayers
	}
	return store.PutJSON(tx, ik, img.Name, img)
}
