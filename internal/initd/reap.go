package initd

import (
	"errors"
	"os/exec"
	"sync"
	"syscall"
)

// Reaper is PID 1's child collector: Reap waits for every exited child
// (orphans included, which the kernel re-parents to PID 1) and hands the
// status of the ones started through Start to their waiters. Start and
// Reap exclude each other, so a child cannot be reaped before its waiter
// is registered.
type Reaper struct {
	mu      sync.Mutex
	waiting map[int]chan syscall.WaitStatus
}

// NewReaper returns an empty reaper.
func NewReaper() *Reaper { return &Reaper{waiting: map[int]chan syscall.WaitStatus{}} }

// Start starts cmd and returns a channel that receives its exit status
// when Reap collects it. cmd.Wait must not be called; cmd's standard
// streams must be nil or *os.File (no copying goroutines).
func (r *Reaper) Start(cmd *exec.Cmd) (<-chan syscall.WaitStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	ch := make(chan syscall.WaitStatus, 1)
	r.waiting[cmd.Process.Pid] = ch
	return ch, nil
}

// Reap collects every child that has exited, without blocking, and
// returns how many it collected. It reports false when the process has
// no children left at all (ECHILD).
func (r *Reaper) Reap() (n int, children bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if errors.Is(err, syscall.ECHILD) {
			return n, false
		}
		if err != nil || pid <= 0 {
			return n, true
		}
		n++
		if ch, ok := r.waiting[pid]; ok {
			ch <- ws
			delete(r.waiting, pid)
		}
	}
}

// exitCode turns a wait status into a shell-style exit code.
func exitCode(ws syscall.WaitStatus) int {
	switch {
	case ws.Exited():
		return ws.ExitStatus()
	case ws.Signaled():
		return 128 + int(ws.Signal())
	}
	return -1
}
