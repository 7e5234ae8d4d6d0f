// Package faults makes the emulators misbehave the way the real services
// do: errors for a number of requests, slow answers, an outage. Each
// emulator writes its own protocol's error bodies; this package decides
// which requests get them.
package faults

import (
	"bytes"
	"io"
	"net/http"
	"sync"
	"time"
)

// Rule is one fault. A request that Match accepts waits Delay, then gets
// Respond's answer instead of the emulator's, for the first Times matching
// requests (0: every one until Clear).
type Rule struct {
	Match   func(*http.Request) bool // nil matches every request
	Times   int
	Delay   time.Duration
	Respond http.HandlerFunc // nil: after Delay, the emulator answers normally
}

// Injector holds the rules of one emulator. The zero value injects nothing.
type Injector struct {
	mu    sync.Mutex
	rules []*rule
}

type rule struct {
	Rule
	hits int
}

// Add installs r after the rules already there; the first matching rule
// that still has hits left applies.
func (in *Injector) Add(r Rule) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.rules = append(in.rules, &rule{Rule: r})
}

// Clear removes every rule: the emulator behaves again.
func (in *Injector) Clear() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.rules = nil
}

// Hits returns how many requests the rules have answered or delayed.
func (in *Injector) Hits() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	n := 0
	for _, r := range in.rules {
		n += r.hits
	}
	return n
}

// Apply runs the fault for req, if one applies, and reports whether it
// answered; when it did, the emulator must not.
func (in *Injector) Apply(w http.ResponseWriter, req *http.Request) bool {
	in.mu.Lock()
	var hit *rule
	for _, r := range in.rules {
		if (r.Times == 0 || r.hits < r.Times) && (r.Match == nil || r.Match(req)) {
			r.hits++
			hit = r
			break
		}
	}
	in.mu.Unlock()
	if hit == nil {
		return false
	}
	if hit.Delay > 0 {
		// net/http notices a client that hung up only once the request's
		// body has been read: read, the delay ends when the client gives
		// up, and a test's server closes without waiting it out.
		if body, err := io.ReadAll(req.Body); err == nil {
			req.Body = io.NopCloser(bytes.NewReader(body))
		}
		t := time.NewTimer(hit.Delay)
		select {
		case <-t.C:
		case <-req.Context().Done():
			t.Stop()
			return true // the client gave up; nobody reads an answer
		}
	}
	if hit.Respond == nil {
		return false
	}
	hit.Respond(w, req)
	return true
}

// Drop answers by closing the connection without a response, as a
// crashed server or a dropped load balancer connection does.
func Drop(w http.ResponseWriter, _ *http.Request) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}
