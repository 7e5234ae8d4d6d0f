package storetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
	"github.com/google/go-cmp/cmp"
)

// t0 is the clock of the lease and gate tests: stores take time as an
// argument there, so no test waits for a lease to run out.
var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// create stores one deployment of app/env in each of states, in order.
func create(t *testing.T, s Store, app, env string, states ...bot.State) []*bot.Deployment {
	t.Helper()
	var ds []*bot.Deployment
	for _, st := range states {
		d := newDeployment()
		d.App, d.Env, d.State = app, env, st
		if err := s.CreateDeployment(context.Background(), d); err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
	}
	return ds
}

func ids(ds []*bot.Deployment) []int64 {
	var out []int64
	for _, d := range ds {
		out = append(out, d.ID)
	}
	return out
}

func claim(t *testing.T, s Store, owner string, now, expires time.Time, limit int) []*bot.Deployment {
	t.Helper()
	ds, err := s.ClaimDeployments(context.Background(), owner, now, expires, limit)
	if err != nil {
		t.Fatalf("ClaimDeployments(%s): %v", owner, err)
	}
	return ds
}

func stored(t *testing.T, s Store, id int64) *bot.Deployment {
	t.Helper()
	d, err := s.Deployment(context.Background(), id)
	if err != nil {
		t.Fatalf("Deployment(%d): %v", id, err)
	}
	return d
}

// wantLeases checks that ds are, in order, the deployments want, each
// leased to owner after attempts, and read as the store keeps them.
func wantLeases(t *testing.T, s Store, what string, ds []*bot.Deployment, want []int64, owner string, attempts int) {
	t.Helper()
	if diff := cmp.Diff(ids(ds), want); diff != "" {
		t.Fatalf("%s: claimed ids (-got +want):\n%s", what, diff)
	}
	for _, d := range ds {
		if d.LeaseOwner != owner || d.Attempts != attempts {
			t.Errorf("%s: #%d leased to %q after %d attempts, want %q after %d", what, d.ID, d.LeaseOwner, d.Attempts, owner, attempts)
		}
		if diff := cmp.Diff(d, stored(t, s, d.ID)); diff != "" {
			t.Errorf("%s: #%d as claimed differs from the store (-claimed +stored):\n%s", what, d.ID, diff)
		}
	}
}

func testClaimOrderAndLimit(t *testing.T, s Store) {
	ds := create(t, s, "web", "dev", bot.StateQueued, bot.StateQueued, bot.StateWaitingForCI, bot.StateReceived, bot.StateDeploying)
	wantLeases(t, s, "A's first claim", claim(t, s, "A", t0, t0.Add(time.Minute), 2), ids(ds[:2]), "A", 1)
	wantLeases(t, s, "B's claim", claim(t, s, "B", t0, t0.Add(time.Minute), 10), ids(ds[2:]), "B", 1)
	if got := claim(t, s, "C", t0, t0.Add(time.Minute), 10); len(got) != 0 {
		t.Errorf("C claimed %v while A and B hold every lease", ids(got))
	}

	// A's own unexpired leases are not claimed again: A runs them already.
	if got := claim(t, s, "A", t0.Add(30*time.Second), t0.Add(2*time.Minute), 10); len(got) != 0 {
		t.Errorf("A claimed %v, its own live leases, again", ids(got))
	}
	// Renewed by A's heartbeat, A's hold at B's expiry; B's go to C.
	for _, d := range ds[:2] {
		if err := s.RenewLease(context.Background(), d.ID, "A", t0.Add(2*time.Minute)); err != nil {
			t.Fatalf("renew #%d: %v", d.ID, err)
		}
	}
	wantLeases(t, s, "C after B's leases expired", claim(t, s, "C", t0.Add(90*time.Second), t0.Add(3*time.Minute), 10), ids(ds[2:]), "C", 2)

	if got := claim(t, s, "A", t0, t0.Add(time.Minute), 0); len(got) != 0 {
		t.Errorf("limit 0 claimed %v", ids(got))
	}
	if _, err := s.ClaimDeployments(context.Background(), "", t0, t0.Add(time.Minute), 1); bot.ErrorCode(err) != bot.EINVALID {
		t.Errorf("claim without owner: %v, want %s", err, bot.EINVALID)
	}
}

func testClaimAfterExpiry(t *testing.T, s Store) {
	ds := create(t, s, "web", "dev", bot.StateQueued, bot.StateDeploying)
	expires := t0.Add(time.Minute)
	wantLeases(t, s, "A", claim(t, s, "A", t0, expires, 10), ids(ds), "A", 1)
	if got := claim(t, s, "B", expires, expires.Add(time.Minute), 10); len(got) != 0 {
		t.Errorf("B claimed %v at the instant A's leases expire; a lease holds until then", ids(got))
	}
	later := expires.Add(time.Millisecond)
	wantLeases(t, s, "B after expiry", claim(t, s, "B", later, later.Add(time.Minute), 10), ids(ds), "B", 2)
	if got := claim(t, s, "A", later, later.Add(time.Minute), 10); len(got) != 0 {
		t.Errorf("A claimed %v back from B's live leases", ids(got))
	}
	// An owner that let its own lease run out may have stopped running it:
	// taking it again is a new attempt.
	muchLater := later.Add(time.Hour)
	wantLeases(t, s, "B after its own expiry", claim(t, s, "B", muchLater, muchLater.Add(time.Minute), 10), ids(ds), "B", 3)
}

func testClaimSkipsEnded(t *testing.T, s Store) {
	ctx := context.Background()
	ds := create(t, s, "web", "dev", bot.StateSucceeded, bot.StateFailed, bot.StateQueued, bot.StateCancelled,
		bot.StateRolledBack, bot.StateRollingBack, bot.StateVerifyingHealth)
	unfinished := []*bot.Deployment{ds[2], ds[5], ds[6]}
	got := claim(t, s, "A", t0, t0.Add(time.Minute), 100)
	wantLeases(t, s, "unfinished", got, ids(unfinished), "A", 1)

	// One that ends while leased stays unclaimed once its lease runs out.
	got[0].State = bot.StateSucceeded
	if err := s.UpdateDeployment(ctx, got[0]); err != nil {
		t.Fatal(err)
	}
	later := t0.Add(time.Hour)
	wantLeases(t, s, "after one ended", claim(t, s, "B", later, later.Add(time.Minute), 100), ids(unfinished[1:]), "B", 2)
}

func testRenewAndRelease(t *testing.T, s Store) {
	ctx := context.Background()
	ds := create(t, s, "web", "dev", bot.StateQueued, bot.StateQueued)
	d, untaken := ds[0], ds[1]
	claim(t, s, "A", t0, t0.Add(time.Minute), 10)

	if err := s.RenewLease(ctx, d.ID, "A", t0.Add(5*time.Minute)); err != nil {
		t.Fatalf("A renewing its lease: %v", err)
	}
	// A lease that expired but that no one took may still be renewed.
	if err := s.RenewLease(ctx, untaken.ID, "A", t0.Add(5*time.Minute)); err != nil {
		t.Fatalf("A renewing its expired, untaken lease: %v", err)
	}
	if got := claim(t, s, "B", t0.Add(2*time.Minute), t0.Add(3*time.Minute), 10); len(got) != 0 {
		t.Errorf("B claimed %v from renewed leases", ids(got))
	}
	if err := s.RenewLease(ctx, d.ID, "B", t0.Add(time.Hour)); bot.ErrorCode(err) != bot.ECONFLICT {
		t.Errorf("B renewing A's lease: %v, want %s", err, bot.ECONFLICT)
	}
	if err := s.RenewLease(ctx, d.ID+1000, "A", t0.Add(time.Hour)); bot.ErrorCode(err) != bot.ENOTFOUND {
		t.Errorf("renewing a missing deployment: %v, want %s", err, bot.ENOTFOUND)
	}

	if err := s.ReleaseLease(ctx, d.ID, "B"); err != nil {
		t.Errorf("B releasing a lease it does not hold: %v", err)
	}
	if got := stored(t, s, d.ID).LeaseOwner; got != "A" {
		t.Errorf("after B's release the lease is %q's, want A's", got)
	}
	if err := s.ReleaseLease(ctx, d.ID, "A"); err != nil {
		t.Fatalf("A releasing: %v", err)
	}
	if got := stored(t, s, d.ID).LeaseOwner; got != "" {
		t.Errorf("after A's release the lease is %q's", got)
	}
	if err := s.ReleaseLease(ctx, d.ID, "A"); err != nil {
		t.Errorf("releasing twice: %v", err)
	}
	if err := s.RenewLease(ctx, d.ID, "A", t0.Add(time.Hour)); bot.ErrorCode(err) != bot.ECONFLICT {
		t.Errorf("renewing a released lease: %v, want %s", err, bot.ECONFLICT)
	}
	// Released before it expired: free at once.
	wantLeases(t, s, "B after A's release", claim(t, s, "B", t0.Add(2*time.Minute), t0.Add(3*time.Minute), 10), ids(ds[:1]), "B", 2)
}

func testFencing(t *testing.T, s Store) {
	ctx := context.Background()
	create(t, s, "web", "dev", bot.StateQueued)
	a := claim(t, s, "A", t0, t0.Add(time.Minute), 1)[0]
	a.State = bot.StateWaitingForCI
	if err := s.UpdateDeployment(ctx, a); err != nil {
		t.Fatalf("A writing under its lease: %v", err)
	}

	b := claim(t, s, "B", t0.Add(2*time.Minute), t0.Add(3*time.Minute), 1)[0]
	if b.ID != a.ID || b.Attempts != 2 || b.State != bot.StateWaitingForCI {
		t.Fatalf("B took over %+v", b)
	}
	a.State, a.Reason, a.Image = bot.StateDeploying, "stale", "stale-image"
	if err := s.UpdateDeployment(ctx, a); bot.ErrorCode(err) != bot.ECONFLICT {
		t.Errorf("A writing after B took over: %v, want %s", err, bot.ECONFLICT)
	}
	if got := stored(t, s, a.ID); got.State != bot.StateWaitingForCI || got.Reason != "" || got.Image != "" || got.LeaseOwner != "B" {
		t.Errorf("A's fenced write reached the store: %+v", got)
	}

	b.State = bot.StateVerifyingImage
	b.Attempts = 100 // the lease methods alone write attempts
	if err := s.UpdateDeployment(ctx, b); err != nil {
		t.Fatalf("B writing under its lease: %v", err)
	}
	if got := stored(t, s, b.ID); got.State != bot.StateVerifyingImage || got.Attempts != 2 || got.LeaseOwner != "B" {
		t.Errorf("after B's write: state %s, %d attempts, lease %q; want %s, 2, B", got.State, got.Attempts, got.LeaseOwner, bot.StateVerifyingImage)
	}

	// Without a lease owner the write is not fenced, and keeps the lease.
	u := stored(t, s, b.ID)
	u.LeaseOwner, u.SlackTS = "", "1700000000.000200"
	if err := s.UpdateDeployment(ctx, u); err != nil {
		t.Fatalf("unfenced write: %v", err)
	}
	if got := stored(t, s, b.ID); got.SlackTS != u.SlackTS || got.LeaseOwner != "B" {
		t.Errorf("after an unfenced write: slack ts %q, lease %q", got.SlackTS, got.LeaseOwner)
	}

	if err := s.ReleaseLease(ctx, b.ID, "B"); err != nil {
		t.Fatal(err)
	}
	b.State = bot.StateDeploying
	if err := s.UpdateDeployment(ctx, b); bot.ErrorCode(err) != bot.ECONFLICT {
		t.Errorf("B writing after releasing: %v, want %s", err, bot.ECONFLICT)
	}

	missing := newDeployment()
	missing.ID, missing.LeaseOwner = b.ID+1000, "B"
	if err := s.UpdateDeployment(ctx, missing); bot.ErrorCode(err) != bot.ENOTFOUND {
		t.Errorf("fenced write of a missing id: %v, want %s", err, bot.ENOTFOUND)
	}
}

type fairClaimer interface {
	ClaimFair(ctx context.Context, owner string, now, expires time.Time, q bot.ClaimQuota) ([]bot.Claim, error)
}

// A fair claim takes rollbacks first, then deployments with nothing ahead
// of them, each requester and environment within its share; a redeploy of
// a sha that succeeded on the environment counts as a rollback.
func testClaimFair(t *testing.T, s Store) {
	ctx := context.Background()
	fs, ok := s.(fairClaimer)
	if !ok {
		t.Fatalf("%T has no ClaimFair", s)
	}
	add := func(requester, env, sha string, st bot.State) int64 {
		d := newDeployment()
		d.Requester, d.Env, d.SHA, d.State = requester, env, sha, st
		if err := s.CreateDeployment(ctx, d); err != nil {
			t.Fatal(err)
		}
		return d.ID
	}
	shaA, shaB := strings.Repeat("a", 40), strings.Repeat("b", 40)
	add("slack:UOTHER", "prod", shaA, bot.StateSucceeded)
	var flood []int64
	for range 4 {
		flood = append(flood, add("slack:UFLOOD", "dev", shaB, bot.StateReceived))
	}
	deploy := add("slack:UOTHER", "prod", shaB, bot.StateReceived)
	rollback := add("slack:UOTHER", "prod", shaA, bot.StateReceived)

	quota := func() bot.ClaimQuota {
		return bot.ClaimQuota{Slots: 4, OtherSlots: 3, PerRequester: 2, PerEnv: 2}
	}
	got, err := fs.ClaimFair(ctx, "server-1", t0, t0.Add(time.Minute), quota())
	if err != nil {
		t.Fatal(err)
	}
	type claimed struct {
		ID       int64
		Rollback bool
		Owner    string
	}
	var have []claimed
	for _, c := range got {
		have = append(have, claimed{c.Deployment.ID, c.Rollback, c.Deployment.LeaseOwner})
	}
	want := []claimed{{rollback, true, "server-1"}, {flood[0], false, "server-1"}, {deploy, false, "server-1"}, {flood[1], false, "server-1"}}
	if diff := cmp.Diff(want, have); diff != "" {
		t.Errorf("ClaimFair (-want +got):\n%s", diff)
	}
	got, err = fs.ClaimFair(ctx, "server-2", t0, t0.Add(time.Minute), quota())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Deployment.ID != flood[2] || got[1].Deployment.ID != flood[3] {
		t.Errorf("second replica's ClaimFair = %v, want the rest of the flood %v", got, flood[2:])
	}
}

// A fair claim reads the head of every environment's queue, however far
// behind the oldest claimable rows it is and whatever app it is of: the
// head starts before rows queued behind others.
func testClaimFairHeads(t *testing.T, s Store) {
	ctx := context.Background()
	fs, ok := s.(fairClaimer)
	if !ok {
		t.Fatalf("%T has no ClaimFair", s)
	}
	add := func(app, env string, st bot.State) int64 {
		d := newDeployment()
		d.App, d.Env, d.State = app, env, st
		if err := s.CreateDeployment(ctx, d); err != nil {
			t.Fatal(err)
		}
		return d.ID
	}
	// More than a claim reads of the oldest, all behind a running one.
	running := add("takumi-server", "dev", bot.StateReceived)
	for range 100 {
		add("takumi-server", "dev", bot.StateReceived)
	}
	if _, err := s.ClaimDeployment(ctx, running, "cli-1", t0, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	add("worker", "dev", bot.StateFailed)
	// Heads of environments before, within and after takumi-server's.
	want := []int64{
		add("takumi-server", "qa", bot.StateReceived),
		add("api", "prod", bot.StateReceived),
		add("worker", "dev", bot.StateReceived),
	}
	add("api", "prod", bot.StateReceived)
	got, err := fs.ClaimFair(ctx, "server-1", t0, t0.Add(time.Minute),
		bot.ClaimQuota{Slots: 3, OtherSlots: 3, PerRequester: 200, PerEnv: 200})
	if err != nil {
		t.Fatal(err)
	}
	var have []int64
	for _, c := range got {
		have = append(have, c.Deployment.ID)
	}
	if diff := cmp.Diff(want, have); diff != "" {
		t.Errorf("ClaimFair (-want +got):\n%s", diff)
	}
}
