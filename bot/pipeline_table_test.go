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

// Each case is one deployment run from received to its end: what CI,
// the registry and the rollout say, and what the pipeline makes of it.
func TestPipeline(t *testing.T) {
	tests := []struct {
		name          string
		app, ref, env string
		setup         func(w *bottest.World)
		wantState     bot.State
		wantReason    string   // contained in the stored reason
		wantStatuses  []string // GitHub deployment statuses, in order
		wantDeploys   int
		wantChecks    int // reads of CI results
	}{
		{
			name: "green CI deploys", app: "web", ref: sha1, env: "dev",
			setup:     func(w *bottest.World) { w.GitHub.SetChecks(sha1, green("ci/test"), green("lint")) },
			wantState: bot.StateSucceeded, wantStatuses: []string{"queued", "in_progress", "success"}, wantDeploys: 1, wantChecks: 1,
		},
		{
			name: "a branch resolves to its head", app: "web", ref: "main", env: "dev",
			setup: func(w *bottest.World) {
				w.GitHub.SetRef("main", sha2)
				w.GitHub.SetChecks(sha2, green("ci/test"))
			},
			wantState: bot.StateSucceeded, wantStatuses: []string{"queued", "in_progress", "success"}, wantDeploys: 1, wantChecks: 1,
		},
		{
			name: "red CI names the failing check", app: "web", ref: sha1, env: "dev",
			setup:     func(w *bottest.World) { w.GitHub.SetChecks(sha1, green("lint"), check("ci/test", bot.CheckFailure)) },
			wantState: bot.StateFailed, wantReason: "CI failed for cf7edb2: ci/test (failure)", wantStatuses: []string{"queued", "failure"}, wantChecks: 1,
		},
		{
			name: "no CI reported fails", app: "web", ref: sha1, env: "dev",
			wantState: bot.StateFailed, wantReason: "no CI status or check run reported", wantStatuses: []string{"queued", "failure"}, wantChecks: 1,
		},
		{
			name: "neutral fails unless configured", app: "web", ref: sha1, env: "dev",
			setup:     func(w *bottest.World) { w.GitHub.SetChecks(sha1, green("ci/test"), check("docs", bot.CheckNeutral)) },
			wantState: bot.StateFailed, wantReason: "docs (neutral)", wantStatuses: []string{"queued", "failure"}, wantChecks: 1,
		},
		{
			name: "neutral passes where configured, other checks ignored", app: "api", ref: sha1, env: "dev",
			setup: func(w *bottest.World) {
				w.GitHub.SetChecks(sha1, check("ci/build", bot.CheckNeutral), check("flaky", bot.CheckFailure))
			},
			wantState: bot.StateSucceeded, wantStatuses: []string{"queued", "in_progress", "success"}, wantDeploys: 1, wantChecks: 1,
		},
		{
			name: "pending CI is waited for until a webhook says green", app: "web", ref: sha1, env: "dev",
			setup: func(w *bottest.World) {
				w.GitHub.SetChecks(sha1, green("lint"), check("ci/test", bot.CheckPending))
				w.GitHub.AfterChecks(func(sha string) {
					w.GitHub.SetChecks(sha1, green("lint"), green("ci/test"))
					w.Service.NotifyCI(sha)
				})
			},
			wantState: bot.StateSucceeded, wantStatuses: []string{"queued", "queued", "in_progress", "success"}, wantDeploys: 1, wantChecks: 2,
		},
		{
			name: "a required check not reported yet is pending", app: "api", ref: sha1, env: "dev",
			setup: func(w *bottest.World) {
				w.GitHub.SetChecks(sha1, green("lint"))
				w.GitHub.AfterChecks(func(sha string) {
					w.GitHub.SetChecks(sha1, green("lint"), green("ci/build"))
					w.Service.NotifyCI(sha)
				})
			},
			wantState: bot.StateSucceeded, wantStatuses: []string{"queued", "queued", "in_progress", "success"}, wantDeploys: 1, wantChecks: 2,
		},
		{
			name: "CI still pending at ci_timeout fails", app: "web", ref: sha1, env: "dev",
			setup: func(w *bottest.World) {
				w.GitHub.SetChecks(sha1, check("ci/test", bot.CheckPending))
				w.GitHub.AfterChecks(func(string) { w.Clock.Advance(31 * time.Minute) })
			},
			wantState: bot.StateFailed, wantReason: "CI did not finish within 30m0s; still pending: ci/test", wantStatuses: []string{"queued", "failure"}, wantChecks: 1,
		},
		{
			name: "GitHub down past ci_timeout is an error, not a failure of the commit", app: "web", ref: sha1, env: "dev",
			setup: func(w *bottest.World) {
				w.GitHub.Fault("Checks", bot.Errorf(bot.EUNAVAILABLE, "GitHub is unavailable"))
				w.GitHub.AfterChecks(func(string) { w.Clock.Advance(31 * time.Minute) })
			},
			wantState: bot.StateFailed, wantReason: "CI results could not be read within 30m0s", wantStatuses: []string{"queued", "error"}, wantChecks: 1,
		},
		{
			name: "GitHub down for a while is waited out", app: "web", ref: sha1, env: "dev",
			setup: func(w *bottest.World) {
				w.GitHub.SetChecks(sha1, green("ci/test"))
				w.GitHub.Fault("Checks", bot.Errorf(bot.EUNAVAILABLE, "GitHub is unavailable"))
				w.GitHub.AfterChecks(func(sha string) {
					w.GitHub.Fault("Checks", nil)
					w.Service.NotifyCI(sha)
				})
			},
			wantState: bot.StateSucceeded, wantStatuses: []string{"queued", "in_progress", "success"}, wantDeploys: 1, wantChecks: 2,
		},
		{
			name: "a missing image fails before any rollout", app: "web", ref: sha1, env: "dev",
			setup: func(w *bottest.World) {
				w.Images = bottest.NewImages()
				w.Service.Images = w.Images
				w.GitHub.SetChecks(sha1, green("ci/test"))
			},
			wantState: bot.StateFailed, wantReason: "image " + ecr + "/web:git_cf7edb2 not found", wantStatuses: []string{"queued", "in_progress", "failure"}, wantChecks: 1,
		},
		{
			name: "a failed rollout fails the deployment", app: "web", ref: sha1, env: "staging",
			setup: func(w *bottest.World) {
				w.GitHub.SetChecks(sha1, green("ci/test"))
				w.EB.Fail(bot.Errorf(bot.EINVALID, "environment web-stg reverted to version v1"))
			},
			wantState: bot.StateFailed, wantReason: "reverted to version v1", wantStatuses: []string{"queued", "in_progress", "failure"}, wantDeploys: 1, wantChecks: 1,
		},
		{
			name: "an unknown ref fails before GitHub hears of it", app: "web", ref: "no-such-branch", env: "dev",
			wantState: bot.StateFailed, wantReason: `no commit found for "no-such-branch"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			if tt.setup != nil {
				tt.setup(w)
			}
			d := accept(t, w, tt.app, tt.ref, tt.env, "slack:UDEV")
			err := w.Service.Run(context.Background(), d)
			if (err != nil) != (tt.wantState == bot.StateFailed) {
				t.Errorf("Run = %v, want an error exactly when it fails", err)
			}
			got := stored(t, w, d.ID)
			if got.State != tt.wantState || !strings.Contains(got.Reason, tt.wantReason) {
				t.Errorf("stored %s %q; want %s containing %q", got.State, got.Reason, tt.wantState, tt.wantReason)
			}
			if diff := cmp.Diff(tt.wantStatuses, statusStates(w, got)); diff != "" {
				t.Errorf("GitHub statuses (-want +got):\n%s", diff)
			}
			if n := len(w.ECS.Calls()) + len(w.EB.Calls()); n != tt.wantDeploys {
				t.Errorf("%d rollouts, want %d", n, tt.wantDeploys)
			}
			if n := w.GitHub.Calls("Checks"); n != tt.wantChecks {
				t.Errorf("%d reads of CI results, want %d", n, tt.wantChecks)
			}
			if tt.wantState == bot.StateFailed && len(tt.wantStatuses) > 0 {
				if last := w.GitHub.LastStatus(got.GitHubDeploymentID); !strings.Contains(last.Description, tt.wantReason) {
					t.Errorf("final GitHub status %q does not give the reason %q", last.Description, tt.wantReason)
				}
			}
			if tt.wantState.Terminal() {
				if text := slackText(t, w, got); !strings.Contains(text, map[bot.State]string{bot.StateSucceeded: "Succeeded", bot.StateFailed: "Failed"}[tt.wantState]) {
					t.Errorf("Slack message %q does not say how it ended", text)
				}
				if ended := w.Observer.EndedIDs(); !cmp.Equal(ended, []int64{d.ID}) {
					t.Errorf("observer heard the end of %v, want [%d]", ended, d.ID)
				}
			}
		})
	}
}
