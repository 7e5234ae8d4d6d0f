package dispatch

import (
	"sync"
	"time"
)

// DefaultStartsPerSecond spreads pipeline starts (claims) over time: a
// burst of accepted commands no longer starts 16 pipelines in its first
// milliseconds, all of them talking to GitHub, Slack and the store while
// the burst is still being acknowledged. 500 deployments still start in
// 5 s, about as fast as 16 slots finish them.
const DefaultStartsPerSecond = 100

// startBurst is how many starts may come at once after a quiet spell.
const startBurst = 4

// starts is a token bucket of pipeline starts.
type starts struct {
	mu     sync.Mutex
	rate   float64 // tokens a second
	burst  float64
	tokens float64
	at     time.Time // when tokens was counted
}

// take takes up to want tokens, none unless atLeast are there, and
// returns how many, and how long until atLeast are there again. Claiming
// a few at a time, not one each time a token comes, keeps the claims (the
// dispatcher's main cost in the store) to one per few starts.
func (b *starts) take(now time.Time, want, atLeast int) (int, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if now.After(b.at) {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.at).Seconds()*b.rate)
		b.at = now
	}
	atLeast = min(atLeast, int(b.burst))
	n := 0
	if b.tokens >= float64(atLeast) {
		n = min(want, int(b.tokens))
		b.tokens -= float64(n)
	}
	next := time.Duration((float64(atLeast) - b.tokens) / b.rate * float64(time.Second))
	return n, max(next, time.Millisecond)
}

// giveBack returns n tokens not used.
func (b *starts) giveBack(n int) {
	if n <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tokens = min(b.burst, b.tokens+float64(n))
}
