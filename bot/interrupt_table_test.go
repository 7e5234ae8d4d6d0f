package bot_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
	"github.com/google/go-cmp/cmp"
)

// A run stopped from outside — the server shutting down, `deploybot
// deploy` interrupted, another replica taking the lease over — reports
// only what is true: the server leaves the deployment in its stage to be
// resumed, the CLI, which nobody resumes, fails it, and a replica that
// lost its lease says nothing more.
func TestInterrupted(t *testing.T) {
	tests := []struct {
		name            string
		failOnInterrupt bool
		leaseLost       bool
		wantState       bot.State
		wantReason      string
		wantStatuses    []string
		wantOwner       string
	}{
		{name: "server shutting down", wantState: bot.StateWaitingForCI, wantStatuses: []string{"queued"}, wantOwner: "test-replica"},
		{name: "CLI interrupted", failOnInterrupt: true, wantState: bot.StateFailed,
			wantReason: "deploybot was interrupted while waiting_for_ci; whatever it started in AWS may still be running", wantStatuses: []string{"queued", "failure"}, wantOwner: "test-replica"},
		{name: "lease lost", leaseLost: true, wantState: bot.StateWaitingForCI, wantStatuses: []string{"queued"}, wantOwner: "other-replica"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.Service.FailOnInterrupt = tt.failOnInterrupt
			w.GitHub.SetChecks(sha1, check("ci/test", bot.CheckPending))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			accepted := accept(t, w, "web", sha1, "dev", "slack:UDEV")
			d, err := w.Store.ClaimDeployment(ctx, accepted.ID, w.Service.Owner, w.Clock.Now(), w.Clock.Now().Add(time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			w.GitHub.AfterChecks(func(sha string) {
				w.GitHub.AfterChecks(nil)
				if !tt.leaseLost {
					cancel()
					return
				}
				w.Clock.Advance(2 * time.Minute)
				if _, err := w.Store.ClaimDeployment(ctx, d.ID, "other-replica", w.Clock.Now(), w.Clock.Now().Add(time.Minute)); err != nil {
					t.Errorf("other replica's claim: %v", err)
				}
				w.GitHub.SetChecks(sha1, green("ci/test"))
				w.Service.NotifyCI(sha)
			})
			if err := w.Service.Run(ctx, d); err == nil {
				t.Error("Run of an interrupted deployment returned no error")
			}
			got := stored(t, w, d.ID)
			if got.State != tt.wantState || got.Reason != tt.wantReason || got.LeaseOwner != tt.wantOwner {
				t.Errorf("stored %s %q leased to %q; want %s %q leased to %q", got.State, got.Reason, got.LeaseOwner, tt.wantState, tt.wantReason, tt.wantOwner)
			}
			if diff := cmp.Diff(tt.wantStatuses, statusStates(w, got)); diff != "" {
				t.Errorf("GitHub statuses (-want +got):\n%s", diff)
			}
			if n := len(w.ECS.Calls()); n != 0 {
				t.Errorf("%d rollouts", n)
			}
		})
	}
}

// A deployment cancelled while its GitHub deployment was being created
// is closed on GitHub by the run that created it: whoever cancelled it
// could not know the id.
func TestCancelledWhileCreatingOnGitHub(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	d := accept(t, w, "web", sha1, "dev", "slack:UDEV")
	var created int64
	w.GitHub.AfterCreate(func(id int64) {
		created = id
		if _, err := w.Service.Cancel(ctx, d.ID, "slack:UOTHER"); err != nil {
			t.Errorf("Cancel: %v", err)
		}
	})
	if err := w.Service.Run(ctx, d); err == nil {
		t.Error("Run of a cancelled deployment returned no error")
	}
	statuses := w.GitHub.Statuses(created)
	if len(statuses) != 1 || statuses[0].State != "error" || !strings.Contains(statuses[0].Description, "cancelled by slack:UOTHER") {
		t.Errorf("statuses of the GitHub deployment created meanwhile %+v; want it closed as cancelled", statuses)
	}
	if got := stored(t, w, d.ID); got.State != bot.StateCancelled {
		t.Errorf("state %s", got.State)
	}
}
