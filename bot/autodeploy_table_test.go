package bot_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/bot/bottest"
)

func push(sha string, at time.Duration) bot.Push {
	return bot.Push{Repo: bot.Repo{FullName: "acme/web", InstallationID: 7}, Branch: "main", SHA: sha, Pusher: "octocat", At: bottest.T0.Add(at)}
}

func autoDeploy(t *testing.T, w *bottest.World, p bot.Push) []*bot.Deployment {
	t.Helper()
	ds, err := w.Service.AutoDeploy(context.Background(), p)
	if err != nil {
		t.Fatalf("AutoDeploy: %v", err)
	}
	return ds
}

// A push to main becomes a deployment to each env that auto deploys main
// (web dev only); other branches and repos deploy nothing.
func TestAutoDeployTargets(t *testing.T) {
	w := newWorld(t)
	ds := autoDeploy(t, w, push(sha1, 0))
	if len(ds) != 1 {
		t.Fatalf("%d deployments, want web dev's", len(ds))
	}
	d := ds[0]
	if d.App != "web" || d.Env != "dev" || d.SHA != sha1 || d.Ref != "main" || d.Source != bot.SourceAuto ||
		d.Requester != "github:octocat" || d.InstallationID != 7 || !d.PushedAt.Equal(bottest.T0) {
		t.Errorf("auto deployment %+v", d)
	}
	other := push(sha2, time.Second)
	other.Branch = "feature"
	if ds := autoDeploy(t, w, other); len(ds) != 0 {
		t.Errorf("a push to another branch made %d deployments", len(ds))
	}
	other = push(sha2, time.Second)
	other.Repo.FullName = "acme/platform"
	if ds := autoDeploy(t, w, other); len(ds) != 0 {
		t.Errorf("a push to a repo without auto_deploy made %d deployments", len(ds))
	}
}

// The newest push wins over older ones that have not reached AWS,
// whatever order the webhooks come in; one that reached AWS finishes.
func TestAutoDeploySupersede(t *testing.T) {
	tests := []struct {
		name       string
		firstState bot.State // the first push's deployment when the second arrives
		order      []int     // the pushes' arrival order, by push time
		want       []bot.State
	}{
		{"a newer push supersedes a waiting one", bot.StateWaitingForCI, []int{0, 1}, []bot.State{bot.StateSuperseded, bot.StateReceived}},
		{"an older push arriving late is superseded at once", bot.StateReceived, []int{1, 0}, []bot.State{bot.StateReceived, bot.StateSuperseded}},
		{"one in AWS finishes", bot.StateDeploying, []int{0, 1}, []bot.State{bot.StateDeploying, bot.StateReceived}},
	}
	shas := []string{sha1, sha2}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			var ds []*bot.Deployment
			for i, n := range tt.order {
				d := autoDeploy(t, w, push(shas[n], time.Duration(n)*time.Minute))[0]
				if i == 0 && d.State != tt.firstState {
					d.State = tt.firstState
					if err := w.Store.UpdateDeployment(context.Background(), d); err != nil {
						t.Fatal(err)
					}
				}
				ds = append(ds, d)
			}
			for i, d := range ds {
				if got := stored(t, w, d.ID); got.State != tt.want[i] {
					t.Errorf("deployment #%d (%s) is %s, want %s", d.ID, d.ShortSHA(), got.State, tt.want[i])
				}
			}
		})
	}
}

// A push arriving while the previous one's deployment waits for CI ends
// it: GitHub hears it is inactive, Slack that it was superseded, and its
// pipeline stops without reaching AWS.
func TestAutoDeploySupersedesRunning(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.GitHub.SetChecks(sha1, check("ci/test", bot.CheckPending))
	first := autoDeploy(t, w, push(sha1, 0))[0]
	var newer *bot.Deployment
	w.GitHub.AfterChecks(func(sha string) {
		w.GitHub.AfterChecks(nil)
		newer = autoDeploy(t, w, push(sha2, time.Minute))[0]
		w.GitHub.SetChecks(sha1, green("ci/test"))
		w.Service.NotifyCI(sha)
	})
	if err := w.Service.Run(ctx, first); err == nil {
		t.Error("Run of a superseded deployment returned no error")
	}
	// Telling GitHub and Slack happens apart from the push; Shutdown
	// waits for it.
	if err := w.Service.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	got := stored(t, w, first.ID)
	if got.State != bot.StateSuperseded || got.Reason != "superseded by #2 (d00dfee)" {
		t.Errorf("first push's deployment %s %q", got.State, got.Reason)
	}
	if last := w.GitHub.LastStatus(got.GitHubDeploymentID); last.State != "inactive" || last.Description != "Superseded by d00dfee (deployment #2)" {
		t.Errorf("its final GitHub status %+v", last)
	}
	if queued := w.GitHub.Statuses(got.GitHubDeploymentID)[0]; queued.Description != "Queued: waiting for CI" {
		t.Errorf("an auto deployment is first %q", queued.Description)
	}
	if text := slackText(t, w, got); !strings.Contains(text, "Superseded by #2 (d00dfee), a newer push to `main`") {
		t.Errorf("its Slack message %q", text)
	}
	if n := len(w.ECS.Calls()); n != 0 {
		t.Errorf("%d rollouts of a superseded deployment", n)
	}
	if newer == nil || stored(t, w, newer.ID).State != bot.StateReceived {
		t.Errorf("the newer push's deployment %+v; want it received", newer)
	}
}

// Locks hold auto deployments at the gate instead of refusing them.
func TestAutoDeployThroughLock(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	if _, err := w.Service.Lock(ctx, "web", "dev", "slack:UOPS", "", 0); err != nil {
		t.Fatal(err)
	}
	d := autoDeploy(t, w, push(sha1, 0))[0]
	onQueuedNote(w, "Held: web dev is locked", func() {
		if _, err := w.Service.Unlock(ctx, "web", "dev", "slack:UOPS"); err != nil {
			t.Error(err)
		}
	})
	w.GitHub.SetChecks(sha1, green("ci/test"))
	if err := w.Service.Run(ctx, d); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := stored(t, w, d.ID); got.State != bot.StateSucceeded || len(queuedNotes(w, got)) != 3 || queuedNotes(w, got)[2] != "Waiting for CI" {
		t.Errorf("%s after %q; want held, then succeeded", got.State, queuedNotes(w, got))
	}
}

// Held by a lock or waiting for its approvals, an auto deployment has not
// reached AWS: a newer push still supersedes it (GitHub inactive, naming
// the newer sha), and the newer one waits where it waited.
func TestAutoDeploySupersededWhileHeldOrAwaitingApproval(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, w *bottest.World)
		waiting bot.State
	}{
		{name: "held by a lock", waiting: bot.StateQueued, setup: func(t *testing.T, w *bottest.World) {
			if _, err := w.Service.Lock(context.Background(), "web", "dev", "slack:UOPS", "freeze", 0); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "waiting for approval", waiting: bot.StateWaitingForApproval, setup: func(t *testing.T, w *bottest.World) {
			w.Service.Config.Apps["web"].Environments["dev"].Approvals = 1
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			w := newWorld(t)
			w.Service.Scheduler = stopsHere{}
			w.GitHub.SetChecks(sha1, green("ci/test"))
			w.GitHub.SetChecks(sha2, green("ci/test"))
			tt.setup(t, w)
			first := autoDeploy(t, w, push(sha1, 0))[0]
			if got := runParked(t, w, first.ID); got.State != tt.waiting {
				t.Fatalf("first push's deployment %s, want %s", got.State, tt.waiting)
			}
			newer := autoDeploy(t, w, push(sha2, time.Minute))[0]
			if err := w.Service.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			got := stored(t, w, first.ID)
			if got.State != bot.StateSuperseded {
				t.Fatalf("first push's deployment %s after a newer push; want superseded", got.State)
			}
			if last := w.GitHub.LastStatus(got.GitHubDeploymentID); last.State != "inactive" || !strings.Contains(last.Description, "d00dfee") {
				t.Errorf("its final GitHub status %+v", last)
			}
			if got := runParked(t, w, newer.ID); got.State != tt.waiting {
				t.Errorf("the newer push's deployment %s, want it waiting %s as the first did", got.State, tt.waiting)
			}
			if n := len(w.ECS.Calls()); n != 0 {
				t.Errorf("%d rollouts while held", n)
			}
		})
	}
}
