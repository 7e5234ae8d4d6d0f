package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
)

func enterGate(t *testing.T, s Store, d *bot.Deployment, now time.Time) bot.GateResult {
	t.Helper()
	r, err := s.EnterGate(context.Background(), d.ID, bot.StateQueued, bot.StateWaitingForCI, now)
	if err != nil {
		t.Fatalf("EnterGate(#%d): %v", d.ID, err)
	}
	want := bot.StateQueued
	if r.Entered {
		want = bot.StateWaitingForCI
	}
	if got := stored(t, s, d.ID).State; got != want {
		t.Errorf("EnterGate(#%d) = %+v and left it %s, want %s", d.ID, r, got, want)
	}
	return r
}

func wantEntered(t *testing.T, s Store, d *bot.Deployment, now time.Time) {
	t.Helper()
	if r := enterGate(t, s, d, now); !r.Entered || r.Behind != nil || r.Lock != nil {
		t.Errorf("#%d at the gate: %+v, want entered", d.ID, r)
	}
}

// wantBehind wants d held by ahead, the head of the queue; next: with no
// one else between them.
func wantBehind(t *testing.T, s Store, d, ahead *bot.Deployment, next bool, now time.Time) {
	t.Helper()
	r := enterGate(t, s, d, now)
	if r.Entered || r.Behind == nil || r.Behind.ID != ahead.ID || r.Next != next || r.Lock != nil {
		t.Errorf("#%d at the gate: %+v, want behind #%d, next %t", d.ID, r, ahead.ID, next)
	}
	if r.Behind != nil && r.Behind.App == "" {
		t.Errorf("#%d waits behind a deployment read without its fields: %+v", d.ID, r.Behind)
	}
}

func wantLocked(t *testing.T, s Store, d *bot.Deployment, owner string, now time.Time) {
	t.Helper()
	r := enterGate(t, s, d, now)
	if r.Entered || r.Behind != nil || r.Lock == nil || r.Lock.Owner != owner {
		t.Errorf("#%d at the gate: %+v, want held by %s's lock", d.ID, r, owner)
	}
}

func end(t *testing.T, s Store, d *bot.Deployment, st bot.State) {
	t.Helper()
	d = stored(t, s, d.ID)
	d.State = st
	if err := s.UpdateDeployment(context.Background(), d); err != nil {
		t.Fatal(err)
	}
}

func testGateFIFO(t *testing.T, s Store) {
	dev := create(t, s, "web", "dev", bot.StateQueued, bot.StateQueued)
	prod := create(t, s, "web", "prod", bot.StateQueued)[0]
	api := create(t, s, "api", "dev", bot.StateQueued)[0]

	wantBehind(t, s, dev[1], dev[0], true, t0)
	wantEntered(t, s, prod, t0)
	wantEntered(t, s, api, t0)
	wantEntered(t, s, dev[0], t0)
	wantBehind(t, s, dev[1], dev[0], true, t0)
	end(t, s, dev[0], bot.StateSucceeded)
	wantEntered(t, s, dev[1], t0)

	// It waits behind the head of the queue, the one past the gate, not
	// the one just before it; that one is next.
	more := create(t, s, "web", "dev", bot.StateQueued, bot.StateQueued, bot.StateQueued)
	wantBehind(t, s, more[2], dev[1], false, t0)
	wantBehind(t, s, more[0], dev[1], true, t0)
	// Ended ones, whatever their end, hold no one.
	end(t, s, dev[1], bot.StateFailed)
	end(t, s, more[0], bot.StateCancelled)
	wantEntered(t, s, more[1], t0)
	wantBehind(t, s, more[2], more[1], true, t0)
}

func testGateLocks(t *testing.T, s Store) {
	ctx := context.Background()
	lock := func(app, env, owner string, expires time.Time) {
		t.Helper()
		if _, err := s.Lock(ctx, &bot.EnvLock{App: app, Env: env, Owner: owner, ExpiresAt: expires}, t0); err != nil {
			t.Fatal(err)
		}
	}
	requester := newDeployment().Requester

	lock("web", "prod", "slack:UOTHER", t0.Add(time.Hour))
	prod := create(t, s, "web", "prod", bot.StateQueued)[0]
	wantLocked(t, s, prod, "slack:UOTHER", t0)
	wantLocked(t, s, prod, "slack:UOTHER", t0.Add(time.Hour-time.Microsecond))
	wantEntered(t, s, prod, t0.Add(time.Hour))

	lock("web", "dev", requester, time.Time{})
	wantEntered(t, s, create(t, s, "web", "dev", bot.StateQueued)[0], t0)

	lock("api", "dev", "github:octocat", time.Time{})
	api := create(t, s, "api", "dev", bot.StateQueued)[0]
	wantLocked(t, s, api, "github:octocat", t0.Add(1000*time.Hour))
	wantEntered(t, s, create(t, s, "api", "staging", bot.StateQueued)[0], t0)
	if _, err := s.Unlock(ctx, "api", "dev", t0); err != nil {
		t.Fatal(err)
	}
	wantEntered(t, s, api, t0)
}

func testGateStateMoved(t *testing.T, s Store) {
	ctx := context.Background()
	ds := create(t, s, "web", "dev", bot.StateQueued, bot.StateReceived)
	if _, err := s.TransitionDeployment(ctx, ds[0].ID, []bot.State{bot.StateQueued}, bot.StateCancelled, "cancelled by slack:U1"); err != nil {
		t.Fatal(err)
	}
	r, err := s.EnterGate(ctx, ds[0].ID, bot.StateQueued, bot.StateWaitingForCI, t0)
	if bot.ErrorCode(err) != bot.ECONFLICT || r.Entered {
		t.Errorf("cancelled at the gate: %+v, %v; want %s", r, err, bot.ECONFLICT)
	}
	if got := stored(t, s, ds[0].ID).State; got != bot.StateCancelled {
		t.Errorf("cancelled deployment is now %s", got)
	}
	// First in line, but not in the state the caller thinks.
	r, err = s.EnterGate(ctx, ds[1].ID, bot.StateQueued, bot.StateWaitingForCI, t0)
	if bot.ErrorCode(err) != bot.ECONFLICT || r.Entered {
		t.Errorf("received at the gate of queued: %+v, %v; want %s", r, err, bot.ECONFLICT)
	}
	if got := stored(t, s, ds[1].ID).State; got != bot.StateReceived {
		t.Errorf("received deployment is now %s", got)
	}
	if _, err := s.EnterGate(ctx, ds[1].ID+1000, bot.StateQueued, bot.StateWaitingForCI, t0); bot.ErrorCode(err) != bot.ENOTFOUND {
		t.Errorf("missing id at the gate: %v, want %s", err, bot.ENOTFOUND)
	}
}
