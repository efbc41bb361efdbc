package blobgc

import (
	"context"
	"sync"
	"time"
)

// Schedule says when a Runner collects.
type Schedule struct {
	// Delay is the wait before the first collection after Start (default
	// 1 min, so that a starting server finishes its own work first).
	Delay time.Duration
	// Interval is the time between collections (default 10 min). Negative:
	// no scheduled collections, only those Kick asks for.
	Interval time.Duration
	// Debounce is how long after a Kick the collection runs (default
	// 30 s), so that a burst of deletions costs one collection.
	Debounce time.Duration
}

func (s *Schedule) defaults() {
	if s.Delay <= 0 {
		s.Delay = time.Minute
	}
	if s.Interval == 0 {
		s.Interval = 10 * time.Minute
	}
	if s.Debounce <= 0 {
		s.Debounce = 30 * time.Second
	}
}

// Runner runs a Collector on a Schedule in the background.
type Runner struct {
	c     *Collector
	sched Schedule
	kick  chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	once   sync.Once
	wg     sync.WaitGroup
}

// NewRunner returns a runner of c; Start starts it.
func NewRunner(c *Collector, s Schedule) *Runner {
	s.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Runner{c: c, sched: s, kick: make(chan struct{}, 1), ctx: ctx, cancel: cancel}
}

// Start starts the loop; calling it again does nothing.
func (r *Runner) Start() {
	r.once.Do(func() {
		r.wg.Add(1)
		go r.loop()
	})
}

// Kick asks for a collection within the debounce time: records naming
// blobs were deleted. It never blocks.
func (r *Runner) Kick() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Close stops the loop, interrupting a collection under way (each
// deletion is atomic, so an interrupted collection leaves nothing half
// done), and waits for it.
func (r *Runner) Close() error {
	r.cancel()
	r.wg.Wait()
	return nil
}

func (r *Runner) loop() {
	defer r.wg.Done()
	timer := time.NewTimer(r.sched.Delay)
	due := time.Now().Add(r.sched.Delay)
	if r.sched.Interval < 0 {
		timer.Stop()
		due = time.Time{}
	}
	defer timer.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-r.kick:
			if soon := time.Now().Add(r.sched.Debounce); due.IsZero() || soon.Before(due) {
				timer.Reset(r.sched.Debounce)
				due = soon
			}
			continue
		case <-timer.C:
		}
		_, _ = r.c.Collect(r.ctx) // Collect logs its outcome
		due = time.Time{}
		if r.sched.Interval > 0 {
			timer.Reset(r.sched.Interval)
			due = time.Now().Add(r.sched.Interval)
		}
	}
}
