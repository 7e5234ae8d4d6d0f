// Package dispatch runs deployments: a Dispatcher claims from the store
// the deployments that can do work now (new ones, woken ones, those a
// crashed replica left), runs each through bot.Service.RunClaimed under a
// lease it renews, and writes the wakes the Service asks for. A deployment
// that waits is parked in the store and holds nothing here.
package dispatch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/deploybot/deploybot/bot"
)

// DefaultQueuePoll is how often unleased work is looked for, besides
// being woken by events here.
const DefaultQueuePoll = 5 * time.Second

// Store is what the dispatcher needs of the store: claims, leases, wakes.
type Store interface {
	// ClaimFair leases to owner the claimable deployments q picks.
	ClaimFair(ctx context.Context, owner string, now, expires time.Time, q bot.ClaimQuota) ([]bot.Claim, error)
	// ClaimDeployment leases deployment id to owner; ECONFLICT if another
	// holds it or it has ended.
	ClaimDeployment(ctx context.Context, id int64, owner string, now, expires time.Time) (*bot.Deployment, error)
	// RenewLease extends owner's lease; ECONFLICT once another holds it.
	RenewLease(ctx context.Context, id int64, owner string, expires time.Time) error
	ReleaseLease(ctx context.Context, id int64, owner string) error
	// Wake makes the deployments parked on on claimable now and says how
	// many it made so.
	Wake(ctx context.Context, on string, now time.Time) (int, error)
}

// Runner runs deployments: bot.Service.
type Runner interface {
	// RunClaimed runs a claimed deployment until it ends, stops or parks
	// (bot.ErrParked); unless it parked, it calls release before telling
	// of the end.
	RunClaimed(ctx context.Context, d *bot.Deployment, release func(context.Context)) error
	// Run runs d to its end, waiting in place rather than parking.
	Run(ctx context.Context, d *bot.Deployment) error
}

// Dispatcher is one replica's scheduler (a bot.Scheduler).
type Dispatcher struct {
	Store  Store
	Runner Runner
	// Owner names this replica in leases; it must be the Runner's own.
	Owner     string
	Lease     time.Duration // zero: bot.DefaultLease
	QueuePoll time.Duration // zero: DefaultQueuePoll
	// StartsPerSecond spreads pipeline starts (zero: DefaultStartsPerSecond).
	StartsPerSecond float64
	Logger          *slog.Logger
	Now             func() time.Time

	initOnce sync.Once
	mu       sync.Mutex
	running  sync.WaitGroup
	serving  bool
	stops    map[int64]context.CancelCauseFunc // pipelines running here
	claims   map[int64]bot.Claim               // what runs here, for the quota
	again    map[int64]relaunch                // claimed while its run here was ending
	toWake   map[string]struct{}               // Wait.Ons to wake in the store
	wake     chan struct{}                     // nudges the dispatcher
	wakeWork chan struct{}                     // nudges the store waker
	starts   starts
	kickDue  atomic.Bool // a kick for the next start is set
}

var _ bot.Scheduler = (*Dispatcher)(nil)

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

func (s *Dispatcher) init() {
	s.initOnce.Do(func() {
		s.wake = make(chan struct{}, 1)
		s.wakeWork = make(chan struct{}, 1)
		s.stops = map[int64]context.CancelCauseFunc{}
		s.claims = map[int64]bot.Claim{}
		s.again = map[int64]relaunch{}
		s.toWake = map[string]struct{}{}
		if s.Owner == "" {
			s.Owner = NewOwner("")
		}
		rate := s.StartsPerSecond
		if rate <= 0 {
			rate = DefaultStartsPerSecond
		}
		s.starts = starts{rate: rate, burst: startBurst, tokens: startBurst, at: s.now()}
	})
}

func (s *Dispatcher) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Dispatcher) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

func (s *Dispatcher) lease() time.Duration {
	if s.Lease > 0 {
		return s.Lease
	}
	return bot.DefaultLease
}

func (s *Dispatcher) queuePoll() time.Duration {
	if s.QueuePoll > 0 {
		return s.QueuePoll
	}
	return DefaultQueuePoll
}

// Kick asks for a claim soon: a deployment may have become claimable.
func (s *Dispatcher) Kick() {
	s.init()
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
func (s *Dispatcher) Serve(ctx context.Context) error {
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
			s.stopAll(bot.ErrShutdown)
			s.running.Wait()
			<-wakerDone
			return nil
		case <-s.wake:
		case <-ticker.C:
		}
	}
}

// Capacity is how many pipelines one replica runs at once; the rest wait
// in the store for a free slot here or on another replica. A deployment
// that waits (for CI, for its turn in the gate) is parked in the store
// and holds no slot, so only work in progress counts: talking to GitHub
// or AWS, following a rollout. Once waiting stopped holding slots, 100
// of them doing work at once took the CPU and the store from the acks:
// at 500 Slack commands/s (bench/ackload) p50 103 ms, p99 380 ms and 12 %
// of the commands shed; with 16, p50 9 ms, p99 153 ms (SQLite) and 44 ms
// (PostgreSQL), none shed, and 500 deployments to 500 environments end
// sooner (5.7 s against 7.6–8.7 s). See docs/benchmarks.md.
const Capacity = 16

// The shares of the capacity: no requester and no environment takes more
// than these at once, whoever else waits; rollbacksOnly slots are kept for
// rollbacks, so that undoing a bad release never waits for a free slot.
// One environment runs one rollout at a time anyway (the gate); its share
// bounds the work before the gate (GitHub deployment, Slack message) that
// a flood of commands to it brings.
const (
	PerRequesterShare = Capacity * 3 / 4
	perEnvShare       = Capacity / 4
	rollbacksOnly     = 2
)

// quota is what this replica may still claim.
func (s *Dispatcher) quota() bot.ClaimQuota {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := bot.ClaimQuota{
		Slots: Capacity - len(s.stops), OtherSlots: Capacity - rollbacksOnly,
		PerRequester: PerRequesterShare, PerEnv: perEnvShare,
		ByRequester: map[string]int{}, ByEnv: map[string]int{},
	}
	for id := range s.stops {
		c, ok := s.claims[id]
		if !ok {
			continue
		}
		q.ByRequester[c.Deployment.Requester]++
		q.ByEnv[bot.EnvKey(c.Deployment.App, c.Deployment.Env)]++
		if !c.Rollback {
			q.OtherSlots--
		}
	}
	q.OtherSlots = min(q.OtherSlots, q.Slots)
	return q
}

func (s *Dispatcher) dispatch(ctx context.Context) {
	q := s.quota()
	if q.Slots <= 0 {
		// A pipeline that ends kicks again.
		return
	}
	now := s.now()
	allowed, next := s.starts.take(now, q.Slots, min(q.Slots, startBurst))
	if allowed == 0 {
		s.kickIn(next)
		return
	}
	q.Slots, q.OtherSlots = allowed, min(q.OtherSlots, allowed)
	claimed, err := s.Store.ClaimFair(ctx, s.Owner, now, now.Add(s.lease()), q)
	if err != nil {
		if ctx.Err() == nil {
			s.logger().Error("claim deployments", "err", err)
		}
		s.starts.giveBack(allowed)
		return
	}
	s.starts.giveBack(allowed - len(claimed))
	if len(claimed) == allowed && allowed < Capacity {
		// Maybe more to claim once starts are allowed again.
		s.kickIn(next)
	}
	for _, c := range claimed {
		s.launch(ctx, c, now.Add(s.lease()))
	}
}

// kickIn kicks after d, unless a kick is due already.
func (s *Dispatcher) kickIn(d time.Duration) {
	if s.kickDue.CompareAndSwap(false, true) {
		time.AfterFunc(d, func() {
			s.kickDue.Store(false)
			s.Kick()
		})
	}
}

// launch runs d in its own goroutine unless it already runs here, with a
// heartbeat that keeps its lease (claimed until leased).
func (s *Dispatcher) launch(parent context.Context, c bot.Claim, leased time.Time) {
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

	go s.heartbeat(ctx, d.ID, leased, stop)
	go func() {
		defer s.running.Done()
		release := func(ctx context.Context) {
			s.mu.Lock()
			_, again := s.again[d.ID]
			s.mu.Unlock()
			// Free the lease: an ended deployment needs none, and one that
			// was interrupted is picked up again at once. One claimed
			// again meanwhile keeps it: the lease is that claim's.
			if !again {
				if err := s.Store.ReleaseLease(ctx, d.ID, s.Owner); err != nil {
					s.logger().Warn("release lease", "deployment", d.ID, "err", err)
				}
			}
		}
		err := s.Runner.RunClaimed(ctx, d, release)
		stop(nil)
		s.mu.Lock()
		delete(s.stops, d.ID)
		delete(s.claims, d.ID)
		next, relaunched := s.again[d.ID]
		delete(s.again, d.ID)
		s.mu.Unlock()
		if relaunched {
			defer s.launch(parent, next.c, next.leased)
		}
		if errors.Is(err, bot.ErrParked) {
			// Its lease went back with the park. Its timer is kept here
			// too, so that this replica looks again when it comes rather
			// than at the next poll; the event it waits for may be sooner.
			if wait := d.Wait.Until.Sub(s.now()); wait > 0 {
				time.AfterFunc(wait, s.Kick)
			}
		}
		s.Kick()
	}()
}

// relaunch is a claim to run once the deployment's run here has ended.
type relaunch struct {
	c      bot.Claim
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
func (s *Dispatcher) heartbeat(ctx context.Context, id int64, held time.Time, stop context.CancelCauseFunc) {
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
		case bot.ErrorCode(err) == bot.ECONFLICT:
			stop(bot.ErrLeaseLost)
			return
		case ctx.Err() != nil:
			return
		}
		left := held.Sub(s.now()) - margin
		if left <= 0 {
			s.logger().Warn("lease not renewed in time; stopping the run, to be resumed", "deployment", id, "err", err)
			stop(bot.ErrLeaseLost)
			return
		}
		s.logger().Warn("renew lease; trying again", "deployment", id, "err", err, "expires_in", left+margin)
		t.Reset(min(margin, left))
	}
}

func (s *Dispatcher) stopAll(cause error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, stop := range s.stops {
		stop(cause)
	}
}

// Stop stops deployment id's pipeline with cause if it runs here, and
// reports whether it did.
func (s *Dispatcher) Stop(id int64, cause error) bool {
	s.init()
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
func (s *Dispatcher) Shutdown(ctx context.Context) error {
	s.init()
	s.stopAll(bot.ErrShutdown)
	done := make(chan struct{})
	go func() { s.running.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// maxPendingWakes bounds the wakes waiting to be written: past it, the
// parked deployments' own timers still wake them.
const maxPendingWakes = 10000

// Wake wakes the deployments parked on on, by a write made apart from the
// caller (a webhook being acknowledged) and coalesced, since CI events
// come in floods for one commit. Only a serving dispatcher writes them.
func (s *Dispatcher) Wake(on string) {
	s.init()
	s.mu.Lock()
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
func (s *Dispatcher) storeWakes(ctx context.Context) {
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
			s.Kick()
		}
	}
}

// ErrTakenElsewhere: RunOne found the deployment claimed by another
// replica (a `deploybot serve` on the same store took it between its
// creation and the claim). It runs there, once; the caller may follow it.
var ErrTakenElsewhere = errors.New("another replica runs it")

// RunOne runs deployment d here and now, holding its lease (renewed while
// it runs) so that no server replica runs it too: `deploybot deploy`.
func (s *Dispatcher) RunOne(ctx context.Context, d *bot.Deployment) error {
	s.init()
	now := s.now()
	leased := now.Add(s.lease())
	claimed, err := s.Store.ClaimDeployment(ctx, d.ID, s.Owner, now, leased)
	if bot.ErrorCode(err) == bot.ECONFLICT {
		return fmt.Errorf("%w: deployment #%d: %v", ErrTakenElsewhere, d.ID, err)
	}
	if err != nil {
		return fmt.Errorf("take deployment #%d: %w", d.ID, err)
	}
	*d = *claimed
	runCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	go s.heartbeat(runCtx, d.ID, leased, stop)
	err = s.Runner.Run(runCtx, d)
	if rerr := s.Store.ReleaseLease(context.WithoutCancel(ctx), d.ID, s.Owner); rerr != nil {
		s.logger().Warn("release lease", "deployment", d.ID, "err", rerr)
	}
	return err
}
