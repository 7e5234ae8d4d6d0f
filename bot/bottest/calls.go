package bottest

import "sync"

// calls counts the calls of each method of a fake and holds the faults a
// test made it fail with. Fakes embed it for their Fault and Calls.
type calls struct {
	mu     sync.Mutex
	counts map[string]int
	faults map[string]error
}

// Fault makes every later call of method (the port's method name, such
// as "UpdateDeployment") fail with err; a nil err heals it.
func (c *calls) Fault(method string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.faults == nil {
		c.faults = map[string]error{}
	}
	c.faults[method] = err
}

// Calls says how many times method was called.
func (c *calls) Calls(method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[method]
}

// called counts a call of method and returns the fault it is to fail
// with, if any.
func (c *calls) called(method string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.counts == nil {
		c.counts = map[string]int{}
	}
	c.counts[method]++
	return c.faults[method]
}
