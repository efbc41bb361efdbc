package exec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kiln-dev/kiln/internal/toe/document"
	"github.com/kiln-dev/kiln/internal/toe/expr"
)

type stepEnv struct {
	doc      *document.Document
	docIndex int
	phase    string
	step     *document.Step
	scope    *scope
	resumed  bool // resuming after a reboot: `if` is not re-evaluated
	depth    int
	stack    []string
	execID   string
}

// runStep runs one step through if, attempts, loops and onFailure. It
// returns abort=true when the run must stop. A *RebootRequest error asks
// the caller to persist state and reboot.
func (r *Runner) runStep(ctx context.Context, e stepEnv) (sr *StepResult, abort bool, err error) {
	st := e.step
	sr = &StepResult{Name: st.Name, Action: st.Action, TimeoutSeconds: st.TimeoutSeconds, OnFailure: st.OnFailure,
		MaxAttempts: st.MaxAttempts, StartTime: r.now(), Inputs: "[]", Outputs: "[]"}
	label := e.doc.Label()
	r.emit(Event{Kind: EventStepStart, Doc: label, Phase: e.phase, Step: st.Name, Action: st.Action, MaxAttempts: st.MaxAttempts, Depth: e.depth})
	finish := func(status, msg string) (*StepResult, bool, error) {
		sr.Status, sr.FailureMessage, sr.EndTime = status, msg, r.now()
		if status == StatusFailed {
			switch st.OnFailure {
			case document.Ignore:
				sr.Status = StatusIgnoredFailure
			case document.Abort:
				abort = true
			}
		}
		r.emit(Event{Kind: EventStepEnd, Doc: label, Phase: e.phase, Step: st.Name, Action: st.Action,
			Attempt: sr.Attempts, MaxAttempts: st.MaxAttempts, Status: sr.Status, Message: sr.FailureMessage, Depth: e.depth})
		return sr, abort, nil
	}
	sc := *e.scope
	sc.record = r.recorder(label, e.phase, st.Name)
	if st.If != nil && !e.resumed {
		ok, cerr := st.If.Cond.Eval(r.env(), &sc)
		if cerr != nil {
			return finish(StatusFailed, "evaluating if: "+cerr.Error())
		}
		decision := st.If.Else
		if ok {
			decision = st.If.Then
		}
		switch decision {
		case document.Skip:
			return finish(StatusSkipped, "")
		case document.Abort:
			sr.Status, sr.FailureMessage, sr.EndTime = StatusFailed, "step aborted by its if condition", r.now()
			r.emit(Event{Kind: EventStepEnd, Doc: label, Phase: e.phase, Step: st.Name, Status: StatusFailed, Message: sr.FailureMessage, Depth: e.depth})
			return sr, true, nil
		}
	}
	// Loop items are frozen when the step starts.
	iters, lerr := loopIterations(st.Loop, &sc)
	if lerr != nil {
		return finish(StatusFailed, lerr.Error())
	}
	var lastMsg string
	for attempt := 1; attempt <= st.MaxAttempts; attempt++ {
		sr.Attempts = attempt
		r.emit(Event{Kind: EventAttemptStart, Doc: label, Phase: e.phase, Step: st.Name, Action: st.Action, Attempt: attempt, MaxAttempts: st.MaxAttempts, Depth: e.depth})
		actx, cancel := ctx, context.CancelFunc(func() {})
		if st.TimeoutSeconds > 0 {
			actx, cancel = context.WithTimeout(ctx, time.Duration(st.TimeoutSeconds)*time.Second)
		}
		ins, outs, loopRes, detail, aerr := r.attempt(actx, e, &sc, iters, attempt)
		timedOut := actx.Err() == context.DeadlineExceeded && ctx.Err() == nil
		cancel()
		sr.Inputs, sr.Outputs = jsonString(ins), jsonString(outs)
		sr.Loop, sr.DetailedOutput = loopRes, detail
		if rr, ok := IsReboot(aerr); ok {
			return sr, false, rr
		}
		if aerr == nil {
			e.scope.chain[chainKey(e.phase, st.Name)] = &StepIO{Inputs: ins, Outputs: outs}
			return finish(StatusSuccess, "")
		}
		lastMsg = aerr.Error()
		if timedOut {
			lastMsg = fmt.Sprintf("step timed out after %d seconds (attempt %d): %s", st.TimeoutSeconds, attempt, lastMsg)
			if loopRes != nil {
				lastMsg = fmt.Sprintf("loop timed out after %d seconds (attempt %d)", st.TimeoutSeconds, attempt)
			}
		}
		r.logf("step %s/%s attempt %d/%d failed: %s", e.phase, st.Name, attempt, st.MaxAttempts, lastMsg)
		if ctx.Err() != nil {
			break
		}
	}
	if st.MaxAttempts > 1 {
		lastMsg = fmt.Sprintf("failed after %d attempts: %s", sr.Attempts, lastMsg)
	}
	return finish(StatusFailed, lastMsg)
}

func (r *Runner) recorder(doc, phase, step string) func(string, string, string, int, string, any) {
	if r.Chains == nil {
		return nil
	}
	return func(p, s, section string, index int, key string, v any) {
		r.Chains(ChainRecord{Document: doc, Phase: phase, Step: step,
			Expression: fmt.Sprintf("%s.%s.%s[%d].%s", p, s, section, index, key), Value: expr.Stringify(v)})
	}
}

// attempt runs all iterations of one attempt.
func (r *Runner) attempt(ctx context.Context, e stepEnv, sc *scope, iters []loopFrame, attempt int) (
	ins []map[string]any, outs []map[string]any, lr *LoopResult, detail []*DocResult, err error) {
	st := e.step
	if st.Loop == nil {
		ins, outs, detail, err = r.invoke(ctx, e, sc, attempt)
		return
	}
	lr = &LoopResult{Name: st.Loop.Name, Iterations: []*IterationInfo{}}
	var failed []string
	for _, it := range iters {
		it := it
		isc := *sc
		isc.loop = &it
		in, out, d, ierr := r.invoke(ctx, e, &isc, attempt)
		ins = append(ins, in...)
		info := &IterationInfo{Index: it.index, Value: it.value, Status: StatusSuccess}
		lr.Iterations = append(lr.Iterations, info)
		detail = append(detail, d...)
		if _, ok := IsReboot(ierr); ok {
			return ins, outs, lr, detail, ierr
		}
		if ierr != nil {
			info.Status, info.FailureMessage = StatusFailed, ierr.Error()
			failed = append(failed, strconv.Itoa(it.index))
			err = fmt.Errorf("loop iteration(s) %s failed: %w", strings.Join(failed, ","), ierr)
			return ins, outs, lr, detail, err
		}
		outs = mergeOutputs(outs, out)
	}
	return ins, outs, lr, detail, nil
}

// invoke resolves inputs for one iteration and calls the action.
func (r *Runner) invoke(ctx context.Context, e stepEnv, sc *scope, attempt int) ([]map[string]any, []map[string]any, []*DocResult, error) {
	st := e.step
	act, ok := r.Actions[st.Action]
	if !ok {
		return nil, nil, nil, fmt.Errorf("action %s is not supported by this runner", st.Action)
	}
	ins := make([]map[string]any, 0, len(st.Inputs))
	for _, in := range st.Inputs {
		v, err := expr.ExpandValue(in, sc)
		if err != nil {
			return nil, nil, nil, err
		}
		ins = append(ins, v.(map[string]any))
	}
	wd, prefix, err := r.stepWorkDir(e.execID, e.docIndex, e.phase, st.Name, attempt)
	if err != nil {
		return ins, nil, nil, err
	}
	call := &Call{Doc: e.doc, Phase: e.phase, Step: st, Inputs: ins, Console: r.console(), Logf: r.logf,
		WorkDir: wd, ScratchPrefix: prefix, Resumed: e.resumed}
	if st.Assert != nil {
		call.Assert = func() (bool, error) { return st.Assert.Eval(r.env(), sc) }
	}
	call.Nested = func(ctx context.Context, req NestedRequest) (*NestedResult, error) {
		return r.nested(ctx, e, req)
	}
	outs, err := act.Run(ctx, call)
	if err != nil && ctx.Err() == context.DeadlineExceeded && !errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("%w (%v)", context.DeadlineExceeded, err)
	}
	return ins, outs, call.Detail, err
}

// loopIterations computes a loop's iterations when the step starts.
func loopIterations(l *document.Loop, sc *scope) ([]loopFrame, error) {
	if l == nil {
		return nil, nil
	}
	var out []loopFrame
	switch {
	case l.IsFor:
		if l.UpdateBy == 0 {
			return nil, fmt.Errorf("loop updateBy is zero")
		}
		for i, v := 0, l.Start; (l.UpdateBy > 0 && v <= l.End) || (l.UpdateBy < 0 && v >= l.End); i, v = i+1, v+l.UpdateBy {
			out = append(out, loopFrame{name: l.Name, index: i, value: strconv.Itoa(v)})
		}
	case l.IsSplit:
		list, err := expr.Expand(l.List, sc)
		if err != nil {
			return nil, fmt.Errorf("loop list: %w", err)
		}
		for i, v := range strings.Split(list, l.Delimiter) {
			out = append(out, loopFrame{name: l.Name, index: i, value: v})
		}
	default:
		for i, item := range l.Items {
			v, err := expr.Expand(item, sc)
			if err != nil {
				return nil, fmt.Errorf("loop item %d: %w", i, err)
			}
			out = append(out, loopFrame{name: l.Name, index: i, value: v})
		}
	}
	return out, nil
}

// mergeOutputs merges an iteration's outputs into the accumulated ones:
// strings are joined with "\n", other values are replaced.
func mergeOutputs(acc, next []map[string]any) []map[string]any {
	for i, m := range next {
		if i >= len(acc) {
			cp := make(map[string]any, len(m))
			for k, v := range m {
				cp[k] = v
			}
			acc = append(acc, cp)
			continue
		}
		for k, v := range m {
			old, ok := acc[i][k]
			os, ok1 := old.(string)
			ns, ok2 := v.(string)
			if ok && ok1 && ok2 {
				acc[i][k] = os + "\n" + ns
			} else {
				acc[i][k] = v
			}
		}
	}
	return acc
}

func jsonString(v []map[string]any) string {
	if v == nil {
		v = []map[string]any{}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "[]"
	}
	return string(b)
}

func (r *Runner) env() expr.Env {
	if r.Env != nil {
		return r.Env
	}
	return OSEnv{}
}
