package bot_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/bot/bottest"
)

// A deployment to an environment with approvals waits, CI passed, until
// someone else allowed there approves it; a rejection or the timeout
// fails it.
func TestApprovals(t *testing.T) {
	tests := []struct {
		name string
		// decide runs once the deployment waits for approval; stop ends
		// the run's context.
		decide     func(t *testing.T, w *bottest.World, id int64, stop func())
		wantState  bot.State
		wantReason string
	}{
		{
			name: "approved by another",
			decide: func(t *testing.T, w *bottest.World, id int64, stop func()) {
				msg, err := w.Service.Approve(context.Background(), id, "slack:UOPS")
				if err != nil || !strings.Contains(msg.Text, "You approved deployment #1") {
					t.Errorf("Approve = %q, %v", msg.Text, err)
				}
			},
			wantState: bot.StateSucceeded,
		},
		{
			name: "self-approval and strangers refused",
			decide: func(t *testing.T, w *bottest.World, id int64, stop func()) {
				ctx := context.Background()
				_, err := w.Service.Approve(ctx, id, "slack:UADMIN")
				wantCode(t, err, bot.EFORBIDDEN, "you asked for deployment #1, so you cannot approve it")
				_, err = w.Service.Approve(ctx, id, "slack:USTRANGER")
				wantCode(t, err, bot.EFORBIDDEN, "may not decide on deployments to web prod")
				_, err = w.Service.RejectDeployment(ctx, id, "slack:USTRANGER", "")
				wantCode(t, err, bot.EFORBIDDEN, "may not decide")
				if _, err := w.Service.Approve(ctx, id, "slack:UOPS"); err != nil {
					t.Error(err)
				}
			},
			wantState: bot.StateSucceeded,
		},
		{
			name: "rejected",
			decide: func(t *testing.T, w *bottest.World, id int64, stop func()) {
				if _, err := w.Service.RejectDeployment(context.Background(), id, "slack:UOPS", "not during the sale"); err != nil {
					t.Error(err)
				}
			},
			wantState: bot.StateFailed, wantReason: "rejected by slack:UOPS: not during the sale",
		},
		{
			name: "nobody approves in time",
			decide: func(t *testing.T, w *bottest.World, id int64, stop func()) {
				w.Store.After("Approvals", func() { w.Clock.Advance(2 * time.Hour) })
			},
			wantState: bot.StateFailed, wantReason: "not approved within 1h0m0s: 0 of 1 approvals given",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Apps["web"].Environments["prod"].Approvals = 1
			w := bottest.NewWorld(t, cfg)
			w.Images.Push(ecr+"/web", "git_"+sha1[:7], digest)
			w.GitHub.SetChecks(sha1, green("ci/test"))
			d := accept(t, w, "web", sha1, "prod", "slack:UADMIN")
			_, err := w.Service.Approve(context.Background(), d.ID, "slack:UOPS")
			wantCode(t, err, bot.ECONFLICT, "it can be approved once its CI has passed")
			ctx, stop := context.WithCancel(context.Background())
			defer stop()
			decided := false
			w.GitHub.AfterStatus(func(id int64, st bot.DeploymentStatus) {
				if !decided && strings.Contains(st.Description, "approval") {
					decided = true
					if got := stored(t, w, d.ID); got.State != bot.StateWaitingForApproval {
						t.Errorf("state %s while GitHub hears %q", got.State, st.Description)
					}
					tt.decide(t, w, d.ID, stop)
				}
			})
			w.Service.Run(ctx, d)
			got := stored(t, w, d.ID)
			if !decided || got.State != tt.wantState || !strings.Contains(got.Reason, tt.wantReason) {
				t.Errorf("stored %s %q (waited for approval: %v); want %s containing %q", got.State, got.Reason, decided, tt.wantState, tt.wantReason)
			}
			if n := len(w.ECS.Calls()); (n == 1) != (tt.wantState == bot.StateSucceeded) {
				t.Errorf("%d rollouts", n)
			}
			// Slack names approvers as it names requesters, in every
			// update, not as raw ids.
			for _, m := range w.Chat.History(got.SlackChannel, got.SlackTS) {
				if strings.Contains(m.Text, "slack:U") {
					t.Errorf("a Slack update shows a raw id: %s", m.Text)
				}
			}
		})
	}
}

// An unknown id gets the same answer as /deploy cancel's: where ids are.
func TestApproveUnknownDeployment(t *testing.T) {
	w := newWorld(t)
	_, err := w.Service.Approve(context.Background(), 99, "slack:UOPS")
	wantCode(t, err, bot.ENOTFOUND, "no deployment #99. Try /deploy history <app>")
	_, err = w.Service.RejectDeployment(context.Background(), 99, "slack:UOPS", "")
	wantCode(t, err, bot.ENOTFOUND, "no deployment #99. Try")
}
