package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/emulator/faults"
	"github.com/deploybot/deploybot/emulator/githubemu"
)

// newHeadSandbox is a sandbox whose GitHub calls give up at once, so that
// a comment meets a GitHub outage with a quick 503.
func newHeadSandbox(t *testing.T) *sandbox {
	t.Helper()
	sb, err := newSandbox(context.Background(), "127.0.0.1:0", io.Discard, func(o *options) {
		o.githubRetryBase = time.Millisecond
		o.commentTimeout = 2 * time.Second
	})
	if err != nil {
		t.Fatalf("sandbox: %v", err)
	}
	t.Cleanup(sb.Close)
	return sb
}

// commentDuringOutage has a writer comment `deploy to dev` on PR 12 while
// GitHub cannot tell the PR's head, and returns the comment's delivery,
// which the bot answered 503.
func commentDuringOutage(t *testing.T, sb *sandbox) githubemu.Delivery {
	t.Helper()
	sb.github.Inject(faults.Rule{Match: githubemu.Route("GET", "/repos/*/*/pulls/*"), Respond: githubemu.ServerError(http.StatusBadGateway)})
	if _, err := sb.github.UserComment(sandboxRepo, 12, sandboxWriter, "deploy to dev"); err == nil {
		t.Fatal("the comment webhook succeeded while GitHub was down")
	}
	sb.github.ClearFaults()
	var last githubemu.Delivery
	for _, d := range sb.github.Deliveries() {
		if d.Event == "issue_comment" {
			last = d
		}
	}
	if last.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("comment delivery answered %d (%s); want 503", last.StatusCode, last.Err)
	}
	return last
}

// wantRefusedAsMoved checks that the redelivered comment deployed nothing
// and was answered on the PR, asking to comment again.
func wantRefusedAsMoved(t *testing.T, sb *sandbox, head string) {
	t.Helper()
	if ds, _ := sb.bot.store.Deployments(context.Background(), 10); len(ds) != 0 {
		t.Errorf("%d deployments; the first is of %s (head %s); want none", len(ds), ds[0].SHA, head)
	}
	if deps := sb.github.Deployments(sandboxRepo); len(deps) != 0 {
		t.Errorf("GitHub deployments were created: %+v", deps)
	}
	comments := sb.github.Comments(sandboxRepo, 12)
	last := comments[len(comments)-1]
	if last.Author == sandboxWriter || !strings.Contains(last.Body, "@"+sandboxWriter) ||
		!strings.Contains(last.Body, "moved to `"+head[:7]+"` after your comment") || !strings.Contains(last.Body, "comment again") {
		t.Errorf("last PR comment = %q by %s; want a reply saying the head moved and to comment again", last.Body, last.Author)
	}
}

// Issue #11: a comment refused with 503 while GitHub was down, and
// redelivered after a push to the PR, deployed the new head. The push's
// pull_request webhook says the head moved after the comment; without one
// (lost, or not come yet), a head commit made after the comment cannot be
// the one it saw.
func TestPRCommentRedeliveredAfterPushIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		push func(sb *sandbox, sha string) error
	}{
		{"pull_request webhook", func(sb *sandbox, sha string) error {
			return sb.github.PushToPullRequest(sandboxRepo, 12, sha)
		}},
		{"no webhook, head commit newer", func(sb *sandbox, sha string) error {
			sb.github.SetPullRequestHead(sandboxRepo, 12, sha)
			return nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sb := newHeadSandbox(t)
			seen := sb.commit("head seen", "feature/h", "success", true)
			sb.github.AddPullRequest(sandboxRepo, 12, seen, "feature/h", sandboxWriter)
			comment := commentDuringOutage(t, sb)

			sb.github.Advance(time.Minute)
			pushed := sb.commit("head pushed later", "feature/h", "success", true)
			if err := tc.push(sb, pushed); err != nil {
				t.Fatalf("push: %v", err)
			}
			if err := sb.github.Redeliver(comment.ID); err != nil {
				t.Fatalf("redelivery: %v", err)
			}
			wantRefusedAsMoved(t, sb, pushed)
		})
	}
}

// A comment written after a recorded push deploys the pushed head.
func TestPRCommentAfterPushDeploysThePushedHead(t *testing.T) {
	sb := newHeadSandbox(t)
	first := sb.commit("first head", "feature/h", "success", true)
	sb.github.AddPullRequest(sandboxRepo, 12, first, "feature/h", sandboxWriter)
	pushed := sb.commit("pushed head", "feature/h", "success", true)
	if err := sb.github.PushToPullRequest(sandboxRepo, 12, pushed); err != nil {
		t.Fatalf("pull_request webhook: %v", err)
	}
	sb.github.Advance(time.Minute)
	_, d := prComment(t, sb, sandboxWriter, "deploy to dev")
	if d == nil || d.SHA != pushed {
		t.Fatalf("deployment %+v; want one of the pushed head %s", d, pushed)
	}
}
