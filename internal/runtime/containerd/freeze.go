package containerd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/containerd/cgroups/v3"
)

// The cgroup freezer, driven directly.
//
// Pausing through containerd makes the shim spawn `runc pause` and
// `runc resume`: some 7 ms each, most of the cost of capturing a small
// change of a running instance. runc does nothing but write the freezer
// state of the container's cgroup and wait for the kernel to report it
// reached, so kiln does the same on the cgroup it gave the container
// (CgroupPath). containerd's shim then still believes the task running;
// Start and Stop therefore thaw a cgroup left frozen (by a capture a kill
// -9 cut short) before acting on the task. containerd/cgroups has
// freezers too, but its cgroup v2 one reads back cgroup.freeze (the
// request) rather than waiting for cgroup.events to say "frozen 1", and
// neither takes a deadline.

// cgroupRoot is where the cgroup hierarchies are mounted.
const cgroupRoot = "/sys/fs/cgroup"

// freezeTimeout bounds the wait for the kernel to freeze or thaw every
// task of a cgroup.
const freezeTimeout = 10 * time.Second

// errNoFreezer means the instance's cgroup freezer is not reachable from
// kiln (another cgroup driver, another host's containerd): use containerd.
var errNoFreezer = errors.New("containerd: cgroup freezer not reachable")

// freezer is the freezer of one cgroup: the file to write the wanted
// state to, and how to read whether it is reached.
type freezer struct {
	v2  bool
	dir string
}

func freezerOf(id string) (freezer, error) {
	var f freezer
	switch cgroups.Mode() {
	case cgroups.Unified:
		f = freezer{v2: true, dir: filepath.Join(cgroupRoot, CgroupPath(id))}
	case cgroups.Legacy, cgroups.Hybrid:
		f = freezer{dir: filepath.Join(cgroupRoot, "freezer", CgroupPath(id))}
	default:
		return f, errNoFreezer
	}
	if _, err := os.Stat(f.dir); err != nil {
		return f, errNoFreezer
	}
	return f, nil
}

// set asks for frozen or thawed and waits until every task in the cgroup
// is; on failure to freeze in time it thaws again.
func (f freezer) set(ctx context.Context, frozen bool) error {
	ctx, cancel := context.WithTimeout(ctx, freezeTimeout)
	defer cancel()
	delay := 50 * time.Microsecond
	for {
		// Written on every round: in cgroup v1 a task forked meanwhile
		// can leave the cgroup FREEZING, and writing again retries.
		if err := f.request(frozen); err != nil {
			return err
		}
		ok, err := f.reached(frozen)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			if frozen {
				_ = f.request(false)
			}
			return fmt.Errorf("containerd: cgroup %s: freezer state not reached: %w", f.dir, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Millisecond)
	}
}

func (f freezer) request(frozen bool) error {
	name, v := "freezer.state", "THAWED"
	if f.v2 {
		name, v = "cgroup.freeze", "0"
		if frozen {
			v = "1"
		}
	} else if frozen {
		v = "FROZEN"
	}
	return os.WriteFile(filepath.Join(f.dir, name), []byte(v), 0)
}

func (f freezer) reached(frozen bool) (bool, error) {
	if f.v2 {
		b, err := os.ReadFile(filepath.Join(f.dir, "cgroup.events"))
		if err != nil {
			return false, err
		}
		want := "frozen 0"
		if frozen {
			want = "frozen 1"
		}
		for _, l := range strings.Split(string(b), "\n") {
			if l == want {
				return true, nil
			}
		}
		return false, nil
	}
	b, err := os.ReadFile(filepath.Join(f.dir, "freezer.state"))
	if err != nil {
		return false, err
	}
	s := strings.TrimSpace(string(b))
	return (s == "FROZEN") == frozen && s != "FREEZING", nil
}

// isFrozen reports whether the instance's cgroup is frozen (or freezing).
func (f freezer) isFrozen() bool {
	if f.v2 {
		b, err := os.ReadFile(filepath.Join(f.dir, "cgroup.freeze"))
		return err == nil && strings.TrimSpace(string(b)) == "1"
	}
	b, err := os.ReadFile(filepath.Join(f.dir, "freezer.state"))
	return err == nil && strings.TrimSpace(string(b)) != "THAWED"
}

// thawLeftover thaws the instance's cgroup if a Pause of kiln's left it
// frozen; before Start and Stop act on the task.
func (r *Runtime) thawLeftover(ctx context.Context, id string) {
	f, err := freezerOf(id)
	if err != nil || !f.isFrozen() {
		return
	}
	if err := f.set(ctx, false); err != nil {
		r.log.Warn("thaw", "id", id, "err", err)
	}
}
