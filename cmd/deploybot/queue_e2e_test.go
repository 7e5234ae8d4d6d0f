package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/dispatch"
	"github.com/deploybot/deploybot/ghclient"
	"github.com/deploybot/deploybot/store/sqlite"
)

// waitState polls the store until deployment id is in state.
func waitState(t *testing.T, sb *sandbox, id int64, state bot.State) *bot.Deployment {
	t.Helper()
	var d *bot.Deployment
	waitFor(t, fmt.Sprintf("deployment #%d to be %s", id, state), 30*time.Second, func() bool {
		var err error
		d, err = sb.bot.store.Deployment(context.Background(), id)
		return err == nil && d.State == state
	})
	return d
}

// waitMessage waits until deployment id's Slack message says text and
// returns the deployment as stored then. The message's timestamp is saved
// only after the message is posted, so the deployment is read anew.
func waitMessage(t *testing.T, sb *sandbox, id int64, text string) *bot.Deployment {
	t.Helper()
	var d *bot.Deployment
	waitFor(t, fmt.Sprintf("deployment #%d's message to say %q", id, text), 10*time.Second, func() bool {
		var err error
		if d, err = sb.bot.store.Deployment(context.Background(), id); err != nil || d.SlackTS == "" {
			return false
		}
		m, _ := sb.slack.Message(d.SlackChannel, d.SlackTS)
		return strings.Contains(m.Text, text)
	})
	return d
}

// CI pending, then green: the wait is woken by GitHub's status webhook
// (the poll is set to an hour, so nothing else could wake it) and the
// deployment goes on.
func TestCIPendingThenSuccessWebhookWakes(t *testing.T) {
	sb := newTestSandbox(t)
	sb.bot.service.CIPoll = bot.Backoff{Initial: time.Hour, Max: time.Hour}
	sha := sb.commit("ci later", "main", "pending", true)
	id, err := sb.slashAccepted(context.Background(), "takumi-server main dev")
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, sb, id, bot.StateWaitingForCI)

	sb.github.SetStatus(sandboxRepo, sha, sandboxCheck, "success")
	payload, _ := json.Marshal(map[string]any{"sha": sha, "state": "success", "context": sandboxCheck,
		"repository": map[string]any{"full_name": sandboxRepo}})
	if err := sb.github.SendWebhook("status", payload); err != nil {
		t.Fatal(err)
	}
	d, err := sb.wait(context.Background(), id)
	if err != nil || d.State != bot.StateSucceeded {
		t.Fatalf("after green CI: %+v, %v", d, err)
	}
}

// CI that never finishes fails the deployment at ci_timeout, naming what
// is still pending, and nothing reaches AWS.
func TestCIPendingTimesOut(t *testing.T) {
	sb := newTestSandbox(t)
	sb.cfg.Apps[sandboxApp].CITimeout = bot.Duration(300 * time.Millisecond)
	sb.commit("ci never", "main", "pending", true)
	id, err := sb.slashAccepted(context.Background(), "takumi-server main dev")
	if err != nil {
		t.Fatal(err)
	}
	d, err := sb.wait(context.Background(), id)
	if err != nil || d.State != bot.StateFailed || !strings.Contains(d.Reason, "CI did not finish within 300ms; still pending: "+sandboxCheck) {
		t.Fatalf("deployment %+v, %v", d, err)
	}
	if n := len(sb.aws.Calls()); n != 0 {
		t.Errorf("%d AWS calls", n)
	}
	st := sb.github.Statuses(sandboxRepo, d.GitHubDeploymentID)
	if last := st[len(st)-1]; last.State != "failure" {
		t.Errorf("final status %s, want failure", last.State)
	}
}

// Two deployments to one environment asked for together run one after the
// other, in order; a queued one can be cancelled, and one held by a lock
// waits for the unlock.
func TestQueuePerEnvironment(t *testing.T) {
	sb := newTestSandbox(t)
	ctx := context.Background()
	first := sb.commit("queue first", "first", "pending", true)
	second := sb.commit("queue second", "second", "success", true)
	third := sb.commit("queue third", "third", "success", true)

	a, err := sb.slashAccepted(ctx, "takumi-server first dev")
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, sb, a, bot.StateWaitingForCI)
	b, err := sb.slashAccepted(ctx, "takumi-server second dev")
	if err != nil {
		t.Fatal(err)
	}
	c, err := sb.slashAccepted(ctx, "takumi-server third dev")
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, sb, b, bot.StateQueued)
	db := waitMessage(t, sb, b, fmt.Sprintf("Queued behind deployment #%d", a))
	st := sb.github.Statuses(sandboxRepo, db.GitHubDeploymentID)
	if last := st[len(st)-1]; last.State != "queued" || !strings.Contains(last.Description, fmt.Sprintf("#%d", a)) {
		t.Errorf("GitHub status of the queued one: %+v", last)
	}

	// Only the one next in line rechecks the gate each minute unwoken;
	// the one behind it cannot pass before it, and waits for the wake
	// its end brings (or, should that wake be lost, a longer timer).
	parked := func(id int64) *bot.Deployment {
		t.Helper()
		for range 200 {
			if d, err := sb.bot.store.Deployment(ctx, id); err == nil && d.LeaseOwner == "" && d.Wait.On != "" {
				return d
			}
			time.Sleep(25 * time.Millisecond)
		}
		t.Fatalf("deployment #%d never parked", id)
		return nil
	}
	if until := time.Until(parked(b).Wait.Until); until > time.Minute {
		t.Errorf("the one next in line parked for %s, want a recheck within a minute", until)
	}
	if until := time.Until(parked(c).Wait.Until); until < 9*time.Minute {
		t.Errorf("the one behind it parked for %s, want about 10 min", until)
	}

	// Cancel the middle one while it is queued.
	if _, reply, _ := sb.slash(ctx, sandboxUser, fmt.Sprintf("cancel %d", b)); !strings.Contains(reply, "cancelled") {
		t.Fatalf("cancel reply %q", reply)
	}
	// Let the first through.
	sb.github.SetStatus(sandboxRepo, first, sandboxCheck, "success")
	da, errA := sb.wait(ctx, a)
	dc, errC := sb.wait(ctx, c)
	if errA != nil || errC != nil || da.State != bot.StateSucceeded || dc.State != bot.StateSucceeded {
		t.Fatalf("first %v %v, third %v %v", da.State, errA, dc.State, errC)
	}
	if d, _ := sb.bot.store.Deployment(ctx, b); d.State != bot.StateCancelled {
		t.Errorf("the cancelled one ended %s", d.State)
	}
	if da.UpdatedAt.After(dc.UpdatedAt) {
		t.Errorf("the first ended after the third")
	}
	if overlaps := sb.aws.OverlappingRollouts(); len(overlaps) != 0 {
		t.Errorf("overlapping rollouts: %v", overlaps)
	}
	if n := sb.aws.CallCount("UpdateService"); n != 2 {
		t.Errorf("UpdateService called %d times, want 2", n)
	}
	td, _ := sb.aws.Service(sandboxCluster, sandboxService)
	if sb.aws.TaskDefinitionImage(td, sandboxContainer) != dc.Image || !strings.Contains(dc.Image, "@sha256:") {
		t.Errorf("dev does not run the third deployment's image")
	}
	if dc.SHA != third {
		t.Errorf("third deployment ran %s, want %s", dc.SHA, third)
	}
	if db, _ := sb.bot.store.Deployment(ctx, b); db.SHA != second {
		t.Errorf("cancelled deployment was for %s, want %s", db.SHA, second)
	}
}

// A lock taken while a deployment waits holds it for everyone but the
// owner; unlocking lets it go.
func TestLockHoldsTheQueue(t *testing.T) {
	sb := newTestSandbox(t)
	ctx := context.Background()
	sha := sb.commit("held", "main", "pending", true)
	id, err := sb.slashAccepted(ctx, "takumi-server main dev")
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, sb, id, bot.StateWaitingForCI)
	// A second deployment, asked for before the lock, then the lock by
	// someone else.
	other := sb.commit("held 2", "other", "success", true)
	id2, err := sb.slashAccepted(ctx, "takumi-server other dev")
	if err != nil {
		t.Fatal(err)
	}
	if _, reply, _ := sb.slash(ctx, "ULOCKER", "lock takumi-server dev maintenance"); !strings.Contains(reply, "locked") {
		t.Fatalf("lock reply %q", reply)
	}
	sb.github.SetStatus(sandboxRepo, sha, sandboxCheck, "success")
	if d, err := sb.wait(ctx, id); err != nil || d.State != bot.StateSucceeded {
		t.Fatalf("the one past the gate before the lock: %+v %v", d, err)
	}
	waitState(t, sb, id2, bot.StateQueued)
	waitMessage(t, sb, id2, "Held: takumi-server dev is locked by <@ULOCKER>: maintenance")
	if _, reply, _ := sb.slash(ctx, "ULOCKER", "unlock takumi-server dev"); !strings.Contains(reply, "unlocked") {
		t.Fatalf("unlock reply %q", reply)
	}
	if d, err := sb.wait(ctx, id2); err != nil || d.State != bot.StateSucceeded || d.SHA != other {
		t.Fatalf("after unlock: %+v %v", d, err)
	}
}

// A deployment whose first attempt created the GitHub deployment and died
// before saving its id is resumed onto that GitHub deployment, not a
// second one left pending forever.
func TestResumeFindsEarlierGitHubDeployment(t *testing.T) {
	sb := newTestSandbox(t)
	ctx := context.Background()
	sha := sb.commit("resume gh", "main", "success", true)
	svc, db, gh, _ := standaloneService(t, sb)
	d, err := svc.Accept(ctx, bot.Request{App: sandboxApp, Env: "dev", Ref: "main", SHA: sha, Requester: "slack:" + sandboxUser, Source: bot.SourceSlack})
	if err != nil {
		t.Fatal(err)
	}
	earlier, err := gh.CreateDeployment(ctx, bot.Repo{FullName: sandboxRepo}, bot.GitHubDeploymentRequest{
		SHA: sha, Environment: "dev", Payload: bot.DeploymentPayload{App: sandboxApp, DeploybotID: d.ID},
	})
	if err != nil {
		t.Fatal(err)
	}
	long := time.Now().Add(-time.Hour)
	if _, err := db.ClaimDeployment(ctx, d.ID, "dead-replica", long, long.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := dispatcherFor(svc).RunOne(ctx, d); err != nil {
		t.Fatalf("resumed run: %v", err)
	}
	if d.State != bot.StateSucceeded || d.GitHubDeploymentID != earlier || d.Attempts != 2 {
		t.Fatalf("resumed deployment %+v; want success on GitHub deployment %d at attempt 2", d, earlier)
	}
	if n := len(sb.github.Deployments(sandboxRepo)); n != 1 {
		t.Errorf("%d GitHub deployments, want the earlier one only", n)
	}
	st := sb.github.Statuses(sandboxRepo, earlier)
	if len(st) == 0 || st[len(st)-1].State != "success" {
		t.Errorf("statuses on the earlier deployment: %+v", st)
	}
}

// standaloneService is a bot service on the sandbox's emulators but with a
// store of its own and no dispatcher, so that nothing claims a deployment
// before the test has played an earlier, interrupted attempt.
func standaloneService(t *testing.T, sb *sandbox) (*bot.Service, *sqlite.DB, *ghclient.Client, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "standalone.db")
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	gh, err := ghclientForSandbox(sb)
	if err != nil {
		t.Fatal(err)
	}
	svc := &bot.Service{Config: sb.cfg, Store: db.Ports(), GitHub: gh, Images: sb.bot.service.Images, Deployers: sb.bot.service.Deployers,
		CIPoll: bot.Backoff{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond}, Logger: slog.New(slog.DiscardHandler)}
	return svc, db, gh, path
}

// dispatcherFor runs svc's deployments one at a time, as `deploybot
// deploy` does.
func dispatcherFor(svc *bot.Service) *dispatch.Dispatcher {
	return &dispatch.Dispatcher{Store: svc.Store.Deployments.(dispatch.Store), Runner: svc, Logger: svc.Logger}
}

// ghclientForSandbox is a GitHub client with the bot's own credentials.
func ghclientForSandbox(sb *sandbox) (*ghclient.Client, error) {
	return ghclient.New(ghclient.Config{APIURL: sb.cfg.GitHub.APIURL, AppID: sb.cfg.GitHub.AppID, PrivateKey: []byte(sb.cfg.GitHub.PrivateKey)})
}

// A deployment that waited for CI and then saw it fail fails naming the
// check, and nothing reaches AWS.
func TestCIPendingThenFailureNamesTheCheck(t *testing.T) {
	sb := newTestSandbox(t)
	sha := sb.commit("ci red later", "main", "pending", true)
	id, err := sb.slashAccepted(context.Background(), "takumi-server main dev")
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, sb, id, bot.StateWaitingForCI)
	// A failing check the app does not require changes nothing; the
	// required one failing fails the deployment.
	sb.github.SetCheckRun(sandboxRepo, sha, "lint", "completed", "failure")
	sb.github.SetStatus(sandboxRepo, sha, sandboxCheck, "error")
	d, err := sb.wait(context.Background(), id)
	if err != nil || d.State != bot.StateFailed || !strings.Contains(d.Reason, sandboxCheck+" (failure)") || strings.Contains(d.Reason, "lint") {
		t.Fatalf("deployment %+v, %v; want failed naming %s only", d, err, sandboxCheck)
	}
	if n := len(sb.aws.Calls()); n != 0 {
		t.Errorf("%d AWS calls", n)
	}
}

// ci_timeout counts from the first wait: a deployment resumed long after
// it began waiting for CI times out at once instead of waiting anew.
func TestCITimeoutCountsFromTheFirstWait(t *testing.T) {
	sb := newTestSandbox(t)
	ctx := context.Background()
	sha := sb.commit("ci forever", "main", "pending", true)
	svc, _, _, path := standaloneService(t, sb)
	d, err := svc.Accept(ctx, bot.Request{App: sandboxApp, Env: "dev", Ref: "main", SHA: sha, Requester: "slack:" + sandboxUser, Source: bot.SourceSlack})
	if err != nil {
		t.Fatal(err)
	}
	// A first attempt reached the CI wait and was interrupted.
	first, cancel := context.WithCancel(ctx)
	svc.Progress = func(d *bot.Deployment, line string) {
		if d.State == bot.StateWaitingForCI {
			cancel()
		}
	}
	_ = dispatcherFor(svc).RunOne(first, d)
	if d.State != bot.StateWaitingForCI {
		t.Fatalf("first attempt stopped in %s", d.State)
	}
	// Its wait began an hour ago, as far as the timeline knows.
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`UPDATE deployment_events SET at = ? WHERE deployment_id = ?`, time.Now().Add(-time.Hour).UTC(), d.ID); err != nil {
		t.Fatal(err)
	}
	svc.Progress = nil
	sb.cfg.Apps[sandboxApp].CITimeout = bot.Duration(30 * time.Minute)
	second, stop := context.WithTimeout(ctx, 20*time.Second)
	defer stop()
	err = dispatcherFor(svc).RunOne(second, d)
	if second.Err() != nil {
		t.Fatal("the resumed deployment waited for CI anew")
	}
	if err == nil || d.State != bot.StateFailed || !strings.Contains(d.Reason, "CI did not finish within 30m0s") {
		t.Fatalf("resumed deployment %s: %q (%v)", d.State, d.Reason, err)
	}
}
