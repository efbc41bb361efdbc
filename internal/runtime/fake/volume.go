package fake

import (
	"context"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/kiln-dev/kiln/internal/runtime"
	"github.com/kiln-dev/kiln/internal/runtime/runtimetest"
)

// Operation names of the Volumer methods.
const (
	OpCreateVolume  = "CreateVolume"
	OpDeleteVolume  = "DeleteVolume"
	OpCaptureVolume = "CaptureVolume"
	OpAttachVolume  = "AttachVolume"
	OpDetachVolume  = "DetachVolume"
	OpVolumes       = "Volumes"
)

var _ runtime.Volumer = (*Runtime)(nil)

type volume struct {
	layers   []runtime.Layer
	files    map[string]string // SetVolumeDiff: changed files
	deleted  []string          // SetVolumeDiff: deleted paths
	instance string            // attached to ("" when detached)
	name     string
}

// Attachment is one volume attachment (Attachments).
type Attachment struct {
	InstanceID, VolumeID, Name string
}

// SetVolumeDiff sets the changes CaptureVolume reports for the volume:
// files (path → content) written and paths deleted (reported as OCI
// whiteouts). The volume must exist.
func (f *Runtime) SetVolumeDiff(id string, files map[string]string, deleted ...string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.vols[id]
	if !ok {
		return notFound(id)
	}
	v.files, v.deleted = maps.Clone(files), slices.Clone(deleted)
	return nil
}

// VolumeLayers returns the layers the volume was created from.
func (f *Runtime) VolumeLayers(id string) ([]runtime.Layer, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.vols[id]
	if !ok {
		return nil, false
	}
	return slices.Clone(v.layers), true
}

// Attachments lists the current attachments, sorted by instance and name.
func (f *Runtime) Attachments() []Attachment {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Attachment
	for id, v := range f.vols {
		if v.instance != "" {
			out = append(out, Attachment{InstanceID: v.instance, VolumeID: id, Name: v.name})
		}
	}
	slices.SortFunc(out, func(a, b Attachment) int {
		return strings.Compare(a.InstanceID+"/"+a.Name, b.InstanceID+"/"+b.Name)
	})
	return out
}

func validElem(what, s string) error {
	if s == "" || s == "." || s == ".." || strings.ContainsAny(s, "/\\ \t\n,:") {
		return fmt.Errorf("fake: invalid %s %q", what, s)
	}
	return nil
}

// CreateVolume records the volume.
func (f *Runtime) CreateVolume(ctx context.Context, id string, layers []runtime.Layer) error {
	if err := f.begin(ctx, OpCreateVolume, id); err != nil {
		return err
	}
	if err := validElem("volume ID", id); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.vols[id]; ok {
		return fmt.Errorf("%w: %s", runtime.ErrAlreadyExists, id)
	}
	if _, ok := f.inst[id]; ok { // one namespace, as containerd's snapshots
		return fmt.Errorf("%w: %s", runtime.ErrAlreadyExists, id)
	}
	f.vols[id] = &volume{layers: slices.Clone(layers)}
	return nil
}

// DeleteVolume removes a detached volume.
func (f *Runtime) DeleteVolume(ctx context.Context, id string) error {
	if err := f.begin(ctx, OpDeleteVolume, id); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.vols[id]
	if !ok {
		return notFound(id)
	}
	if v.instance != "" {
		return fmt.Errorf("%w: %s is attached to %s", runtime.ErrVolumeInUse, id, v.instance)
	}
	delete(f.vols, id)
	return nil
}

// CaptureVolume writes the changes set with SetVolumeDiff as a tar layer
// (files in path order, then whiteouts): the same changes always give the
// same bytes.
func (f *Runtime) CaptureVolume(ctx context.Context, id string, w io.Writer) (int64, error) {
	if err := f.begin(ctx, OpCaptureVolume, id); err != nil {
		return 0, err
	}
	f.mu.Lock()
	v, ok := f.vols[id]
	var files map[string]string
	if ok {
		files = maps.Clone(v.files)
		if files == nil {
			files = map[string]string{}
		}
		for _, p := range v.deleted {
			dir, base := path.Split(strings.TrimPrefix(p, "/"))
			files[dir+".wh."+base] = ""
		}
	}
	f.mu.Unlock()
	if !ok {
		return 0, notFound(id)
	}
	b, _, err := runtimetest.FileLayer(files)
	if err != nil {
		return 0, err
	}
	n, err := w.Write(b)
	return int64(n), err
}

// AttachVolume records the attachment (whether the instance runs or not).
func (f *Runtime) AttachVolume(ctx context.Context, instanceID, volumeID, name string) error {
	if err := f.begin(ctx, OpAttachVolume, instanceID+" "+volumeID+" "+name); err != nil {
		return err
	}
	if err := validElem("attachment name", name); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.inst[instanceID]; !ok {
		return notFound(instanceID)
	}
	v, ok := f.vols[volumeID]
	if !ok {
		return notFound(volumeID)
	}
	if v.instance == instanceID && v.name == name {
		return nil
	}
	if v.instance != "" {
		return fmt.Errorf("%w: %s is attached to %s as %s", runtime.ErrVolumeInUse, volumeID, v.instance, v.name)
	}
	for other, o := range f.vols {
		if o.instance == instanceID && o.name == name {
			return fmt.Errorf("%w: %s: %s/%s is taken (%s)", runtime.ErrAlreadyExists, instanceID, runtime.VolumeDir, name, other)
		}
	}
	v.instance, v.name = instanceID, name
	return nil
}

// DetachVolume removes the attachment (name "": under any name); detaching
// what is not attached succeeds.
func (f *Runtime) DetachVolume(ctx context.Context, instanceID, volumeID, name string) error {
	if err := f.begin(ctx, OpDetachVolume, instanceID+" "+volumeID+" "+name); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if v, ok := f.vols[volumeID]; ok && v.instance == instanceID && (name == "" || v.name == name) {
		v.instance, v.name = "", ""
	}
	return nil
}

// Volumes lists the volume IDs, sorted.
func (f *Runtime) Volumes(ctx context.Context) ([]string, error) {
	if err := f.begin(ctx, OpVolumes, ""); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Sorted(maps.Keys(f.vols)), nil
}

// detachInstanceLocked drops the instance's attachments (Delete).
func (f *Runtime) detachInstanceLocked(instanceID string) {
	for _, v := range f.vols {
		if v.instance == instanceID {
			v.instance, v.name = "", ""
		}
	}
}
