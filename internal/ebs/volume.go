package ebs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"

	"github.com/kiln-dev/kiln/internal/blob"
	"github.com/kiln-dev/kiln/internal/instance"
	"github.com/kiln-dev/kiln/internal/runtime"
	"github.com/kiln-dev/kiln/internal/store"
)

// errNoRuntime: the work needs the instance runtime, which this kiln has
// not (yet) started; the work stays pending.
var errNoRuntime = errors.New("ebs: no instance runtime")

// volumeHasWork reports whether a data volume waits for the manager:
// being attached, detached or deleted.
func volumeHasWork(v Volume) bool {
	if v.Root {
		return false
	}
	if v.State == VolumeDeleting {
		return true
	}
	return v.Attachment != nil && (v.Attachment.State == Attaching || v.Attachment.State == Detaching)
}

// MountName is the name an attached volume has inside its instance (under
// runtime.VolumeDir): the device name's last element.
func MountName(device string) string { return path.Base(device) }

func (m *Manager) volumer() (runtime.Volumer, error) {
	rt, _ := m.deps()
	vr, ok := rt.(runtime.Volumer)
	if !ok {
		return nil, errNoRuntime
	}
	return vr, nil
}

// runVolume attaches, detaches or deletes a data volume in the runtime and
// records the outcome. Failures are logged and retried at the next tick.
func (m *Manager) runVolume(ctx context.Context, v Volume) {
	err := m.volumeWork(ctx, v)
	if err != nil && ctx.Err() == nil {
		m.log.Warn("ebs: volume work failed", "id", v.ID, "state", v.State, "err", err)
	}
}

func (m *Manager) volumeWork(ctx context.Context, v Volume) error {
	vr, err := m.volumer()
	if err != nil {
		return err
	}
	switch {
	case v.State == VolumeDeleting:
		if pending, err := m.snapshotPending(ctx, v); err != nil || pending {
			return err // deleted once the snapshot has its data
		}
		if err := vr.DeleteVolume(ctx, v.ID); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			return err
		}
		return m.deleteVolume(ctx, v.Key())
	case v.Attachment.State == Attaching:
		err := m.attach(ctx, vr, v)
		if errors.Is(err, runtime.ErrNotFound) && m.launching(ctx, v) {
			return nil // mapped at launch: attached before the first boot
		}
		return err
	case v.Attachment.State == Detaching:
		if err := vr.DetachVolume(ctx, v.Attachment.InstanceID, v.ID, MountName(v.Attachment.Device)); err != nil {
			return err
		}
		return m.updateVolume(ctx, v.Key(), func(nv *Volume) bool {
			if nv.Attachment == nil || nv.Attachment.State != Detaching {
				return false
			}
			nv.Attachment = nil
			nv.State = VolumeAvailable
			return true
		})
	}
	return nil
}

// attach mounts an attaching volume into its instance and records it
// attached.
func (m *Manager) attach(ctx context.Context, vr runtime.Volumer, v Volume) error {
	if err := m.materialize(ctx, vr, v); err != nil {
		return err
	}
	if err := vr.AttachVolume(ctx, v.Attachment.InstanceID, v.ID, MountName(v.Attachment.Device)); err != nil {
		return err
	}
	return m.updateVolume(ctx, v.Key(), func(nv *Volume) bool {
		if nv.Attachment == nil || nv.Attachment.State != Attaching || nv.Attachment.InstanceID != v.Attachment.InstanceID {
			return false
		}
		nv.Materialized = true
		nv.Attachment.State = Attached
		nv.State = VolumeInUse
		return true
	})
}

// launching reports whether the instance a volume is attaching to has not
// been created yet (a volume its launch mapped): InstanceStarting attaches
// it.
func (m *Manager) launching(ctx context.Context, v Volume) bool {
	var r instance.Record
	err := m.st.View(ctx, func(tx store.Tx) error {
		var err error
		r, err = store.GetJSON[instance.Record](tx, store.Key{Account: v.OwnerID, Region: v.Region, Kind: instance.Kind, ID: v.Attachment.InstanceID})
		return err
	})
	return err == nil && r.State == instance.Pending
}

// InstanceStarting attaches the volumes waiting for an instance that is
// about to boot (those its launch mapped, or attached while its container
// did not exist), so that they are there from its first instruction. The
// instance controller calls it after creating the container, before every
// boot.
func (m *Manager) InstanceStarting(ctx context.Context, r instance.Record) error {
	var vols []Volume
	err := m.st.View(ctx, func(tx store.Tx) error {
		all, err := store.ListJSON[Volume](tx, store.Query{Account: r.Account, Region: r.Region, Kind: VolumeKind})
		for _, v := range all {
			if !v.Root && v.Attachment != nil && v.Attachment.InstanceID == r.ID && v.Attachment.State == Attaching {
				vols = append(vols, v)
			}
		}
		return err
	})
	if err != nil || len(vols) == 0 {
		return err
	}
	vr, err := m.volumer()
	if err != nil {
		return err
	}
	for _, v := range vols {
		if err := m.attach(ctx, vr, v); err != nil {
			return fmt.Errorf("volume %s: %w", v.ID, err)
		}
	}
	return nil
}

// materialize makes the runtime hold the volume, created from its layers.
func (m *Manager) materialize(ctx context.Context, vr runtime.Volumer, v Volume) error {
	bs, err := m.region(v.Region)
	if err != nil {
		return err
	}
	kr := m.keyring(v.OwnerID, v.Region, "")
	err = vr.CreateVolume(ctx, v.ID, RuntimeLayers(bs, kr, v.Layers))
	if err != nil && !errors.Is(err, runtime.ErrAlreadyExists) {
		return fmt.Errorf("create volume: %w", err)
	}
	return nil
}

// updateVolume applies fn to the stored volume and writes it when fn
// reports a change.
func (m *Manager) updateVolume(ctx context.Context, k store.Key, fn func(*Volume) bool) error {
	return m.st.Update(ctx, func(tx store.Tx) error {
		v, err := store.GetJSON[Volume](tx, k)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if !fn(&v) {
			return nil
		}
		return store.PutJSON(tx, k, "", v)
	})
}

// InstanceTerminating settles the volumes of an instance about to be
// deleted (the instance controller calls it before removing the
// container; it may run again after a crash). The root volume is deleted
// with the instance, or — DeleteOnTermination false — its changes are
// captured and it becomes an available volume; data volumes are detached
// (the runtime's Delete unmounts them) and deleted if so marked.
func (m *Manager) InstanceTerminating(ctx context.Context, r instance.Record) error {
	var vols []Volume
	err := m.st.View(ctx, func(tx store.Tx) error {
		all, err := store.ListJSON[Volume](tx, store.Query{Account: r.Account, Region: r.Region, Kind: VolumeKind})
		for _, v := range all {
			if v.Attachment != nil && v.Attachment.InstanceID == r.ID {
				vols = append(vols, v)
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	for _, v := range vols {
		if err := m.settle(ctx, r, v); err != nil {
			return fmt.Errorf("volume %s: %w", v.ID, err)
		}
	}
	return nil
}

func (m *Manager) settle(ctx context.Context, r instance.Record, v Volume) error {
	del := v.Attachment.DeleteOnTermination
	if pending, err := m.snapshotPending(ctx, v); err != nil {
		return err
	} else if pending {
		return errSnapshotPending // the termination is retried
	}
	switch {
	case v.Root && del:
	case v.Root:
		rt, _ := m.deps()
		capt, ok := rt.(runtime.Capturer)
		if !ok {
			return errNoRuntime
		}
		if err := rt.Stop(ctx, r.ID, 0); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			return err
		}
		bs, err := m.region(v.Region)
		if err != nil {
			return err
		}
		kr := m.keyring(v.OwnerID, v.Region, v.KmsKeyID)
		if !v.Encrypted {
			kr = nil
		}
		top, err := putCaptured(ctx, bs, kr, func(w2 io.Writer) (int64, error) { return capt.Capture(ctx, r.ID, w2) })
		if errors.Is(err, runtime.ErrNotFound) {
			top = blob.Layer{} // the container is gone: nothing to keep but the layers
		} else if err != nil {
			return err
		}
		return m.updateVolume(ctx, v.Key(), func(nv *Volume) bool {
			if !nv.Root || nv.Attachment == nil || nv.Attachment.InstanceID != r.ID {
				return false
			}
			if top.Digest != "" {
				nv.Layers = append(nv.Layers, top)
			}
			nv.Root, nv.Attachment, nv.State, nv.Materialized = false, nil, VolumeAvailable, false
			return true
		})
	default:
		vr, err := m.volumer()
		if err != nil {
			return err
		}
		if err := vr.DetachVolume(ctx, r.ID, v.ID, MountName(v.Attachment.Device)); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			return err
		}
		if del {
			if err := vr.DeleteVolume(ctx, v.ID); err != nil && !errors.Is(err, runtime.ErrNotFound) {
				return err
			}
		} else {
			return m.updateVolume(ctx, v.Key(), func(nv *Volume) bool {
				if nv.Attachment == nil || nv.Attachment.InstanceID != r.ID {
					return false
				}
				nv.Attachment, nv.State = nil, VolumeAvailable
				return true
			})
		}
	}
	return m.deleteVolume(ctx, v.Key())
}

// deleteVolume removes a volume record (already gone is fine).
func (m *Manager) deleteVolume(ctx context.Context, k store.Key) error {
	return m.st.Update(ctx, func(tx store.Tx) error {
		if err := tx.Delete(k); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return nil
	})
}
