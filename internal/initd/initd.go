// Package initd is kiln's init: PID 1 inside instances whose image does not
// boot its own init. It mounts what runc leaves out, reaps zombies, sets the
// hostname and installs the key pair's public key from the metadata
// service, runs user data once per instance (the way cloud-init does:
// shebang scripts, MIME multi-part, a #cloud-config subset, boothooks),
// runs /etc/rc.local on every boot, writes /var/log/cloud-init-output.log
// and the console, and shuts the instance down on SIGTERM.
//
// Everything runs against Config.Root, so tests run the whole boot sequence
// in a temporary directory without being PID 1.
package initd

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kiln-dev/kiln/internal/clock"
)

// Exit codes of PID 1, as the runtime sees them.
const (
	ExitPoweroff = 0 // SIGTERM, SIGINT, SIGUSR2, SIGPWR, `kiln poweroff`
	ExitReboot   = 3 // SIGUSR1, `kiln reboot`: the instance asks to be booted again
)

// Signals: what `kiln poweroff` and `kiln reboot` send to PID 1.
const (
	SignalPoweroff = syscall.SIGUSR2
	SignalReboot   = syscall.SIGUSR1
)

// Version is reported in cloud-init style console lines.
const Version = "kiln"

// Config configures Run.
type Config struct {
	// Root is the instance's root filesystem ("/" inside an instance).
	Root string
	// IMDS is the metadata service base URL; default http://169.254.169.254.
	IMDS string
	// PID1: really be init (mounts, sethostname, reaping every child,
	// signals, kill(-1) at shutdown, stay alive). False runs the boot
	// sequence once and returns (tests, dry runs).
	PID1 bool
	// Console receives the console output (PID 1's stdout); default
	// os.Stdout.
	Console io.Writer
	Clock   clock.Clock
	// HTTPClient talks to the metadata service; default: no proxy, 2 s
	// timeout per request.
	HTTPClient *http.Client
	// IMDSWait bounds how long the init waits for the metadata service
	// (the network may come up after PID 1 starts); default 2 minutes.
	IMDSWait time.Duration
	// ShutdownGrace is how long processes get between SIGTERM and SIGKILL
	// at shutdown; default 5 s.
	ShutdownGrace time.Duration
	// SetHostname sets the kernel hostname; nil: sethostname(2) when PID1,
	// nothing otherwise.
	SetHostname func(string) error
	// Env is added to the environment of scripts.
	Env []string
}

func (c *Config) defaults() {
	if c.Root == "" {
		c.Root = "/"
	}
	if c.IMDS == "" {
		c.IMDS = "http://169.254.169.254"
	}
	c.IMDS = strings.TrimRight(c.IMDS, "/")
	if c.Console == nil {
		c.Console = os.Stdout
	}
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	}
	if c.IMDSWait == 0 {
		c.IMDSWait = 2 * time.Minute
	}
	if c.ShutdownGrace == 0 {
		c.ShutdownGrace = 5 * time.Second
	}
	if c.SetHostname == nil {
		if c.PID1 {
			c.SetHostname = func(h string) error { return syscall.Sethostname([]byte(h)) }
		} else {
			c.SetHostname = func(string) error { return nil }
		}
	}
}

// Run is kiln's init. With PID1 it never returns before a shutdown request
// and returns the exit code for the runtime (ExitPoweroff, ExitReboot);
// without, it runs the boot sequence once and returns 0 (or 1 if the boot
// sequence could not run at all).
func Run(ctx context.Context, cfg Config) int {
	cfg.defaults()
	if !cfg.PID1 {
		b := &boot{cfg: cfg, run: directRun}
		if err := b.sequence(ctx); err != nil {
			fmt.Fprintf(cfg.Console, "kiln-init: %v\n", err)
			return 1
		}
		return 0
	}
	return runPID1(ctx, cfg)
}

func runPID1(ctx context.Context, cfg Config) int {
	// PID 1 idles for the instance's whole life: keep its heap small (it is
	// memory every instance pays for).
	debug.SetGCPercent(25)
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGCHLD, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGPWR, syscall.SIGHUP)
	defer signal.Stop(sigs)
	r := NewReaper()
	con := &lockedWriter{w: cfg.Console}
	cfg.Console = con
	if err := setupMounts(cfg.Root); err != nil {
		fmt.Fprintf(con, "kiln-init: mounts: %v\n", err)
	}
	b := &boot{cfg: cfg, run: reaperRun(r)}
	bctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		if err := b.sequence(bctx); err != nil {
			fmt.Fprintf(con, "kiln-init: %v\n", err)
		}
		// Boot is done: give the memory it used back to the instance.
		debug.FreeOSMemory()
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	code := ExitPoweroff
loop:
	for {
		select {
		case s := <-sigs:
			switch s {
			case syscall.SIGCHLD:
				r.Reap()
			case syscall.SIGHUP:
			case SignalReboot:
				code = ExitReboot
				break loop
			default:
				break loop
			}
		case <-tick.C:
			r.Reap() // SIGCHLDs coalesce; never leave a zombie behind
		case <-ctx.Done():
			break loop
		}
	}
	what := "poweroff"
	if code == ExitReboot {
		what = "reboot"
	}
	fmt.Fprintf(con, "kiln-init: %s: stopping all processes\n", what)
	cancel()
	Shutdown(r, cfg.ShutdownGrace)
	fmt.Fprintf(con, "kiln-init: %s\n", what)
	return code
}

// Shutdown is PID 1's end: SIGTERM to every process, reaping while they
// exit, SIGKILL to whatever is left after grace, then sync. Only for PID 1
// (kill(-1) from anywhere else signals every process the caller may).
func Shutdown(r *Reaper, grace time.Duration) {
	if os.Getpid() != 1 {
		return
	}
	_ = syscall.Kill(-1, syscall.SIGTERM)
	_ = syscall.Kill(-1, syscall.SIGCONT)
	if !reapUntilGone(r, grace) {
		_ = syscall.Kill(-1, syscall.SIGKILL)
		reapUntilGone(r, 2*time.Second)
	}
	syscall.Sync()
}

// reapUntilGone reaps until no child is left or d elapses.
func reapUntilGone(r *Reaper, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if _, children := r.Reap(); !children {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lockedWriter serialises console writes from the init and the output
// copier.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// rootPath is p (absolute, inside the instance) under root.
func rootPath(root, p string) string { return filepath.Join(root, filepath.Clean("/"+p)) }
