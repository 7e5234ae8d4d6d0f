package storetest

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
	"github.com/google/go-cmp/cmp"
)

// RunShared runs the tests of replicas sharing one database. openPair
// returns two handles, each with its own connections, on one new, empty
// database for each subtest.
func RunShared(t *testing.T, openPair func(t *testing.T) (Store, Store)) {
	t.Run("ConcurrentClaims", func(t *testing.T) { testConcurrentClaims(t, pair(openPair(t))) })
	t.Run("ConcurrentGate", func(t *testing.T) { testConcurrentGate(t, pair(openPair(t))) })
	t.Run("GateRelay", func(t *testing.T) { testGateRelay(t, pair(openPair(t))) })
}

func pair(a, b Store) []Store { return []Store{a, b} }

// Every claiming goroutine is a replica of its own, and each of its claims
// uses a new owner name, so that no claim can return a lease again: every
// deployment must then be claimed exactly once.
func testConcurrentClaims(t *testing.T, stores []Store) {
	const (
		deployments = 200
		perHandle   = 4
	)
	ctx := context.Background()
	states := make([]bot.State, deployments)
	for i := range states {
		states[i] = bot.StateQueued
	}
	want := ids(create(t, stores[0], "web", "dev", states...))

	var (
		mu    sync.Mutex
		owner = map[int64]string{}
		wg    sync.WaitGroup
	)
	for h, s := range stores {
		for g := range perHandle {
			wg.Go(func() {
				for i := 0; ; i++ {
					name := fmt.Sprintf("handle%d-worker%d-claim%d", h, g, i)
					ds, err := s.ClaimDeployments(ctx, name, t0, t0.Add(time.Hour), 7)
					if err != nil {
						t.Errorf("%s: %v", name, err)
						return
					}
					if len(ds) == 0 {
						return
					}
					mu.Lock()
					for _, d := range ds {
						if prev, ok := owner[d.ID]; ok {
							t.Errorf("#%d claimed by %s and by %s", d.ID, prev, name)
						}
						owner[d.ID] = name
					}
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()

	var got []int64
	for id := range owner {
		got = append(got, id)
	}
	slices.Sort(got)
	if diff := cmp.Diff(got, want); diff != "" {
		t.Fatalf("claimed ids (-got +want):\n%s", diff)
	}
	all, err := stores[1].ListDeployments(ctx, bot.DeploymentFilter{Limit: deployments})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range all {
		if d.LeaseOwner != owner[d.ID] || d.Attempts != 1 {
			t.Errorf("#%d stored leased to %q after %d attempts, want %q after 1", d.ID, d.LeaseOwner, d.Attempts, owner[d.ID])
		}
	}
}

// Ten deployments of one environment reach the gate at once, each through
// both handles, twice: only the oldest passes, once.
func testConcurrentGate(t *testing.T, stores []Store) {
	ctx := context.Background()
	ds := create(t, stores[0], "web", "prod", slices.Repeat([]bot.State{bot.StateQueued}, 10)...)
	var (
		entered atomic.Int64
		wg      sync.WaitGroup
	)
	for _, s := range stores {
		for _, d := range ds {
			for range 2 {
				wg.Go(func() {
					r, err := s.EnterGate(ctx, d.ID, bot.StateQueued, bot.StateWaitingForCI, t0)
					switch {
					case bot.ErrorCode(err) == bot.ECONFLICT && d.ID == ds[0].ID:
						// The other call for it was first.
					case err != nil:
						t.Errorf("EnterGate(#%d): %v", d.ID, err)
					case r.Entered:
						entered.Add(1)
						if d.ID != ds[0].ID {
							t.Errorf("#%d entered ahead of #%d", d.ID, ds[0].ID)
						}
					case r.Behind == nil || r.Behind.ID != ds[0].ID:
						t.Errorf("EnterGate(#%d) = %+v, want behind #%d", d.ID, r, ds[0].ID)
					}
				})
			}
		}
	}
	wg.Wait()
	if n := entered.Load(); n != 1 {
		t.Errorf("%d calls entered the gate, want 1", n)
	}
	for i, d := range ds {
		want := bot.StateQueued
		if i == 0 {
			want = bot.StateWaitingForCI
		}
		if got := stored(t, stores[1], d.ID).State; got != want {
			t.Errorf("#%d is %s, want %s", d.ID, got, want)
		}
	}
}

// Workers on both handles keep trying every waiting deployment of one
// environment; whoever gets one through the gate ends it. Deployments must
// pass one at a time and in order.
func testGateRelay(t *testing.T, stores []Store) {
	const perHandle = 2
	ctx := context.Background()
	ds := create(t, stores[0], "web", "prod", slices.Repeat([]bot.State{bot.StateQueued}, 10)...)
	var (
		inside, done atomic.Int64
		failed       atomic.Bool
		ended        sync.Map
		mu           sync.Mutex
		order        []int64
		wg           sync.WaitGroup
	)
	fail := func(format string, args ...any) {
		t.Errorf(format, args...)
		failed.Store(true)
	}
	for _, s := range stores {
		for range perHandle {
			wg.Go(func() {
				for done.Load() < int64(len(ds)) && !failed.Load() {
					for _, d := range ds {
						if _, ok := ended.Load(d.ID); ok {
							continue
						}
						r, err := s.EnterGate(ctx, d.ID, bot.StateQueued, bot.StateWaitingForCI, t0)
						if bot.ErrorCode(err) == bot.ECONFLICT {
							continue // another worker got it through
						}
						if err != nil {
							fail("EnterGate(#%d): %v", d.ID, err)
							return
						}
						if !r.Entered {
							continue
						}
						if n := inside.Add(1); n != 1 {
							fail("#%d entered while %d others were past the gate", d.ID, n-1)
						}
						mu.Lock()
						order = append(order, d.ID)
						mu.Unlock()
						inside.Add(-1)
						if _, err := s.TransitionDeployment(ctx, d.ID, []bot.State{bot.StateWaitingForCI}, bot.StateSucceeded, ""); err != nil {
							fail("ending #%d: %v", d.ID, err)
							return
						}
						ended.Store(d.ID, true)
						done.Add(1)
					}
					runtime.Gosched()
				}
			})
		}
	}
	wg.Wait()
	if diff := cmp.Diff(order, ids(ds)); diff != "" {
		t.Errorf("order through the gate (-got +want):\n%s", diff)
	}
}
