package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/emulator/githubemu"
)

// prComment has a user comment on PR 12 and returns the deployment it
// started, if any, after its pipeline finished.
func prComment(t *testing.T, sb *sandbox, author, body string) (int64, *bot.Deployment) {
	t.Helper()
	id, err := sb.github.UserComment(sandboxRepo, 12, author, body)
	if err != nil {
		t.Fatalf("comment webhook: %v", err)
	}
	ds, _ := sb.bot.store.Deployments(context.Background(), 1)
	if len(ds) == 0 || ds[0].PRNumber != 12 {
		return id, nil
	}
	d, err := sb.wait(context.Background(), ds[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	return id, d
}

func TestPRCommentDeploysHead(t *testing.T) {
	sb := newTestSandbox(t)
	old := sb.commit("pr old head", "feature/x", "success", true)
	sb.github.AddPullRequest(sandboxRepo, 12, old, "feature/x", sandboxWriter)
	head := sb.commit("pr new head", "feature/x", "success", true)
	sb.github.SetPullRequestHead(sandboxRepo, 12, head)

	commentID, d := prComment(t, sb, sandboxWriter, "Deploy to dev\n\nlooks good")
	if d == nil {
		t.Fatal("no deployment from a writer's comment")
	}
	if d.State != bot.StateSucceeded || d.SHA != head || d.Source != bot.SourcePRComment || d.Requester != "github:"+sandboxWriter {
		t.Errorf("deployment = %s %s %s %s (%s), want succeeded on the head %s", d.State, d.SHA, d.Source, d.Requester, d.Reason, head)
	}
	if r := sb.github.Reactions(sandboxRepo, commentID); len(r) != 1 || r[0] != "eyes" {
		t.Errorf("reactions %v, want eyes", r)
	}
	sb.github.WaitWebhooks()
	var ours []githubemu.Comment
	for _, c := range sb.github.Comments(sandboxRepo, 12) {
		if c.ID != commentID {
			ours = append(ours, c)
		}
	}
	if len(ours) != 1 {
		t.Fatalf("bot comments on the PR: %+v, want one edited in place", ours)
	}
	c := ours[0]
	if !strings.Contains(c.Body, "✅") || !strings.Contains(c.Body, "Succeeded") || !strings.Contains(c.Body, fmt.Sprintf("/deployments/%d", d.ID)) || c.Edits == 0 {
		t.Errorf("PR comment = %q after %d edits, want the outcome and a link", c.Body, c.Edits)
	}
	// The bot's own comment came back as a webhook and started nothing.
	if ds, _ := sb.bot.store.Deployments(context.Background(), 10); len(ds) != 1 {
		t.Errorf("%d deployments, want 1", len(ds))
	}
}

func TestPRCommentRefusedAndIgnored(t *testing.T) {
	sb := newTestSandbox(t)
	head := sb.commit("pr head", "feature/y", "success", true)
	sb.github.AddPullRequest(sandboxRepo, 12, head, "feature/y", sandboxReader)
	sb.github.AddIssue(sandboxRepo, 13, sandboxWriter)

	id, d := prComment(t, sb, sandboxReader, "deploy to dev")
	if d != nil {
		t.Fatalf("a reader's comment deployed: %+v", d)
	}
	comments := sb.github.Comments(sandboxRepo, 12)
	if last := comments[len(comments)-1]; last.ID == id || !strings.Contains(last.Body, "@"+sandboxReader) || !strings.Contains(last.Body, "write access") {
		t.Errorf("reply to the reader = %+v", last)
	}

	for _, body := range []string{"> deploy to dev\n\nshould we?", "```\ndeploy to dev\n```", "please deploy to dev", "LGTM\ndeploy to dev"} {
		before := len(sb.github.Comments(sandboxRepo, 12))
		id, d := prComment(t, sb, sandboxWriter, body)
		if d != nil {
			t.Errorf("%q deployed", body)
		}
		if r := sb.github.Reactions(sandboxRepo, id); len(r) != 0 {
			t.Errorf("%q got reactions %v", body, r)
		}
		if after := len(sb.github.Comments(sandboxRepo, 12)); after != before+1 {
			t.Errorf("%q got a reply", body)
		}
	}
	if _, err := sb.github.UserComment(sandboxRepo, 13, sandboxWriter, "deploy to dev"); err != nil {
		t.Fatal(err)
	}
	if n := len(sb.github.Comments(sandboxRepo, 13)); n != 1 {
		t.Errorf("a comment on a plain issue got %d replies", n-1)
	}
	if deps := sb.github.Deployments(sandboxRepo); len(deps) != 0 {
		t.Errorf("GitHub deployments were created: %+v", deps)
	}
}

// The intake reads GitHub's own example payload, rewritten for the
// sandbox's repository and signed like GitHub signs it.
func TestPRCommentCorpusPayload(t *testing.T) {
	raw, err := os.ReadFile("../../testdata/corpus/github-webhooks/issue_comment/created.payload.json")
	if err != nil {
		t.Fatalf("corpus: %v", err)
	}
	sb := newTestSandbox(t)
	head := sb.commit("corpus head", "feature/z", "success", true)
	sb.github.AddPullRequest(sandboxRepo, 12, head, "feature/z", sandboxWriter)
	// The comment the corpus payload will announce exists on GitHub (the
	// bot reacts to it), but its own webhook is not delivered: the test
	// delivers GitHub's example instead.
	sb.github.SetWebhook("", "")
	commentID, _ := sb.github.UserComment(sandboxRepo, 12, sandboxWriter, "/deploy to dev")
	sb.github.SetWebhook(sb.bot.URL+"/webhooks/github", sandboxWebhookSecret)
	if comments := sb.github.Comments(sandboxRepo, 12); len(comments) != 1 || comments[0].ID != commentID {
		t.Fatalf("comment not stored: %+v", comments)
	}

	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	ev["repository"].(map[string]any)["full_name"] = sandboxRepo
	issue := ev["issue"].(map[string]any)
	issue["number"] = 12
	issue["pull_request"] = map[string]any{"url": "https://api.github.com/repos/" + sandboxRepo + "/pulls/12"}
	comment := ev["comment"].(map[string]any)
	comment["id"] = commentID
	comment["body"] = "/deploy to dev"
	// Written now, after the head it asks for: a comment older than its
	// PR's head commit is refused.
	comment["created_at"] = time.Now().UTC().Format(time.RFC3339)
	comment["user"].(map[string]any)["login"] = sandboxWriter
	comment["user"].(map[string]any)["type"] = "User"
	ev["installation"] = map[string]any{"id": sandboxInstall}
	body, _ := json.Marshal(ev)

	req, _ := http.NewRequest("POST", sb.bot.URL+"/webhooks/github", bytes.NewReader(body))
	req.Header.Set("X-GitHub-Event", "issue_comment")
	req.Header.Set("X-GitHub-Delivery", "corpus-1")
	req.Header.Set("X-Hub-Signature-256", githubemu.Signature256(sandboxWebhookSecret, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("HTTP %d", resp.StatusCode)
	}
	ds, _ := sb.bot.store.Deployments(context.Background(), 1)
	if len(ds) != 1 {
		t.Fatal("no deployment from the corpus comment")
	}
	d, err := sb.wait(context.Background(), ds[0].ID)
	if err != nil || d.State != bot.StateSucceeded || d.SHA != head {
		t.Errorf("deployment %+v, %v", d, err)
	}

	// GitHub redelivers it under a new delivery id: the comment has been
	// handled, nothing happens twice.
	req, _ = http.NewRequest("POST", sb.bot.URL+"/webhooks/github", bytes.NewReader(body))
	req.Header.Set("X-GitHub-Event", "issue_comment")
	req.Header.Set("X-GitHub-Delivery", "corpus-2")
	req.Header.Set("X-Hub-Signature-256", githubemu.Signature256(sandboxWebhookSecret, body))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ds, _ := sb.bot.store.Deployments(context.Background(), 5); resp.StatusCode != http.StatusOK || len(ds) != 1 {
		t.Errorf("redelivery: HTTP %d, %d deployments; want 200 and still 1", resp.StatusCode, len(ds))
	}
}

func TestSlackStrangerRefusedOnProd(t *testing.T) {
	sb := newTestSandbox(t)
	sb.commit("prod", "main", "success", true)
	code, reply, err := sb.slash(context.Background(), sandboxStranger, "takumi-server main prod")
	if err != nil {
		t.Fatal(err)
	}
	if code != http.StatusOK || !strings.Contains(reply, "may not deploy takumi-server to prod") || !strings.Contains(reply, "add you to its allow list") {
		t.Errorf("reply %d %q, want a refusal naming prod and how to get access", code, reply)
	}
	if strings.Contains(reply, "U024BE7LH") {
		t.Errorf("reply %q reveals prod's allow list", reply)
	}
	if ds, _ := sb.bot.store.Deployments(context.Background(), 5); len(ds) != 0 {
		t.Errorf("stored %d deployments", len(ds))
	}
	if n := len(sb.github.Calls()); n != 0 {
		t.Errorf("%d GitHub calls", n)
	}
}
