package initd

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// runFunc runs a started-to-be command to completion and returns its exit
// code.
type runFunc func(cmd *exec.Cmd) (int, error)

// directRun is for a non-PID-1 init: an ordinary fork/wait.
func directRun(cmd *exec.Cmd) (int, error) {
	if err := cmd.Start(); err != nil {
		return -1, err
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok {
			return exitCode(ws), nil
		}
		return ee.ExitCode(), nil
	}
	if err != nil {
		return -1, err
	}
	return 0, nil
}

// reaperRun is for PID 1: the reaper is the only caller of wait4.
func reaperRun(r *Reaper) runFunc {
	return func(cmd *exec.Cmd) (int, error) {
		ch, err := r.Start(cmd)
		if err != nil {
			return -1, err
		}
		ws := <-ch
		_ = cmd.Process.Release()
		return exitCode(ws), nil
	}
}

// output is one boot's output stream: every script's stdout and stderr
// and the init's own cloud-init style lines, copied to the console and
// appended to /var/log/cloud-init-output.log. Scripts get the pipe's
// write end as a file, so a daemon they leave behind neither blocks the
// boot nor loses its output.
type output struct {
	w    *os.File
	done chan struct{}
}

type consoleWriter struct{ w io.Writer }

// Write never fails: a broken console must not stop the log.
func (c consoleWriter) Write(p []byte) (int, error) {
	_, _ = c.w.Write(p)
	return len(p), nil
}

func openOutput(root string, console io.Writer) (*output, error) {
	logPath := rootPath(root, "/var/log/cloud-init-output.log")
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, err
	}
	log, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		log.Close()
		return nil, err
	}
	o := &output{w: pw, done: make(chan struct{})}
	go func() {
		_, _ = io.Copy(io.MultiWriter(log, consoleWriter{console}), pr)
		pr.Close()
		log.Close()
		close(o.done)
	}()
	return o, nil
}

func (o *output) printf(format string, a ...any) {
	fmt.Fprintf(o.w, format+"\n", a...)
}

// close closes the init's end and waits up to d for the copy to drain
// (it continues in the background while daemons hold the pipe).
func (o *output) close(d time.Duration) {
	o.w.Close()
	select {
	case <-o.done:
	case <-time.After(d):
	}
}

// isENOEXEC: the file has no shebang and is not a binary.
func isENOEXEC(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe) && errors.Is(pe.Err, syscall.ENOEXEC)
}
