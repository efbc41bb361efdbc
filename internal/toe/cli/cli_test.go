package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/clock"
	"github.com/kiln-dev/kiln/internal/toe/exec"
	"github.com/kiln-dev/kiln/internal/toe/s3fake"
)

var update = flag.Bool("update", false, "rewrite golden files")

type result struct {
	code           int
	stdout, stderr string
	runDir         string
}

func runCLI(t *testing.T, e *Env, dir string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := e.Main(context.Background(), args, &out, &errb)
	r := result{code: code, stdout: out.String(), stderr: errb.String()}
	if m, _ := filepath.Glob(filepath.Join(dir, "TOE_*")); len(m) > 0 {
		r.runDir = m[len(m)-1]
	}
	return r
}

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func detailed(t *testing.T, runDir string) *exec.Result {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(runDir, DetailedOutput))
	if err != nil {
		t.Fatal(err)
	}
	var r exec.Result
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

const goldenDoc = `name: golden
description: exercises every status
schemaVersion: 1.0
parameters:
  - Greeting:
      type: string
      default: hi
phases:
  - name: build
    steps:
      - name: Echo
        action: ExecuteBash
        inputs:
          commands:
            - echo {{ Greeting }}
      - name: Loop
        action: ExecuteBash
        loop:
          name: words
          forEach:
            list: Hello,World
        inputs:
          commands:
            - echo {{ words.value }}
      - name: Skipped
        action: ExecuteBash
        if:
          binaryExists: definitely-not-installed-kiln
        inputs:
          commands: [echo never]
      - name: Tolerated
        action: ExecuteBash
        onFailure: Ignore
        inputs:
          commands: [exit 3]
  - name: validate
    steps:
      - name: Check
        action: Assert
        inputs:
          stringEquals: HI
          value: '{{ build.Echo.outputs.stdout }}'
`

func TestDetailedOutputGolden(t *testing.T) {
	dir := t.TempDir()
	doc := write(t, dir, "golden.yml", goldenDoc)
	e := &Env{Clock: clock.NewFake(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC))}
	r := runCLI(t, e, dir, "run", "--documents", doc, "--execution-id", "golden-1", "--log-directory", dir)
	if r.code != 0 {
		t.Fatalf("exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	if filepath.Base(r.runDir) != "TOE_2026-11-01_12-00-00_UTC-0_golden-1" {
		t.Fatalf("run folder %s", r.runDir)
	}
	for _, f := range []string{ConsoleLog, ApplicationLog, DetailedOutput, ChainingFile, "document.yaml"} {
		if _, err := os.Stat(filepath.Join(r.runDir, f)); err != nil {
			t.Errorf("missing %s", f)
		}
	}
	got, _ := os.ReadFile(filepath.Join(r.runDir, DetailedOutput))
	got = bytes.ReplaceAll(got, []byte(doc), []byte("golden.yml"))
	golden := filepath.Join("testdata", "detailedoutput.golden.json")
	if *update {
		os.MkdirAll("testdata", 0o755)
		os.WriteFile(golden, got, 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("detailedoutput.json differs from %s (run with -update to accept):\n%s", golden, got)
	}
	chain, _ := os.ReadFile(filepath.Join(r.runDir, ChainingFile))
	if !strings.Contains(string(chain), `"expression": "build.Echo.outputs[0].stdout"`) {
		t.Fatalf("chaining.json: %s", chain)
	}
	console, _ := os.ReadFile(filepath.Join(r.runDir, ConsoleLog))
	if !strings.Contains(string(console), "Hello\nWorld") {
		t.Fatalf("console.log: %s", console)
	}
	if !strings.Contains(r.stdout, "successWithIgnoredFailure") {
		t.Fatalf("stdout: %s", r.stdout)
	}
}

func TestPhaseSelectionOrderAndExitCodes(t *testing.T) {
	dir := t.TempDir()
	mk := func(name string) string {
		return write(t, dir, name+".yml", "name: "+name+`
schemaVersion: 1.0
phases:
  - name: build
    steps:
      - {name: B, action: ExecuteBash, inputs: {commands: ['echo `+name+`.build >> `+dir+`/order']}}
  - name: validate
    steps:
      - {name: V, action: ExecuteBash, inputs: {commands: ['echo `+name+`.validate >> `+dir+`/order']}}
  - name: test
    steps:
      - {name: T, action: ExecuteBash, inputs: {commands: ['echo `+name+`.test >> `+dir+`/order']}}
`)
	}
	a, b := mk("A"), mk("B")
	r := runCLI(t, &Env{}, dir, "run", "-d", a+","+b, "-p", "validate,build", "-l", dir)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	order, _ := os.ReadFile(filepath.Join(dir, "order"))
	if string(order) != "A.build\nA.validate\nB.build\nB.validate\n" {
		t.Fatalf("order: %q", order)
	}
	fail := write(t, dir, "fail.yml", "schemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - {name: F, action: ExecuteBash, inputs: {commands: [exit 4]}}\n")
	if r := runCLI(t, &Env{}, dir, "run", "-d", fail, "-l", dir); r.code != 1 || !strings.Contains(r.stdout, "failed") {
		t.Fatalf("failing run: %d %s", r.code, r.stdout)
	}
	if r := runCLI(t, &Env{}, dir, "run", "-l", dir); r.code != 2 || !strings.Contains(r.stderr, "exactly one of --documents or --config") {
		t.Fatalf("no documents: %d %s", r.code, r.stderr)
	}
	bad := write(t, dir, "bad.yml", "schemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - {name: P, action: ExecutePowerShell, inputs: {commands: [dir]}}\n")
	r = runCLI(t, &Env{}, dir, "validate", "-d", bad)
	if r.code != 1 || !strings.Contains(r.stdout, "bad.yml:5: Parsing step 'P' in phase 'build' failed. Error: Unsupported action ExecutePowerShell for os platform linux.") {
		t.Fatalf("validate: %d %s", r.code, r.stdout)
	}
	if r := runCLI(t, &Env{}, dir, "validate", "--os", "windows", "-d", bad); r.code != 0 {
		t.Fatalf("validate for windows: %s", r.stdout)
	}
}

func TestConfigFileAndParameters(t *testing.T) {
	dir := t.TempDir()
	doc := write(t, dir, "p.yml", `schemaVersion: 1.0
parameters:
  - Color: {type: string}
  - Size: {type: string, default: small}
constants:
  - Shape: {type: string, value: round}
phases:
  - name: build
    steps:
      - {name: P, action: ExecuteBash, inputs: {commands: ['echo {{ Color }}-{{ Size }}-{{ Shape }} > `+dir+`/out']}}
`)
	// Missing required parameter: the document fails.
	if r := runCLI(t, &Env{}, dir, "run", "-d", doc, "-l", dir); r.code != 1 || !strings.Contains(r.stdout, "Color") {
		t.Fatalf("missing parameter: %d %s", r.code, r.stdout)
	}
	// CLI parameters: unknown names and constants are ignored.
	if r := runCLI(t, &Env{}, dir, "run", "-d", doc, "-l", dir, "--parameters", "Color=red,Unknown=1,Shape=square"); r.code != 0 {
		t.Fatalf("%d %s %s", r.code, r.stdout, r.stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "out")); string(b) != "red-small-round\n" {
		t.Fatalf("out %q", b)
	}
	cfg := write(t, dir, "run.json", `{"documents": [{"path": "`+doc+`", "parameters": [{"name": "Size", "value": ["large"]}]}],
		"parameters": [{"name": "Color", "value": "blue"}], "phases": "build", "executionId": "cfg-1", "logDirectory": "`+dir+`"}`)
	r := runCLI(t, &Env{}, dir, "run", "-c", cfg)
	if r.code != 0 || !strings.Contains(r.stdout, "cfg-1") {
		t.Fatalf("%d %s %s", r.code, r.stdout, r.stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "out")); string(b) != "blue-large-round\n" {
		t.Fatalf("out %q", b)
	}
	if r := runCLI(t, &Env{}, dir, "run", "-c", cfg, "--parameters", "Color=x"); r.code != 2 || !strings.Contains(r.stderr, "both") {
		t.Fatalf("parameters twice: %d %s", r.code, r.stderr)
	}
	if r := runCLI(t, &Env{}, dir, "run", "-d", doc, "--cw-log-group", "g"); r.code != 2 || !strings.Contains(r.stderr, "CloudWatch") {
		t.Fatalf("cw: %d %s", r.code, r.stderr)
	}
	if r := runCLI(t, &Env{}, dir, "run", "-d", "arn:aws:imagebuilder:us-east-1:123456789012:component/x/1.0.0/1"); r.code != 1 || !strings.Contains(r.stderr, "component ARNs") {
		t.Fatalf("arn: %d %s", r.code, r.stderr)
	}
}

const rebootDoc = `name: reboot
schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: Before
        action: ExecuteBash
        inputs:
          commands: ['echo before >> %[1]s/log']
      - name: NeedsReboot
        action: ExecuteBash
        inputs:
          commands:
            - |
              if [ -f %[1]s/marker ]; then echo resumed >> %[1]s/log; exit 0; fi
              touch %[1]s/marker
              echo rebooting >> %[1]s/log
              exit 194
      - name: RebootModule
        action: Reboot
      - name: After
        action: ExecuteBash
        inputs:
          commands: ['echo after-{{ build.Before.outputs.stdout }} >> %[1]s/log']
`

func TestRebootExitModeResumesAtSameStep(t *testing.T) {
	dir := t.TempDir()
	doc := write(t, dir, "r.yml", strings.ReplaceAll(rebootDoc, "%[1]s", dir))
	args := []string{"run", "-d", doc, "-l", dir, "--reboot-mode", "exit", "-i", "rb-1"}
	r := runCLI(t, &Env{}, dir, args...)
	if r.code != exec.RebootExitCode {
		t.Fatalf("first invocation: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, ".kiln-toe-state", exec.StateFileName)); err != nil {
		t.Fatal("state not persisted")
	}
	if d := detailed(t, r.runDir); d.Status != "pendingReboot" {
		t.Fatalf("partial status %s", d.Status)
	}
	// Second invocation (after the reboot): resumes at NeedsReboot, then
	// the Reboot module requests another reboot.
	r = runCLI(t, &Env{}, dir, args[:len(args)-2]...) // without -i: the state's ID is used
	if r.code != exec.RebootExitCode {
		t.Fatalf("second invocation: %d %s %s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, &Env{}, dir, args...)
	if r.code != 0 {
		t.Fatalf("third invocation: %d %s %s", r.code, r.stdout, r.stderr)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "log"))
	if string(log) != "before\nrebooting\nresumed\nafter-\n" && string(log) != "before\nrebooting\nresumed\nafter-before\n" {
		t.Fatalf("log %q", log)
	}
	runs, _ := filepath.Glob(filepath.Join(dir, "TOE_*"))
	if len(runs) != 1 {
		t.Fatalf("one run folder expected, got %v", runs)
	}
	d := detailed(t, runs[0])
	steps := d.Documents[0].Phases[0].Steps
	if d.Status != exec.StatusSuccess || d.ExecutionID != "rb-1" || len(steps) != 4 {
		t.Fatalf("result %+v", d)
	}
	if steps[3].Outputs != `[{"stdout":""}]` {
		t.Fatalf("after %s", steps[3].Outputs)
	}
	if _, err := os.Stat(filepath.Join(dir, ".kiln-toe-state", exec.StateFileName)); err == nil {
		t.Fatal("state must be cleared after completion")
	}
}

func TestRebootStandaloneRegistersBootTrigger(t *testing.T) {
	for _, systemd := range []bool{false, true} {
		dir := t.TempDir()
		root := t.TempDir()
		if systemd {
			os.MkdirAll(filepath.Join(root, "run/systemd/system"), 0o755)
		}
		doc := write(t, dir, "r.yml", "schemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - {name: R, action: Reboot, inputs: {delaySeconds: 7}}\n      - {name: A, action: ExecuteBash, inputs: {commands: [echo after]}}\n")
		var delays []time.Duration
		e := &Env{Root: root, Argv: []string{"/usr/local/bin/kiln", "toe", "run", "-d", doc, "-l", dir}, RebootCmd: func(d time.Duration) error {
			delays = append(delays, d)
			return nil
		}}
		args := []string{"run", "-d", doc, "-l", dir, "--reboot-mode", "standalone"}
		r := runCLI(t, e, dir, args...)
		if r.code != exec.RebootExitCode || len(delays) != 1 || delays[0] != 7*time.Second {
			t.Fatalf("standalone: %d %v %s %s", r.code, delays, r.stdout, r.stderr)
		}
		trigger := filepath.Join(root, cronFile)
		if systemd {
			trigger = filepath.Join(root, systemdUnit)
			if l, err := os.Readlink(filepath.Join(root, systemdWant)); err != nil || l != "/"+systemdUnit {
				t.Fatalf("unit not enabled: %v %s", err, l)
			}
		}
		b, err := os.ReadFile(trigger)
		if err != nil || !strings.Contains(string(b), "/usr/local/bin/kiln toe run -d "+doc) {
			t.Fatalf("trigger %s: %v %s", trigger, err, b)
		}
		if !systemd && !strings.HasPrefix(strings.Split(string(b), "\n")[1], "@reboot root cd ") {
			t.Fatalf("cron entry %s", b)
		}
		r = runCLI(t, e, dir, args...)
		if r.code != 0 || len(delays) != 1 {
			t.Fatalf("resume: %d %s %s", r.code, r.stdout, r.stderr)
		}
		if _, err := os.Stat(trigger); err == nil {
			t.Fatal("trigger must be removed on resume")
		}
	}
}

func TestRebootLimit(t *testing.T) {
	dir := t.TempDir()
	doc := write(t, dir, "loop.yml", "schemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - {name: R, action: ExecuteBash, inputs: {commands: [exit 194]}}\n")
	args := []string{"run", "-d", doc, "-l", dir, "--reboot-mode", "exit", "--max-reboots", "2"}
	codes := []int{}
	for i := 0; i < 3; i++ {
		codes = append(codes, runCLI(t, &Env{}, dir, args...).code)
	}
	if codes[0] != 194 || codes[1] != 194 || codes[2] != 1 {
		t.Fatalf("codes %v", codes)
	}
}

func TestS3DocumentsAndLogUpload(t *testing.T) {
	srv := s3fake.New()
	defer srv.Close()
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	dir := t.TempDir()
	srv.Put("docs", "parent.yml", []byte("name: parent\nschemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - {name: Child, action: ExecuteDocument, inputs: {document: 's3://docs/child.yml', parameters: [{name: Msg, value: nested}]}}\n"))
	srv.Put("docs", "child.yml", []byte("name: child\nschemaVersion: 1.0\nparameters:\n  - Msg: {type: string}\nphases:\n  - name: build\n    steps:\n      - {name: Say, action: ExecuteBash, inputs: {commands: ['echo {{ Msg }}']}}\n"))
	r := runCLI(t, &Env{}, dir, "run", "-d", "s3://docs/parent.yml", "-l", dir, "--s3-endpoint", srv.URL,
		"--log-s3-bucket-name", "logs", "--log-s3-key-prefix", "runs", "-i", "s3run")
	if r.code != 0 {
		t.Fatalf("%d %s %s", r.code, r.stdout, r.stderr)
	}
	d := detailed(t, r.runDir)
	st := d.Documents[0].Phases[0].Steps[0]
	if len(st.DetailedOutput) != 1 || st.DetailedOutput[0].Phases[0].Steps[0].Outputs != `[{"stdout":"nested"}]` {
		t.Fatalf("nested: %+v", st)
	}
	if !strings.Contains(st.Outputs, `"executedStepCount":1`) || !strings.Contains(st.Outputs, `"status":"success"`) {
		t.Fatalf("summary %s", st.Outputs)
	}
	key := "runs/" + filepath.Base(r.runDir) + "/" + DetailedOutput
	b, ok := srv.Get("logs", key)
	if !ok || !bytes.Contains(b, []byte(`"executionId": "s3run"`)) {
		t.Fatalf("log upload missing %s: %v", key, srv.Keys())
	}
}
