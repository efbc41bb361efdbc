package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/kiln-dev/kiln/internal/clock"
	"github.com/kiln-dev/kiln/internal/toe/exec"
)

// Run-folder file names.
const (
	ConsoleLog     = "console.log"
	ApplicationLog = "application.log"
	DetailedOutput = "detailedoutput.json"
	ChainingFile   = "chaining.json"
)

// RunFolderName is TOE_<YYYY-MM-DD_HH-MM-SS>_UTC-0_<executionId>.
func RunFolderName(t time.Time, execID string) string {
	return "TOE_" + t.UTC().Format("2006-01-02_15-04-05") + "_UTC-0_" + execID
}

// runLogs owns the files of one run folder.
type runLogs struct {
	dir     string
	console *os.File
	app     *os.File
	clk     clock.Clock
	mu      sync.Mutex
}

func openRunLogs(dir string, clk clock.Clock) (*runLogs, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating run folder: %w", err)
	}
	open := func(name string) (*os.File, error) {
		return os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	}
	c, err := open(ConsoleLog)
	if err != nil {
		return nil, fmt.Errorf("opening console.log: %w", err)
	}
	a, err := open(ApplicationLog)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("opening application.log: %w", err)
	}
	return &runLogs{dir: dir, console: c, app: a, clk: clk}, nil
}

func (l *runLogs) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.app, "%s %s\n", l.clk.Now().Format(exec.TimeFormat), fmt.Sprintf(format, args...))
}

func (l *runLogs) close() {
	l.console.Close()
	l.app.Close()
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// progress renders events on the terminal: one line per finished step
// and, on a TTY, a live line with phase/step, attempt and elapsed time.
type progress struct {
	mu      sync.Mutex
	w       io.Writer
	tty     bool
	clk     clock.Clock
	cur     *exec.Event
	started time.Time
	stop    chan struct{}
	done    chan struct{}
	logs    *runLogs
}

func newProgress(w io.Writer, tty bool, clk clock.Clock, logs *runLogs) *progress {
	p := &progress{w: w, tty: tty, clk: clk, logs: logs, stop: make(chan struct{}), done: make(chan struct{})}
	if tty {
		go p.tick()
	} else {
		close(p.done)
	}
	return p
}

func (p *progress) tick() {
	defer close(p.done)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.mu.Lock()
			p.render()
			p.mu.Unlock()
		}
	}
}

func (p *progress) render() {
	if p.cur == nil {
		return
	}
	e := p.cur
	el := p.clk.Now().Sub(p.started).Round(100 * time.Millisecond)
	fmt.Fprintf(p.w, "\r\033[K%s▶ %s/%s (%s) attempt %d/%d  %s", indent(e.Depth), e.Phase, e.Step, e.Action, e.Attempt, e.MaxAttempts, el)
}

func (p *progress) close() {
	close(p.stop)
	<-p.done
}

func indent(depth int) string { return strings.Repeat("  ", depth) }

func (p *progress) event(e exec.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch e.Kind {
	case exec.EventDocStart:
		p.logs.logf("document %s: start", e.Doc)
		fmt.Fprintf(p.w, "%sDocument %s\n", indent(e.Depth), e.Doc)
	case exec.EventPhaseStart:
		p.logs.logf("document %s phase %s: start", e.Doc, e.Phase)
		fmt.Fprintf(p.logs.console, "==== phase %s (%s) ====\n", e.Phase, e.Doc)
	case exec.EventStepStart:
		p.started = e.Time
		p.logs.logf("step %s/%s (%s): start", e.Phase, e.Step, e.Action)
	case exec.EventAttemptStart:
		ev := e
		p.cur = &ev
		p.logs.logf("step %s/%s: attempt %d/%d", e.Phase, e.Step, e.Attempt, e.MaxAttempts)
		fmt.Fprintf(p.logs.console, "---- step %s/%s (%s) attempt %d/%d ----\n", e.Phase, e.Step, e.Action, e.Attempt, e.MaxAttempts)
		if p.tty {
			p.render()
		}
	case exec.EventStepEnd:
		p.cur = nil
		el := e.Time.Sub(p.started).Round(time.Millisecond)
		p.logs.logf("step %s/%s: %s %s", e.Phase, e.Step, e.Status, e.Message)
		if p.tty {
			fmt.Fprint(p.w, "\r\033[K")
		}
		line := fmt.Sprintf("%s  %-8s %s/%s (%s) %s", indent(e.Depth), mark(e.Status), e.Phase, e.Step, e.Action, el)
		if e.Attempt > 1 {
			line += fmt.Sprintf(" [attempt %d/%d]", e.Attempt, e.MaxAttempts)
		}
		if e.Message != "" {
			line += ": " + firstLine(e.Message)
		}
		fmt.Fprintln(p.w, line)
	case exec.EventPhaseEnd:
		p.logs.logf("document %s phase %s: %s", e.Doc, e.Phase, e.Status)
	case exec.EventDocEnd:
		p.logs.logf("document %s: %s %s", e.Doc, e.Status, e.Message)
		fmt.Fprintf(p.w, "%sDocument %s: %s\n", indent(e.Depth), e.Doc, e.Status)
	}
}

func mark(status string) string {
	switch status {
	case exec.StatusSuccess:
		return "ok"
	case exec.StatusSkipped:
		return "skipped"
	case exec.StatusIgnoredFailure:
		return "ignored"
	}
	return "FAILED"
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0 && os.Getenv("TERM") != "dumb"
}
