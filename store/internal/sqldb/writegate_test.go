package sqldb

import (
	"context"
	"runtime"
	"slices"
	"testing"
	"time"
)

// queued waits until n writers wait at g; a writer that never arrives
// fails t rather than hanging the test run.
func queued(t *testing.T, g *writeGate, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		g.mu.Lock()
		k := len(g.acks) + len(g.others)
		g.mu.Unlock()
		if k >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d writers wait at the gate, want %d", k, n)
		}
		runtime.Gosched()
	}
}

// Waiting writers get the gate acks first, each kind in arrival order,
// and one whose context ends leaves the queue.
func TestWriteGateAcksFirst(t *testing.T) {
	ctx := context.Background()
	g := &writeGate{}
	if err := g.lock(ctx, false); err != nil {
		t.Fatal(err)
	}
	order := make(chan string, 4)
	gone, cancel := context.WithCancel(ctx)
	waiter := func(name string, ack bool, ctx context.Context) {
		if err := g.lock(ctx, ack); err != nil {
			order <- name + ": " + err.Error()
			return
		}
		order <- name
		g.unlock()
	}
	go waiter("pipeline 1", false, ctx)
	queued(t, g, 1)
	go waiter("given up", true, gone)
	queued(t, g, 2)
	go waiter("ack 1", true, ctx)
	queued(t, g, 3)
	go waiter("ack 2", true, ctx)
	queued(t, g, 4)
	cancel()
	if got := <-order; got != "given up: context canceled" {
		t.Fatalf("first out: %q, want the one given up", got)
	}
	g.unlock()
	var got []string
	for range 3 {
		got = append(got, <-order)
	}
	if want := []string{"ack 1", "ack 2", "pipeline 1"}; !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
	// All left: the gate is free.
	if err := g.lock(ctx, false); err != nil || !g.held {
		t.Errorf("the gate after all left: %v", err)
	}
}
