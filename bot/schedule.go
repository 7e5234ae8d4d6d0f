package bot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"time"
)

// Defaults of the dispatcher's timing.
const (
	DefaultLease     = 30 * time.Second
	DefaultQueuePoll = 5 * time.Second
)

func (s *Service) lease() time.Duration {
	if s.Lease > 0 {
		return s.Lease
	}
	return DefaultLease
}

func (s *Service) queuePoll() time.Duration {
	if s.QueuePoll > 0 {
		return s.QueuePoll
	}
	return DefaultQueuePoll
}

// NewOwner names a process for its leases: name (the host name when
// empty) and a random suffix. The suffix is not optional: a restarted
// process must not inherit its predecessor's leases, or it would resume
// their deployments as if it had never stopped (attempts not counted, the
// lookup for a half-created GitHub deployment skipped).
func NewOwner(name string) string {
	if name == "" {
		name, _ = os.Hostname()
	}
	b := make([]byte, 4)
	rand.Read(b)
	return name + "-" + hex.EncodeToString(b)
}

func (s *Service) init() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.wake == nil {
		s.wake = make(chan struct{}, 1)
		s.stops = map[int64]context.CancelCauseFunc{}
		s.claims = map[int64]Claim{}
		s.waiters = map[string]chan struct{}{}
		s.toWake = map[string]struct{}{}
		s.again = map[int64]relaunch{}
		s.wakeWork = make(chan struct{}, 1)
	}
	if s.Owner == "" {
		s.Owner = NewOwner("")
	}
}

// Start hands a newly accepted deployment to the dispatcher. The work
// outlives the request that accepted it, and survives this process: the
// deployment is in the store, and any replica's dispatcher claims it.
func (s *Service) Start(d *Deployment) {
	s.init()
	s.kick()
}

func (s *Service) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Serve runs the dispatcher until ctx ends: it claims every unfinished
// deployment whose lease is free or expired — new ones, and those a
// crashed replica left — and runs each from its stored stage. When ctx
// ends, running pipelines stop where they are and their leases are freed,
// so that a restart or another replica resumes them at once.
func (s *Service) Serve(ctx context.Context) error {
	s.init()
	s.mu.Lock()
	s.serving = true
	s.mu.Unlock()
	wakerDone := make(chan struct{})
	go func() {
		defer close(wakerDone)
		s.storeWakes(ctx)
	}()
	ticker := time.NewTicker(s.queuePoll())
	defer ticker.Stop()
	for {
		s.dispatch(ctx)
		select {
		case <-ctx.Done():
			s.stopAll(errShutdown)
			s.running.Wait()
			<-wakerDone
			return nil
		case <-s.wake:
		case <-ticker.C:
		}
	}
}

// capacity is how many pipelines one replica runs at once; the rest wait
// in the store for a free slot here or on another replica. A deployment
// that waits (for CI, for its turn in the gate) is parked in the store
// and holds no slot, so only work in progress counts: talking to GitHub
// or AWS, following a rollout. Once waiting stopped holding slots, 100
// of them doing work at once took the CPU and the store from the acks:
// at 500 Slack commands/s (bench/ackload) p50 103 ms, p99 380 ms and 12 %
// of the commands shed; with 16, p50 9 ms, p99 153 ms (SQLite) and 44 ms
// (PostgreSQL), none shed, and 500 deployments to 500 environments end
// sooner (5.7 s against 7.6–8.7 s). See docs/benchmarks.md.
const capacity = 16

// The shares of the capacity: no requester and no environment takes more
// than these at once, whoever else waits; rollbacksOnly slots are kept for
// rollbacks, so that undoing a bad release never waits for a free slot.
// One environment runs one rollout at a time anyway (the gate); its share
// bounds the work before the gate (GitHub deployment, Slack message) that
// a flood of commands to it brings.
const (
	PerRequesterShare = capacity * 3 / 4
	perEnv            = capacity / 4
	rollbacksOnly     = 2
)

// fairClaimer is a store that claims within a ClaimQuota.
type fairClaimer interface {
	ClaimFair(ctx context.Context, owner string, now, expires time.Time, q ClaimQuota) ([]Claim, error)
}

// quota is what this replica may still claim.
func (s *Service) quota() ClaimQuota {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := ClaimQuota{
		Slots: capacity - len(s.stops), OtherSlots: capacity - rollbacksOnly,
		PerRequester: PerRequesterShare, PerEnv: perEnv,
		ByRequester: map[string]int{}, ByEnv: map[string]int{},
	}
	for id := range s.stops {
		c, ok := s.claims[id]
		if !ok {
			continue
		}
		q.ByRequester[c.Deployment.Requester]++
		q.ByEnv[EnvKey(c.Deployment.App, c.Deployment.Env)]++
		if !c.Rollback {
			q.OtherSlots--
		}
	}
	q.OtherSlots = min(q.OtherSlots, q.Slots)
	return q
}

func (s *Service) dispatch(ctx context.Context) {
	q := s.quota()
	if q.Slots <= 0 {
		// A pipeline that ends kicks again.
		return
	}
	now := s.now()
	var claimed []Claim
	var err error
	if fair, ok := s.Store.(fairClaimer); ok {
		claimed, err = fair.ClaimFair(ctx, s.Owner, now, now.Add(s.lease()), q)
	} else {
		var ds []*Deployment
		ds, err = s.Store.ClaimDeployments(ctx, s.Owner, now, now.Add(s.lease()), q.Slots)
		for _, d := range ds {
			claimed = append(claimed, Claim{Deployment: d})
		}
	}
	if err != nil {
		if ctx.Err() == nil {
			s.logger().Error("claim deployments", "err", err)
		}
		return
	}
	for _, c := range claimed {
		s.launch(ctx, c, now.Add(s.lease()))
	}
}

// launch runs d in its own goroutine unless it already runs here, with a
// heartbeat that keeps its lease (claimed until leased).
func (s *Service) launch(parent context.Context, c Claim, leased time.Time) {
	d := c.Deployment
	s.mu.Lock()
	if _, running := s.stops[d.ID]; running {
		// Claimed again while its run here is still leaving (it parked and
		// was woken at once): the claim holds the lease, so dropping it
		// would leave the deployment unrun until the lease ran out. It
		// runs once the other has gone.
		s.again[d.ID] = relaunch{c: c, leased: leased}
		s.mu.Unlock()
		return
	}
	ctx, stop := context.WithCancelCause(context.WithoutCancel(parent))
	s.stops[d.ID] = stop
	s.claims[d.ID] = c
	s.running.Add(1)
	s.mu.Unlock()
	if d.Attempts > 1 {
		s.logger().Info("resuming deployment", "deployment", d.ID, "state", d.State, "attempt", d.Attempts)
	}

	go s.heartbeat(ctx, d.ID, leased, stop)
	go func() {
		defer s.running.Done()
		err := s.run(ctx, d, true)
		stop(nil)
		s.mu.Lock()
		delete(s.stops, d.ID)
		delete(s.claims, d.ID)
		next, again := s.again[d.ID]
		delete(s.again, d.ID)
		s.mu.Unlock()
		if again {
			defer s.launch(parent, next.c, next.leased)
		}
		if errors.Is(err, errParked) {
			// Its lease went back with the park. Its timer is kept here
			// too, so that this replica looks again when it comes rather
			// than at the next poll; the event it waits for may be sooner.
			if wait := d.Wait.Until.Sub(s.now()); wait > 0 {
				time.AfterFunc(wait, s.kick)
			}
			s.kick()
			return
		}
		// Free the lease: an ended deployment needs none, and one that was
		// interrupted is picked up again at once. One claimed again
		// meanwhile keeps it: the lease is that claim's.
		if !again {
			if err := s.Store.ReleaseLease(context.WithoutCancel(ctx), d.ID, s.Owner); err != nil {
				s.logger().Warn("release lease", "deployment", d.ID, "err", err)
			}
		}
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
		s.kick()
	}()
}

// relaunch is a claim to run once the deployment's run here has ended.
type relaunch struct {
	c      Claim
	leased time.Time
}

// heartbeat renews the lease of a running deployment, which runs out at
// held unless renewed; losing it (this replica stalled past the lease,
// and another took over) stops the run. So does a lease it cannot renew
// in time, the store being down or refusing writes: once it has expired
// another replica may take the deployment over, and nothing this run did
// after that could be recorded. Stopped a little before, the run tells no
// one anything more, and the deployment is resumed from its recorded
// stage by whichever replica claims it next, this one included.
func (s *Service) heartbeat(ctx context.Context, id int64, held time.Time, stop context.CancelCauseFunc) {
	every := s.lease() / 3
	margin := s.lease() / 10
	t := time.NewTimer(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// A renewal answered after the lease ran out is no use: by then
		// the run must have stopped.
		renewCtx, cancel := context.WithTimeout(ctx, held.Sub(s.now())-margin)
		next := s.now().Add(s.lease())
		err := s.Store.RenewLease(renewCtx, id, s.Owner, next)
		cancel()
		switch {
		case err == nil:
			held = next
			t.Reset(every)
			continue
		case ErrorCode(err) == ECONFLICT:
			stop(errLeaseLost)
			return
		case ctx.Err() != nil:
			return
		}
		left := held.Sub(s.now()) - margin
		if left <= 0 {
			s.logger().Warn("lease not renewed in time; stopping the run, to be resumed", "deployment", id, "err", err)
			stop(errLeaseLost)
			return
		}
		s.logger().Warn("renew lease; trying again", "deployment", id, "err", err, "expires_in", left+margin)
		t.Reset(min(margin, left))
	}
}

func (s *Service) stopAll(cause error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, stop := range s.stops {
		stop(cause)
	}
}

// stopRun stops deployment id's pipeline if it runs here, and reports
// whether it did.
func (s *Service) stopRun(id int64, cause error) bool {
	s.mu.Lock()
	stop := s.stops[id]
	s.mu.Unlock()
	if stop != nil {
		stop(cause)
	}
	return stop != nil
}

// Shutdown stops the running pipelines (they keep their stored stage and
// are resumed by whichever replica claims them next) and waits for them
// until ctx ends.
func (s *Service) Shutdown(ctx context.Context) error {
	s.init()
	s.stopAll(errShutdown)
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

// maxPendingWakes bounds the wakes waiting to be written: past it, the
// parked deployments' own timers still wake them.
const maxPendingWakes = 10000

// wakeUp wakes whoever waits on on: a run waiting in place here at once,
// and the deployments parked on it in the store, by a write made apart
// from the caller (a webhook being acknowledged) and coalesced, since CI
// events come in floods for one commit.
func (s *Service) wakeUp(on string) {
	s.init()
	s.mu.Lock()
	if ch, ok := s.waiters[on]; ok {
		close(ch)
		delete(s.waiters, on)
	}
	serving := s.serving
	if serving && len(s.toWake) < maxPendingWakes {
		s.toWake[on] = struct{}{}
	}
	s.mu.Unlock()
	if serving {
		select {
		case s.wakeWork <- struct{}{}:
		default:
		}
	}
}

// storeWakes writes the pending wakes to the store until ctx ends.
func (s *Service) storeWakes(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wakeWork:
		}
		s.mu.Lock()
		pending := s.toWake
		s.toWake = make(map[string]struct{}, len(pending))
		s.mu.Unlock()
		woken := 0
		for on := range pending {
			n, err := s.Store.Wake(ctx, on, s.now())
			if err != nil && ctx.Err() == nil {
				s.logger().Warn("wake parked deployments", "on", on, "err", err)
			}
			woken += n
		}
		// A claim only when a parked row became claimable: CI events come
		// in floods, mostly for commits nothing waits on, and a claim per
		// batch of them was most of a check_run flood's cost.
		if woken > 0 {
			s.kick()
		}
	}
}

// waiter returns a channel closed by the next wakeUp(on) here.
func (s *Service) waiter(on string) <-chan struct{} {
	s.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, ok := s.waiters[on]
	if !ok {
		ch = make(chan struct{})
		s.waiters[on] = ch
	}
	return ch
}

// RunOne runs deployment d here and now, holding its lease (renewed while
// it runs) so that no server replica runs it too: `deploybot deploy`.
func (s *Service) RunOne(ctx context.Context, d *Deployment) error {
	s.init()
	now := s.now()
	leased := now.Add(s.lease())
	claimed, err := s.Store.ClaimDeployment(ctx, d.ID, s.Owner, now, leased)
	if err != nil {
		return fmt.Errorf("take deployment #%d: %w", d.ID, err)
	}
	*d = *claimed
	runCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	go s.heartbeat(runCtx, d.ID, leased, stop)
	err = s.run(runCtx, d, false)
	if rerr := s.Store.ReleaseLease(context.WithoutCancel(ctx), d.ID, s.Owner); rerr != nil {
		s.logger().Warn("release lease", "deployment", d.ID, "err", rerr)
	}
	return err
}
