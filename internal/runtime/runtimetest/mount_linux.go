package runtimetest

import (
	"os"
	"strings"
	"syscall"
)

// UnmountUnder lazily unmounts every mount below dir, deepest first. Tests
// and benchmarks that run a real runtime under a temporary directory call it
// before removing that directory.
func UnmountUnder(dir string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var mps []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			mps = append(mps, f[4])
		}
	}
	for i := len(mps) - 1; i >= 0; i-- {
		_ = syscall.Unmount(mps[i], syscall.MNT_DETACH)
	}
}
