package action

import (
	"context"
	"fmt"
	"os"
	osexec "os/exec"
	"strings"

	"github.com/kiln-dev/kiln/internal/toe/exec"
)

// updateOS updates packages with the first package manager found among
// dnf, yum and apt-get. The result set is include − exclude; with no
// include every available update is installed.
func (m *modules) updateOS(ctx context.Context, c *exec.Call) (exec.Outputs, error) {
	var in input
	if len(c.Inputs) > 0 {
		in = input(c.Inputs[0])
	}
	include, exclude := in.strings("include"), in.strings("exclude")
	if m.cfg.OS != "linux" {
		return nil, fmt.Errorf("UpdateOS is not supported on %s by this runner", m.cfg.OS)
	}
	var mgr string
	for _, cand := range []string{"dnf", "yum", "apt-get"} {
		if p, err := osexec.LookPath(cand); err == nil {
			mgr = p
			break
		}
	}
	if mgr == "" {
		return nil, fmt.Errorf("UpdateOS: no supported package manager found (dnf, yum or apt-get)")
	}
	var cmds [][]string
	if strings.HasSuffix(mgr, "apt-get") {
		os.Setenv("DEBIAN_FRONTEND", "noninteractive")
		cmds = append(cmds, []string{mgr, "update"})
		for _, x := range exclude {
			cmds = append(cmds, []string{"apt-mark", "hold", x})
		}
		if len(include) == 0 {
			cmds = append(cmds, []string{mgr, "-y", "upgrade"})
		} else {
			pk := minus(include, exclude)
			if len(pk) > 0 {
				cmds = append(cmds, append([]string{mgr, "-y", "install", "--only-upgrade"}, pk...))
			}
		}
		for _, x := range exclude {
			cmds = append(cmds, []string{"apt-mark", "unhold", x})
		}
	} else {
		args := []string{mgr, "-y", "update"}
		if len(include) > 0 {
			pk := minus(include, exclude)
			if len(pk) == 0 {
				return exec.Outputs{{"stdout": "nothing to update"}}, nil
			}
			args = append(args, pk...)
		}
		for _, x := range exclude {
			args = append(args, "--exclude="+x)
		}
		cmds = append(cmds, args)
	}
	var all []string
	for _, cmd := range cmds {
		out, err := runProcess(ctx, c, cmd[0], cmd[1:]...)
		all = append(all, out)
		if err != nil {
			return exec.Outputs{{"stdout": strings.Join(all, "\n")}}, fmt.Errorf("UpdateOS: %s: %w", strings.Join(cmd, " "), err)
		}
	}
	return exec.Outputs{{"stdout": strings.Join(all, "\n")}}, nil
}

func minus(a, b []string) []string {
	drop := map[string]bool{}
	for _, x := range b {
		drop[x] = true
	}
	var out []string
	for _, x := range a {
		if !drop[x] {
			out = append(out, x)
		}
	}
	return out
}
