package exec

import (
	"fmt"

	"github.com/kiln-dev/kiln/internal/toe/document"
)

// StepIO is the recorded resolved inputs and outputs of an executed step,
// the source of chaining expressions.
type StepIO struct {
	Inputs  []map[string]any `json:"inputs"`
	Outputs []map[string]any `json:"outputs"`
}

// ChainRecord is one resolved chaining expression (chaining.json).
type ChainRecord struct {
	Document   string `json:"document"`
	Phase      string `json:"phase"`
	Step       string `json:"step"`
	Expression string `json:"expression"`
	Value      string `json:"value"`
}

// FuncResolver evaluates function references such as aws:ssm:resolve.
type FuncResolver func(name, arg string) (string, error)

// loopFrame is the current iteration of a step's loop.
type loopFrame struct {
	name  string
	index int
	value string
}

// scope implements expr.Scope for one step of one document.
type scope struct {
	doc    *document.Document
	params map[string]string
	chain  map[string]*StepIO // key phase + "\x00" + step
	loop   *loopFrame
	funcs  FuncResolver
	record func(phase, step, section string, index int, key string, v any)
}

func chainKey(phase, step string) string { return phase + "\x00" + step }

func (s *scope) Variable(name string) (string, bool) {
	for _, c := range s.doc.Constants {
		if c.Name == name {
			return c.Value, true
		}
	}
	if v, ok := s.params[name]; ok {
		return v, true
	}
	for _, p := range s.doc.Parameters {
		if p.Name == name && p.HasValue {
			return p.Value, true
		}
	}
	return "", false
}

func (s *scope) Loop(name string) (int, string, bool) {
	if s.loop == nil {
		return 0, "", false
	}
	if name == "loop" || (s.loop.name != "" && name == s.loop.name) {
		return s.loop.index, s.loop.value, true
	}
	return 0, "", false
}

func (s *scope) Chain(phase, step, section string, index int, key string) (any, error) {
	io, ok := s.chain[chainKey(phase, step)]
	if !ok {
		return nil, fmt.Errorf("step '%s' in phase '%s' has not run (or was skipped)", step, phase)
	}
	list := io.Inputs
	if section == "outputs" {
		list = io.Outputs
	}
	if index >= len(list) {
		return nil, fmt.Errorf("step '%s' in phase '%s' has no %s[%d]", step, phase, section, index)
	}
	v, ok := list[index][key]
	if !ok {
		return nil, fmt.Errorf("step '%s' in phase '%s' has no %s[%d].%s", step, phase, section, index, key)
	}
	if s.record != nil {
		s.record(phase, step, section, index, key, v)
	}
	return v, nil
}

func (s *scope) Func(name, arg string) (string, error) {
	if v, ok := s.Variable(arg); ok {
		arg = v
	}
	if s.funcs == nil {
		return "", fmt.Errorf("%s is not available in this runner", name)
	}
	return s.funcs(name, arg)
}
