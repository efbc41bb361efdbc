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
// Start creates the task. The instance must not run: a stopped task is
// left for Start to replace, one created but never started is deleted.
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
		switch {
		case err != nil, st.Status == client.Stopped:
			// Start replaces a stopped task.
		case st.Status == client.Created:
			// Never started (a Start cut short): its cgroup has the old
			// limits, so remove it as Start's own rollback would.
			if _, err := t.Delete(ctx, client.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
				return mapErr(id, err)
			}
		default:
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
