package bot_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/bot/bottest"
	"github.com/google/go-cmp/cmp"
)

// A refused request creates nothing: no row, no GitHub deployment.
func TestAcceptRefusals(t *testing.T) {
	tests := []struct {
		name     string
		req      bot.Request
		setup    func(w *bottest.World)
		code     string
		contains string
	}{
		{"unknown app", bot.Request{App: "nope", Env: "dev", Requester: "slack:U1"}, nil, bot.ENOTFOUND, `unknown app "nope"`},
		{"unknown env", bot.Request{App: "web", Env: "qa", Requester: "slack:U1"}, nil, bot.ENOTFOUND, `app web has no environment "qa"; its environments: dev, prod, staging`},
		{"not allowed", bot.Request{App: "web", Env: "prod", Requester: "slack:U1", Source: bot.SourceSlack}, nil, bot.EFORBIDDEN,
			"slack:U1 may not deploy web to prod: ask someone who can deploy to prod"},
		{"a login not on the list", bot.Request{App: "web", Env: "prod", Requester: "github:mallory", Source: bot.SourceGitHubAPI}, nil, bot.EFORBIDDEN, "may not deploy"},
		{
			name: "team lookup failing fails closed", req: bot.Request{App: "web", Env: "prod", Requester: "github:writer", Source: bot.SourceGitHubAPI},
			setup: func(w *bottest.World) {
				w.PRs.AddTeamMember("acme", "ops", "writer")
				w.PRs.Fault("TeamMember", errors.New("GitHub is down"))
			},
			code: bot.EFORBIDDEN, contains: "may not deploy",
		},
		{
			name: "store down is no refusal", req: bot.Request{App: "web", Env: "dev", Requester: "slack:U1", Source: bot.SourceSlack},
			setup: func(w *bottest.World) { w.Store.Fault("CreateDeployment", errors.New("disk full")) },
			code:  bot.EINTERNAL, contains: "internal error",
		},
		{
			name: "lock unreadable is no refusal", req: bot.Request{App: "web", Env: "dev", Requester: "slack:U1", Source: bot.SourceSlack},
			setup: func(w *bottest.World) { w.Store.Fault("EnvLock", errors.New("connection refused")) },
			code:  bot.EINTERNAL, contains: "internal error",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			if tt.setup != nil {
				tt.setup(w)
			}
			d, err := w.Service.Accept(context.Background(), tt.req)
			wantCode(t, err, tt.code, tt.contains)
			if d != nil {
				t.Errorf("refused request returned %+v", d)
			}
			if n := len(w.Store.Deployments()); n != 0 {
				t.Errorf("refused request stored %d deployments", n)
			}
			if n := w.GitHub.Calls("CreateDeployment"); n != 0 {
				t.Errorf("refused request created %d GitHub deployments", n)
			}
		})
	}
}

// Who may deploy where: listed people, team members, and from a terminal
// whoever holds the credentials.
func TestAcceptAllowed(t *testing.T) {
	for _, req := range []bot.Request{
		{App: "web", Env: "prod", Requester: "slack:UADMIN", Source: bot.SourceSlack},
		{App: "web", Env: "prod", Requester: "GitHub:Octocat", Source: bot.SourceGitHubAPI},
		{App: "web", Env: "prod", Requester: "github:writer", Source: bot.SourcePRComment},
		{App: "web", Env: "prod", Requester: "cli:someone", Source: bot.SourceCLI},
		{App: "web", Env: "dev", Requester: "slack:UANYONE", Source: bot.SourceSlack},
	} {
		w := newWorld(t)
		w.PRs.AddTeamMember("acme", "ops", "writer")
		req.Ref = "main"
		d, err := w.Service.Accept(context.Background(), req)
		if err != nil {
			t.Errorf("Accept %+v: %v", req, err)
			continue
		}
		if got := stored(t, w, d.ID); got.State != bot.StateReceived || got.Requester != req.Requester || got.Repo != "acme/web" || got.Ref != "main" {
			t.Errorf("stored %+v", got)
		}
	}
}

// The observer times each stage by the service's clock.
func TestObserverTimesStages(t *testing.T) {
	w := newWorld(t)
	w.GitHub.SetChecks(sha1, check("ci/test", bot.CheckPending))
	// The five minutes pass once the wait has begun: the second read of
	// CI results comes that much later.
	reads := 0
	w.GitHub.AfterChecks(func(sha string) {
		if reads++; reads == 1 {
			w.GitHub.SetChecks(sha1, green("ci/test"))
			w.Service.NotifyCI(sha)
			return
		}
		w.Clock.Advance(5 * time.Minute)
	})
	d := accept(t, w, "web", sha1, "dev", "slack:UDEV")
	if err := w.Service.Run(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	want := []bottest.Stage{
		{Deployment: 1, Stage: bot.StateReceived},
		{Deployment: 1, Stage: bot.StateQueued},
		{Deployment: 1, Stage: bot.StateWaitingForCI, Took: 5 * time.Minute},
		{Deployment: 1, Stage: bot.StateVerifyingImage},
		{Deployment: 1, Stage: bot.StateDeploying},
	}
	if diff := cmp.Diff(want, w.Observer.Stages()); diff != "" {
		t.Errorf("stages observed (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want[2:3], w.Observer.CIWaits()); diff != "" {
		t.Errorf("CI gates observed (-want +got):\n%s", diff)
	}
	msg, _ := w.Chat.Message(stored(t, w, d.ID).SlackChannel, stored(t, w, d.ID).SlackTS)
	if len(msg.Actions) != 1 || msg.Actions[0] != (bot.Action{ID: bot.ActionRollback, Label: "Roll back", Value: "1", Style: "danger"}) {
		t.Errorf("actions of a finished deployment's message %+v; want the Roll back button", msg.Actions)
	}
}
