package instance

import (
	"errors"
	"fmt"
	"time"
)

// Errors of requests that the instance's state or attributes forbid. The
// EC2 service maps them to IncorrectInstanceState, OperationNotPermitted
// and UnsupportedOperation.
var (
	ErrIncorrectState = errors.New("instance: incorrect state")
	ErrNotPermitted   = errors.New("instance: operation not permitted")
	ErrUnsupported    = errors.New("instance: unsupported operation")
)

// StateError is a request refused in the instance's state.
type StateError struct {
	ID, State, Verb string // Verb: "stopped", "started", "rebooted", …
	Err             error
}

func (e *StateError) Error() string {
	return fmt.Sprintf("instance %s (%s) cannot be %s: %v", e.ID, e.State, e.Verb, e.Err)
}

func (e *StateError) Unwrap() error { return e.Err }

func refuse(r Record, verb string, err error) error {
	return &StateError{ID: r.ID, State: r.State, Verb: verb, Err: err}
}

// setState moves r to state at now.
func setState(r Record, state string, now time.Time) Record {
	if r.State != state {
		r.State = state
		r.Changed = now
		r.Failures, r.LastErr = 0, ""
	}
	return r
}

// RequestStop is StopInstances on one instance: running → stopping.
// Stopping or stopped instances are left as they are (success, as EC2);
// force skips the graceful shutdown, also of an instance already stopping.
func RequestStop(r Record, now time.Time, force bool) (Record, error) {
	switch {
	case r.RootDeviceType == "instance-store":
		return r, refuse(r, "stopped", ErrUnsupported)
	case r.DisableAPIStop:
		return r, refuse(r, "stopped", ErrNotPermitted)
	}
	switch r.State {
	case Running:
		r = setState(r, Stopping, now)
		r.TransitionReason = userInitiated(now)
		r.Reason = &ReasonUserShutdown
		r.ForceStop = force
		return r, nil
	case Stopping:
		r.ForceStop = r.ForceStop || force
		return r, nil
	case Stopped:
		return r, nil
	}
	return r, refuse(r, "stopped", ErrIncorrectState)
}

// RequestStart is StartInstances on one instance: stopped → pending.
// Pending or running instances are left as they are.
func RequestStart(r Record, now time.Time) (Record, error) {
	switch r.State {
	case Stopped:
		r = setState(r, Pending, now)
		r.TransitionReason = ""
		r.Reason = &ReasonPending
		r.LaunchTime = now
		return r, nil
	case Pending, Running:
		return r, nil
	}
	return r, refuse(r, "started", ErrIncorrectState)
}

// RequestTerminate is TerminateInstances on one instance: any live state →
// shutting-down. Terminating twice succeeds.
func RequestTerminate(r Record, now time.Time) (Record, error) {
	switch r.State {
	case ShuttingDown, Terminated:
		return r, nil
	}
	if r.DisableAPITermination {
		return r, refuse(r, "terminated", ErrNotPermitted)
	}
	r = setState(r, ShuttingDown, now)
	r.TransitionReason = userInitiated(now)
	r.Reason = &ReasonUserShutdown
	return r, nil
}

// RequestReboot is RebootInstances on one instance: a running instance
// stays running and the loop stops and boots it again. Requests for
// terminated (or terminating) instances are ignored, as on EC2.
func RequestReboot(r Record, now time.Time) (Record, error) {
	switch r.State {
	case Running:
		r.Reboots = r.Rebooted + 1
		return r, nil
	case ShuttingDown, Terminated:
		return r, nil
	}
	return r, refuse(r, "rebooted", ErrIncorrectState)
}

// Action is the side effect the loop performs next for an instance.
type Action int

// Actions.
const (
	None       Action = iota
	Launch            // pending: attach, create (first boot), start → running
	Ensure            // running: make sure the task runs (after a restart); apply metadata options
	Reboot            // running with a reboot requested: stop, start
	Stop              // stopping: stop the task → stopped
	EnsureStop        // stopped, after a restart: make sure no task runs
	Terminate         // shutting-down: delete, detach, release the lease → terminated
	Expire            // terminated for Retention: remove the record
)

var actionNames = [...]string{"none", "launch", "ensure", "reboot", "stop", "ensure-stop", "terminate", "expire"}

func (a Action) String() string { return actionNames[a] }

// Next is the action an instance needs. verify is set for records the loop
// has not checked against the runtime since it started (crash recovery).
func Next(r Record, now time.Time, verify bool) Action {
	switch r.State {
	case Pending:
		return Launch
	case Running:
		switch {
		case r.Reboots > r.Rebooted:
			return Reboot
		case verify || r.MetadataPending:
			return Ensure
		}
	case Stopping:
		return Stop
	case Stopped:
		if verify {
			return EnsureStop
		}
	case ShuttingDown:
		return Terminate
	case Terminated:
		if !now.Before(r.Changed.Add(Retention)) {
			return Expire
		}
	}
	return None
}

// Due is when the loop should look at the instance again by itself (zero:
// only when kicked): the expiry of a terminated record, or the retry of a
// failed side effect.
func Due(r Record) time.Time {
	if r.State == Terminated {
		return r.Changed.Add(Retention)
	}
	if r.Failures > 0 && r.State != Stopped {
		return r.FailedAt.Add(Backoff(r.Failures))
	}
	return time.Time{}
}

// Backoff is the wait before retrying a side effect that failed n times.
func Backoff(n int) time.Duration {
	if n <= 0 {
		return 0
	}
	d := time.Second << min(n-1, 6)
	return min(d, time.Minute)
}

// Complete records that act, computed from a record in state from,
// succeeded; r is the record as stored now. It reports false when the
// record moved on meanwhile (the loop then looks again).
func Complete(r Record, act Action, from string, reboots int, now time.Time) (Record, bool) {
	if r.State != from {
		return r, false
	}
	switch act {
	case Launch:
		r = setState(r, Running, now)
		if r.FirstBoot.IsZero() {
			r.FirstBoot = now
		}
		r.Reason = nil
		r.TransitionReason = ""
		r.MetadataPending = false
		// The type cannot change while pending, so these are the limits
		// the launch created or resized the container with.
		r.AppliedVCPUs, r.AppliedMemoryMiB = r.VCPUs, r.MemoryMiB
	case Ensure:
		if !r.MetadataPending && r.Failures == 0 {
			return r, false
		}
		r.MetadataPending = false
		r.Failures, r.LastErr = 0, ""
	case Reboot:
		r.Rebooted = reboots
		r.Failures, r.LastErr = 0, ""
		r.AppliedVCPUs, r.AppliedMemoryMiB = r.VCPUs, r.MemoryMiB
	case Stop:
		r = setState(r, Stopped, now)
		r.MetadataPending = false
		r.ForceStop = false
	case EnsureStop:
		return r, false
	case Terminate:
		r = setState(r, Terminated, now)
		r.MetadataPending = false
	default:
		return r, false
	}
	return r, true
}

// ClientError is a launch failure the client caused (the key of an
// encrypted image is disabled or not usable by the account): it is not
// retried, and Reason becomes the instance's state reason.
type ClientError struct {
	Reason Reason
	Err    error
}

func (e *ClientError) Error() string { return e.Reason.Message + ": " + e.Err.Error() }
func (e *ClientError) Unwrap() error { return e.Err }

// ReasonInvalidKMSKey is the state reason of a launch whose volume's KMS
// key cannot be used.
var ReasonInvalidKMSKey = Reason{"Client.InvalidKMSKey.InvalidState", "Client.InvalidKMSKey.InvalidState: The KMS key provided is in an incorrect state"}

// MaxLaunchAttempts is how often a launch is tried before the instance
// gives up: a new instance terminates, a restarted one returns to stopped
// (both with StateReason Server.InternalError).
const MaxLaunchAttempts = 3

// Fail records that act, computed from a record in state from, failed with
// err. Failed launches are retried MaxLaunchAttempts times; other actions
// are retried with Backoff until they succeed.
func Fail(r Record, act Action, from string, err error, now time.Time) (Record, bool) {
	if r.State != from {
		return r, false
	}
	r.Failures++
	r.LastErr = err.Error()
	r.FailedAt = now
	var ce *ClientError
	if act == Launch && errors.As(err, &ce) {
		next := ShuttingDown
		if r.Booted() {
			next = Stopped
		}
		r = setState(r, next, now)
		r.Reason = &ce.Reason
		r.TransitionReason = ce.Reason.Message
		return r, true
	}
	if act == Launch && r.Failures >= MaxLaunchAttempts {
		next := ShuttingDown
		if r.Booted() {
			next = Stopped
		}
		r = setState(r, next, now)
		r.Reason = &ReasonLaunchError
		r.TransitionReason = "Server.InternalError: " + err.Error()
		r.LastErr = err.Error()
	}
	return r, true
}

// Booted reports whether the instance has ever reached running (its root
// file system holds state worth keeping).
func (r *Record) Booted() bool { return !r.FirstBoot.IsZero() }

// Exited records that the instance's task ended by itself (shutdown from
// inside): running → stopping or shutting-down per its shutdown behaviour.
func Exited(r Record, now time.Time) (Record, bool) {
	if r.State != Running || r.Reboots > r.Rebooted {
		return r, false
	}
	next := Stopping
	if r.ShutdownBehavior == ShutdownTerminate {
		next = ShuttingDown
	}
	r = setState(r, next, now)
	r.Reason = &ReasonInstanceShutdown
	r.TransitionReason = instanceInitiated(now)
	return r, true
}

// Vanished records that the runtime lost the instance's container (and
// with it the root file system) — found when kiln restarts after the
// runtime's state was wiped. The instance terminates with
// Server.InternalError; relaunching it silently on an empty disk would be
// worse.
func Vanished(r Record, now time.Time) (Record, bool) {
	switch r.State {
	case ShuttingDown, Terminated:
		return r, false
	case Pending:
		if !r.Booted() {
			return r, false // a launch creates it
		}
	}
	r = setState(r, ShuttingDown, now)
	r.Reason = &ReasonVanished
	r.TransitionReason = ReasonVanished.Message
	return r, true
}
