package exec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/clock"
	"github.com/kiln-dev/kiln/internal/toe/document"
)

// fake is a scriptable action: "Echo" returns inputs[0].text as stdout,
// "Fail" fails until its per-step counter reaches inputs[0].succeedOn,
// "Sleep" blocks until the context ends, "RebootOnce" requests a reboot
// on its first call.
type fake struct {
	mu     sync.Mutex
	calls  []string
	counts map[string]int
}

func (f *fake) record(c *Call) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.counts == nil {
		f.counts = map[string]int{}
	}
	key := c.Phase + "." + c.Step.Name
	f.counts[key]++
	f.calls = append(f.calls, c.Doc.Name+":"+key)
	return f.counts[key]
}

func (f *fake) actions() map[string]Action {
	return map[string]Action{
		"ExecuteBash": ActionFunc(func(ctx context.Context, c *Call) (Outputs, error) {
			n := f.record(c)
			in := c.Inputs[0]
			cmds, _ := in["commands"].([]any)
			out := ""
			for _, x := range cmds {
				s := fmt.Sprint(x)
				switch {
				case s == "sleep":
					<-ctx.Done()
					return nil, ctx.Err()
				case s == "reboot-once" && n == 1:
					return nil, &RebootRequest{Reason: "exit code 194"}
				case strings.HasPrefix(s, "fail-until "):
					var k int
					fmt.Sscan(strings.TrimPrefix(s, "fail-until "), &k)
					if n < k {
						return nil, fmt.Errorf("exit status 1 (call %d)", n)
					}
				case s == "fail":
					return nil, errors.New("exit status 1")
				case strings.HasPrefix(s, "echo "):
					if out != "" {
						out += "\n"
					}
					out += strings.TrimPrefix(s, "echo ")
				}
			}
			return Outputs{{"stdout": out}}, nil
		}),
		"Assert": ActionFunc(func(ctx context.Context, c *Call) (Outputs, error) {
			f.record(c)
			ok, err := c.Assert()
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, errors.New("assertion failed")
			}
			return nil, nil
		}),
	}
}

func parse(t *testing.T, name, src string) *document.Document {
	t.Helper()
	d, err := document.Parse(name, []byte(src), document.Options{})
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	return d
}

func newRunner(f *fake, t *testing.T) *Runner {
	return &Runner{Clock: clock.NewFake(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)), Actions: f.actions(), WorkDir: t.TempDir()}
}

func run(t *testing.T, r *Runner, phases []string, docs ...*document.Document) *Outcome {
	t.Helper()
	p := &Plan{ExecutionID: "exec-1", Phases: phases}
	for _, d := range docs {
		p.Docs = append(p.Docs, DocInput{Doc: d, Key: d.Name})
	}
	return r.Run(context.Background(), p, nil)
}

const threePhases = `name: %s
schemaVersion: 1.0
phases:
  - name: build
    steps:
      - {name: B, action: ExecuteBash, inputs: {commands: [echo b]}}
  - name: validate
    steps:
      - {name: V, action: ExecuteBash, inputs: {commands: [echo v]}}
  - name: test
    steps:
      - {name: T, action: ExecuteBash, inputs: {commands: [echo t]}}
`

func TestPhaseOrderPerDocument(t *testing.T) {
	f := &fake{}
	a := parse(t, "A", fmt.Sprintf(threePhases, "A"))
	b := parse(t, "B", fmt.Sprintf(threePhases, "B"))
	out := run(t, newRunner(f, t), []string{"validate", "build"}, a, b)
	want := "A:build.B A:validate.V B:build.B B:validate.V"
	if got := strings.Join(f.calls, " "); got != want {
		t.Fatalf("order: got %q want %q", got, want)
	}
	if out.Result.Status != StatusSuccess || len(out.Result.Documents) != 2 {
		t.Fatalf("result: %+v", out.Result)
	}
	f2 := &fake{}
	run(t, newRunner(f2, t), nil, a)
	if len(f2.calls) != 3 {
		t.Fatalf("all phases: %v", f2.calls)
	}
}

func TestOnFailureAndRetries(t *testing.T) {
	cases := []struct {
		onFailure, wantStep, wantDoc string
		wantCalls                    int
	}{
		{"Abort", StatusFailed, StatusFailed, 1},
		{"Continue", StatusFailed, StatusFailed, 2},
		{"Ignore", StatusIgnoredFailure, StatusSuccessWithIgnoredFailure, 2},
	}
	for _, c := range cases {
		t.Run(c.onFailure, func(t *testing.T) {
			f := &fake{}
			d := parse(t, "D", `schemaVersion: 1.0
phases:
  - name: build
    steps:
      - {name: F, action: ExecuteBash, onFailure: `+c.onFailure+`, maxAttempts: 2, inputs: {commands: [fail]}}
      - {name: N, action: ExecuteBash, inputs: {commands: [echo next]}}
`)
			out := run(t, newRunner(f, t), nil, d)
			st := out.Result.Documents[0].Phases[0].Steps[0]
			if st.Status != c.wantStep || st.Attempts != 2 || !strings.Contains(st.FailureMessage, "failed after 2 attempts") {
				t.Errorf("step: %+v", st)
			}
			if got := out.Result.Documents[0].Status; got != c.wantDoc {
				t.Errorf("doc status %s want %s", got, c.wantDoc)
			}
			if len(f.calls) != 2+c.wantCalls-1 {
				t.Errorf("calls %v", f.calls)
			}
			if c.onFailure == "Ignore" && out.Result.Status != StatusSuccessWithIgnoredFailure {
				t.Errorf("run status %s", out.Result.Status)
			}
		})
	}
	f := &fake{}
	d := parse(t, "D", `schemaVersion: 1.0
phases:
  - name: build
    steps:
      - {name: R, action: ExecuteBash, maxAttempts: 3, inputs: {commands: [fail-until 3]}}
`)
	out := run(t, newRunner(f, t), nil, d)
	if st := out.Result.Documents[0].Phases[0].Steps[0]; st.Status != StatusSuccess || st.Attempts != 3 {
		t.Fatalf("retry: %+v", st)
	}
}

func TestTimeoutPerAttempt(t *testing.T) {
	f := &fake{}
	d := parse(t, "D", `schemaVersion: 1.0
phases:
  - name: build
    steps:
      - {name: S, action: ExecuteBash, timeoutSeconds: 1, maxAttempts: 2, inputs: {commands: [sleep]}}
`)
	start := time.Now()
	out := run(t, newRunner(f, t), nil, d)
	st := out.Result.Documents[0].Phases[0].Steps[0]
	if st.Status != StatusFailed || !strings.Contains(st.FailureMessage, "timed out after 1 seconds") || st.Attempts != 2 {
		t.Fatalf("timeout: %+v", st)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Fatalf("took %v", el)
	}
}

func TestLoopsAndChaining(t *testing.T) {
	f := &fake{}
	d := parse(t, "D", `schemaVersion: 1.0
constants:
  - Sep: {type: string, value: ';'}
phases:
  - name: build
    steps:
      - name: Words
        action: ExecuteBash
        loop:
          name: w
          forEach: [Hello, World]
        inputs: {commands: ['echo {{ loop.value }}']}
      - name: Count
        action: ExecuteBash
        loop: {name: c, for: {start: 10, end: 0, updateBy: -5}}
        inputs: {commands: ['echo {{ c.index }}={{ c.value }}']}
      - name: Split
        action: ExecuteBash
        loop: {forEach: {list: 'a;b;c', delimiter: ';'}}
        inputs: {commands: ['echo {{ loop.value }}']}
      - name: Chain
        action: ExecuteBash
        inputs: {commands: ['echo {{ build.Words.outputs.stdout }}|{{ build.Split.inputs[2].commands }}|{{ loop.value }}']}
`)
	var recs []ChainRecord
	r := newRunner(f, t)
	r.Chains = func(c ChainRecord) { recs = append(recs, c) }
	out := run(t, r, nil, d)
	steps := out.Result.Documents[0].Phases[0].Steps
	if out.Result.Status != StatusSuccess {
		t.Fatalf("status %+v", steps)
	}
	wantOuts := []string{`[{"stdout":"Hello\nWorld"}]`, `[{"stdout":"0=10\n1=5\n2=0"}]`, `[{"stdout":"a\nb\nc"}]`,
		`[{"stdout":"Hello\nWorld|[\"echo c\"]|{{ loop.value }}"}]`}
	for i, w := range wantOuts {
		if steps[i].Outputs != w {
			t.Errorf("step %d outputs %s want %s", i, steps[i].Outputs, w)
		}
	}
	if steps[0].Loop == nil || len(steps[0].Loop.Iterations) != 2 || steps[0].Loop.Name != "w" {
		t.Errorf("loop record %+v", steps[0].Loop)
	}
	if len(recs) != 2 || recs[0].Expression != "build.Words.outputs[0].stdout" || recs[0].Value != "Hello\nWorld" {
		t.Errorf("chain records %+v", recs)
	}
}

func TestUnresolvedChainFailsStep(t *testing.T) {
	f := &fake{}
	d := parse(t, "D", `schemaVersion: 1.0
phases:
  - name: build
    steps:
      - {name: A, action: ExecuteBash, if: {stringEquals: x, value: y}, inputs: {commands: [echo a]}}
      - {name: B, action: ExecuteBash, inputs: {commands: ['echo {{ build.A.outputs.stdout }}']}}
`)
	out := run(t, newRunner(f, t), nil, d)
	st := out.Result.Documents[0].Phases[0].Steps
	if st[0].Status != StatusSkipped || st[1].Status != StatusFailed || !strings.Contains(st[1].FailureMessage, "has not run") {
		t.Fatalf("%+v %+v", st[0], st[1])
	}
}

func TestIfThenElseAbort(t *testing.T) {
	f := &fake{}
	d := parse(t, "D", `schemaVersion: 1.0
phases:
  - name: build
    steps:
      - {name: Run, action: ExecuteBash, if: {numberLessThan: 2, value: 1}, inputs: {commands: [echo ran]}}
      - {name: Else, action: ExecuteBash, if: {stringEquals: A, value: a, then: Skip, else: Execute}, inputs: {commands: [echo no]}}
      - name: Stop
        action: ExecuteBash
        onFailure: Continue
        if: {and: [{binaryExists: definitely-not-a-binary-xyz}], then: Execute, else: Abort}
        inputs: {commands: [echo no]}
      - {name: Never, action: ExecuteBash, inputs: {commands: [echo never]}}
`)
	out := run(t, newRunner(f, t), nil, d)
	st := out.Result.Documents[0].Phases[0].Steps
	if len(st) != 3 || st[0].Status != StatusSuccess || st[1].Status != StatusSkipped || st[2].Status != StatusFailed {
		t.Fatalf("steps: %d %+v", len(st), st)
	}
	if out.Result.Status != StatusFailed {
		t.Fatalf("run %s", out.Result.Status)
	}
}

func TestAssert(t *testing.T) {
	f := &fake{}
	d := parse(t, "D", `schemaVersion: 1.0
phases:
  - name: validate
    steps:
      - {name: V, action: ExecuteBash, inputs: {commands: [echo 2.1.1]}}
      - name: Good
        action: Assert
        inputs: {stringEquals: '2.1.1', value: '{{ validate.V.outputs.stdout }}'}
      - name: Bad
        action: Assert
        onFailure: Continue
        inputs: {numberGreaterThan: 3, value: '{{ validate.V.outputs.stdout }}'}
`)
	out := run(t, newRunner(f, t), nil, d)
	st := out.Result.Documents[0].Phases[0].Steps
	if st[1].Status != StatusSuccess || st[2].Status != StatusFailed {
		t.Fatalf("%+v", st)
	}
}

func TestRebootResume(t *testing.T) {
	f := &fake{}
	src := `name: R
schemaVersion: 1.0
phases:
  - name: build
    steps:
      - {name: Before, action: ExecuteBash, inputs: {commands: [echo before]}}
      - name: Cond
        action: ExecuteBash
        if: {fileExists: /nonexistent-kiln-file}
        then: Execute
        else: Execute
        inputs: {commands: [reboot-once, 'echo {{ build.Before.outputs.stdout }}-after']}
      - {name: After, action: ExecuteBash, inputs: {commands: [echo after]}}
  - name: validate
    steps:
      - {name: V, action: ExecuteBash, inputs: {commands: [echo v]}}
`
	// "then"/"else" at step level are unknown keys; use the in-if form.
	src = strings.Replace(src, "        then: Execute\n        else: Execute\n", "", 1)
	src = strings.Replace(src, "if: {fileExists: /nonexistent-kiln-file}", "if: {fileExists: /nonexistent-kiln-file, then: Skip, else: Execute}", 1)
	d := parse(t, "R", src)
	r := newRunner(f, t)
	out := run(t, r, nil, d)
	if out.Reboot == nil {
		t.Fatalf("expected a reboot, got %+v", out.Result)
	}
	dir := t.TempDir()
	if err := SaveState(dir, &SavedState{Fingerprint: "fp", State: out.Reboot}); err != nil {
		t.Fatal(err)
	}
	// Second invocation ("after the reboot"): a fresh runner and a
	// fresh fake, only the persisted state carries over.
	saved, err := LoadState(dir)
	if err != nil || saved == nil || saved.Fingerprint != "fp" {
		t.Fatalf("load: %v %+v", err, saved)
	}
	// Make the if condition now evaluate to Skip: it must not be
	// re-evaluated on resume.
	d.Phases[0].Steps[1].If.Cond.Op = "stringEquals"
	d.Phases[0].Steps[1].If.Cond.Operand, d.Phases[0].Steps[1].If.Cond.Value = "a", "a"
	f2 := &fake{counts: map[string]int{"build.Cond": 1}}
	r2 := newRunner(f2, t)
	out2 := r2.Run(context.Background(), &Plan{ExecutionID: "exec-1", Docs: []DocInput{{Doc: d, Key: "R"}}}, saved.State)
	if out2.Reboot != nil {
		t.Fatal("rebooted again")
	}
	if got := strings.Join(f2.calls, " "); got != "R:build.Cond R:build.After R:validate.V" {
		t.Fatalf("resume calls: %s", got)
	}
	res := out2.Result
	b, _ := json.Marshal(res)
	if res.Status != StatusSuccess || len(res.Documents) != 1 || len(res.Documents[0].Phases) != 2 ||
		len(res.Documents[0].Phases[0].Steps) != 3 {
		t.Fatalf("tree: %s", b)
	}
	if o := res.Documents[0].Phases[0].Steps[1].Outputs; o != `[{"stdout":"before-after"}]` {
		t.Fatalf("chaining across reboot: %s", o)
	}
	if saved.State.Reboots != 1 {
		t.Fatalf("reboots %d", saved.State.Reboots)
	}
}

func TestMissingParameter(t *testing.T) {
	f := &fake{}
	d := parse(t, "D", `schemaVersion: 1.0
parameters:
  - Needed: {type: string}
phases:
  - name: build
    steps:
      - {name: A, action: ExecuteBash, inputs: {commands: ['echo {{ Needed }}']}}
`)
	out := run(t, newRunner(f, t), nil, d)
	if out.Result.Status != StatusFailed || !strings.Contains(out.Result.FailureMessage, "Needed") || len(f.calls) != 0 {
		t.Fatalf("%+v", out.Result)
	}
	r := newRunner(f, t)
	out = r.Run(context.Background(), &Plan{ExecutionID: "x", Docs: []DocInput{{Doc: d, Params: map[string]string{"Needed": "yes"}}}}, nil)
	if st := out.Result.Documents[0].Phases[0].Steps[0]; st.Outputs != `[{"stdout":"yes"}]` {
		t.Fatalf("%+v", st)
	}
}

func TestNestedDocuments(t *testing.T) {
	f := &fake{}
	docs := map[string]string{
		"leaf":  "name: leaf\nschemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - {name: L, action: ExecuteBash, inputs: {commands: [echo leaf]}}\n",
		"self":  "name: self\nschemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - {name: X, action: ExecuteDocument, inputs: {document: self}}\n",
		"chain": "name: chain\nschemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - {name: X, action: ExecuteDocument, inputs: {document: chain2}}\n",
	}
	for i := 2; i <= 5; i++ {
		docs[fmt.Sprintf("chain%d", i)] = fmt.Sprintf("name: chain%d\nschemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - {name: X, action: ExecuteDocument, inputs: {document: chain%d}}\n", i, i+1)
	}
	r := newRunner(f, t)
	r.Actions["ExecuteDocument"] = ActionFunc(func(ctx context.Context, c *Call) (Outputs, error) {
		res, err := c.Nested(ctx, NestedRequest{Document: fmt.Sprint(c.Inputs[0]["document"])})
		if err != nil {
			return nil, err
		}
		c.Detail = res.Docs
		if res.Status == StatusFailed {
			return Outputs{res.Summary}, errors.New("nested document failed")
		}
		return Outputs{res.Summary}, nil
	})
	r.LoadDocument = func(ctx context.Context, ref, owner string) (*document.Document, string, error) {
		src, ok := docs[ref]
		if !ok {
			return nil, "", fmt.Errorf("no document %s", ref)
		}
		d, err := document.Parse(ref, []byte(src), document.Options{})
		return d, ref, err
	}
	top := parse(t, "top", "name: top\nschemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - {name: N, action: ExecuteDocument, inputs: {document: leaf}}\n")
	out := run(t, r, nil, top)
	st := out.Result.Documents[0].Phases[0].Steps[0]
	if st.Status != StatusSuccess || len(st.DetailedOutput) != 1 || !strings.Contains(st.Outputs, `"executedStepCount":1`) {
		t.Fatalf("nested: %+v", st)
	}
	self := parse(t, "self", docs["self"])
	out = r.Run(context.Background(), &Plan{ExecutionID: "x", Docs: []DocInput{{Doc: self, Key: "self"}}}, nil)
	if msg := out.Result.Documents[0].Phases[0].Steps[0].FailureMessage; !strings.Contains(msg, "cycle detected") {
		t.Fatalf("cycle: %s", msg)
	}
	chain := parse(t, "chain", docs["chain"])
	out = r.Run(context.Background(), &Plan{ExecutionID: "x", Docs: []DocInput{{Doc: chain, Key: "chain"}}}, nil)
	b, _ := json.Marshal(out.Result)
	if out.Result.Status != StatusFailed || !strings.Contains(string(b), "nesting limit") {
		t.Fatalf("depth: %s", b)
	}
}
