package document

import (
	"strings"

	"github.com/kiln-dev/kiln/internal/toe/expr"
)

// validate checks semantics after decoding.
func (p *parser) validate(opts Options) {
	os := opts.OS
	if os == "" {
		os = "linux"
	}
	d := p.doc
	names := map[string]bool{}
	for _, vs := range [][]Variable{d.Constants, d.Parameters} {
		for _, v := range vs {
			if !varNameRe.MatchString(v.Name) {
				p.errorf(v.Line, "invalid name %q: constants and parameters need 3-128 characters of [A-Za-z0-9_-]", v.Name)
			}
			if names[v.Name] {
				p.errorf(v.Line, "duplicate constant or parameter name %q", v.Name)
			}
			names[v.Name] = true
			switch strings.ToLower(v.Type) {
			case "string", "integer", "boolean", "stringlist":
			case "":
				p.errorf(v.Line, "%q has no type", v.Name)
			default:
				p.errorf(v.Line, "%q has unsupported type %q", v.Name, v.Type)
			}
		}
	}
	if len(d.Phases) == 0 && len(p.errs) == 0 {
		p.errorf(0, "document has no phases")
	}
	phaseNames := map[string]bool{}
	known := false
	for _, ph := range d.Phases {
		if phaseNames[ph.Name] {
			p.errorf(ph.Line, "duplicate phase name %q", ph.Name)
		}
		phaseNames[ph.Name] = true
		switch ph.Name {
		case "build", "validate", "test":
			known = true
		}
	}
	if len(d.Phases) > 0 && !known {
		p.errorf(d.Phases[0].Line, "document must contain at least one of the phases build, validate, test")
	}
	for _, ph := range d.Phases {
		p.phase = ph.Name
		stepNames := map[string]bool{}
		loopNames := map[string]bool{}
		for _, st := range ph.Steps {
			p.step = st.Name
			if stepNames[st.Name] {
				p.errorf(st.Line, "duplicate step name %q in phase %q", st.Name, ph.Name)
			}
			stepNames[st.Name] = true
			if st.Loop != nil && st.Loop.Name != "" {
				if loopNames[st.Loop.Name] {
					p.errorf(st.Loop.Line, "duplicate loop name %q in phase %q", st.Loop.Name, ph.Name)
				}
				loopNames[st.Loop.Name] = true
			}
			p.validateStep(st, os)
		}
		p.phase, p.step = "", ""
	}
}

func (p *parser) validateStep(st *Step, os string) {
	spec, ok := Actions[st.Action]
	if !ok {
		if st.Action != "" {
			p.errorf(st.Line, "Unknown action %s.", st.Action)
		}
		return
	}
	if !strings.Contains(spec.Platforms, PlatformLetter(os)) {
		p.errorf(st.Line, "Unsupported action %s for os platform %s.", st.Action, os)
	}
	if spec.NeedsInputs && !st.InputsGiven {
		p.errorf(st.Line, "Action %s has no inputs; it requires an 'inputs'", st.Action)
	}
	if st.Action == "Assert" {
		p.checkRefs(st, st.Assert.Refs(), st.Line)
	} else {
		if spec.Single && len(st.Inputs) > 1 {
			p.errorf(st.Line, "Action %s takes a single input map, got a list of %d", st.Action, len(st.Inputs))
		}
		for i, in := range st.Inputs {
			for _, k := range spec.Required {
				if _, ok := in[k]; !ok {
					p.errorf(st.Line, "Action %s input %d is missing required key '%s'", st.Action, i, k)
				}
			}
			p.checkInput(st, in, os)
			expr.WalkStrings(in, func(s string) { p.checkRefs(st, expr.Refs(s), st.Line) })
		}
	}
	if st.If != nil && st.If.Cond != nil {
		p.checkRefs(st, st.If.Cond.Refs(), st.If.Line)
	}
	if l := st.Loop; l != nil {
		for _, it := range l.Items {
			p.checkRefs(st, expr.Refs(it), l.Line)
		}
		p.checkRefs(st, expr.Refs(l.List), l.Line)
	}
}

// checkInput does per-module type checks that need no run-time values.
func (p *parser) checkInput(st *Step, in map[string]any, os string) {
	strList := func(key string) {
		v, ok := in[key]
		if !ok {
			return
		}
		switch x := v.(type) {
		case string:
		case []any:
			for _, e := range x {
				if _, ok := e.(map[string]any); ok {
					p.errorf(st.Line, "%s: %s must be a list of strings", st.Action, key)
					return
				}
			}
		default:
			p.errorf(st.Line, "%s: %s must be a list of strings", st.Action, key)
		}
	}
	switch st.Action {
	case "ExecuteBash":
		strList("commands")
	case "ExecuteBinary":
		strList("arguments")
	case "ExecutePowerShell":
		_, c := in["commands"]
		_, f := in["file"]
		if c == f {
			p.errorf(st.Line, "ExecutePowerShell requires exactly one of commands or file")
		}
		strList("commands")
	case "UpdateOS":
		strList("include")
		strList("exclude")
	case "WebDownload":
		if a, ok := in["algorithm"].(string); ok && len(expr.Refs(a)) == 0 {
			switch strings.ToUpper(a) {
			case "MD5", "SHA1", "SHA256", "SHA512":
			default:
				p.errorf(st.Line, "WebDownload: unsupported algorithm %q (MD5, SHA1, SHA256, SHA512)", a)
			}
		}
	}
	if e, ok := in["encoding"].(string); ok && len(expr.Refs(e)) == 0 && !ValidEncoding(e) {
		p.errorf(st.Line, "%s: unsupported encoding %q", st.Action, e)
	}
	if PlatformLetter(os) == "w" {
		for _, k := range []string{"owner", "group", "permissions"} {
			if _, ok := in[k]; ok {
				p.errorf(st.Line, "%s: %s is not supported on Windows", st.Action, k)
			}
		}
	}
}

// ValidEncoding reports whether e names a supported encoding.
func ValidEncoding(e string) bool {
	for _, x := range Encodings {
		if strings.EqualFold(x, e) {
			return true
		}
	}
	return false
}

// checkRefs validates parameter and chaining references.
func (p *parser) checkRefs(st *Step, refs []expr.Ref, line int) {
	d := p.doc
	for _, r := range refs {
		switch r.Kind {
		case expr.RefVariable:
			if _, ok := d.Variable(r.Name); !ok {
				p.errorf(line, "unknown parameter or constant '%s' in '{{ %s }}'", r.Name, r.Raw)
			}
		case expr.RefChain:
			// Unknown targets are warnings: the step fails at run time
			// when the reference cannot be resolved (some published
			// documents are templates whose steps are added later).
			ph := d.Phase(r.Phase)
			if ph == nil {
				p.warnf(line, "chaining expression '{{ %s }}' refers to unknown phase '%s'", r.Raw, r.Phase)
				continue
			}
			if ph.Step(r.Step) == nil {
				p.warnf(line, "chaining expression '{{ %s }}' refers to unknown step '%s' in phase '%s'", r.Raw, r.Step, r.Phase)
			}
		case expr.RefFunc:
			if r.Name != "aws:ssm:resolve" {
				p.errorf(line, "unknown function '%s' in '{{ %s }}'", r.Name, r.Raw)
			} else if _, ok := d.Variable(r.Arg); !ok && !strings.HasPrefix(r.Arg, "/") && !strings.HasPrefix(r.Arg, "arn:") {
				p.errorf(line, "aws:ssm:resolve argument '%s' is not a parameter, constant, parameter path or ARN", r.Arg)
			}
		}
	}
}
