package dispatch

import (
	"testing"
	"time"
)

func TestStartsAreSpread(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 4, 0, 0, 0, time.UTC)
	b := starts{rate: 100, burst: startBurst, tokens: startBurst, at: t0}
	if n, _ := b.take(t0, 16, startBurst); n != startBurst {
		t.Fatalf("first take: %d, want the burst %d", n, startBurst)
	}
	n, next := b.take(t0, 16, startBurst)
	if n != 0 || next != 40*time.Millisecond {
		t.Fatalf("at once again: %d, next in %s; want 0, next in 40ms", n, next)
	}
	// Two tokens came, but a claim waits for a burst's worth.
	if n, next := b.take(t0.Add(25*time.Millisecond), 16, startBurst); n != 0 || next != 15*time.Millisecond {
		t.Errorf("25 ms later: %d, next in %s; want 0, next in 15ms", n, next)
	}
	// One slot free: one token is enough.
	if n, _ := b.take(t0.Add(25*time.Millisecond), 1, 1); n != 1 {
		t.Errorf("25 ms later, for one slot: %d, want 1", n)
	}
	// Given back (the claim found nothing to start), it counts again:
	// 1.5 left + 1 back + 1.5 come.
	b.giveBack(1)
	if n, _ := b.take(t0.Add(40*time.Millisecond), 16, startBurst); n != 4 {
		t.Errorf("40 ms later, 1 given back: %d, want 4", n)
	}
	if n, _ := b.take(t0.Add(time.Hour), 16, startBurst); n != startBurst {
		t.Errorf("after a quiet hour: %d, want the burst %d", n, startBurst)
	}
}
