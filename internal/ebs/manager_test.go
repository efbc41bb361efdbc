package ebs

import (
	"context"
	"testing"
	"time"
)

// TestBusySince: the manager reports when its oldest running work began,
// and nothing once the work is done.
func TestBusySince(t *testing.T) {
	m := New(Config{Workers: 2})
	defer m.Close()
	if !m.BusySince().IsZero() {
		t.Fatal("busy before any work")
	}
	before := time.Now()
	started, release := make(chan struct{}), make(chan struct{})
	m.spawn("snap-1", func(context.Context) { started <- struct{}{}; <-release })
	<-started
	first := m.BusySince()
	if first.Before(before) || first.After(time.Now()) {
		t.Fatalf("BusySince = %v, want the first work's start (after %v)", first, before)
	}
	time.Sleep(5 * time.Millisecond)
	m.spawn("snap-2", func(context.Context) { started <- struct{}{}; <-release })
	<-started
	if got := m.BusySince(); !got.Equal(first) {
		t.Fatalf("with two works BusySince = %v, want the older %v", got, first)
	}
	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for !m.BusySince().IsZero() {
		if time.Now().After(deadline) {
			t.Fatal("still busy after the work ended")
		}
		time.Sleep(time.Millisecond)
	}
}
