package main

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/emulator/githubemu"
)

// What users and CI name reaches people through the bot's messages; there
// it must stay text: no mention, no link, no markup (issue #11).

// Names CI may give its checks.
const (
	githubBait = "lint @acme/security-team [Approve here](https://evil.example)"
	slackBait  = "<!channel> <https://evil.example|click here>"
)

// newAllChecksSandbox is a sandbox whose app has no `checks:`, so every
// check CI reports counts and CI's own names end up in the reasons.
func newAllChecksSandbox(t *testing.T) *sandbox {
	t.Helper()
	sb, err := newSandbox(context.Background(), "127.0.0.1:0", io.Discard, func(o *options) {
		o.sandboxConfig = func(c *bot.Config) { c.Apps[sandboxApp].Checks = nil }
	})
	if err != nil {
		t.Fatalf("sandbox: %v", err)
	}
	t.Cleanup(sb.Close)
	return sb
}

// botComments returns the comments on PR 12 that the bot wrote.
func botComments(sb *sandbox) []githubemu.Comment {
	var out []githubemu.Comment
	for _, c := range sb.github.Comments(sandboxRepo, 12) {
		if c.Author == githubemu.AppBotLogin {
			out = append(out, c)
		}
	}
	return out
}

func TestCheckNamesStayTextInPRCommentAndSlack(t *testing.T) {
	sb := newAllChecksSandbox(t)
	head := sb.commit("bait checks", "feature/bait", "success", true)
	sb.github.SetCheckRun(sandboxRepo, head, githubBait, "completed", "failure")
	sb.github.SetCheckRun(sandboxRepo, head, slackBait, "completed", "failure")
	sb.github.AddPullRequest(sandboxRepo, 12, head, "feature/bait", sandboxWriter)

	_, d := prComment(t, sb, sandboxWriter, "deploy to dev")
	if d == nil || d.State != bot.StateFailed || !strings.Contains(d.Reason, githubBait) {
		t.Fatalf("deployment %+v; want failed naming the checks", d)
	}
	ours := botComments(sb)
	if len(ours) != 1 {
		t.Fatalf("bot comments %+v; want one", ours)
	}
	r := githubemu.RenderMarkdown(ours[0].Body)
	if len(r.Mentions) > 0 || slices.ContainsFunc(r.Links, func(l string) bool { return strings.Contains(l, "evil") }) {
		t.Errorf("PR comment %q mentions %q and links %q", ours[0].Body, r.Mentions, r.Links)
	}
	if !slices.Contains(r.Code, githubBait) || !slices.Contains(r.Code, slackBait) {
		t.Errorf("PR comment shows code %q; want each check's name as code", r.Code)
	}

	msg, _ := sb.slack.Message(d.SlackChannel, d.SlackTS)
	if strings.Contains(msg.Text, "<!channel>") || strings.Contains(msg.Text, "<https://evil") || !strings.Contains(msg.Text, "&lt;!channel&gt;") {
		t.Errorf("Slack message %q carries Slack markup from CI", msg.Text)
	}
	_, reply, err := sb.slash(context.Background(), sandboxUser, "history takumi-server")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(reply, "<!channel>") || strings.Contains(reply, "<https://evil") || !strings.Contains(reply, "&lt;!channel&gt;") {
		t.Errorf("/deploy history = %q; it carries Slack markup from CI", reply)
	}
}

func TestLockReasonStaysTextOnGitHub(t *testing.T) {
	sb := newTestSandbox(t)
	head := sb.commit("locked head", "feature/locked", "success", true)
	sb.github.AddPullRequest(sandboxRepo, 12, head, "feature/locked", sandboxWriter)
	if _, reply, err := sb.slash(context.Background(), sandboxUser, "lock takumi-server dev "+githubBait+" &lt;b&gt;"); err != nil || !strings.Contains(reply, "locked") {
		t.Fatalf("lock: %q %v", reply, err)
	}

	if _, d := prComment(t, sb, sandboxWriter, "deploy to dev"); d != nil {
		t.Fatalf("a locked env deployed: %+v", d)
	}
	ours := botComments(sb)
	if len(ours) != 1 || !strings.Contains(ours[0].Body, "is locked") {
		t.Fatalf("bot comments %+v; want one refusal naming the lock", ours)
	}
	r := githubemu.RenderMarkdown(ours[0].Body)
	if !slices.Equal(r.Mentions, []string{"@" + sandboxWriter}) || len(r.Links) > 0 || slices.ContainsFunc(r.Tags, func(tag string) bool { return tag != "p" }) {
		t.Errorf("refusal %q mentions %q, links %q, tags %q; want only its addressee mentioned", ours[0].Body, r.Mentions, r.Links, r.Tags)
	}
	if !strings.Contains(r.Text, githubBait+" <b>") {
		t.Errorf("refusal shows %q; want the lock's reason as written", r.Text)
	}
}
