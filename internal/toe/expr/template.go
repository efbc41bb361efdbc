// Package expr is the pure expression engine of the AWSTOE runner: it finds
// and classifies `{{ … }}` references (parameters, constants, chaining,
// loop variables, functions), expands them against a Scope, and evaluates
// the comparison and logical operators used by `if:` and `Assert`.
//
// The package does no I/O of its own; file-system checks used by
// conditions go through the Env interface.
package expr

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// RefKind classifies a reference found between `{{` and `}}`.
type RefKind int

// Reference kinds.
const (
	// RefOther is text that does not match any reference grammar (for
	// example a Go template `{{ .Id }}` inside a shell command); it is
	// left verbatim.
	RefOther RefKind = iota
	// RefVariable is a parameter or constant name.
	RefVariable
	// RefChain is phase.step.inputs|outputs[.i].key.
	RefChain
	// RefLoop is loop.index/loop.value or <loopName>.index/value.
	RefLoop
	// RefFunc is a function call such as aws:ssm:resolve(name).
	RefFunc
)

// Ref is one parsed reference.
type Ref struct {
	Kind RefKind
	Raw  string // text between the braces, trimmed
	// RefVariable: Name. RefLoop: Name (loop name or "loop") and Field
	// ("index" or "value"). RefFunc: Name (function) and Arg.
	Name  string
	Field string
	Arg   string
	// RefChain.
	Phase, Step, Section string // Section is "inputs" or "outputs"
	Index                int
	Key                  string
}

var (
	identRe = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	chainRe = regexp.MustCompile(`^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.(inputs|outputs)(?:\[(\d+)\])?\.([A-Za-z0-9_-]+)$`)
	loopRe  = regexp.MustCompile(`^([A-Za-z0-9_-]+)\.(index|value)$`)
	funcRe  = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9]*(?::[A-Za-z][A-Za-z0-9]*)+)\(\s*([^()]*?)\s*\)$`)
)

// ParseRef classifies the text between braces.
func ParseRef(raw string) Ref {
	s := strings.TrimSpace(raw)
	r := Ref{Raw: s}
	switch {
	case identRe.MatchString(s):
		r.Kind, r.Name = RefVariable, s
	case chainRe.MatchString(s):
		m := chainRe.FindStringSubmatch(s)
		r.Kind, r.Phase, r.Step, r.Section, r.Key = RefChain, m[1], m[2], m[3], m[5]
		if m[4] != "" {
			r.Index, _ = strconv.Atoi(m[4])
		}
	case loopRe.MatchString(s):
		m := loopRe.FindStringSubmatch(s)
		r.Kind, r.Name, r.Field = RefLoop, m[1], m[2]
	case funcRe.MatchString(s):
		m := funcRe.FindStringSubmatch(s)
		r.Kind, r.Name, r.Arg = RefFunc, m[1], strings.Trim(m[2], `'"`)
	}
	return r
}

// Segment is a piece of a template: literal text or a reference.
type Segment struct {
	Text  string // literal text, or the full `{{ … }}` source for a reference
	IsRef bool
	Ref   Ref
}

// Split breaks s into literal and reference segments. A `{{` without a
// closing `}}` is literal text.
func Split(s string) []Segment {
	var out []Segment
	for {
		i := strings.Index(s, "{{")
		if i < 0 {
			break
		}
		j := strings.Index(s[i+2:], "}}")
		if j < 0 {
			break
		}
		if i > 0 {
			out = append(out, Segment{Text: s[:i]})
		}
		inner := s[i+2 : i+2+j]
		out = append(out, Segment{Text: s[i : i+4+j], IsRef: true, Ref: ParseRef(inner)})
		s = s[i+4+j:]
	}
	if s != "" {
		out = append(out, Segment{Text: s})
	}
	return out
}

// Refs returns every classified reference in s (RefOther excluded).
func Refs(s string) []Ref {
	if !strings.Contains(s, "{{") {
		return nil
	}
	var out []Ref
	for _, seg := range Split(s) {
		if seg.IsRef && seg.Ref.Kind != RefOther {
			out = append(out, seg.Ref)
		}
	}
	return out
}

// Scope answers references at expansion time.
type Scope interface {
	// Variable returns a parameter or constant value.
	Variable(name string) (string, bool)
	// Loop returns the current iteration of the named loop ("loop" is the
	// current step's loop).
	Loop(name string) (index int, value string, ok bool)
	// Chain returns an input or output value of an earlier step.
	Chain(phase, step, section string, index int, key string) (any, error)
	// Func evaluates a function reference such as aws:ssm:resolve.
	Func(name, arg string) (string, error)
}

// Expand replaces every reference in s using scope. Unknown variables are
// errors; loop references with no matching loop and text that matches no
// reference grammar are left verbatim.
func Expand(s string, scope Scope) (string, error) {
	if !strings.Contains(s, "{{") {
		return s, nil
	}
	var b strings.Builder
	for _, seg := range Split(s) {
		if !seg.IsRef {
			b.WriteString(seg.Text)
			continue
		}
		v, err := resolve(seg, scope)
		if err != nil {
			return "", err
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

func resolve(seg Segment, scope Scope) (string, error) {
	r := seg.Ref
	switch r.Kind {
	case RefVariable:
		if v, ok := scope.Variable(r.Name); ok {
			return v, nil
		}
		// A bare name that is the name of an active loop is not a
		// variable; anything else is an unknown reference.
		return "", fmt.Errorf("unknown parameter or constant %q in %s", r.Name, seg.Text)
	case RefLoop:
		idx, val, ok := scope.Loop(r.Name)
		if !ok {
			return seg.Text, nil
		}
		if r.Field == "index" {
			return strconv.Itoa(idx), nil
		}
		return val, nil
	case RefChain:
		v, err := scope.Chain(r.Phase, r.Step, r.Section, r.Index, r.Key)
		if err != nil {
			return "", fmt.Errorf("resolving %s: %w", seg.Text, err)
		}
		return Stringify(v), nil
	case RefFunc:
		v, err := scope.Func(r.Name, r.Arg)
		if err != nil {
			return "", fmt.Errorf("resolving %s: %w", seg.Text, err)
		}
		return v, nil
	}
	return seg.Text, nil
}

// Stringify renders a resolved value as text: strings verbatim, numbers
// and booleans in their natural form, anything else as JSON.
func Stringify(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// ExpandValue expands every string inside a decoded YAML value (maps,
// lists, scalars), returning a new value.
func ExpandValue(v any, scope Scope) (any, error) {
	switch x := v.(type) {
	case string:
		return Expand(x, scope)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			ev, err := ExpandValue(e, scope)
			if err != nil {
				return nil, err
			}
			out[i] = ev
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			ev, err := ExpandValue(e, scope)
			if err != nil {
				return nil, err
			}
			out[k] = ev
		}
		return out, nil
	}
	return v, nil
}

// WalkStrings calls fn for every string inside a decoded YAML value.
func WalkStrings(v any, fn func(string)) {
	switch x := v.(type) {
	case string:
		fn(x)
	case []any:
		for _, e := range x {
			WalkStrings(e, fn)
		}
	case map[string]any:
		for _, e := range x {
			WalkStrings(e, fn)
		}
	}
}
