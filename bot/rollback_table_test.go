package bot_test

import (
	"context"
	"strings"
	"testing"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/bot/bottest"
)

// Rollback picks the newest successful sha that is not the one running.
func TestRollbackChoice(t *testing.T) {
	tests := []struct {
		name    string
		history []string // shas of web prod's deployments, oldest first; "-" a failed one of sha3
		wantSHA string
		wantErr string
	}{
		{"previous version", []string{sha1, sha2}, sha1, ""},
		{"skips redeploys of the running sha", []string{sha1, sha2, sha2}, sha1, ""},
		{"skips failures", []string{sha1, "-", sha2}, sha1, ""},
		{"back two after a rollback", []string{sha1, sha2, sha3, sha2}, sha3, ""},
		{"nothing ever deployed", nil, "", "web prod has no successful deployment to roll back from"},
		{"one version only", []string{sha1, sha1}, "", "web prod has only ever run cf7edb2; there is no earlier version to roll back to"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			w := newWorld(t)
			for _, sha := range tt.history {
				if sha == "-" {
					seed(t, w, "web", "prod", sha3, bot.StateFailed)
					continue
				}
				seed(t, w, "web", "prod", sha, bot.StateSucceeded)
			}
			seed(t, w, "web", "dev", sha3, bot.StateSucceeded) // another env's history is not this one's
			d, err := w.Service.Rollback(ctx, bot.Request{App: "web", Env: "prod", Requester: "slack:UOPS", Source: bot.SourceSlack})
			if tt.wantErr != "" {
				wantCode(t, err, bot.ENOTFOUND, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatalf("Rollback: %v", err)
			}
			if d.SHA != tt.wantSHA || d.Ref != tt.wantSHA || d.State != bot.StateReceived || d.Requester != "slack:UOPS" {
				t.Errorf("rollback %s (ref %s) %s by %s; want %s, received, by slack:UOPS", d.SHA, d.Ref, d.State, d.Requester, tt.wantSHA)
			}
		})
	}
}

func TestRollbackRefusals(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	seed(t, w, "web", "prod", sha1, bot.StateSucceeded)
	last := seed(t, w, "web", "prod", sha2, bot.StateSucceeded)
	_, err := w.Service.Rollback(ctx, bot.Request{App: "web", Env: "prod", Requester: "slack:USTRANGER"})
	wantCode(t, err, bot.EFORBIDDEN, "may not deploy web to prod")
	_, err = w.Service.Rollback(ctx, bot.Request{App: "web", Env: "nowhere", Requester: "slack:UOPS"})
	wantCode(t, err, bot.ENOTFOUND, `app web has no environment "nowhere"`)
	_, err = w.Service.RollbackFrom(ctx, 42, bot.Request{Requester: "slack:UOPS"})
	wantCode(t, err, bot.ENOTFOUND, "#42")

	// The button names a deployment; the rollback is of its environment.
	d, err := w.Service.RollbackFrom(ctx, last.ID, bot.Request{Requester: "slack:UOPS", Source: bot.SourceSlack})
	if err != nil || d.App != "web" || d.Env != "prod" || d.SHA != sha1 {
		t.Errorf("RollbackFrom = %+v, %v; want web prod at sha1", d, err)
	}
}

// A rollout that fails in an auto_rollback environment starts a rollback
// to the version before; once that succeeds, the failed one is rolled_back.
func TestAutoRollback(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.GitHub.SetChecks(sha2, green("ci/test"))
	w.GitHub.SetChecks(sha1, green("ci/test"))
	before := seed(t, w, "web", "prod", sha1, bot.StateSucceeded)
	d := accept(t, w, "web", sha2, "prod", "slack:UADMIN")
	w.ECS.Fail(bot.Errorf(bot.EINVALID, "deployment circuit breaker: rolled back"))
	if err := w.Service.Run(ctx, d); err == nil {
		t.Fatal("Run of a failed rollout returned no error")
	}
	rollbacks := w.Store.Deployments()[2:]
	if len(rollbacks) != 1 {
		t.Fatalf("%d deployments started after the failure, want one rollback", len(rollbacks))
	}
	rb := rollbacks[0]
	if rb.RollbackOf != d.ID || rb.SHA != before.SHA || rb.Source != bot.SourceAutoRollback || rb.Requester != bot.AutoRollbackRequester {
		t.Errorf("rollback %+v; want sha1 by deploybot, of #%d", rb, d.ID)
	}
	failed := stored(t, w, d.ID)
	if last := w.GitHub.LastStatus(failed.GitHubDeploymentID); last.State != "failure" || !strings.Contains(last.Description, "circuit breaker") {
		t.Errorf("final status of the failed deployment %+v", last)
	}
	if text := slackText(t, w, failed); !strings.Contains(text, "rolling back automatically to cf7edb2 as deployment #3") {
		t.Errorf("Slack message of the failed deployment %q does not name the rollback", text)
	}
	if failed.SlackChannel != bottest.ChannelID("#prod-deploys") {
		t.Errorf("prod's deployment was announced in %s, want its own channel", failed.SlackChannel)
	}

	w.ECS.Script(nil)
	if err := w.Service.Run(ctx, rb); err != nil {
		t.Fatalf("Run of the rollback: %v", err)
	}
	failed = stored(t, w, d.ID)
	if failed.State != bot.StateRolledBack || failed.Reason != "rolled back to cf7edb2 by deployment #3" {
		t.Errorf("failed deployment %s %q; want rolled_back by #3", failed.State, failed.Reason)
	}
	if text := slackText(t, w, failed); !strings.Contains(text, "Failed, then rolled back to cf7edb2 by deployment #3") {
		t.Errorf("Slack message of the failed deployment %q", text)
	}

	// A rollback that fails is not rolled back again.
	again := accept(t, w, "web", sha2, "prod", "slack:UADMIN")
	w.ECS.Fail(bot.Errorf(bot.EINVALID, "still broken"))
	w.Service.Run(ctx, again)
	rb2 := w.Store.Deployments()[len(w.Store.Deployments())-1]
	w.Service.Run(ctx, rb2)
	if got := stored(t, w, rb2.ID); got.State != bot.StateFailed || rb2.RollbackOf != again.ID {
		t.Fatalf("second rollback %s (of #%d)", got.State, rb2.RollbackOf)
	}
	if n := len(w.Store.Deployments()); n != int(rb2.ID) {
		t.Errorf("a failed rollback started another: %d deployments after #%d", n, rb2.ID)
	}
}

// Without an earlier success there is nothing to go back to, and the
// failed deployment says so.
func TestAutoRollbackWithoutHistory(t *testing.T) {
	w := newWorld(t)
	w.GitHub.SetChecks(sha2, green("ci/test"))
	d := accept(t, w, "web", sha2, "prod", "slack:UADMIN")
	w.ECS.Fail(bot.Errorf(bot.EINVALID, "tasks failed to start"))
	w.Service.Run(context.Background(), d)
	if n := len(w.Store.Deployments()); n != 1 {
		t.Errorf("%d deployments; a rollback with nothing to roll back to was started", n)
	}
	if text := slackText(t, w, stored(t, w, d.ID)); !strings.Contains(text, "no earlier successful version to roll back to") {
		t.Errorf("Slack message %q", text)
	}
}
