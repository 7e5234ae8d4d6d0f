package bot_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/bot/bottest"
)

// runParked claims d and runs it as a replica does, until it parks or
// ends; it returns the deployment as the store then has it.
func runParked(t *testing.T, w *bottest.World, id int64) *bot.Deployment {
	t.Helper()
	ctx := context.Background()
	d, err := w.Store.ClaimDeployment(ctx, id, w.Service.Owner, w.Clock.Now(), w.Clock.Now().Add(time.Minute))
	if err != nil {
		t.Fatalf("claim #%d: %v", id, err)
	}
	if err := w.Service.RunClaimed(ctx, d, func(context.Context) {}); err != nil && !errors.Is(err, bot.ErrParked) {
		t.Fatalf("run #%d: %v", id, err)
	}
	return stored(t, w, id)
}

// runEnded claims deployment id and runs it under ctx, as a replica
// does, expecting its run to end in an error: the deployment was ended
// elsewhere meanwhile. It returns the deployment as the store has it.
func runEnded(ctx context.Context, t *testing.T, w *bottest.World, id int64) *bot.Deployment {
	t.Helper()
	claimed, err := w.Store.ClaimDeployment(ctx, id, w.Service.Owner, w.Clock.Now(), w.Clock.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Service.RunClaimed(ctx, claimed, func(context.Context) {}); err == nil {
		t.Errorf("the run of #%d, ended elsewhere, returned no error", id)
	}
	return stored(t, w, id)
}

// told fails t unless the requester is told why d waits, on every medium
// (GitHub's status, the Slack message, the dashboard's Waiting), and
// nothing else about a wait.
func told(t *testing.T, w *bottest.World, d *bot.Deployment, why string) {
	t.Helper()
	last := w.GitHub.LastStatus(d.GitHubDeploymentID)
	if last.State != "queued" || !strings.Contains(last.Description, why) {
		t.Errorf("GitHub status %s %q; want queued %q", last.State, last.Description, why)
	}
	if text := slackText(t, w, d); !strings.Contains(text, why) {
		t.Errorf("Slack message %q; want it to say %q", text, why)
	}
	if got := d.Waiting(); !strings.Contains(got, why) {
		t.Errorf("Waiting() = %q; want %q", got, why)
	}
}

// Every kind of wait says why the deployment has not started, and stops
// saying it once the wait is over: the queue's note does not outlive the
// queue, nor CI's the CI wait (DESIGN: "keep it true").
func TestWaitingIsToldAndUntold(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig()
	cfg.Apps["web"].Environments["prod"].Approvals = 2
	w := bottest.NewWorld(t, cfg)
	w.Images.Push(ecr+"/web", "git_"+sha2[:7], digest)
	w.Service.Scheduler = stopsHere{}

	ahead := seed(t, w, "web", "prod", sha1, bot.StateWaitingForCI)
	d := accept(t, w, "web", sha2, "prod", "slack:UADMIN")
	got := runParked(t, w, d.ID)
	told(t, w, got, "Queued behind deployment #1 (cf7edb2)")

	if _, err := w.Service.Lock(ctx, "web", "prod", "slack:UOPS", "freeze", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Service.Cancel(ctx, ahead.ID, "slack:UADMIN"); err != nil {
		t.Fatal(err)
	}
	got = runParked(t, w, d.ID)
	told(t, w, got, "Held: web prod is locked by")

	if _, err := w.Service.Unlock(ctx, "web", "prod", "slack:UOPS"); err != nil {
		t.Fatal(err)
	}
	w.GitHub.SetChecks(sha2, green("lint"), check("ci/test", bot.CheckPending))
	got = runParked(t, w, d.ID)
	if got.State != bot.StateWaitingForCI {
		t.Fatalf("state %s, want waiting_for_ci", got.State)
	}
	told(t, w, got, "Waiting for CI: lint success, ci/test pending")

	w.GitHub.SetChecks(sha2, green("lint"), green("ci/test"))
	got = runParked(t, w, d.ID)
	if got.State != bot.StateWaitingForApproval {
		t.Fatalf("state %s, want waiting_for_approval", got.State)
	}
	told(t, w, got, "aiting for approval (0 of 2)")
	if _, err := w.Service.Approve(ctx, d.ID, "slack:UOPS"); err != nil {
		t.Fatal(err)
	}
	got = runParked(t, w, d.ID)
	told(t, w, got, "Waiting for approval (1 of 2)")

	if _, err := w.Service.Approve(ctx, d.ID, "github:octocat"); err != nil {
		t.Fatal(err)
	}
	got = runParked(t, w, d.ID)
	if got.State != bot.StateSucceeded || got.Waiting() != "" {
		t.Errorf("after its approvals: %s, Waiting() = %q; want succeeded, not waiting", got.State, got.Waiting())
	}
	if last := w.GitHub.LastStatus(got.GitHubDeploymentID); last.State != "success" {
		t.Errorf("final GitHub status %+v", last)
	}
}

// Waiting names only the wait of the deployment's current stage: the
// store keeps the last wait after it is over.
func TestWaitingOnlyForTheCurrentStage(t *testing.T) {
	tests := []struct {
		state bot.State
		on    string
		want  string
	}{
		{bot.StateQueued, bot.WaitForGate("web", "dev"), "note"},
		{bot.StateWaitingForCI, bot.WaitForCI(sha1), "note"},
		{bot.StateWaitingForApproval, bot.WaitForApproval(1), "note"},
		{bot.StateWaitingForCI, bot.WaitForGate("web", "dev"), ""},
		{bot.StateWaitingForApproval, bot.WaitForCI(sha1), ""},
		{bot.StateDeploying, bot.WaitForCI(sha1), ""},
		{bot.StateCancelled, bot.WaitForGate("web", "dev"), ""},
	}
	for _, tt := range tests {
		d := &bot.Deployment{State: tt.state, Wait: bot.Wait{On: tt.on, Note: "note"}}
		if got := d.Waiting(); got != tt.want {
			t.Errorf("%s waiting on %s: Waiting() = %q, want %q", tt.state, tt.on, got, tt.want)
		}
	}
}

// A deployment cancelled while its run reads the gate is not shown
// waiting in the queue after its end was told.
func TestCancelledAtTheGateIsNotShownWaiting(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.Service.Scheduler = stopsHere{}
	seed(t, w, "web", "dev", sha1, bot.StateDeploying)
	d := accept(t, w, "web", sha2, "dev", "slack:UDEV")
	w.Store.After("EnterGate", func() {
		w.Store.After("EnterGate", nil)
		if _, err := w.Service.Cancel(ctx, d.ID, "slack:UDEV"); err != nil {
			t.Errorf("cancel: %v", err)
		}
	})
	got := runEnded(ctx, t, w, d.ID)
	if got.State != bot.StateCancelled {
		t.Fatalf("state %s, want cancelled", got.State)
	}
	if last := w.GitHub.LastStatus(got.GitHubDeploymentID); last.State != "error" || !strings.Contains(last.Description, "Cancelled") {
		t.Errorf("final GitHub status %+v; want the cancel's", last)
	}
	if text := slackText(t, w, got); !strings.Contains(text, "Cancelled") {
		t.Errorf("Slack message %q; want the cancel's", text)
	}
}

// cancelsRun is a scheduler running one deployment here, whose Stop
// cancels that run's context as the dispatcher does.
type cancelsRun struct{ cancel context.CancelCauseFunc }

func (cancelsRun) Kick()       {}
func (cancelsRun) Wake(string) {}
func (c cancelsRun) Stop(_ int64, cause error) bool {
	c.cancel(cause)
	return true
}

// A push superseding a deployment while its run tells GitHub that it
// waits for CI: the run's Slack update of that wait does not follow the
// message saying it was superseded.
func TestSupersededWhileTellingItsWait(t *testing.T) {
	w := newWorld(t)
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	w.Service.Scheduler = cancelsRun{cancel}
	w.GitHub.SetChecks(sha1, check("ci/test", bot.CheckPending))
	first := autoDeploy(t, w, push(sha1, 0))[0]
	superseded := false
	w.GitHub.AfterStatus(func(id int64, st bot.DeploymentStatus) {
		if superseded || !strings.HasPrefix(st.Description, "Waiting for CI:") {
			return
		}
		superseded = true
		autoDeploy(t, w, push(sha2, time.Minute))
		// The superseded message is told in the background; let it be
		// told before the run goes on to Slack.
		if err := w.Service.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
	got := runEnded(ctx, t, w, first.ID)
	if !superseded || got.State != bot.StateSuperseded {
		t.Fatalf("%s (superseded while telling: %v)", got.State, superseded)
	}
	if text := slackText(t, w, got); !strings.Contains(text, "Superseded by #2") {
		t.Errorf("Slack message %q; want it to say it was superseded", text)
	}
}

// `/deploy status` says why each deployment in flight waits, in words
// that ping no one.
func TestStatusSaysWhyItWaits(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.Service.Scheduler = stopsHere{}
	d := accept(t, w, "web", sha1, "prod", "slack:UADMIN")
	if _, err := w.Service.Lock(ctx, "web", "prod", "slack:UOPS", "freeze <!channel>", 0); err != nil {
		t.Fatal(err)
	}
	if got := runParked(t, w, d.ID); got.State != bot.StateQueued {
		t.Fatalf("state %s, want queued behind the lock", got.State)
	}
	status, err := w.Service.Status(ctx, "web", "prod")
	if err != nil {
		t.Fatal(err)
	}
	if want := "#1 `cf7edb2` queued: Held: web prod is locked by slack:UOPS: freeze &lt;!channel&gt;"; !strings.Contains(status.Text, want) {
		t.Errorf("status %q lacks %q", status.Text, want)
	}
}

// The one ahead moving on (received, queued, waiting for CI) wakes no one
// behind it, and changes nothing for them: a recheck tells nothing again.
// A note that named its state went stale, and each recheck corrected it
// on GitHub and Slack with nothing changed here (docs/benchmarks.md).
func TestQueuedNoteStaysWhileTheOneAheadMovesOn(t *testing.T) {
	w := newWorld(t)
	w.Service.Scheduler = stopsHere{}
	w.GitHub.SetChecks(sha1, check("ci/test", bot.CheckPending))
	ahead := accept(t, w, "web", sha1, "dev", "slack:UDEV")
	d := accept(t, w, "web", sha2, "dev", "slack:UDEV")
	got := runParked(t, w, d.ID)
	told(t, w, got, fmt.Sprintf("Queued behind deployment #%d (%s)", ahead.ID, sha1[:7]))
	statuses := len(w.GitHub.Statuses(got.GitHubDeploymentID))
	if a := runParked(t, w, ahead.ID); a.State != bot.StateWaitingForCI {
		t.Fatalf("the one ahead is %s, want waiting_for_ci", a.State)
	}
	got = runParked(t, w, d.ID)
	if n := len(w.GitHub.Statuses(got.GitHubDeploymentID)); n != statuses || got.State != bot.StateQueued {
		t.Errorf("rechecked: %s, %d GitHub statuses, want queued and still %d (%q)", got.State, n, statuses, got.Wait.Note)
	}
}
