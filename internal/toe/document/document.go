// Package document parses and validates AWSTOE component documents (YAML
// or JSON) into a typed, line-annotated model. Validation is pure: it
// checks structure, action inputs, platform support, expressions and
// parameter references and reports errors naming the document, phase,
// step and line.
package document

import (
	"fmt"
	"strings"

	"github.com/kiln-dev/kiln/internal/toe/expr"
)

// Document is a parsed component document.
type Document struct {
	Name          string
	Description   string
	SchemaVersion string
	Constants     []Variable
	Parameters    []Variable
	Phases        []*Phase
	// Path is where the document came from (file path or URI); used in
	// error messages and detailed output.
	Path string
	// Raw is the source text.
	Raw []byte
	// Warnings are problems that do not stop the document from running
	// (e.g. chaining to a step that does not exist: that step fails at
	// run time).
	Warnings []string
}

// Variable is a constant or a parameter.
type Variable struct {
	Name        string
	Type        string
	Value       string // constant value or parameter default
	HasValue    bool   // a parameter has a default / a constant has a value
	Description string
	Line        int
}

// Phase is a named list of steps.
type Phase struct {
	Name  string
	Steps []*Step
	Line  int
}

// Failure behaviours.
const (
	Abort    = "Abort"
	Continue = "Continue"
	Ignore   = "Ignore"
)

// Default step settings.
const (
	DefaultTimeoutSeconds = 7200
	NoTimeout             = -1
)

// Step is one step of a phase.
type Step struct {
	Name   string
	Action string
	// Inputs is the normalised list of input maps (a map input becomes a
	// one-element list). Values are unexpanded.
	Inputs []map[string]any
	// InputsGiven reports whether the document had an `inputs` key.
	InputsGiven bool
	// Assert holds the parsed condition when Action is Assert.
	Assert         *expr.Cond
	TimeoutSeconds int // DefaultTimeoutSeconds unless set; -1 = none
	OnFailure      string
	MaxAttempts    int
	Loop           *Loop
	If             *If
	// DisableLogging suppresses the step's command output in the logs
	// (accepted from AWS samples; not in the written specification).
	DisableLogging bool
	Line           int
}

// Loop is a step's `loop:` block.
type Loop struct {
	Name string
	// For loops.
	IsFor                bool
	Start, End, UpdateBy int
	// forEach as an explicit list.
	Items []string
	// forEach as {list, delimiter}.
	IsSplit   bool
	List      string
	Delimiter string
	Line      int
}

// If is a step's `if:` block.
type If struct {
	Cond *expr.Cond
	Then string // Execute|Skip|Abort
	Else string
	Line int
}

// If outcomes.
const (
	Execute = "Execute"
	Skip    = "Skip"
)

// Label names the document in messages: its path, else its name.
func (d *Document) Label() string {
	if d.Path != "" {
		return d.Path
	}
	if d.Name != "" {
		return d.Name
	}
	return "document"
}

// Phase returns the named phase or nil.
func (d *Document) Phase(name string) *Phase {
	for _, p := range d.Phases {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// Step returns the named step or nil.
func (p *Phase) Step(name string) *Step {
	for _, s := range p.Steps {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Variable returns the named parameter or constant.
func (d *Document) Variable(name string) (Variable, bool) {
	for _, v := range d.Constants {
		if v.Name == name {
			return v, true
		}
	}
	for _, v := range d.Parameters {
		if v.Name == name {
			return v, true
		}
	}
	return Variable{}, false
}

// IsConstant reports whether name is a constant.
func (d *Document) IsConstant(name string) bool {
	for _, v := range d.Constants {
		if v.Name == name {
			return true
		}
	}
	return false
}

// ComponentType derives the Image Builder component type: a document whose
// only phase is `test` is TEST, anything else BUILD.
func (d *Document) ComponentType() string {
	if len(d.Phases) == 1 && d.Phases[0].Name == "test" {
		return "TEST"
	}
	return "BUILD"
}

// Error is one parse or validation problem.
type Error struct {
	Doc   string
	Phase string
	Step  string
	Line  int
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Doc)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	switch {
	case e.Step != "":
		fmt.Fprintf(&b, "Parsing step '%s' in phase '%s' failed. Error: %s", e.Step, e.Phase, e.Msg)
	case e.Phase != "":
		fmt.Fprintf(&b, "Parsing phase '%s' failed. Error: %s", e.Phase, e.Msg)
	default:
		fmt.Fprintf(&b, "Parsing document failed. Error: %s", e.Msg)
	}
	return b.String()
}

// Errors is a list of problems; it is returned as one error.
type Errors []*Error

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}
