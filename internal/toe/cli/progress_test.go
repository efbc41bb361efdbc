package cli

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/clock"
	"github.com/kiln-dev/kiln/internal/toe/exec"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestLiveProgressOnTerminal(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	logs, err := openRunLogs(t.TempDir(), clk)
	if err != nil {
		t.Fatal(err)
	}
	defer logs.close()
	var out syncBuf
	p := newProgress(&out, true, clk, logs)
	p.event(exec.Event{Kind: exec.EventStepStart, Time: clk.Now(), Phase: "build", Step: "Slow", Action: "ExecuteBash"})
	p.event(exec.Event{Kind: exec.EventAttemptStart, Time: clk.Now(), Phase: "build", Step: "Slow", Action: "ExecuteBash", Attempt: 2, MaxAttempts: 3})
	clk.Advance(1500 * time.Millisecond)
	time.Sleep(450 * time.Millisecond) // let the ticker redraw
	p.event(exec.Event{Kind: exec.EventStepEnd, Time: clk.Now(), Phase: "build", Step: "Slow", Action: "ExecuteBash", Attempt: 2, MaxAttempts: 3, Status: exec.StatusSuccess})
	p.close()
	s := out.String()
	for _, want := range []string{"▶ build/Slow (ExecuteBash) attempt 2/3  1.5s", "ok       build/Slow (ExecuteBash) 1.5s [attempt 2/3]"} {
		if !strings.Contains(s, want) {
			t.Errorf("terminal output %q lacks %q", s, want)
		}
	}
}
