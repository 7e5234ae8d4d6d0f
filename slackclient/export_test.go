package slackclient

import "time"

// WithClock makes the client read and wait on c instead of the system
// clock.
func WithClock(c interface{ Now() time.Time }) Option {
	return func(cl *Client) { cl.clock = c }
}
