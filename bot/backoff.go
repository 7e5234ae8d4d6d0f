package bot

import (
	"time"
)

// Backoff is the schedule of a poll: Initial, growing by half each time up
// to Max.
type Backoff struct {
	Initial time.Duration
	Max     time.Duration
}

func (b Backoff) next(d time.Duration) time.Duration {
	if d <= 0 {
		return b.Initial
	}
	d += d / 2
	if d > b.Max {
		return b.Max
	}
	return d
}
