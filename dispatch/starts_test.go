package dispatch

import (
	"testing"
	"time"
)

func TestStartsAreSpread(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 4, 0, 0, 0, time.UTC)
	b := starts{rate: 100, burst: startBurst, tokens: startBurst, at: t0}
	if n, _ := b.take(t0, 16); n != startBurst {
		t.Fatalf("first take: %d, want the burst %d", n, startBurst)
	}
	n, next := b.take(t0, 16)
	if n != 0 || next != 10*time.Millisecond {
		t.Fatalf("at once again: %d, next in %s; want 0, next in 10ms", n, next)
	}
	if n, _ := b.take(t0.Add(25*time.Millisecond), 16); n != 2 {
		t.Errorf("25 ms later: %d, want 2", n)
	}
	b.giveBack(2)
	if n, _ := b.take(t0.Add(25*time.Millisecond), 16); n != 2 {
		t.Errorf("after 2 given back: %d, want 2", n)
	}
	if n, _ := b.take(t0.Add(time.Hour), 16); n != startBurst {
		t.Errorf("after a quiet hour: %d, want the burst %d", n, startBurst)
	}
}
