// Package bottest holds in-memory fakes of bot's ports — the Store, GitHub,
// Slack, the pull requests API, the image registry, the deployers — and a
// clock that moves only when told, so that the pipeline's decisions can be
// tested as fast table tests in package bot. The fakes record what they
// were asked, for tests to assert on. What crosses the wire (HTTP, the
// SDKs, SQL) is the end-to-end tests' business, against the emulators.
package bottest

import (
	"sync"
	"time"
)

// T0 is where a Clock starts: a fixed instant, so that what a test sees
// does not depend on the day it runs.
var T0 = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)

// Clock is a fake clock: Now stays where it is until Advance or Set move it.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock at T0.
func NewClock() *Clock { return &Clock{now: T0} }

// Now is the clock's reading; pass the method value as a Now hook.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}
