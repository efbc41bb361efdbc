package initd

import (
	"bufio"
	"os"
	"strings"
	"syscall"
)

// setupMounts adds what runc's default OCI mounts (/proc, /sys, /dev,
// /dev/pts, /dev/shm, /dev/mqueue) leave out: a tmpfs on /run (and
// /run/lock), and a world-writable sticky /tmp. Only for root "/".
func setupMounts(root string) error {
	if root != "/" {
		return nil
	}
	mounted := mountPoints()
	var firstErr error
	keep := func(err error) {
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	if !mounted["/run"] {
		keep(os.MkdirAll("/run", 0o755))
		keep(syscall.Mount("tmpfs", "/run", "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "mode=0755,size=64m"))
	}
	keep(os.MkdirAll("/run/lock", 0o1777))
	_ = os.Chmod("/run/lock", 0o1777|os.ModeSticky)
	if err := os.MkdirAll("/tmp", 0o1777); err == nil {
		_ = os.Chmod("/tmp", 0o777|os.ModeSticky)
	}
	if _, err := os.Lstat("/var/run"); os.IsNotExist(err) {
		_ = os.MkdirAll("/var", 0o755)
		_ = os.Symlink("/run", "/var/run")
	}
	return firstErr
}

func mountPoints() map[string]bool {
	m := map[string]bool{}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return m
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) > 4 {
			m[fs[4]] = true
		}
	}
	return m
}
