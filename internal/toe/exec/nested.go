package exec

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// nested runs a document on behalf of an ExecuteDocument step.
func (r *Runner) nested(ctx context.Context, e stepEnv, req NestedRequest) (*NestedResult, error) {
	if e.depth+1 > MaxNestingDepth {
		return nil, fmt.Errorf("ExecuteDocument nesting limit reached: at most %d levels (%d documents deep)", MaxNestingDepth, MaxNestingDepth+1)
	}
	if r.LoadDocument == nil {
		return nil, fmt.Errorf("ExecuteDocument: no document loader configured")
	}
	doc, key, err := r.LoadDocument(ctx, req.Document, req.Owner)
	if err != nil {
		return nil, fmt.Errorf("ExecuteDocument: %w", err)
	}
	for _, k := range e.stack {
		if k == key {
			return nil, fmt.Errorf("ExecuteDocument: cycle detected: %s is already being executed (%s)", req.Document, strings.Join(append(e.stack, key), " -> "))
		}
	}
	id := e.execID + "-" + strconv.Itoa(e.depth+1) + "-" + safeName(e.step.Name)
	plan := &Plan{ExecutionID: id, Docs: []DocInput{{Doc: doc, Params: req.Parameters, Key: key}}, Phases: req.Phases}
	out := r.run(ctx, plan, nil, e.depth+1, e.stack)
	if out.Reboot != nil {
		return nil, out.RebootRequest
	}
	executed, failed, ignored := countSteps(out.Result.Documents)
	summary := map[string]any{
		"executedStepCount":      executed,
		"executionId":            id,
		"failedStepCount":        failed,
		"failureMessage":         out.Result.FailureMessage,
		"ignoredFailedStepCount": ignored,
		"logUrl":                 "",
		"status":                 out.Result.Status,
	}
	return &NestedResult{Summary: summary, Docs: out.Result.Documents, Status: out.Result.Status}, nil
}

func countSteps(docs []*DocResult) (executed, failed, ignored int) {
	for _, d := range docs {
		for _, p := range d.Phases {
			for _, s := range p.Steps {
				switch s.Status {
				case StatusSkipped:
					continue
				case StatusFailed:
					failed++
				case StatusIgnoredFailure:
					ignored++
				}
				executed++
			}
		}
	}
	return
}
