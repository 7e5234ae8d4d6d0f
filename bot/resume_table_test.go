package bot_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/bot/bottest"
	"github.com/google/go-cmp/cmp"
)

// A deployment a crashed replica left behind is resumed from its stored
// stage: nothing done already is done again, and nothing is forgotten.
// The claim is the store's; what a claimed deployment does next is Run's.
func TestResume(t *testing.T) {
	image := ecr + "/web@" + digest
	tests := []struct {
		name  string
		state bot.State
		// left sets what the crashed attempt left in the store and the
		// world; gh is the GitHub deployment id it created, if any.
		left         func(w *bottest.World, d *bot.Deployment, gh int64)
		created      bool // the crashed attempt created the GitHub deployment
		wantState    bot.State
		wantReason   string
		wantCreated  int // GitHub deployments created in all
		wantStatuses []string
		wantDeploy   []bottest.DeployCall
		wantResolved int
	}{
		{
			name: "GitHub deployment created, its id never saved: found, not created again", state: bot.StateReceived, created: true,
			wantState: bot.StateSucceeded, wantCreated: 1, wantStatuses: []string{"queued", "in_progress", "success"},
			wantDeploy: []bottest.DeployCall{{Deployment: 1, Env: "dev", Image: image}}, wantResolved: 1,
		},
		{
			name: "received with nothing done yet", state: bot.StateReceived,
			wantState: bot.StateSucceeded, wantCreated: 1, wantStatuses: []string{"queued", "in_progress", "success"},
			wantDeploy: []bottest.DeployCall{{Deployment: 1, Env: "dev", Image: image}}, wantResolved: 1,
		},
		{
			name: "ci_timeout counts from the first wait, not from the resumption", state: bot.StateWaitingForCI, created: true,
			left: func(w *bottest.World, d *bot.Deployment, gh int64) {
				w.Store.AddEvent(context.Background(), &bot.Event{DeploymentID: d.ID, Stage: bot.StateWaitingForCI, Message: "Waiting for CI"})
				w.Clock.Advance(30 * time.Minute)
				w.GitHub.SetChecks(sha1, check("ci/test", bot.CheckPending))
			},
			wantState: bot.StateFailed, wantReason: "CI did not finish within 30m0s", wantCreated: 1, wantStatuses: []string{"failure"},
		},
		{
			name: "verifying the image: looked up again, then deployed", state: bot.StateVerifyingImage, created: true,
			wantState: bot.StateSucceeded, wantCreated: 1, wantStatuses: []string{"success"},
			wantDeploy: []bottest.DeployCall{{Deployment: 1, Env: "dev", Image: image}}, wantResolved: 1,
		},
		{
			name: "deploying with a checkpoint: the rollout is followed, not redone", state: bot.StateDeploying, created: true,
			left: func(w *bottest.World, d *bot.Deployment, gh int64) {
				d.Image, d.RolloutRef = image, "task-definition/web:41"
			},
			wantState: bot.StateSucceeded, wantCreated: 1, wantStatuses: []string{"success"},
			wantDeploy: []bottest.DeployCall{{Deployment: 1, Env: "dev", Image: image, RolloutRef: "task-definition/web:41"}},
		},
		{
			name: "deploying without the digest saved: resolved again, rollout resumed", state: bot.StateDeploying, created: true,
			left:      func(w *bottest.World, d *bot.Deployment, gh int64) { d.RolloutRef = "task-definition/web:41" },
			wantState: bot.StateSucceeded, wantCreated: 1, wantStatuses: []string{"success"},
			wantDeploy:   []bottest.DeployCall{{Deployment: 1, Env: "dev", Image: image, RolloutRef: "task-definition/web:41"}},
			wantResolved: 1,
		},
		{
			name: "a rollout that failed while no one watched fails once", state: bot.StateVerifyingHealth, created: true,
			left: func(w *bottest.World, d *bot.Deployment, gh int64) {
				d.Image, d.RolloutRef = image, "task-definition/web:41"
				w.ECS.Fail(bot.Errorf(bot.EINVALID, "service web-dev: deployment failed"))
			},
			wantState: bot.StateFailed, wantReason: "deployment failed", wantCreated: 1, wantStatuses: []string{"failure"},
			wantDeploy: []bottest.DeployCall{{Deployment: 1, Env: "dev", Image: image, RolloutRef: "task-definition/web:41"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			w := newWorld(t)
			w.GitHub.SetChecks(sha1, green("ci/test"))
			d := seed(t, w, "web", "dev", sha1, tt.state)
			var gh int64
			if tt.created {
				var err error
				gh, err = w.GitHub.CreateDeployment(ctx, bot.Repo{FullName: "acme/web"}, bot.GitHubDeploymentRequest{
					SHA: sha1, Environment: "dev", Payload: bot.DeploymentPayload{App: "web", DeploybotID: d.ID}})
				if err != nil {
					t.Fatal(err)
				}
				if tt.state != bot.StateReceived {
					d.GitHubDeploymentID = gh
				}
			}
			if tt.left != nil {
				tt.left(w, d, gh)
			}
			if err := w.Store.UpdateDeployment(ctx, d); err != nil {
				t.Fatal(err)
			}
			// The crashed replica's lease runs out, and this one claims the
			// deployment as the scheduler would, then runs it.
			if _, err := w.Store.ClaimDeployment(ctx, d.ID, "crashed", w.Clock.Now(), w.Clock.Now().Add(30*time.Second)); err != nil {
				t.Fatalf("crashed replica's claim: %v", err)
			}
			w.Clock.Advance(time.Minute)
			claimed, err := w.Store.ClaimDeployment(ctx, d.ID, w.Service.Owner, w.Clock.Now(), w.Clock.Now().Add(30*time.Second))
			if err != nil || claimed.Attempts != 2 {
				t.Fatalf("claim after the crash = %+v, %v; want attempt 2", claimed, err)
			}

			err = w.Service.Run(ctx, claimed)
			if (err != nil) != (tt.wantState == bot.StateFailed) {
				t.Errorf("Run = %v", err)
			}
			got := stored(t, w, d.ID)
			if got.State != tt.wantState || !strings.Contains(got.Reason, tt.wantReason) {
				t.Errorf("stored %s %q; want %s containing %q", got.State, got.Reason, tt.wantState, tt.wantReason)
			}
			if n := len(w.GitHub.Deployments()); n != tt.wantCreated {
				t.Errorf("%d GitHub deployments, want %d", n, tt.wantCreated)
			}
			if tt.created && got.GitHubDeploymentID != gh {
				t.Errorf("GitHub deployment %d, want the one created before the crash, %d", got.GitHubDeploymentID, gh)
			}
			if diff := cmp.Diff(tt.wantStatuses, statusStates(w, got)); diff != "" {
				t.Errorf("GitHub statuses (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantDeploy, w.ECS.Calls()); diff != "" {
				t.Errorf("rollouts (-want +got):\n%s", diff)
			}
			if n := len(w.Images.Resolved()); n != tt.wantResolved {
				t.Errorf("%d image lookups, want %d", n, tt.wantResolved)
			}
		})
	}
}
