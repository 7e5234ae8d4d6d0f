package bot

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// DefaultLease is how long a deployment's lease lasts unless renewed.
const DefaultLease = 30 * time.Second

func (s *Service) lease() time.Duration {
	if s.Lease > 0 {
		return s.Lease
	}
	return DefaultLease
}

// Scheduler runs the deployments a Service accepts: it claims them from
// the store and hands each to RunClaimed (the dispatch package's
// Dispatcher). The Service tells it what changed.
type Scheduler interface {
	// Kick: a deployment may have become claimable.
	Kick()
	// Wake: what the deployments parked on on wait for has come, on any
	// replica (WaitForCI, WaitForGate).
	Wake(on string)
	// Stop stops deployment id's run with cause, if it runs here, and
	// reports whether it did.
	Stop(id int64, cause error) bool
}

// The causes a Scheduler stops runs with, and the end of a run that
// parked, as RunClaimed returns it.
var (
	ErrLeaseLost = errLeaseLost
	ErrShutdown  = errShutdown
	ErrParked    = errParked
)

// Kick tells the scheduler that a deployment may have become claimable:
// one was just accepted, after the request that accepted it was answered.
// The work outlives that request, and survives this process: the
// deployment is in the store, and any replica's scheduler claims it.
func (s *Service) Kick() {
	if s.Scheduler != nil {
		s.Scheduler.Kick()
	}
}

// RunClaimed runs d, which this replica claimed, from its stored stage
// until it ends, stops or parks (then ErrParked: it waits in the store and
// its lease went back with the park). Unless it parked, release is called
// first (the lease goes back), then the end is told: the deployments
// behind it are woken and Finished hears of it.
func (s *Service) RunClaimed(ctx context.Context, d *Deployment, release func(context.Context)) error {
	if d.Attempts > 1 {
		s.logger().Info("resuming deployment", "deployment", d.ID, "state", d.State, "attempt", d.Attempts)
	}
	err := s.run(ctx, d, true)
	if errors.Is(err, errParked) {
		// Ended (cancelled, superseded) while it parked: whoever ended it
		// left the end to this run, which must tell it as any run does.
		stored, rerr := s.Store.Deployment(context.WithoutCancel(ctx), d.ID)
		if rerr != nil || !stored.State.Terminal() {
			return err
		}
		d, err = stored, fmt.Errorf("%w: %s while parking", errEnded, stored.State)
	}
	release(context.WithoutCancel(ctx))
	if !d.State.Terminal() {
		// Ended elsewhere (cancelled) is ended all the same.
		if stored, err := s.Store.Deployment(context.WithoutCancel(ctx), d.ID); err == nil {
			d = stored
		}
	}
	if d.State.Terminal() {
		s.envEnded(d.App, d.Env)
	}
	if s.Finished != nil {
		s.Finished(d)
	}
	return err
}

// stopRun stops deployment id's pipeline if it runs here, and reports
// whether it did.
func (s *Service) stopRun(id int64, cause error) bool {
	return s.Scheduler != nil && s.Scheduler.Stop(id, cause)
}

// Shutdown waits, until ctx ends, for the reports the Service sends in
// the background (superseded deployments); the scheduler stops the runs.
func (s *Service) Shutdown(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.running.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// NotifyCI wakes the deployments waiting for CI on sha, here and, through
// the store, on every replica; the status, check_run and check_suite
// webhooks call it.
func (s *Service) NotifyCI(sha string) { s.wakeUp(WaitForCI(sha)) }

// envEnded wakes the deployments queued behind app/env's gate: one of it
// ended, or its lock went.
func (s *Service) envEnded(app, env string) { s.wakeUp(WaitForGate(app, env)) }

// wakeUp wakes whoever waits on on: a run waiting in place here at once,
// and, through the scheduler, the deployments parked on it in the store.
func (s *Service) wakeUp(on string) {
	s.waiters.wake(on)
	if s.Scheduler != nil {
		s.Scheduler.Wake(on)
	}
}

// waiter returns a channel closed by the next wakeUp(on) here.
func (s *Service) waiter(on string) <-chan struct{} { return s.waiters.channel(on) }

// waitBoard holds the channels of the runs waiting in place here, by what
// they wait on. Its zero value is ready: a Service is built as a literal.
type waitBoard struct {
	mu sync.Mutex
	by map[string]chan struct{}
}

// wake closes the channel of on, if anyone waits on it.
func (b *waitBoard) wake(on string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if ch, ok := b.by[on]; ok {
		close(ch)
		delete(b.by, on)
	}
}

// channel returns the channel the next wake(on) closes.
func (b *waitBoard) channel(on string) <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	ch, ok := b.by[on]
	if !ok {
		if b.by == nil {
			b.by = map[string]chan struct{}{}
		}
		ch = make(chan struct{})
		b.by[on] = ch
	}
	return ch
}
