// Package exec is the executor core of the AWSTOE runner: it walks the
// selected phases of each document in order, resolves expressions when a
// step starts, applies `if`, loops, retries, per-attempt timeouts and
// onFailure, records the detailed-output tree and hands reboot requests
// (exit code 194) back to its caller with a resumable State.
//
// Actions are injected through the Action interface and time through a
// clock.Clock, so the core is tested without processes or real time.
package exec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/kiln-dev/kiln/internal/toe/document"
)

// Status values (detailedoutput.json uses these lower-camel strings).
const (
	StatusSuccess                   = "success"
	StatusFailed                    = "failed"
	StatusSkipped                   = "skipped"
	StatusIgnoredFailure            = "ignoredFailure"
	StatusSuccessWithIgnoredFailure = "successWithIgnoredFailure"
)

// RebootExitCode is the exit code a Linux script uses to request a
// reboot-and-resume.
const RebootExitCode = 194

// Outputs is the list of output maps an action returns.
type Outputs = []map[string]any

// Action is one action module.
type Action interface {
	Run(ctx context.Context, call *Call) (Outputs, error)
}

// ActionFunc adapts a function to Action.
type ActionFunc func(ctx context.Context, call *Call) (Outputs, error)

// Run calls f.
func (f ActionFunc) Run(ctx context.Context, call *Call) (Outputs, error) { return f(ctx, call) }

// Call is what an action sees for one attempt of one loop iteration.
type Call struct {
	Doc   *document.Document
	Phase string
	Step  *document.Step
	// Inputs are the resolved inputs (for Assert: nil; use Assert).
	Inputs []map[string]any
	// Assert evaluates the step's Assert condition with the step scope.
	Assert func() (bool, error)
	// Console receives process output; it is console.log (and the
	// terminal with --trace).
	Console io.Writer
	// Logf writes to application.log.
	Logf func(format string, args ...any)
	// WorkDir is the run's scratch directory, shared by all steps;
	// ScratchPrefix is a file-name prefix unique to this step attempt
	// (write e.g. WorkDir/ScratchPrefix+"input.sh").
	WorkDir       string
	ScratchPrefix string
	// Nested runs another document (ExecuteDocument).
	Nested func(ctx context.Context, req NestedRequest) (*NestedResult, error)
	// Detail, when set by an action, becomes the step's detailedOutput.
	Detail []*DocResult
	// Resumed is true when the step is re-run after the reboot it
	// requested (the Reboot module then completes immediately).
	Resumed bool
}

// NestedRequest asks the runner to execute a document from a step.
type NestedRequest struct {
	Document   string            // path, s3:// URI or ARN
	Phases     []string          // empty = all
	Parameters map[string]string // overrides
	Owner      string            // expected S3 bucket owner
}

// NestedResult is a finished nested run.
type NestedResult struct {
	Summary map[string]any
	Docs    []*DocResult
	Status  string
}

// RebootRequest is returned by an action (or produced from exit code
// 194) to request a reboot-and-resume at the same step.
type RebootRequest struct {
	DelaySeconds int
	Reason       string
}

func (r *RebootRequest) Error() string {
	return fmt.Sprintf("reboot requested (%s)", r.Reason)
}

// IsReboot reports whether err requests a reboot.
func IsReboot(err error) (*RebootRequest, bool) {
	var r *RebootRequest
	ok := errors.As(err, &r)
	return r, ok
}

// Result is the detailedoutput.json tree.
type Result struct {
	ExecutionID    string       `json:"executionId"`
	Status         string       `json:"status"`
	StartTime      string       `json:"startTime"`
	EndTime        string       `json:"endTime"`
	FailureMessage string       `json:"failureMessage"`
	Documents      []*DocResult `json:"documents"`
}

// DocResult is one document's run.
type DocResult struct {
	Name           string         `json:"name"`
	FilePath       string         `json:"filePath"`
	Status         string         `json:"status"`
	Description    string         `json:"description"`
	StartTime      string         `json:"startTime"`
	EndTime        string         `json:"endTime"`
	FailureMessage string         `json:"failureMessage"`
	Phases         []*PhaseResult `json:"phases"`
}

// PhaseResult is one phase's run.
type PhaseResult struct {
	Name           string        `json:"name"`
	Status         string        `json:"status"`
	StartTime      string        `json:"startTime"`
	EndTime        string        `json:"endTime"`
	FailureMessage string        `json:"failureMessage"`
	Steps          []*StepResult `json:"steps"`
}

// StepResult is one step's run. Inputs and Outputs are JSON strings
// holding a list of maps.
type StepResult struct {
	Name           string       `json:"name"`
	Status         string       `json:"status"`
	FailureMessage string       `json:"failureMessage"`
	TimeoutSeconds int          `json:"timeoutSeconds"`
	OnFailure      string       `json:"onFailure"`
	MaxAttempts    int          `json:"maxAttempts"`
	Action         string       `json:"action"`
	StartTime      string       `json:"startTime"`
	EndTime        string       `json:"endTime"`
	Inputs         string       `json:"inputs"`
	Outputs        string       `json:"outputs"`
	Loop           *LoopResult  `json:"loop"`
	DetailedOutput []*DocResult `json:"detailedOutput"`
	Attempts       int          `json:"attempts"`
}

// LoopResult records a step's loop.
type LoopResult struct {
	Name       string           `json:"name,omitempty"`
	Iterations []*IterationInfo `json:"iterations"`
}

// IterationInfo is one loop iteration.
type IterationInfo struct {
	Index          int    `json:"index"`
	Value          string `json:"value"`
	Status         string `json:"status"`
	FailureMessage string `json:"failureMessage,omitempty"`
}

// EventKind names a progress event.
type EventKind int

// Event kinds.
const (
	EventDocStart EventKind = iota + 1
	EventPhaseStart
	EventStepStart
	EventAttemptStart
	EventStepEnd
	EventPhaseEnd
	EventDocEnd
)

// Event is a progress notification for terminals and logs.
type Event struct {
	Kind        EventKind
	Time        time.Time
	Doc         string
	Phase       string
	Step        string
	Action      string
	Attempt     int
	MaxAttempts int
	Status      string
	Message     string
	Depth       int // nesting depth (0 for top-level documents)
}

// TimeFormat is the timestamp format of detailedoutput.json.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"
