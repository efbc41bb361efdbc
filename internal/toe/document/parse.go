package document

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/kiln-dev/kiln/internal/toe/expr"
)

// Options control validation.
type Options struct {
	// OS is the platform the document must run on: "linux" (default),
	// "windows" or "macos".
	OS string
}

// Parse decodes and validates a document. label names it in errors
// (usually its path). The returned error is an Errors value listing every
// problem found; the document is returned whenever it could be decoded.
func Parse(label string, data []byte, opts Options) (*Document, error) {
	p := &parser{doc: &Document{Path: label, Raw: data}}
	p.parse(data)
	if p.fatal {
		return nil, p.errs
	}
	p.validate(opts)
	if len(p.errs) > 0 {
		return p.doc, p.errs
	}
	return p.doc, nil
}

type parser struct {
	doc   *Document
	errs  Errors
	fatal bool
	// current context for messages
	phase, step string
}

func (p *parser) errorf(line int, format string, args ...any) {
	p.errs = append(p.errs, &Error{Doc: p.doc.Label(), Phase: p.phase, Step: p.step, Line: line, Msg: fmt.Sprintf(format, args...)})
}

func (p *parser) warnf(line int, format string, args ...any) {
	w := fmt.Sprintf("%s:%d: step '%s' in phase '%s': %s", p.doc.Label(), line, p.step, p.phase, fmt.Sprintf(format, args...))
	for _, old := range p.doc.Warnings {
		if old == w {
			return
		}
	}
	p.doc.Warnings = append(p.doc.Warnings, w)
}

func (p *parser) parse(data []byte) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		p.fatal = true
		p.errorf(0, "invalid YAML/JSON: %v", err)
		return
	}
	if len(root.Content) == 0 {
		p.fatal = true
		p.errorf(0, "empty document")
		return
	}
	top := deref(root.Content[0])
	if top.Kind != yaml.MappingNode {
		p.fatal = true
		p.errorf(top.Line, "document must be a mapping with schemaVersion and phases")
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], deref(top.Content[i+1])
		seen[k.Value] = true
		switch k.Value {
		case "name":
			p.doc.Name = p.str(v, "name")
		case "description":
			p.doc.Description = p.str(v, "description")
		case "schemaVersion":
			if v.Kind != yaml.ScalarNode {
				p.errorf(v.Line, "schemaVersion must be 1.0")
				continue
			}
			p.doc.SchemaVersion = v.Value
			if v.Value != "1.0" && v.Value != "1" {
				p.errorf(v.Line, "unsupported schemaVersion %q: only 1.0 is supported", v.Value)
			}
		case "constants":
			p.doc.Constants = p.variables(v, "constants", "value")
		case "parameters":
			p.doc.Parameters = p.variables(v, "parameters", "default")
		case "phases":
			p.phases(v)
		default:
			p.errorf(k.Line, "unknown top-level key %q", k.Value)
		}
	}
	if !seen["schemaVersion"] {
		p.errorf(top.Line, "missing required key schemaVersion")
	}
	if !seen["phases"] {
		p.errorf(top.Line, "missing required key phases")
	}
}

func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		return deref(n.Content[0])
	}
	return n
}

func (p *parser) str(n *yaml.Node, what string) string {
	if n.Kind != yaml.ScalarNode {
		p.errorf(n.Line, "%s must be a string", what)
		return ""
	}
	if n.Tag == "!!null" {
		return ""
	}
	return n.Value
}

func (p *parser) integer(n *yaml.Node, what string) (int, bool) {
	if n.Kind == yaml.ScalarNode {
		if v, err := strconv.Atoi(strings.TrimSpace(n.Value)); err == nil {
			return v, true
		}
	}
	p.errorf(n.Line, "%s must be an integer, got %q", what, n.Value)
	return 0, false
}

// variables parses a list of single-key maps: `- Name: {type, value|default, description}`.
func (p *parser) variables(n *yaml.Node, what, valueKey string) []Variable {
	if n.Kind != yaml.SequenceNode {
		p.errorf(n.Line, "%s must be a list of single-key maps", what)
		return nil
	}
	var out []Variable
	for _, item := range n.Content {
		item = deref(item)
		if item.Kind != yaml.MappingNode || len(item.Content) != 2 {
			p.errorf(item.Line, "each entry of %s must be a single-key map", what)
			continue
		}
		name, body := item.Content[0].Value, deref(item.Content[1])
		v := Variable{Name: name, Line: item.Content[0].Line}
		if body.Kind != yaml.MappingNode {
			p.errorf(body.Line, "%s entry %q must be a map with type and %s", what, name, valueKey)
			continue
		}
		for i := 0; i+1 < len(body.Content); i += 2 {
			k, val := body.Content[i], deref(body.Content[i+1])
			switch k.Value {
			case "type":
				v.Type = p.str(val, "type")
			case valueKey:
				if val.Kind != yaml.ScalarNode {
					p.errorf(val.Line, "%s of %q must be a scalar", valueKey, name)
					continue
				}
				if val.Tag != "!!null" {
					v.Value, v.HasValue = val.Value, true
				}
			case "description":
				v.Description = p.str(val, "description")
			default:
				p.errorf(k.Line, "unknown key %q in %s entry %q", k.Value, what, name)
			}
		}
		if what == "constants" && !v.HasValue {
			p.errorf(v.Line, "constant %q has no value", name)
		}
		out = append(out, v)
	}
	return out
}

func (p *parser) phases(n *yaml.Node) {
	if n.Kind != yaml.SequenceNode {
		p.errorf(n.Line, "phases must be a list")
		return
	}
	for _, pn := range n.Content {
		pn = deref(pn)
		if pn.Kind != yaml.MappingNode {
			p.errorf(pn.Line, "each phase must be a map with name and steps")
			continue
		}
		ph := &Phase{Line: pn.Line}
		var steps *yaml.Node
		for i := 0; i+1 < len(pn.Content); i += 2 {
			k, v := pn.Content[i], deref(pn.Content[i+1])
			switch k.Value {
			case "name":
				ph.Name = p.str(v, "phase name")
			case "steps":
				steps = v
			default:
				p.errorf(k.Line, "unknown key %q in phase", k.Value)
			}
		}
		p.phase = ph.Name
		if ph.Name == "" {
			p.errorf(pn.Line, "phase has no name")
		}
		switch {
		case steps == nil:
			p.errorf(pn.Line, "phase has no steps")
		case steps.Kind == yaml.SequenceNode:
			for _, sn := range steps.Content {
				if st := p.stepNode(deref(sn)); st != nil {
					ph.Steps = append(ph.Steps, st)
				}
			}
		case steps.Tag == "!!null":
			p.errorf(steps.Line, "phase has no steps")
		default:
			p.errorf(steps.Line, "steps must be a list")
		}
		p.phase = ""
		p.doc.Phases = append(p.doc.Phases, ph)
	}
}

func (p *parser) stepNode(n *yaml.Node) *Step {
	if n.Kind != yaml.MappingNode {
		p.errorf(n.Line, "each step must be a map")
		return nil
	}
	st := &Step{Line: n.Line, TimeoutSeconds: DefaultTimeoutSeconds, OnFailure: Abort, MaxAttempts: 1}
	// Find the name first so every later message names the step.
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "name" {
			st.Name = p.str(deref(n.Content[i+1]), "step name")
		}
	}
	p.step = st.Name
	if st.Name == "" {
		p.step = fmt.Sprintf("#%d (line %d)", n.Line, n.Line)
		p.errorf(n.Line, "step has no name")
	}
	defer func() { p.step = "" }()
	var inputs, ifNode *yaml.Node
	timeoutSet := false
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], deref(n.Content[i+1])
		switch k.Value {
		case "name":
		case "action":
			st.Action = p.str(v, "action")
		case "inputs":
			inputs = v
		case "timeoutSeconds":
			if t, ok := p.integer(v, "timeoutSeconds"); ok {
				st.TimeoutSeconds, timeoutSet = t, true
				if t == 0 || t < -1 {
					p.errorf(v.Line, "timeoutSeconds must be a positive integer or -1, got %d", t)
				}
			}
		case "onFailure":
			s := p.str(v, "onFailure")
			switch strings.ToLower(s) {
			case "abort":
				st.OnFailure = Abort
			case "continue":
				st.OnFailure = Continue
			case "ignore":
				st.OnFailure = Ignore
			default:
				p.errorf(v.Line, "onFailure must be Abort, Continue or Ignore, got %q", s)
			}
		case "maxAttempts":
			if m, ok := p.integer(v, "maxAttempts"); ok {
				st.MaxAttempts = m
				if m < 1 {
					p.errorf(v.Line, "maxAttempts must be at least 1, got %d", m)
				}
			}
		case "loop":
			st.Loop = p.loop(v)
		case "if":
			ifNode = v
		case "disableLogging":
			st.DisableLogging = v.Value == "true"
		default:
			p.errorf(k.Line, "unknown key %q in step", k.Value)
		}
	}
	if st.Action == "" {
		p.errorf(n.Line, "step has no action")
	}
	switch st.Action {
	case "ExecuteDocument":
		st.TimeoutSeconds, st.MaxAttempts = NoTimeout, 1
	case "Reboot":
		if timeoutSet {
			// Not supported for Reboot: ignored (see docs/toe.md).
			st.TimeoutSeconds = NoTimeout
		}
	}
	if ifNode != nil {
		st.If = p.ifBlock(ifNode)
	}
	if inputs != nil && inputs.Tag != "!!null" {
		st.InputsGiven = true
		if st.Action == "Assert" {
			st.Assert = p.condition(inputs, 0)
		} else {
			st.Inputs = p.inputs(inputs)
		}
	}
	return st
}

func (p *parser) inputs(n *yaml.Node) []map[string]any {
	switch n.Kind {
	case yaml.MappingNode:
		return []map[string]any{p.value(n).(map[string]any)}
	case yaml.SequenceNode:
		var out []map[string]any
		for _, e := range n.Content {
			e = deref(e)
			if e.Kind != yaml.MappingNode {
				p.errorf(e.Line, "inputs must be a map or a list of maps")
				continue
			}
			out = append(out, p.value(e).(map[string]any))
		}
		return out
	}
	p.errorf(n.Line, "inputs must be a map or a list of maps")
	return nil
}

// value converts a YAML node to plain Go values: map[string]any, []any,
// string, int64 (decimal integers only; 0755 stays the string "0755"),
// float64, bool or nil.
func (p *parser) value(n *yaml.Node) any {
	n = deref(n)
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[n.Content[i].Value] = p.value(n.Content[i+1])
		}
		return m
	case yaml.SequenceNode:
		l := make([]any, 0, len(n.Content))
		for _, e := range n.Content {
			l = append(l, p.value(e))
		}
		return l
	case yaml.ScalarNode:
		return scalar(n)
	}
	return nil
}

func scalar(n *yaml.Node) any {
	switch n.Tag {
	case "!!null":
		return nil
	case "!!bool":
		var b bool
		if n.Decode(&b) == nil {
			return b
		}
	case "!!int":
		if i, err := strconv.ParseInt(n.Value, 10, 64); err == nil && (len(n.Value) < 2 || n.Value[0] != '0') {
			return i
		}
	case "!!float":
		if f, err := strconv.ParseFloat(n.Value, 64); err == nil {
			return f
		}
	}
	return n.Value
}

func (p *parser) loop(n *yaml.Node) *Loop {
	l := &Loop{Line: n.Line}
	if n.Kind != yaml.MappingNode {
		p.errorf(n.Line, "loop must be a map")
		return l
	}
	kinds := 0
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], deref(n.Content[i+1])
		switch k.Value {
		case "name":
			l.Name = p.str(v, "loop name")
		case "for":
			kinds++
			l.IsFor = true
			p.forLoop(l, v)
		case "forEach":
			kinds++
			p.forEach(l, v)
		default:
			p.errorf(k.Line, "unknown key %q in loop", k.Value)
		}
	}
	if kinds != 1 {
		p.errorf(n.Line, "loop must have exactly one of for or forEach")
	}
	return l
}

func (p *parser) forLoop(l *Loop, v *yaml.Node) {
	if v.Kind != yaml.MappingNode {
		p.errorf(v.Line, "for must be a map with start, end and updateBy")
		return
	}
	got := map[string]bool{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], deref(v.Content[i+1])
		x, ok := p.integer(val, "for."+k.Value)
		if !ok {
			continue
		}
		got[k.Value] = true
		switch k.Value {
		case "start":
			l.Start = x
		case "end":
			l.End = x
		case "updateBy":
			l.UpdateBy = x
		default:
			p.errorf(k.Line, "unknown key %q in for", k.Value)
		}
	}
	for _, k := range []string{"start", "end", "updateBy"} {
		if !got[k] {
			p.errorf(v.Line, "for loop is missing %s", k)
		}
	}
	switch {
	case got["updateBy"] && l.UpdateBy == 0:
		p.errorf(v.Line, "for loop updateBy must not be zero")
	case l.End > l.Start && l.UpdateBy < 0, l.End < l.Start && l.UpdateBy > 0:
		p.errorf(v.Line, "for loop from %d to %d by %d never terminates", l.Start, l.End, l.UpdateBy)
	}
}

// Delimiters allowed for forEach {list, delimiter}.
const Delimiters = ".,;:\n\t -_"

func (p *parser) forEach(l *Loop, v *yaml.Node) {
	switch v.Kind {
	case yaml.SequenceNode:
		for _, e := range v.Content {
			e = deref(e)
			if e.Kind != yaml.ScalarNode {
				p.errorf(e.Line, "forEach list entries must be scalars")
				continue
			}
			l.Items = append(l.Items, e.Value)
		}
	case yaml.MappingNode:
		l.IsSplit, l.Delimiter = true, ","
		hasList := false
		for i := 0; i+1 < len(v.Content); i += 2 {
			k, val := v.Content[i], deref(v.Content[i+1])
			switch k.Value {
			case "list":
				l.List, hasList = p.str(val, "forEach list"), true
			case "delimiter":
				d := p.str(val, "delimiter")
				if len(d) != 1 || !strings.Contains(Delimiters, d) {
					p.errorf(val.Line, "forEach delimiter must be one character of %q, got %q", Delimiters, d)
				} else if len(expr.Refs(d)) > 0 {
					p.errorf(val.Line, "forEach delimiter must not use expressions")
				}
				l.Delimiter = d
			default:
				p.errorf(k.Line, "unknown key %q in forEach", k.Value)
			}
		}
		if !hasList {
			p.errorf(v.Line, "forEach map requires list")
		}
	default:
		p.errorf(v.Line, "forEach must be a list or a map with list and delimiter")
	}
}
