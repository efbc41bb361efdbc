package containerd

import (
	"context"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/kiln-dev/kiln/internal/runtime"
)

// machineCaps are the capabilities of an instance's root: those of a
// machine's administrator, inside the instance's own namespaces. Added to
// Docker's defaults: SYS_ADMIN (mount, hostname, cgroups inside), NET_ADMIN
// (its own netns: addresses, routes, firewall), SYS_PTRACE (debuggers),
// SYS_RESOURCE, SYS_NICE, IPC_LOCK, SYS_BOOT (reboot/poweroff end the
// instance's PID namespace), LINUX_IMMUTABLE, SYSLOG, NET_BROADCAST.
// Left out because they reach the shared host kernel: SYS_MODULE,
// SYS_RAWIO, SYS_TIME, MAC_ADMIN, MAC_OVERRIDE, DAC_READ_SEARCH
// (open_by_handle_at), BPF, PERFMON, WAKE_ALARM, BLOCK_SUSPEND.
var machineCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
	"CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_SYS_PTRACE", "CAP_SYS_RESOURCE",
	"CAP_SYS_NICE", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_BOOT",
	"CAP_LINUX_IMMUTABLE", "CAP_SYSLOG", "CAP_NET_BROADCAST", "CAP_LEASE",
	"CAP_AUDIT_CONTROL", "CAP_AUDIT_READ", "CAP_SYS_TTY_CONFIG",
}

// capBits numbers the capabilities of machineCaps (linux/capability.h).
var capBits = map[string]uint{
	"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_FOWNER": 3, "CAP_FSETID": 4,
	"CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8,
	"CAP_LINUX_IMMUTABLE": 9, "CAP_NET_BIND_SERVICE": 10, "CAP_NET_BROADCAST": 11,
	"CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13, "CAP_IPC_LOCK": 14, "CAP_IPC_OWNER": 15,
	"CAP_SYS_CHROOT": 18, "CAP_SYS_PTRACE": 19, "CAP_SYS_ADMIN": 21, "CAP_SYS_BOOT": 22,
	"CAP_SYS_NICE": 23, "CAP_SYS_RESOURCE": 24, "CAP_SYS_TTY_CONFIG": 26, "CAP_MKNOD": 27,
	"CAP_LEASE": 28, "CAP_AUDIT_WRITE": 29, "CAP_AUDIT_CONTROL": 30, "CAP_SETFCAP": 31,
	"CAP_SYSLOG": 34, "CAP_AUDIT_READ": 37,
}

// availableCaps returns the capabilities of machineCaps that the host's
// bounding set (kiln's, which containerd shares) holds: a capability the
// host lacks cannot be given (runc fails with "unable to apply caps"), as
// on sandboxed hosts without CAP_SYS_RESOURCE.
func availableCaps() []string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return machineCaps
	}
	var bnd uint64
	found := false
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapBnd:"); ok {
			bnd, err = strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			found = err == nil
		}
	}
	if !found {
		return machineCaps
	}
	var out []string
	for _, c := range machineCaps {
		if bnd&(1<<capBits[c]) != 0 {
			out = append(out, c)
		}
	}
	return out
}

const cpuPeriod = 100000 // µs

// CgroupPath is the cgroup (relative to each hierarchy's root) of an
// instance.
func CgroupPath(id string) string { return path.Join("/kiln", id) }

// specOpts builds the OCI spec of an instance's container. attachDir, when
// set, is the host directory shown at runtime.VolumeDir (volume
// attachments).
func specOpts(s runtime.Spec, caps []string, attachDir string) []oci.SpecOpts {
	args := s.Args
	if len(args) == 0 {
		args = []string{runtime.InitTarget, "init"}
	}
	opts := []oci.SpecOpts{
		oci.WithProcessArgs(args...),
		oci.WithProcessCwd("/"),
		oci.WithCapabilities(caps),
		withNoNewPrivileges(false),
		oci.WithCgroup(CgroupPath(s.ID)),
	}
	if s.Hostname != "" {
		opts = append(opts, oci.WithHostname(s.Hostname))
	}
	if len(s.Env) > 0 {
		opts = append(opts, oci.WithEnv(s.Env))
	}
	var mounts []specs.Mount
	if s.InitPath != "" {
		mounts = append(mounts, specs.Mount{
			Type: "bind", Source: s.InitPath, Destination: runtime.InitTarget,
			Options: []string{"rbind", "ro", "nosuid", "nodev"},
		})
	}
	for _, m := range s.Mounts {
		o := []string{"rbind"}
		if m.ReadOnly {
			o = append(o, "ro")
		} else {
			o = append(o, "rw")
		}
		mounts = append(mounts, specs.Mount{Type: "bind", Source: m.Source, Destination: m.Target, Options: o})
	}
	if attachDir != "" {
		// Volumes are mounted below attachDir on the host (a shared
		// mount); rslave makes those mounts and unmounts propagate into
		// the running instance, and nothing the instance mounts there
		// propagate back. The directory itself is read-only inside (the
		// volumes mounted below it are not): the instance cannot write
		// into the host's attachment directory.
		mounts = append(mounts, specs.Mount{
			Type: "bind", Source: attachDir, Destination: runtime.VolumeDir,
			Options: []string{"rbind", "rslave", "ro", "nosuid", "nodev"},
		})
		// runc's default, made explicit: the container's mounts are
		// slaves of the host's, so propagation from the host reaches it.
		opts = append(opts, withRootfsPropagation("rslave"))
	}
	if len(mounts) > 0 {
		opts = append(opts, oci.WithMounts(mounts))
	}
	if s.NetNSPath != "" {
		opts = append(opts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: s.NetNSPath}))
	}
	opts = append(opts, withLimits(s.VCPUs, s.MemoryMiB))
	return opts
}

// withLimits sets the instance's CPU bandwidth (vcpus × cpuPeriod per
// cpuPeriod) and memory limit, replacing earlier ones; 0 leaves the
// resource unlimited. Create and Resize both use it.
func withLimits(vcpus int, memoryMiB int64) oci.SpecOpts {
	return func(ctx context.Context, cl oci.Client, c *containers.Container, s *oci.Spec) error {
		if s.Linux == nil {
			return nil
		}
		if r := s.Linux.Resources; r != nil {
			if r.Memory != nil {
				r.Memory.Limit = nil
			}
			if r.CPU != nil {
				r.CPU.Quota, r.CPU.Period = nil, nil
			}
		}
		var opts []oci.SpecOpts
		if memoryMiB > 0 {
			opts = append(opts, oci.WithMemoryLimit(uint64(memoryMiB)<<20))
		}
		if vcpus > 0 {
			opts = append(opts, oci.WithCPUCFS(int64(vcpus)*cpuPeriod, cpuPeriod))
		}
		return oci.ApplyOpts(ctx, cl, c, s, opts...)
	}
}

func withRootfsPropagation(p string) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if s.Linux == nil {
			s.Linux = &specs.Linux{}
		}
		s.Linux.RootfsPropagation = p
		return nil
	}
}

func withNoNewPrivileges(v bool) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if s.Process == nil {
			return fmt.Errorf("spec has no process")
		}
		s.Process.NoNewPrivileges = v
		return nil
	}
}
