package sqldb

import (
	"context"
	"slices"
	"sync"
)

// writeGate lets one writer at a time into the database, the intake's
// writers (acks) before the others, each kind in arrival order. On SQLite
// one writer holds the file at a time anyway; left to SQLite, the others
// sleep in its busy handler (1, 2, 5, 10 … 100 ms) and an ack could sleep
// behind a pipeline's write long after the lock was free. Here a writer
// waits on a channel, handed the gate as soon as the previous one leaves.
type writeGate struct {
	mu     sync.Mutex
	held   bool
	acks   []chan struct{}
	others []chan struct{}
}

func (g *writeGate) lock(ctx context.Context, ack bool) error {
	g.mu.Lock()
	if !g.held {
		g.held = true
		g.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	if ack {
		g.acks = append(g.acks, ch)
	} else {
		g.others = append(g.others, ch)
	}
	g.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if i := slices.Index(g.acks, ch); i >= 0 {
		g.acks = slices.Delete(g.acks, i, i+1)
		return ctx.Err()
	}
	if i := slices.Index(g.others, ch); i >= 0 {
		g.others = slices.Delete(g.others, i, i+1)
		return ctx.Err()
	}
	// Handed the gate as ctx ended: pass it on.
	g.handOn()
	return ctx.Err()
}

func (g *writeGate) unlock() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.handOn()
}

// handOn gives the held gate to the next writer, or frees it; g.mu held.
func (g *writeGate) handOn() {
	for _, q := range []*[]chan struct{}{&g.acks, &g.others} {
		if len(*q) > 0 {
			next := (*q)[0]
			*q = (*q)[1:]
			close(next)
			return
		}
	}
	g.held = false
}
