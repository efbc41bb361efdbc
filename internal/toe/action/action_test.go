package action

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/toe/document"
	"github.com/kiln-dev/kiln/internal/toe/exec"
)

func newCall(t *testing.T, inputs ...map[string]any) (*exec.Call, *bytes.Buffer) {
	t.Helper()
	var console bytes.Buffer
	return &exec.Call{
		Doc: &document.Document{Name: "d"}, Phase: "build", Step: &document.Step{Name: "S"},
		Inputs: inputs, Console: &console, Logf: func(string, ...any) {}, WorkDir: t.TempDir(),
	}, &console
}

func reg() map[string]exec.Action { return Registry(Config{OS: "linux"}) }

func runAction(t *testing.T, name string, inputs ...map[string]any) (exec.Outputs, error) {
	t.Helper()
	c, _ := newCall(t, inputs...)
	return reg()[name].Run(context.Background(), c)
}

func TestExecuteBash(t *testing.T) {
	out, err := runAction(t, "ExecuteBash", map[string]any{"commands": []any{"echo hello", "echo world >&2", "echo -n done"}})
	if err != nil || out[0]["stdout"] != "hello\ndone" {
		t.Fatalf("out=%v err=%v", out, err)
	}
	_, err = runAction(t, "ExecuteBash", map[string]any{"commands": []any{"echo oops >&2; exit 3"}})
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "oops") {
		t.Fatalf("err=%v", err)
	}
	_, err = runAction(t, "ExecuteBash", map[string]any{"commands": []any{"exit 194"}})
	if _, ok := exec.IsReboot(err); !ok {
		t.Fatalf("194 should request a reboot, got %v", err)
	}
	// Multi-line command and a script-level variable across lines.
	out, err = runAction(t, "ExecuteBash", map[string]any{"commands": []any{"X=1\nif [ $X = 1 ]; then\n  echo one\nfi", "echo $X"}})
	if err != nil || out[0]["stdout"] != "one\n1" {
		t.Fatalf("out=%v err=%v", out, err)
	}
}

func TestExecuteBashTimeoutKillsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	c, _ := newCall(t, map[string]any{"commands": []any{"sleep 30 & echo $! > " + pidFile, "wait"}})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := reg()["ExecuteBash"].Run(ctx, c)
	if err == nil || time.Since(start) > 10*time.Second {
		t.Fatalf("err=%v after %v", err, time.Since(start))
	}
	b, rerr := os.ReadFile(pidFile)
	if rerr != nil {
		t.Fatal(rerr)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	deadline := time.Now().Add(3 * time.Second)
	for {
		// The background child must be gone (killed with the group).
		if err := syscall.Kill(pid, 0); err != nil {
			break
		}
		var ws syscall.WaitStatus
		syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		if st, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); strings.Contains(string(st), ") Z ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("background child %d survived the timeout", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestExecuteBinary(t *testing.T) {
	out, err := runAction(t, "ExecuteBinary", map[string]any{"path": "printf", "arguments": []any{"%s-%s", "a b", int64(7)}})
	if err != nil || out[0]["stdout"] != "a b-7" {
		t.Fatalf("out=%v err=%v", out, err)
	}
	if _, err := runAction(t, "ExecuteBinary", map[string]any{"path": "/nonexistent/bin"}); err == nil {
		t.Fatal("expected an error for a missing binary")
	}
}

func TestWindowsOnlyRejected(t *testing.T) {
	for _, a := range []string{"ExecutePowerShell", "InstallMSI", "UninstallMSI", "SetRegistry"} {
		_, err := runAction(t, a, map[string]any{"commands": []any{"x"}})
		if err == nil || !strings.Contains(err.Error(), "Windows only") {
			t.Errorf("%s: %v", a, err)
		}
	}
}

func TestRebootAction(t *testing.T) {
	_, err := runAction(t, "Reboot", map[string]any{"delaySeconds": int64(5)})
	rr, ok := exec.IsReboot(err)
	if !ok || rr.DelaySeconds != 5 {
		t.Fatalf("err=%v", err)
	}
	c, _ := newCall(t)
	c.Resumed = true
	if _, err := reg()["Reboot"].Run(context.Background(), c); err != nil {
		t.Fatalf("resumed reboot should succeed: %v", err)
	}
}

func TestUpdateOSDetectsAptGet(t *testing.T) {
	bin := t.TempDir()
	log := filepath.Join(bin, "calls.log")
	for _, name := range []string{"apt-get", "apt-mark"} {
		script := "#!/bin/sh\necho \"" + name + " $*\" >> " + log + "\n"
		if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin+":/bin:/usr/bin")
	if _, err := runAction(t, "UpdateOS", map[string]any{"include": []any{"curl", "vim"}, "exclude": []any{"vim"}}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(log)
	want := "apt-get update\napt-mark hold vim\napt-get -y install --only-upgrade curl\napt-mark unhold vim\n"
	if string(b) != want {
		t.Fatalf("calls:\n%s\nwant:\n%s", b, want)
	}
	os.Remove(log)
	if err := os.WriteFile(filepath.Join(bin, "dnf"), []byte("#!/bin/sh\necho \"dnf $*\" >> "+log+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := runAction(t, "UpdateOS"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(log); string(b) != "dnf -y update\n" {
		t.Fatalf("dnf calls: %s", b)
	}
	t.Setenv("PATH", t.TempDir())
	if _, err := runAction(t, "UpdateOS"); err == nil || !strings.Contains(err.Error(), "no supported package manager") {
		t.Fatalf("err=%v", err)
	}
}

func TestAssertAndExecuteDocumentActions(t *testing.T) {
	c, _ := newCall(t)
	c.Assert = func() (bool, error) { return false, nil }
	if _, err := reg()["Assert"].Run(context.Background(), c); err == nil {
		t.Fatal("false assertion must fail")
	}
	c.Assert = func() (bool, error) { return true, nil }
	if _, err := reg()["Assert"].Run(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	c, _ = newCall(t, map[string]any{"document": "child.yml", "phases": "build, test",
		"parameters": []any{map[string]any{"name": "P", "value": "v"}}})
	var got exec.NestedRequest
	c.Nested = func(ctx context.Context, req exec.NestedRequest) (*exec.NestedResult, error) {
		got = req
		return &exec.NestedResult{Status: exec.StatusSuccess, Summary: map[string]any{"status": "success"}, Docs: []*exec.DocResult{{Name: "child"}}}, nil
	}
	out, err := reg()["ExecuteDocument"].Run(context.Background(), c)
	if err != nil || out[0]["status"] != "success" || len(c.Detail) != 1 {
		t.Fatalf("out=%v err=%v", out, err)
	}
	if got.Document != "child.yml" || strings.Join(got.Phases, ",") != "build,test" || got.Parameters["P"] != "v" {
		t.Fatalf("request %+v", got)
	}
}
