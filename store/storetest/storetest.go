// Package storetest is the conformance suite every Store passes.
package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Store is everything a deploybot store keeps: every part of bot.Store
// and the leases the dispatcher claims deployments with.
type Store interface {
	bot.Deployments
	bot.Deliveries
	bot.Locks
	bot.Timeline
	bot.Queue
	bot.Approvals

	// ClaimDeployments leases to owner, until expires, up to limit
	// unfinished deployments whose lease is free, expired (before now) or
	// owner's already, oldest first; it increments their Attempts, sets
	// their LeaseOwner and returns them. Replicas claiming at once never
	// get the same deployment.
	ClaimDeployments(ctx context.Context, owner string, now, expires time.Time, limit int) ([]*bot.Deployment, error)
	// ClaimDeployment leases deployment id to owner like ClaimDeployments,
	// if it is unfinished and its lease is free or expired; else ECONFLICT.
	ClaimDeployment(ctx context.Context, id int64, owner string, now, expires time.Time) (*bot.Deployment, error)
	// RenewLease extends owner's lease of id to expires; ECONFLICT when
	// owner no longer holds it (it expired and another replica took it).
	RenewLease(ctx context.Context, id int64, owner string, expires time.Time) error
	// ReleaseLease frees owner's lease of id, if owner holds it.
	ReleaseLease(ctx context.Context, id int64, owner string) error
	// Wake makes every unfinished deployment parked on on claimable now
	// and says how many it made so; it records the wake for deployments
	// about to park (see Park).
	Wake(ctx context.Context, on string, now time.Time) (int, error)
}

// Run runs the suite; open returns a new, empty store for each subtest.
// RunShared holds the tests of several handles on one database.
func Run(t *testing.T, open func(t *testing.T) Store) {
	t.Run("CreateAndRead", func(t *testing.T) { testCreateAndRead(t, open(t)) })
	t.Run("Update", func(t *testing.T) { testUpdate(t, open(t)) })
	t.Run("GitHubIDUnique", func(t *testing.T) { testGitHubIDUnique(t, open(t)) })
	t.Run("NotFound", func(t *testing.T) { testNotFound(t, open(t)) })
	t.Run("RecordDelivery", func(t *testing.T) { testRecordDelivery(t, open(t)) })
	t.Run("HeadChanges", func(t *testing.T) { testHeadChanges(t, open(t)) })
	t.Run("PruneIntake", func(t *testing.T) { testPruneIntake(t, open(t)) })
	t.Run("EndedStaysEnded", func(t *testing.T) { testEndedStaysEnded(t, open(t)) })
	t.Run("ListDeployments", func(t *testing.T) { testListDeployments(t, open(t)) })
	t.Run("Locks", func(t *testing.T) { testLocks(t, open(t)) })
	t.Run("TransitionDeployment", func(t *testing.T) { testTransition(t, open(t)) })
	t.Run("ClaimDeployment", func(t *testing.T) { testClaimOne(t, open(t)) })
	t.Run("Events", func(t *testing.T) { testEvents(t, open(t)) })
	t.Run("ClaimOrderAndLimit", func(t *testing.T) { testClaimOrderAndLimit(t, open(t)) })
	t.Run("ClaimAfterExpiry", func(t *testing.T) { testClaimAfterExpiry(t, open(t)) })
	t.Run("ClaimSkipsEnded", func(t *testing.T) { testClaimSkipsEnded(t, open(t)) })
	t.Run("RenewAndRelease", func(t *testing.T) { testRenewAndRelease(t, open(t)) })
	t.Run("Fencing", func(t *testing.T) { testFencing(t, open(t)) })
	t.Run("GateFIFO", func(t *testing.T) { testGateFIFO(t, open(t)) })
	t.Run("GateLocks", func(t *testing.T) { testGateLocks(t, open(t)) })
	t.Run("GateStateMoved", func(t *testing.T) { testGateStateMoved(t, open(t)) })
	t.Run("ParkUntil", func(t *testing.T) { testParkUntil(t, open(t)) })
	t.Run("Wake", func(t *testing.T) { testWake(t, open(t)) })
	t.Run("WakeBeforePark", func(t *testing.T) { testWakeBeforePark(t, open(t)) })
	t.Run("Pushes", func(t *testing.T) { testPushes(t, open(t)) })
	t.Run("ParkedVersusCrashed", func(t *testing.T) { testParkedVersusCrashed(t, open(t)) })
	t.Run("ClaimFair", func(t *testing.T) { testClaimFair(t, open(t)) })
	t.Run("ClaimFairHeads", func(t *testing.T) { testClaimFairHeads(t, open(t)) })
	t.Run("Approvals", func(t *testing.T) { testApprovals(t, open(t)) })
}

func testTransition(t *testing.T, s Store) {
	ctx := context.Background()
	d := newDeployment()
	d.State = bot.StateWaitingForCI
	if err := s.CreateDeployment(ctx, d); err != nil {
		t.Fatal(err)
	}
	cancellable := []bot.State{bot.StateQueued, bot.StateWaitingForCI}
	got, err := s.TransitionDeployment(ctx, d.ID, cancellable, bot.StateCancelled, "cancelled by slack:U1")
	if err != nil || got.State != bot.StateCancelled || got.Reason != "cancelled by slack:U1" || got.App != d.App {
		t.Fatalf("TransitionDeployment = %+v, %v", got, err)
	}
	got, err = s.TransitionDeployment(ctx, d.ID, cancellable, bot.StateCancelled, "again")
	if bot.ErrorCode(err) != bot.ECONFLICT || got == nil || got.Reason != "cancelled by slack:U1" {
		t.Errorf("second transition = %+v, %v; want the stored deployment and %s", got, err, bot.ECONFLICT)
	}
	if _, err := s.TransitionDeployment(ctx, d.ID+999, cancellable, bot.StateCancelled, ""); bot.ErrorCode(err) != bot.ENOTFOUND {
		t.Errorf("missing id: %v, want %s", err, bot.ENOTFOUND)
	}
}

func testEndedStaysEnded(t *testing.T, s Store) {
	ctx := context.Background()
	d := newDeployment()
	if err := s.CreateDeployment(ctx, d); err != nil {
		t.Fatal(err)
	}
	d.State = bot.StateCancelled
	if err := s.UpdateDeployment(ctx, d); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	d.SlackTS = "1.2"
	if err := s.UpdateDeployment(ctx, d); err != nil {
		t.Errorf("an ended deployment must still take writes that keep its state: %v", err)
	}
	d.State = bot.StateDeploying
	if err := s.UpdateDeployment(ctx, d); bot.ErrorCode(err) != bot.ECONFLICT {
		t.Errorf("moving a cancelled deployment on: %v, want %s", err, bot.ECONFLICT)
	}
	got, err := s.Deployment(ctx, d.ID)
	if err != nil || got.State != bot.StateCancelled {
		t.Errorf("stored state %v (%v), want cancelled", got.State, err)
	}
}

func testListDeployments(t *testing.T, s Store) {
	ctx := context.Background()
	var ids []int64
	for _, c := range []struct {
		app, env string
		state    bot.State
	}{
		{"web", "dev", bot.StateSucceeded}, {"web", "prod", bot.StateSucceeded}, {"web", "dev", bot.StateFailed},
		{"api", "dev", bot.StateSucceeded}, {"web", "dev", bot.StateSucceeded}, {"web", "dev", bot.StateQueued},
	} {
		d := newDeployment()
		d.App, d.Env, d.State = c.app, c.env, c.state
		if err := s.CreateDeployment(ctx, d); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, d.ID)
	}
	idsOf := func(ds []*bot.Deployment) []int64 {
		var out []int64
		for _, d := range ds {
			out = append(out, d.ID)
		}
		return out
	}
	tests := []struct {
		name string
		f    bot.DeploymentFilter
		want []int64
	}{
		{"all", bot.DeploymentFilter{}, []int64{ids[5], ids[4], ids[3], ids[2], ids[1], ids[0]}},
		{"app and env", bot.DeploymentFilter{App: "web", Env: "dev"}, []int64{ids[5], ids[4], ids[2], ids[0]}},
		{"succeeded web dev, last two", bot.DeploymentFilter{App: "web", Env: "dev", States: []bot.State{bot.StateSucceeded}, Limit: 2}, []int64{ids[4], ids[0]}},
		{"two states", bot.DeploymentFilter{States: []bot.State{bot.StateFailed, bot.StateQueued}}, []int64{ids[5], ids[2]}},
		{"no match", bot.DeploymentFilter{App: "nope"}, nil},
	}
	for _, tt := range tests {
		got, err := s.ListDeployments(ctx, tt.f)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if diff := cmp.Diff(idsOf(got), tt.want); diff != "" {
			t.Errorf("%s (-got +want):\n%s", tt.name, diff)
		}
	}
}

func testLocks(t *testing.T, s Store) {
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 12, 0, 0, 123456789, time.UTC)
	if _, err := s.EnvLock(ctx, "web", "prod", now); bot.ErrorCode(err) != bot.ENOTFOUND {
		t.Fatalf("EnvLock before any lock: %v", err)
	}
	alice := &bot.EnvLock{App: "web", Env: "prod", Owner: "slack:UALICE", Reason: "release freeze", ExpiresAt: now.Add(2 * time.Hour)}
	if _, err := s.Lock(ctx, alice, now); err != nil {
		t.Fatalf("Lock: %v", err)
	}
	got, err := s.EnvLock(ctx, "web", "prod", now.Add(time.Hour))
	if err != nil {
		t.Fatalf("EnvLock: %v", err)
	}
	if got.Owner != "slack:UALICE" || got.Reason != "release freeze" || !got.ExpiresAt.Equal(now.Add(2*time.Hour).Truncate(time.Microsecond)) {
		t.Errorf("lock read back as %+v", got)
	}
	if _, err := s.EnvLock(ctx, "web", "dev", now); bot.ErrorCode(err) != bot.ENOTFOUND {
		t.Errorf("another env is locked too: %v", err)
	}

	bob := &bot.EnvLock{App: "web", Env: "prod", Owner: "github:bob", Reason: "mine"}
	held, err := s.Lock(ctx, bob, now.Add(time.Hour))
	if bot.ErrorCode(err) != bot.ECONFLICT || held == nil || held.Owner != "slack:UALICE" {
		t.Errorf("Lock over another's lock = %+v, %v; want alice's lock and %s", held, err, bot.ECONFLICT)
	}
	renewed := &bot.EnvLock{App: "web", Env: "prod", Owner: "slack:UALICE", Reason: "longer freeze"}
	if _, err := s.Lock(ctx, renewed, now.Add(time.Hour)); err != nil {
		t.Errorf("owner renewing: %v", err)
	}
	if got, _ := s.EnvLock(ctx, "web", "prod", now.Add(100*time.Hour)); got == nil || got.Reason != "longer freeze" || !got.ExpiresAt.IsZero() {
		t.Errorf("renewed lock without expiry = %+v", got)
	}

	// An expired lock releases itself: it reads as absent and anyone may lock.
	short := &bot.EnvLock{App: "api", Env: "prod", Owner: "slack:UALICE", ExpiresAt: now.Add(time.Minute)}
	if _, err := s.Lock(ctx, short, now); err != nil {
		t.Fatal(err)
	}
	later := now.Add(time.Minute)
	if _, err := s.EnvLock(ctx, "api", "prod", later); bot.ErrorCode(err) != bot.ENOTFOUND {
		t.Errorf("expired lock still held: %v", err)
	}
	if _, err := s.Lock(ctx, &bot.EnvLock{App: "api", Env: "prod", Owner: "github:bob"}, later); err != nil {
		t.Errorf("locking over an expired lock: %v", err)
	}

	removed, err := s.Unlock(ctx, "web", "prod", now)
	if err != nil || removed.Owner != "slack:UALICE" {
		t.Errorf("Unlock = %+v, %v", removed, err)
	}
	if _, err := s.Unlock(ctx, "web", "prod", now); bot.ErrorCode(err) != bot.ENOTFOUND {
		t.Errorf("second Unlock: %v, want %s", err, bot.ENOTFOUND)
	}
}

func newDeployment() *bot.Deployment {
	return &bot.Deployment{
		App: "takumi-server", Env: "dev", Repo: "takumi/takumi-server", Ref: "cf7edb2",
		Requester: "slack:U024BE7LH", Source: bot.SourceSlack, State: bot.StateReceived,
		SlackChannel: "C1", SlackResponseURL: "https://hooks.slack.com/commands/1/2",
	}
}

var ignoreTimes = cmpopts.IgnoreFields(bot.Deployment{}, "CreatedAt", "UpdatedAt")

func testCreateAndRead(t *testing.T, s Store) {
	ctx := context.Background()
	d := newDeployment()
	d.RolloutRef, d.RollbackOf = "arn:aws:ecs:us-east-1:123:task-definition/web:41", 7
	d.PromotedFrom = &bot.Promotion{Env: "qa", Deployment: 12, Digest: "sha256:ab12"}
	if err := s.CreateDeployment(ctx, d); err != nil {
		t.Fatalf("CreateDeployment: %v", err)
	}
	if d.ID == 0 || d.CreatedAt.IsZero() {
		t.Fatalf("CreateDeployment left ID=%d CreatedAt=%v", d.ID, d.CreatedAt)
	}
	got, err := s.Deployment(ctx, d.ID)
	if err != nil {
		t.Fatalf("Deployment(%d): %v", d.ID, err)
	}
	if diff := cmp.Diff(got, d, ignoreTimes); diff != "" {
		t.Errorf("read back (-got +want):\n%s", diff)
	}
	if !got.CreatedAt.Equal(d.CreatedAt) {
		t.Errorf("CreatedAt = %v, want %v", got.CreatedAt, d.CreatedAt)
	}
	other := newDeployment()
	if err := s.CreateDeployment(ctx, other); err != nil {
		t.Fatalf("second CreateDeployment: %v", err)
	}
	if other.ID == d.ID {
		t.Errorf("two deployments share id %d", d.ID)
	}
	if got, err := s.Deployment(ctx, other.ID); err != nil || got.PromotedFrom != nil {
		t.Errorf("a deployment that is no promotion reads back with PromotedFrom %+v (%v)", got.PromotedFrom, err)
	}
}

func testUpdate(t *testing.T, s Store) {
	ctx := context.Background()
	d := newDeployment()
	if err := s.CreateDeployment(ctx, d); err != nil {
		t.Fatal(err)
	}
	d.SHA = "cf7edb2f0d6e1c5b44e7b1cbe3a6f7e8d9c0b1a2"
	d.Image = "123.dkr.ecr.us-east-1.amazonaws.com/takumi@sha256:abc"
	d.State = bot.StateFailed
	d.Reason = "CI failed"
	d.GitHubDeploymentID = 42
	d.InstallationID = 7
	d.SlackTS = "1700000000.000100"
	d.PRNumber, d.PRCommentID = 12, 4001
	d.EnvironmentURL = "https://dev.example.com"
	d.RolloutRef = "deploybot-cf7edb2-1"
	d.RollbackOf = 3
	d.CommittedAt = time.Date(2026, 11, 30, 9, 15, 2, 345e6, time.UTC)
	if err := s.UpdateDeployment(ctx, d); err != nil {
		t.Fatalf("UpdateDeployment: %v", err)
	}
	got, err := s.DeploymentByGitHubID(ctx, 42)
	if err != nil {
		t.Fatalf("DeploymentByGitHubID: %v", err)
	}
	if diff := cmp.Diff(got, d, ignoreTimes); diff != "" {
		t.Errorf("after update (-got +want):\n%s", diff)
	}
	missing := newDeployment()
	missing.ID = d.ID + 1000
	if err := s.UpdateDeployment(ctx, missing); bot.ErrorCode(err) != bot.ENOTFOUND {
		t.Errorf("UpdateDeployment of a missing id: %v, want %s", err, bot.ENOTFOUND)
	}
}

func testGitHubIDUnique(t *testing.T, s Store) {
	ctx := context.Background()
	a, b := newDeployment(), newDeployment()
	a.GitHubDeploymentID = 99
	if err := s.CreateDeployment(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateDeployment(ctx, b); err != nil {
		t.Fatalf("a second deployment without GitHub id must be allowed: %v", err)
	}
	b.GitHubDeploymentID = 99
	if err := s.UpdateDeployment(ctx, b); bot.ErrorCode(err) != bot.ECONFLICT {
		t.Errorf("reusing GitHub id 99 on update: %v, want %s", err, bot.ECONFLICT)
	}
	c := newDeployment()
	c.GitHubDeploymentID = 99
	if err := s.CreateDeployment(ctx, c); bot.ErrorCode(err) != bot.ECONFLICT {
		t.Errorf("reusing GitHub id 99 on create: %v, want %s", err, bot.ECONFLICT)
	}
}

func testNotFound(t *testing.T, s Store) {
	ctx := context.Background()
	if _, err := s.Deployment(ctx, 12345); bot.ErrorCode(err) != bot.ENOTFOUND {
		t.Errorf("Deployment(12345): %v, want %s", err, bot.ENOTFOUND)
	}
	if _, err := s.DeploymentByGitHubID(ctx, 12345); bot.ErrorCode(err) != bot.ENOTFOUND {
		t.Errorf("DeploymentByGitHubID(12345): %v, want %s", err, bot.ENOTFOUND)
	}
}

func testRecordDelivery(t *testing.T, s Store) {
	ctx := context.Background()
	first, err := s.RecordDelivery(ctx, "72d3162e-cc78-11e3-81ab-4c9367dc0958", "deployment")
	if err != nil || !first {
		t.Fatalf("first RecordDelivery = %v, %v; want true, nil", first, err)
	}
	again, err := s.RecordDelivery(ctx, "72d3162e-cc78-11e3-81ab-4c9367dc0958", "deployment")
	if err != nil || again {
		t.Fatalf("repeated RecordDelivery = %v, %v; want false, nil", again, err)
	}
	if err := s.ForgetDelivery(ctx, "72d3162e-cc78-11e3-81ab-4c9367dc0958"); err != nil {
		t.Fatalf("ForgetDelivery: %v", err)
	}
	if again, err := s.RecordDelivery(ctx, "72d3162e-cc78-11e3-81ab-4c9367dc0958", "deployment"); err != nil || !again {
		t.Fatalf("RecordDelivery after ForgetDelivery = %v, %v; want true, nil", again, err)
	}
	other, err := s.RecordDelivery(ctx, "other", "ping")
	if err != nil || !other {
		t.Fatalf("another RecordDelivery = %v, %v; want true, nil", other, err)
	}
}

func testClaimOne(t *testing.T, s Store) {
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	d := newDeployment()
	if err := s.CreateDeployment(ctx, d); err != nil {
		t.Fatal(err)
	}
	got, err := s.ClaimDeployment(ctx, d.ID, "cli-1", now, now.Add(time.Minute))
	if err != nil || got.LeaseOwner != "cli-1" || got.Attempts != 1 {
		t.Fatalf("ClaimDeployment = %+v, %v", got, err)
	}
	if _, err := s.ClaimDeployment(ctx, d.ID, "server-1", now.Add(time.Second), now.Add(time.Minute)); bot.ErrorCode(err) != bot.ECONFLICT {
		t.Errorf("claiming a held lease: %v, want %s", err, bot.ECONFLICT)
	}
	if others, err := s.ClaimDeployments(ctx, "server-1", now.Add(time.Second), now.Add(time.Minute), 10); err != nil || len(others) != 0 {
		t.Errorf("ClaimDeployments took a held lease: %v, %v", others, err)
	}
	later := now.Add(2 * time.Minute)
	if got, err := s.ClaimDeployment(ctx, d.ID, "server-1", later, later.Add(time.Minute)); err != nil || got.Attempts != 2 {
		t.Errorf("claiming an expired lease = %+v, %v", got, err)
	}
	if _, err := s.ClaimDeployment(ctx, d.ID+999, "x", now, now); bot.ErrorCode(err) != bot.ENOTFOUND {
		t.Errorf("missing id: %v", err)
	}
}

func testEvents(t *testing.T, s Store) {
	ctx := context.Background()
	a, b := newDeployment(), newDeployment()
	for _, d := range []*bot.Deployment{a, b} {
		if err := s.CreateDeployment(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	for i, e := range []bot.Event{
		{DeploymentID: a.ID, Stage: bot.StateQueued, Message: "Queued"},
		{DeploymentID: b.ID, Stage: bot.StateQueued, Message: "Queued behind deployment #1"},
		{DeploymentID: a.ID, Stage: bot.StateDeploying, Message: "registered task definition web:42"},
	} {
		if err := s.AddEvent(ctx, &e); err != nil || e.At.IsZero() {
			t.Fatalf("AddEvent %d: %v (at %v)", i, err, e.At)
		}
	}
	got, err := s.Events(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, e := range got {
		msgs = append(msgs, string(e.Stage)+": "+e.Message)
		if e.At.IsZero() || e.DeploymentID != a.ID {
			t.Errorf("event %+v", e)
		}
	}
	if diff := cmp.Diff(msgs, []string{"queued: Queued", "deploying: registered task definition web:42"}); diff != "" {
		t.Errorf("timeline (-got +want):\n%s", diff)
	}
	if none, err := s.Events(ctx, a.ID+b.ID+100); err != nil || len(none) != 0 {
		t.Errorf("Events of a missing deployment = %v, %v", none, err)
	}
}

// The latest head change of a pull request is kept, whatever order the
// webhooks telling them arrive in.
func testHeadChanges(t *testing.T, s Store) {
	ctx := context.Background()
	if _, err := s.LastHeadChange(ctx, "octo/web", 7); bot.ErrorCode(err) != bot.ENOTFOUND {
		t.Fatalf("LastHeadChange with none recorded: %v, want %s", err, bot.ENOTFOUND)
	}
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	const a, b, c = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "cccccccccccccccccccccccccccccccccccccccc"
	for _, step := range []struct {
		record bot.HeadChange
		want   bot.HeadChange
	}{
		{bot.HeadChange{Repo: "octo/web", Number: 7, SHA: a, At: t0}, bot.HeadChange{SHA: a, At: t0}},
		{bot.HeadChange{Repo: "octo/web", Number: 7, SHA: b, At: t0.Add(time.Minute)}, bot.HeadChange{SHA: b, At: t0.Add(time.Minute)}},
		// Delivered late: an older change does not replace a newer one.
		{bot.HeadChange{Repo: "octo/web", Number: 7, SHA: c, At: t0.Add(30 * time.Second)}, bot.HeadChange{SHA: b, At: t0.Add(time.Minute)}},
		// GitHub ignores the case of repository names.
		{bot.HeadChange{Repo: "Octo/Web", Number: 7, SHA: c, At: t0.Add(2 * time.Minute)}, bot.HeadChange{SHA: c, At: t0.Add(2 * time.Minute)}},
		// Another pull request is another row.
		{bot.HeadChange{Repo: "octo/web", Number: 8, SHA: a, At: t0.Add(time.Hour)}, bot.HeadChange{SHA: c, At: t0.Add(2 * time.Minute)}},
	} {
		if err := s.RecordHeadChange(ctx, step.record); err != nil {
			t.Fatalf("RecordHeadChange(%+v): %v", step.record, err)
		}
		got, err := s.LastHeadChange(ctx, "octo/web", 7)
		if err != nil || got.SHA != step.want.SHA || !got.At.Equal(step.want.At) || got.Number != 7 {
			t.Errorf("after recording %s at %s: LastHeadChange = %+v, %v; want %s at %s", step.record.SHA[:1], step.record.At, got, err, step.want.SHA[:1], step.want.At)
		}
	}
	if got, err := s.LastHeadChange(ctx, "OCTO/WEB", 8); err != nil || got.SHA != a {
		t.Errorf("LastHeadChange of #8 = %+v, %v; want %s", got, err, a)
	}
}

// intakePruner is what serve's retention loop needs of a store, beyond
// Store.
type intakePruner interface {
	PruneIntake(ctx context.Context, before time.Time) (int64, error)
}

// Delivery records and pull request heads older than the cutoff go;
// younger ones stay and still do their work.
func testPruneIntake(t *testing.T, s Store) {
	ctx := context.Background()
	p, ok := s.(intakePruner)
	if !ok {
		t.Fatalf("%T has no PruneIntake(ctx, before) (int64, error)", s)
	}
	const sha = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	for _, key := range []string{"old-delivery", "issue_comment:o/r:1", "slack:v0=abc"} {
		if _, err := s.RecordDelivery(ctx, key, "x"); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RecordHeadChange(ctx, bot.HeadChange{Repo: "o/r", Number: 1, SHA: sha, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	// Stores keep microseconds: the cutoff is the next one after all the
	// old records, and the young ones are written once the clock passed it.
	cutoff := time.Now().Truncate(time.Microsecond).Add(time.Microsecond)
	for !time.Now().After(cutoff) {
	}
	if _, err := s.RecordDelivery(ctx, "young-delivery", "x"); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordHeadChange(ctx, bot.HeadChange{Repo: "o/r", Number: 2, SHA: sha, At: time.Now()}); err != nil {
		t.Fatal(err)
	}

	if n, err := p.PruneIntake(ctx, cutoff.Add(-time.Hour)); err != nil || n != 0 {
		t.Errorf("PruneIntake an hour before everything = %d, %v; want 0", n, err)
	}
	if n, err := p.PruneIntake(ctx, cutoff); err != nil || n != 4 {
		t.Errorf("PruneIntake = %d, %v; want 4 (three deliveries, one head)", n, err)
	}
	for key, wantGone := range map[string]bool{"old-delivery": true, "issue_comment:o/r:1": true, "slack:v0=abc": true, "young-delivery": false} {
		first, err := s.RecordDelivery(ctx, key, "x")
		if err != nil || first != wantGone {
			t.Errorf("RecordDelivery(%s) after pruning = %v, %v; want %v (pruned: %v)", key, first, err, wantGone, wantGone)
		}
	}
	if _, err := s.LastHeadChange(ctx, "o/r", 1); bot.ErrorCode(err) != bot.ENOTFOUND {
		t.Errorf("old head change after pruning: %v; want %s", err, bot.ENOTFOUND)
	}
	if _, err := s.LastHeadChange(ctx, "o/r", 2); err != nil {
		t.Errorf("young head change after pruning: %v; want it kept", err)
	}
}
