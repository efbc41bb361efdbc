package initd

import (
	"compress/gzip"
	"io"
	"strconv"
	"syscall"
)

func gzipWriter(w io.Writer) *gzip.Writer { return gzip.NewWriter(w) }

func itoa(n int) string { return strconv.Itoa(n) }

func prctlSubreaper() error {
	_, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, 36 /* PR_SET_CHILD_SUBREAPER */, 1, 0)
	if e != 0 {
		return e
	}
	return nil
}
