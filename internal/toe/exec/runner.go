package exec

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/kiln-dev/kiln/internal/clock"
	"github.com/kiln-dev/kiln/internal/toe/document"
	"github.com/kiln-dev/kiln/internal/toe/expr"
)

// MaxNestingDepth is how many ExecuteDocument levels may nest below a
// top-level document (4 documents deep in total).
const MaxNestingDepth = 3

// Runner executes documents. All fields except Actions are optional.
type Runner struct {
	Clock clock.Clock
	// Actions maps an action name to its module.
	Actions map[string]Action
	// Env answers file-system questions for conditions.
	Env expr.Env
	// Funcs evaluates function references (aws:ssm:resolve).
	Funcs FuncResolver
	// Console receives process output.
	Console io.Writer
	// Logf writes to the application log.
	Logf func(format string, args ...any)
	// Events receives progress notifications.
	Events func(Event)
	// WorkDir holds per-step scratch directories (default os.TempDir()).
	WorkDir string
	// LoadDocument loads a document for ExecuteDocument; the returned key
	// identifies it for cycle detection (e.g. its absolute path).
	LoadDocument func(ctx context.Context, ref, owner string) (doc *document.Document, key string, err error)
	// Chains, when set, receives every resolved chaining expression.
	Chains func(ChainRecord)

	mu      sync.Mutex
	scratch string
	seq     int
}

// DocInput is one document to run with its runtime parameters.
type DocInput struct {
	Doc    *document.Document
	Params map[string]string
	// Key identifies the document for cycle detection.
	Key string
}

// Plan is a run request.
type Plan struct {
	ExecutionID string
	Docs        []DocInput
	// Phases selects phases by name; empty runs all phases.
	Phases []string
}

// Cursor is a position in the plan.
type Cursor struct {
	Doc   int    `json:"doc"`
	Phase string `json:"phase"`
	Step  int    `json:"step"`
}

// State is everything needed to resume a run after a reboot.
type State struct {
	ExecutionID string               `json:"executionId"`
	Cursor      Cursor               `json:"cursor"`
	Result      *Result              `json:"result"`
	Chains      []map[string]*StepIO `json:"chains"`
	Reboots     int                  `json:"reboots"`
	// Extra is free-form caller data (e.g. the run folder path).
	Extra map[string]string `json:"extra,omitempty"`
}

// Outcome of Run.
type Outcome struct {
	Result *Result
	// Reboot is set when an action requested a reboot: the caller must
	// persist it, reboot, and call Run again with it.
	Reboot        *State
	RebootRequest *RebootRequest
}

func (r *Runner) now() string {
	c := r.Clock
	if c == nil {
		c = clock.Real{}
	}
	return c.Now().Format(TimeFormat)
}

func (r *Runner) logf(format string, args ...any) {
	if r.Logf != nil {
		r.Logf(format, args...)
	}
}

func (r *Runner) emit(e Event) {
	if r.Events != nil {
		if r.Clock != nil {
			e.Time = r.Clock.Now()
		} else {
			e.Time = clock.Real{}.Now()
		}
		r.Events(e)
	}
}

func (r *Runner) console() io.Writer {
	if r.Console == nil {
		return io.Discard
	}
	return r.Console
}

// Run executes the plan, or resumes it from st (nil for a fresh run).
func (r *Runner) Run(ctx context.Context, plan *Plan, st *State) *Outcome {
	return r.run(ctx, plan, st, 0, nil)
}

func (r *Runner) run(ctx context.Context, plan *Plan, st *State, depth int, stack []string) *Outcome {
	resuming := st != nil
	if st == nil {
		st = &State{ExecutionID: plan.ExecutionID, Result: &Result{ExecutionID: plan.ExecutionID, StartTime: r.now()}}
	}
	for len(st.Chains) < len(plan.Docs) {
		st.Chains = append(st.Chains, map[string]*StepIO{})
	}
	res := st.Result
	selected := map[string]bool{}
	for _, p := range plan.Phases {
		selected[strings.TrimSpace(p)] = true
	}
	aborted := false
	for di := st.Cursor.Doc; di < len(plan.Docs) && !aborted; di++ {
		in := plan.Docs[di]
		doc := in.Doc
		var dres *DocResult
		resumeDoc := resuming && di == st.Cursor.Doc && len(res.Documents) > di
		if resumeDoc {
			dres = res.Documents[di]
		} else {
			dres = &DocResult{Name: doc.Name, FilePath: doc.Path, Description: doc.Description, StartTime: r.now()}
			res.Documents = append(res.Documents, dres)
			r.emit(Event{Kind: EventDocStart, Doc: doc.Label(), Depth: depth})
		}
		sc := &scope{doc: doc, params: in.Params, chain: st.Chains[di], funcs: r.Funcs}
		if msg := missingParams(doc, in.Params); msg != "" {
			dres.Status, dres.FailureMessage, dres.EndTime = StatusFailed, msg, r.now()
			aborted = true
			break
		}
		stack := append(stack[:len(stack):len(stack)], in.Key)
		phaseStarted := !resumeDoc
		for _, ph := range doc.Phases {
			if len(selected) > 0 && !selected[ph.Name] {
				continue
			}
			if !phaseStarted {
				if ph.Name != st.Cursor.Phase {
					continue
				}
				phaseStarted = true
			}
			var pres *PhaseResult
			startStep := 0
			if resumeDoc && ph.Name == st.Cursor.Phase && len(dres.Phases) > 0 && dres.Phases[len(dres.Phases)-1].Name == ph.Name {
				pres = dres.Phases[len(dres.Phases)-1]
				startStep = st.Cursor.Step
			} else {
				pres = &PhaseResult{Name: ph.Name, StartTime: r.now()}
				dres.Phases = append(dres.Phases, pres)
				r.emit(Event{Kind: EventPhaseStart, Doc: doc.Label(), Phase: ph.Name, Depth: depth})
			}
			for si := startStep; si < len(ph.Steps); si++ {
				resumed := resumeDoc && ph.Name == st.Cursor.Phase && si == st.Cursor.Step && resuming
				sr, abort, err := r.runStep(ctx, stepEnv{doc: doc, docIndex: di, phase: ph.Name, step: ph.Steps[si],
					scope: sc, resumed: resumed, depth: depth, stack: stack, execID: plan.ExecutionID})
				if rr, ok := IsReboot(err); ok {
					st.Cursor = Cursor{Doc: di, Phase: ph.Name, Step: si}
					st.Reboots++
					return &Outcome{Result: res, Reboot: st, RebootRequest: rr}
				}
				pres.Steps = append(pres.Steps, sr)
				if abort {
					aborted = true
					break
				}
			}
			resumeDoc = false
			finishPhase(pres, r.now())
			r.emit(Event{Kind: EventPhaseEnd, Doc: doc.Label(), Phase: ph.Name, Status: pres.Status, Depth: depth})
			if aborted {
				break
			}
		}
		finishDoc(dres, r.now())
		r.emit(Event{Kind: EventDocEnd, Doc: doc.Label(), Status: dres.Status, Message: dres.FailureMessage, Depth: depth})
	}
	res.EndTime = r.now()
	res.Status, res.FailureMessage = aggregate(len(res.Documents), func(i int) (string, string, string) {
		d := res.Documents[i]
		return d.Status, "document '" + d.Name + "'", d.FailureMessage
	})
	return &Outcome{Result: res}
}

func missingParams(doc *document.Document, params map[string]string) string {
	var miss []string
	for _, p := range doc.Parameters {
		if _, ok := params[p.Name]; !ok && !p.HasValue {
			miss = append(miss, p.Name)
		}
	}
	if len(miss) == 0 {
		return ""
	}
	return fmt.Sprintf("parameter(s) %s have no default and were not supplied (use --parameters %s=<value>)",
		strings.Join(miss, ", "), miss[0])
}

func finishPhase(p *PhaseResult, now string) {
	p.EndTime = now
	p.Status, p.FailureMessage = aggregate(len(p.Steps), func(i int) (string, string, string) {
		s := p.Steps[i]
		st := s.Status
		switch st {
		case StatusSkipped:
			st = StatusSuccess
		case StatusIgnoredFailure:
			st = StatusSuccessWithIgnoredFailure
		}
		return st, "step '" + s.Name + "'", s.FailureMessage
	})
}

func finishDoc(d *DocResult, now string) {
	d.EndTime = now
	if d.Status == StatusFailed && len(d.Phases) == 0 {
		return // failed before any phase ran (e.g. missing parameters)
	}
	d.Status, d.FailureMessage = aggregate(len(d.Phases), func(i int) (string, string, string) {
		p := d.Phases[i]
		return p.Status, "phase '" + p.Name + "'", p.FailureMessage
	})
}

// aggregate folds child statuses: any failed ⇒ failed; else any ignored
// failure ⇒ successWithIgnoredFailure; else success.
func aggregate(n int, child func(int) (status, label, msg string)) (string, string) {
	status := StatusSuccess
	var msgs []string
	for i := 0; i < n; i++ {
		s, label, msg := child(i)
		switch s {
		case StatusFailed:
			status = StatusFailed
			msgs = append(msgs, label+" failed: "+msg)
		case StatusSuccessWithIgnoredFailure:
			if status != StatusFailed {
				status = StatusSuccessWithIgnoredFailure
			}
		}
	}
	return status, strings.Join(msgs, "; ")
}

// stepWorkDir returns the shared scratch directory (created once) and a
// name prefix unique to one step attempt, so actions can write files
// such as input.sh without a directory per step.
func (r *Runner) stepWorkDir(execID string, docIndex int, phase, step string, attempt int) (string, string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.scratch == "" {
		base := r.WorkDir
		if base == "" {
			base = os.TempDir()
		}
		dir := filepath.Join(base, safeName(execID))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", "", fmt.Errorf("creating work directory: %w", err)
		}
		r.scratch = dir
	}
	r.seq++
	return r.scratch, fmt.Sprintf("%06d-%d-%s-%s-%d-", r.seq, docIndex, safeName(phase), safeName(step), attempt), nil
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 || r == ':' {
			return '_'
		}
		return r
	}, s)
}
