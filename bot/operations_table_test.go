package bot_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
)

// status, history and apps: what the read-only commands answer.
func TestReadCommands(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	seed(t, w, "web", "prod", sha1, bot.StateSucceeded)
	w.Clock.Advance(90 * time.Second)
	failed := seed(t, w, "web", "prod", sha2, bot.StateFailed)
	failed.Reason = "tasks failed <!here>"
	if err := w.Store.UpdateDeployment(ctx, failed); err != nil {
		t.Fatal(err)
	}
	seed(t, w, "web", "prod", sha3, bot.StateWaitingForCI)
	if _, err := w.Service.Lock(ctx, "web", "prod", "slack:UOPS", "incident", 0); err != nil {
		t.Fatal(err)
	}

	status, err := w.Service.Status(ctx, "web", "prod")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"*web*: prod — runs `cf7edb2` (#1, <@USEED>, 2026-11-30 09:00 UTC)", "#3 `e1e1e1e` waiting_for_ci", ":lock: web prod locked by <@UOPS>: incident"} {
		if !strings.Contains(status.Text, want) {
			t.Errorf("status %q lacks %q", status.Text, want)
		}
	}
	all, err := w.Service.Status(ctx, "web", "")
	if err != nil || len(all.Fields) != 3 || !strings.Contains(all.Text, "dev — nothing deployed by deploybot yet") {
		t.Errorf("status of every env = %+v, %v", all, err)
	}
	_, err = w.Service.Status(ctx, "nope", "")
	wantCode(t, err, bot.ENOTFOUND, `unknown app "nope"; known apps: api, web, worker`)

	history, err := w.Service.History(ctx, "web", "prod")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(history.Text, "\n")
	if len(lines) != 4 || lines[0] != "Last deployments of *web prod*:" ||
		!strings.HasPrefix(lines[2], ":x: #2 `d00dfee` → prod, failed by <@USEED>, 2026-11-30 09:01 UTC (0s) — tasks failed &lt;!here&gt;") {
		t.Errorf("history:\n%s", history.Text)
	}
	empty, err := w.Service.History(ctx, "api", "")
	if err != nil || empty.Text != "No deployments of api yet." {
		t.Errorf("history of an app never deployed = %q, %v", empty.Text, err)
	}
	_, err = w.Service.History(ctx, "web", "qa")
	wantCode(t, err, bot.ENOTFOUND, `app web has no environment "qa"`)

	apps := w.Service.Apps()
	if want := "Apps I deploy:\napi — acme/platform: dev (ecs)\nweb — acme/web: dev (ecs), prod (ecs), staging (elasticbeanstalk)\nworker — acme/platform: dev (ecs)"; apps.Text != want {
		t.Errorf("apps:\n%s\nwant:\n%s", apps.Text, want)
	}
}

// A GitHub deployment deploybot will not run is closed with an error that
// says why; a failure to reach the requester is only logged.
func TestRejectAndRespond(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.Service.Reject(ctx, bot.Repo{FullName: "acme/web"}, 77, bot.Errorf(bot.EFORBIDDEN, "github:mallory may not deploy web to prod"))
	if got := w.GitHub.LastStatus(77); got.State != "error" || got.Description != "deploybot: github:mallory may not deploy web to prod" {
		t.Errorf("status of the rejected deployment %+v", got)
	}
	w.Service.Respond(ctx, "https://hooks.slack.test/1", bot.Message{Text: "done"})
	w.Service.Respond(ctx, "", bot.Message{Text: "nowhere to go"})
	if got := w.Chat.Replies("https://hooks.slack.test/1"); len(got) != 1 || got[0].Text != "done" || w.Chat.Calls("Respond") != 1 {
		t.Errorf("replies %+v after %d calls", got, w.Chat.Calls("Respond"))
	}
}

// When Slack never took the deployment's message, the requester hears of
// the failure privately; a GitHub that refuses statuses fails nothing.
func TestFailureReachesRequesterWithoutSlackChannel(t *testing.T) {
	w := newWorld(t)
	w.Chat.Fault("Post", bot.Errorf(bot.EUNAVAILABLE, "slack is down"))
	w.GitHub.Fault("CreateDeploymentStatus", bot.Errorf(bot.EINVALID, "validation failed"))
	w.GitHub.SetChecks(sha1, check("ci/test", bot.CheckFailure))
	d := accept(t, w, "web", sha1, "dev", "slack:UDEV")
	if err := w.Service.Run(context.Background(), d); err == nil {
		t.Fatal("Run with red CI returned no error")
	}
	replies := w.Chat.Replies(d.SlackResponseURL)
	if len(replies) != 1 || replies[0].Text != "Deployment #1 of web "+sha1+" to dev failed: CI failed for cf7edb2: `ci/test` (failure)" {
		t.Errorf("private replies %+v", replies)
	}
	if got := stored(t, w, d.ID); got.State != bot.StateFailed {
		t.Errorf("state %s", got.State)
	}
}
