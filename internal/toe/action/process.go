package action

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kiln-dev/kiln/internal/toe/exec"
)

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = t.buf[len(t.buf)-t.max:]
	}
	t.mu.Unlock()
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}

// runProcess runs name with args in its own process group. When ctx ends
// (timeout or cancellation) the whole group is killed. stdout is returned
// (trailing newlines trimmed) and, like stderr, copied to the console
// unless the step disabled logging. Exit code 194 becomes a reboot
// request.
func runProcess(ctx context.Context, c *exec.Call, name string, args ...string) (string, error) {
	cmd := osexec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stdout bytes.Buffer
	errTail := &tail{max: 2048}
	console := c.Console
	if console == nil || (c.Step != nil && c.Step.DisableLogging) {
		console = io.Discard
	}
	if console != io.Discard {
		// stdout and stderr are copied by two goroutines.
		console = &lockedWriter{w: console}
	}
	if console == io.Discard {
		cmd.Stdout = &stdout
		cmd.Stderr = errTail
	} else {
		cmd.Stdout = io.MultiWriter(&stdout, console)
		cmd.Stderr = io.MultiWriter(errTail, console)
	}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("starting %s: %w", name, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		select {
		case err = <-done:
		case <-time.After(5 * time.Second):
			// A grandchild holds the output pipes open; give up on it.
			err = errors.New("killed")
		}
		return strings.TrimRight(stdout.String(), "\r\n"), fmt.Errorf("process group killed: %w", ctx.Err())
	}
	out := strings.TrimRight(stdout.String(), "\r\n")
	if err != nil {
		var ee *osexec.ExitError
		if errors.As(err, &ee) {
			code := ee.ExitCode()
			if code == exec.RebootExitCode {
				return out, &exec.RebootRequest{Reason: fmt.Sprintf("%s exited with code %d", filepath.Base(name), code)}
			}
			msg := fmt.Sprintf("exit status %d", code)
			if code < 0 {
				msg = ee.Error()
			}
			if t := errTail.String(); t != "" {
				msg += ": " + lastLines(t, 3)
			}
			return out, errors.New(msg)
		}
		return out, fmt.Errorf("running %s: %w", name, err)
	}
	return out, nil
}

// lockedWriter serialises writes from the stdout and stderr copiers.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

func (m *modules) bashPath() string {
	if m.cfg.Shell != "" {
		return m.cfg.Shell
	}
	if m.shell == "" {
		if p, err := osexec.LookPath("bash"); err == nil {
			m.shell = p
		} else {
			m.shell = "/bin/sh"
		}
	}
	return m.shell
}

// executeBash writes the commands to input.sh in the step's work
// directory and runs it with bash (falling back to /bin/sh where bash is
// not installed, e.g. busybox images).
func (m *modules) executeBash(ctx context.Context, c *exec.Call) (exec.Outputs, error) {
	in := input(c.Inputs[0])
	cmds := in.strings("commands")
	if len(cmds) == 0 {
		return nil, fmt.Errorf("input 'commands' is required")
	}
	script := filepath.Join(c.WorkDir, c.ScratchPrefix+"input.sh")
	if err := os.WriteFile(script, []byte(strings.Join(cmds, "\n")+"\n"), 0o700); err != nil {
		return nil, fmt.Errorf("writing script: %w", err)
	}
	defer os.Remove(script)
	out, err := runProcess(ctx, c, m.bashPath(), script)
	return exec.Outputs{{"stdout": out}}, err
}

func (m *modules) executeBinary(ctx context.Context, c *exec.Call) (exec.Outputs, error) {
	in := input(c.Inputs[0])
	path, err := in.require("path")
	if err != nil {
		return nil, err
	}
	out, err := runProcess(ctx, c, path, in.strings("arguments")...)
	return exec.Outputs{{"stdout": out}}, err
}
