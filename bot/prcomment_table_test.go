package bot_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/bot/bottest"
)

// What the PR-comment trigger does with each comment: deploy the head the
// author saw, or answer on the pull request why not.
func TestHandleComment(t *testing.T) {
	written := bottest.T0.Add(time.Hour)
	tests := []struct {
		name   string
		repo   string
		body   string
		author string
		setup  func(w *bottest.World)
		// wantApp/wantEnv: the deployment accepted; else wantReply is
		// in the answer on the pull request ("" with no deployment: no
		// answer, not even a reaction).
		wantApp, wantEnv string
		wantReply        string
	}{
		{name: "deploys the head", repo: "acme/web", body: "deploy to dev", author: "writer", wantApp: "web", wantEnv: "dev"},
		{name: "names the app of a repo with several", repo: "acme/platform", body: "/deploy worker to dev", author: "writer", wantApp: "worker", wantEnv: "dev"},
		{name: "not for the bot", repo: "acme/web", body: "LGTM, ship it", author: "writer"},
		{name: "quoted", repo: "acme/web", body: "> deploy to dev\nwhy?", author: "writer"},
		{name: "malformed gets usage", repo: "acme/web", body: "deploy to", author: "writer", wantReply: "write `deploy to <env>`"},
		{name: "several apps, none named", repo: "acme/platform", body: "deploy to dev", author: "writer", wantReply: "deploys several apps (api, worker); say which"},
		{name: "unknown app of the repo", repo: "acme/platform", body: "deploy web to dev", author: "writer", wantReply: `acme/platform has no app "web"`},
		{name: "repo without apps", repo: "acme/other", body: "deploy to dev", author: "writer", wantReply: "deploybot has no app for acme/other"},
		{name: "unknown env", repo: "acme/web", body: "deploy to qa", author: "writer", wantReply: `app web has no environment "qa"`},
		{name: "read permission is not enough", repo: "acme/web", body: "deploy to dev", author: "reader", wantReply: "only people with write access to acme/web can deploy from a comment (your permission: read)"},
		{name: "not on the allow list", repo: "acme/web", body: "deploy to prod", author: "writer", wantReply: "may not deploy web to prod"},
		{
			name: "allowed through a team", repo: "acme/web", body: "deploy to prod", author: "writer", wantApp: "web", wantEnv: "prod",
			setup: func(w *bottest.World) { w.PRs.AddTeamMember("acme", "ops", "writer") },
		},
		{
			name: "head committed after the comment", repo: "acme/web", body: "deploy to dev", author: "writer", wantReply: "moved to `d00dfee` after your comment",
			setup: func(w *bottest.World) { w.PRs.SetHead(12, sha2, written.Add(time.Minute)) },
		},
		{
			name: "head pushed after the comment", repo: "acme/web", body: "deploy to dev", author: "writer", wantReply: "after your comment",
			setup: func(w *bottest.World) {
				w.Store.RecordHeadChange(context.Background(), bot.HeadChange{Repo: "ACME/web", Number: 12, SHA: sha1, At: written.Add(time.Second)})
			},
		},
		{
			name: "head pushed before the comment", repo: "acme/web", body: "deploy to dev", author: "writer", wantApp: "web", wantEnv: "dev",
			setup: func(w *bottest.World) {
				w.PRs.SetHead(12, sha1, written.Add(time.Hour)) // a commit dated later, pushed earlier
				w.Store.RecordHeadChange(context.Background(), bot.HeadChange{Repo: "acme/web", Number: 12, SHA: sha1, At: written.Add(-time.Second)})
			},
		},
		{
			name: "locked by someone else", repo: "acme/web", body: "deploy to dev", author: "writer", wantReply: "web dev is locked by slack:UOPS",
			setup: func(w *bottest.World) {
				w.Service.Lock(context.Background(), "web", "dev", "slack:UOPS", "", 0)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.PRs.SetPermission("writer", bot.PermissionWrite)
			w.PRs.SetPermission("reader", bot.PermissionRead)
			w.PRs.SetHead(12, sha1, written.Add(-time.Hour))
			if tt.setup != nil {
				tt.setup(w)
			}
			c := bot.Comment{Repo: bot.Repo{FullName: tt.repo, InstallationID: 7}, Number: 12, CommentID: 900, Author: tt.author, Body: tt.body, CreatedAt: written}
			d, err := w.Service.HandleComment(context.Background(), c)
			if err != nil {
				t.Fatalf("HandleComment: %v", err)
			}
			comments := w.PRs.Comments(12)
			if tt.wantApp != "" {
				if d == nil || d.App != tt.wantApp || d.Env != tt.wantEnv || d.SHA != sha1 || d.Ref != "PR #12" ||
					d.Requester != "github:"+tt.author || d.Source != bot.SourcePRComment || d.PRNumber != 12 || d.InstallationID != 7 {
					t.Errorf("accepted %+v; want %s %s at the head, from PR #12", d, tt.wantApp, tt.wantEnv)
				}
				if len(comments) != 0 {
					t.Errorf("answered %q on an accepted comment", comments[0].Body)
				}
			} else {
				if d != nil {
					t.Errorf("accepted %+v; want none", d)
				}
				if n := len(w.Store.Deployments()); n != 0 {
					t.Errorf("%d deployments stored", n)
				}
			}
			reacted := len(w.PRs.Reactions()) == 1 && w.PRs.Reactions()[0] == bottest.Reaction{CommentID: 900, Content: "eyes"}
			switch {
			case tt.wantApp == "" && tt.wantReply == "":
				if len(comments) != 0 || len(w.PRs.Reactions()) != 0 {
					t.Errorf("answered %v, reacted %v to a comment not for the bot", comments, w.PRs.Reactions())
				}
			case !reacted:
				t.Errorf("reactions %v; want eyes on comment 900", w.PRs.Reactions())
			case tt.wantReply != "":
				if len(comments) != 1 || !strings.HasPrefix(comments[0].Body, "@"+tt.author+" ") || !strings.Contains(comments[0].Body, tt.wantReply) {
					t.Errorf("answers %v; want one to @%s containing %q", comments, tt.author, tt.wantReply)
				}
			}
		})
	}
}

// A PR-comment deployment keeps one comment on the pull request, edited
// as it goes, ending with the outcome.
func TestPRCommentReports(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.PRs.SetPermission("writer", bot.PermissionAdmin)
	w.PRs.SetHead(12, sha1, bottest.T0)
	w.GitHub.SetChecks(sha1, green("ci/test"))
	d, err := w.Service.HandleComment(ctx, bot.Comment{Repo: bot.Repo{FullName: "acme/web"}, Number: 12, CommentID: 900, Author: "writer",
		Body: ".Deploy TO staging", CreatedAt: bottest.T0.Add(time.Minute)})
	if err != nil || d == nil {
		t.Fatalf("HandleComment = %v, %v", d, err)
	}
	if err := w.Service.Run(ctx, d); err != nil {
		t.Fatal(err)
	}
	comments := w.PRs.Comments(12)
	if len(comments) != 1 {
		t.Fatalf("%d comments on the pull request, want one edited in place", len(comments))
	}
	c := comments[0]
	if c.Edits == 0 || !strings.HasPrefix(c.Body, "✅ **Deployment #&#8203;1**: `web` `cf7edb2` to `staging` — Succeeded: Deployed cf7edb2 to staging (revision 2)") ||
		!strings.Contains(c.Body, "[environment](https://staging.example.com)") || !strings.Contains(c.Body, "[details](https://deploybot.example.com/deployments/1)") {
		t.Errorf("PR comment after %d edits:\n%s", c.Edits, c.Body)
	}
	if got := stored(t, w, d.ID); got.PRCommentID != c.ID {
		t.Errorf("stored comment id %d, want %d", got.PRCommentID, c.ID)
	}
}
