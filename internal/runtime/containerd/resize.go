package containerd

import (
	"context"
	"fmt"

	client "github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"

	"github.com/kiln-dev/kiln/internal/runtime"
)

var _ runtime.Resizer = (*Runtime)(nil)

// Resize rewrites the CPU and memory limits in the container's OCI spec
// (as Create sets them); runc applies them to the cgroup when the next
// Start creates the task. A task must not exist, or be stopped (Start
// replaces it).
func (r *Runtime) Resize(ctx context.Context, id string, vcpus int, memoryMiB int64) error {
	ctx = r.ns(ctx)
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return mapErr(id, err)
	}
	if t, err := c.Task(ctx, nil); err == nil {
		st, err := t.Status(ctx)
		if err != nil && !errdefs.IsNotFound(err) {
			return mapErr(id, err)
		}
		if err == nil && st.Status != client.Stopped {
			return fmt.Errorf("%w: %s (%s): cannot resize", runtime.ErrRunning, id, st.Status)
		}
	} else if !errdefs.IsNotFound(err) {
		return mapErr(id, err)
	}
	spec, err := c.Spec(ctx)
	if err != nil {
		return mapErr(id, err)
	}
	err = c.Update(ctx, client.UpdateContainerOpts(client.WithSpec(spec, withLimits(vcpus, memoryMiB))))
	if err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("containerd: %s: resize: %w", id, err)
	}
	return mapErr(id, err)
}
