package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// childCommit adds a commit on top of parent, by author, with its CI state
// and its image pushed; it returns the full sha.
func childCommit(sb *sandbox, parent, seed, author, ciState string) string {
	sum := sha256.Sum256([]byte(seed))
	sha := hex.EncodeToString(sum[:20])
	sb.github.AddChild(sandboxRepo, parent, sha, author, seed+"\n\nthe body is not shown")
	sb.github.SetStatus(sandboxRepo, sha, sandboxCheck, ciState)
	digest := sha256.Sum256([]byte("image " + seed))
	sb.aws.PutImage("takumi-server", "git_"+sha[:7], "sha256:"+hex.EncodeToString(digest[:]))
	return sha
}

// worldCounts is what a dry run must leave as it was.
type worldCounts struct {
	awsWrites, githubWrites, githubDeployments, rows, slackMessages int
}

func countWorld(t *testing.T, sb *sandbox) worldCounts {
	t.Helper()
	rows, err := sb.bot.store.Deployments(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	var githubWrites int
	for _, c := range sb.github.Calls() {
		if c.Method != http.MethodGet && !strings.HasSuffix(c.Path, "/access_tokens") {
			githubWrites++
		}
	}
	return worldCounts{
		awsWrites: len(sb.aws.Writes()), githubWrites: githubWrites,
		githubDeployments: len(sb.github.Deployments(sandboxRepo)), rows: len(rows),
		slackMessages: len(sb.slack.Messages(sandboxChannel)),
	}
}

// A dry run answers with what runs now and what would, CI per check, the
// lock and queue, and the commits that would ship, newest first with
// their authors; and it creates nothing: no AWS write, no GitHub
// deployment nor any other GitHub write, no row, no Slack message.
func TestSlackDryRunShowsThePlanAndCreatesNothing(t *testing.T) {
	sb := newTestSandbox(t)
	ctx := context.Background()
	base := sb.commit("dry run base", "main", "success", true)
	running := slashDeploy(t, sb, "takumi-server "+base[:7]+" dev")
	td, _ := sb.aws.Service(sandboxCluster, sandboxService)
	revision := td[strings.LastIndex(td, "/")+1:]

	head := base
	for i := 1; i <= 12; i++ {
		state := "success"
		if i == 12 {
			state = "pending"
		}
		head = childCommit(sb, head, fmt.Sprintf("change %d", i), []string{"alice", "bob"}[i%2], state)
	}
	if _, err := sb.bot.service.Lock(ctx, sandboxApp, "dev", "slack:UOTHER", "release freeze", 0); err != nil {
		t.Fatal(err)
	}
	before := countWorld(t, sb)

	code, reply, err := sb.slash(ctx, sandboxUser, "takumi-server "+head[:7]+" dev --dry-run")
	if err != nil {
		t.Fatal(err)
	}
	newDigest := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte("image change 12")))
	for _, want := range []string{
		"Dry run: takumi-server `" + head[:7] + "` → dev (nothing was created or changed)",
		"Now: " + sandboxImage + "@`" + strings.TrimPrefix(running.Image, sandboxImage+"@") + "` (task definition " + revision + "), deployed by deploybot as #" + fmt.Sprint(running.ID) + " (" + base[:7] + ")",
		"New: " + sandboxImage + "@`" + newDigest + "` (new)",
		"CI: pending (the deploy would wait for it): `ci/codeship` pending; waiting for `ci/codeship`",
		"Queue: takumi-server dev is locked by <@UOTHER>: release freeze (the deploy would be refused); nothing in flight",
		"Commits that would ship: 12 (the newest 10 below)",
		"• `" + head[:7] + "` change 12 (alice)",
		"change 3 (bob)",
	} {
		if !strings.Contains(reply, want) {
			t.Errorf("dry run reply lacks %q:\n%s", want, reply)
		}
	}
	for _, unwanted := range []string{"change 2 ", "the body is not shown"} {
		if strings.Contains(reply, unwanted) {
			t.Errorf("dry run reply shows %q:\n%s", unwanted, reply)
		}
	}
	if code != http.StatusOK {
		t.Errorf("dry run answered HTTP %d", code)
	}
	// The reply is the end of the request: the plan was made before it.
	if after := countWorld(t, sb); after != before {
		t.Errorf("a dry run changed the world: before %+v, after %+v; AWS writes %+v", before, after, sb.aws.Writes())
	}
}

// A dry run is refused like a deploy: not allowed, unknown ref; and
// `/deploy help` lists it and the promotion.
func TestSlackDryRunRefusals(t *testing.T) {
	sb := newTestSandbox(t)
	ctx := context.Background()
	sb.commit("dry run refusals", "main", "success", true)
	before := countWorld(t, sb)
	for text, want := range map[string]string{
		"takumi-server main prod --dry-run":     "may not deploy takumi-server to prod",
		"takumi-server nosuchref dev --dry-run": "not found",
	} {
		code, reply, err := sb.slash(ctx, sandboxStranger, text)
		if err != nil {
			t.Fatal(err)
		}
		if code != http.StatusOK || !strings.Contains(reply, want) || strings.Contains(reply, "Dry run:") {
			t.Errorf("/deploy %s: %d %q; want a refusal saying %q", text, code, reply, want)
		}
	}
	if after := countWorld(t, sb); after != before {
		t.Errorf("refused dry runs changed the world: before %+v, after %+v", before, after)
	}
	_, help, err := sb.slash(ctx, sandboxUser, "help")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"`/deploy &lt;app&gt; &lt;ref&gt; &lt;env&gt; --dry-run`", "`/deploy promote &lt;app&gt; &lt;from&gt; &lt;to&gt;`"} {
		if !strings.Contains(help, want) {
			t.Errorf("/deploy help lacks %s:\n%s", want, help)
		}
	}
}

// `deploy to dev --dry-run` on a pull request is answered there with the
// plan of deploying its head; it creates no deployment anywhere.
func TestPRCommentDryRun(t *testing.T) {
	sb := newTestSandbox(t)
	base := sb.commit("pr dry run base", "main", "success", true)
	slashDeploy(t, sb, "takumi-server "+base[:7]+" dev")
	head := childCommit(sb, base, "pr dry run change", "alice", "failure")
	sb.github.AddPullRequest(sandboxRepo, 12, head, "feature/z", sandboxWriter)
	before := countWorld(t, sb)

	id, d := prComment(t, sb, sandboxWriter, "deploy to dev --dry-run")
	if d != nil && d.PRNumber == 12 {
		t.Fatalf("a dry run deployed: %+v", d)
	}
	comments := sb.github.Comments(sandboxRepo, 12)
	last := comments[len(comments)-1]
	for _, want := range []string{
		"@" + sandboxWriter + " here is the plan:",
		"Dry run: takumi-server `" + head[:7] + "` → dev",
		"CI: failed (the deploy would fail): `ci/codeship` failure",
		"Commits that would ship: 1",
		"pr dry run change (alice)",
	} {
		if last.ID == id || !strings.Contains(last.Body, want) {
			t.Errorf("reply on the PR lacks %q:\n%s", want, last.Body)
		}
	}
	after := countWorld(t, sb)
	after.githubWrites = before.githubWrites // the reaction and the reply
	if after != before {
		t.Errorf("a PR dry run changed the world: before %+v, after %+v", before, after)
	}
}
