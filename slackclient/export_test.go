package slackclient

import "time"

// MaxHeld is maxHeld, for tests.
const MaxHeld = maxHeld

// WithClock makes the client read and wait on c instead of the system
// clock.
func WithClock(c interface {
	Now() time.Time
	At(time.Time) <-chan time.Time
}) Option {
	return func(cl *Client) { cl.clock = c }
}

// Held is how many messages wait for Slack to answer again.
func (c *Client) Held() int {
	c.held.mu.Lock()
	defer c.held.mu.Unlock()
	return len(c.held.msgs)
}
