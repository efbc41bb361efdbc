package cli

import (
	"errors"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Reboot modes.
const (
	// RebootExit persists state and exits with 194; the caller (SSM
	// agent, kiln's build service) reboots the machine and re-invokes the
	// same command.
	RebootExit = "exit"
	// RebootStandalone persists state, registers a boot trigger that
	// re-invokes the same command, and reboots the machine itself.
	RebootStandalone = "standalone"
)

// rebootMode picks the mode: flag, else KILN_TOE_REBOOT_MODE, else exit
// when run by the SSM agent (AWS_SSM_INSTANCE_ID) or inside a kiln
// instance (KILN_INSTANCE_ID), else standalone.
func rebootMode(flagValue string) (string, error) {
	m := flagValue
	if m == "" {
		m = os.Getenv("KILN_TOE_REBOOT_MODE")
	}
	if m == "" {
		if os.Getenv("AWS_SSM_INSTANCE_ID") != "" || os.Getenv("KILN_INSTANCE_ID") != "" {
			m = RebootExit
		} else {
			m = RebootStandalone
		}
	}
	if m != RebootExit && m != RebootStandalone {
		return "", fmt.Errorf("unknown reboot mode %q (exit or standalone)", m)
	}
	return m, nil
}

// Trigger files written in standalone mode.
const (
	systemdUnit = "etc/systemd/system/kiln-toe-resume.service"
	systemdWant = "etc/systemd/system/multi-user.target.wants/kiln-toe-resume.service"
	cronFile    = "etc/cron.d/kiln-toe-resume"
)

// bootTrigger registers and removes the post-boot re-invocation. Root is
// the file-system root ("/" in production, a temp dir in tests).
type bootTrigger struct {
	Root string
	// RebootCmd reboots the machine (default: systemctl reboot, else
	// reboot).
	RebootCmd func(delay time.Duration) error
}

func (b *bootTrigger) path(rel string) string { return filepath.Join(b.Root, rel) }

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '/' || r == '-' || r == '_' || r == '.' || r == ',' || r == '=' || r == ':' ||
			(r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9'))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// commandLine renders argv as a shell command run from dir.
func commandLine(dir string, argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = shellQuote(a)
	}
	return "cd " + shellQuote(dir) + " && " + strings.Join(q, " ")
}

// Register writes a systemd unit when systemd is running, else a cron.d
// @reboot entry (crond must be running for it to fire).
func (b *bootTrigger) Register(dir string, argv []string) (string, error) {
	cmd := commandLine(dir, argv)
	if fi, err := os.Stat(b.path("run/systemd/system")); err == nil && fi.IsDir() {
		unit := "[Unit]\nDescription=Resume kiln toe after reboot\nAfter=network-online.target\nWants=network-online.target\n\n" +
			"[Service]\nType=oneshot\nExecStart=/bin/sh -c " + shellQuote(cmd) + "\n\n[Install]\nWantedBy=multi-user.target\n"
		if err := os.MkdirAll(filepath.Dir(b.path(systemdWant)), 0o755); err != nil {
			return "", fmt.Errorf("registering boot trigger: %w", err)
		}
		if err := os.WriteFile(b.path(systemdUnit), []byte(unit), 0o644); err != nil {
			return "", fmt.Errorf("registering boot trigger: %w", err)
		}
		_ = os.Remove(b.path(systemdWant))
		if err := os.Symlink("/"+systemdUnit, b.path(systemdWant)); err != nil {
			return "", fmt.Errorf("registering boot trigger: %w", err)
		}
		return b.path(systemdUnit), nil
	}
	if err := os.MkdirAll(filepath.Dir(b.path(cronFile)), 0o755); err != nil {
		return "", fmt.Errorf("registering boot trigger: %w", err)
	}
	line := "# written by kiln toe: resume the execution after reboot; removed when it starts\n" +
		"@reboot root " + cmd + "\n"
	if err := os.WriteFile(b.path(cronFile), []byte(line), 0o644); err != nil {
		return "", fmt.Errorf("registering boot trigger: %w", err)
	}
	return b.path(cronFile), nil
}

// Remove deletes any trigger files.
func (b *bootTrigger) Remove() error {
	var errs []error
	for _, rel := range []string{systemdWant, systemdUnit, cronFile} {
		if err := os.Remove(b.path(rel)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Reboot reboots the machine after delay.
func (b *bootTrigger) Reboot(delay time.Duration) error {
	if b.RebootCmd != nil {
		return b.RebootCmd(delay)
	}
	time.Sleep(delay)
	if p, err := osexec.LookPath("systemctl"); err == nil {
		if err := osexec.Command(p, "reboot").Run(); err == nil {
			return nil
		}
	}
	if err := osexec.Command("reboot").Run(); err != nil {
		return fmt.Errorf("rebooting: %w", err)
	}
	return nil
}
