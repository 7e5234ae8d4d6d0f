package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/emulator/slackemu"
	"github.com/deploybot/deploybot/store/postgres/pgtest"
)

// newApprovalSandbox is the sandbox with prod asking for one approval
// within timeout, from people allowed on it (the requester, the approver).
func newApprovalSandbox(t *testing.T, timeout time.Duration) *sandbox {
	return newApprovalSandboxOn(t, "prod", timeout)
}

// newApprovalSandboxOn is the sandbox with env asking for one approval.
func newApprovalSandboxOn(t *testing.T, env string, timeout time.Duration) *sandbox {
	t.Helper()
	sb, err := newSandbox(context.Background(), "127.0.0.1:0", io.Discard, func(o *options) {
		o.sandboxConfig = func(c *bot.Config) {
			e := c.Apps[sandboxApp].Environments[env]
			e.Approvals = 1
			e.ApprovalTimeout = bot.Duration(timeout)
			e.Allow = append(e.Allow, bot.SlackRequester(sandboxApprover))
		}
	})
	if err != nil {
		t.Fatalf("sandbox: %v", err)
	}
	t.Cleanup(sb.Close)
	return sb
}

// deployForApproval asks for sha on prod and returns the deployment once
// its Slack message says it waits for approval.
func deployForApproval(t *testing.T, sb *sandbox, sha string) *bot.Deployment {
	t.Helper()
	id, err := sb.slashAccepted(context.Background(), "takumi-server "+sha[:7]+" prod")
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	return waitForApprovalMessage(t, sb, id)
}

func waitForApprovalMessage(t *testing.T, sb *sandbox, id int64) *bot.Deployment {
	t.Helper()
	waitMessage(t, sb, id, "waiting for approval (0 of 1)")
	// Read after the message: the row read before it may predate the
	// step the message tells of (the pipeline saves, then tells).
	d, err := sb.bot.store.Deployment(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if d.State != bot.StateWaitingForApproval {
		t.Fatalf("deployment #%d is %s (%s), its message says it waits for approval", id, d.State, d.Reason)
	}
	return d
}

// click plays Slack sending user's click on the button actionID of
// deployment id and returns what the bot answered through response_url.
func click(t *testing.T, sb *sandbox, user, actionID string, id int64) string {
	t.Helper()
	responseURL := sb.slack.NewResponseURL()
	payload, _ := json.Marshal(map[string]any{
		"type": "block_actions", "user": map[string]any{"id": user}, "channel": map[string]any{"id": sb.slack.ChannelID(sandboxChannel)},
		"response_url": responseURL, "actions": []map[string]any{{"action_id": actionID, "value": fmt.Sprint(id)}},
	})
	body := []byte(url.Values{"payload": {string(payload)}}.Encode())
	resp, err := http.DefaultClient.Do(signedInteraction(sb, body, sandboxSigningSecret, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("click %s: HTTP %d", actionID, resp.StatusCode)
	}
	replies := sb.slack.Responses(responseURL)
	if len(replies) != 1 || !replies[0].Ephemeral() {
		t.Fatalf("click %s: response_url got %+v", actionID, replies)
	}
	return replies[0].Text
}

// signedInteraction is Slack posting body to the bot's interactions
// endpoint at now, signed with secret.
func signedInteraction(sb *sandbox, body []byte, secret string, now time.Time) *http.Request {
	req, _ := http.NewRequest("POST", sb.bot.URL+"/slack/interactions", bytes.NewReader(body))
	req.Header.Set("X-Slack-Request-Timestamp", fmt.Sprint(now.Unix()))
	req.Header.Set("X-Slack-Signature", slackemu.Sign(secret, now, body))
	return req
}

// blocksText is the message's blocks as their words, JSON's escapes gone.
func blocksText(t *testing.T, m slackemu.Message) string {
	t.Helper()
	var blocks any
	if err := json.Unmarshal(m.Blocks, &blocks); err != nil {
		t.Fatalf("Slack blocks: %v", err)
	}
	return fmt.Sprint(blocks)
}

func githubStatusLine(sb *sandbox, d *bot.Deployment) string {
	var parts []string
	for _, st := range sb.github.Statuses(sandboxRepo, d.GitHubDeploymentID) {
		parts = append(parts, st.State+" "+st.Description)
	}
	return strings.Join(parts, " | ")
}

// Nobody approves their own deployment, nor does someone not allowed on
// the env; an allowed second person does, and only then does AWS hear of
// it. Who approved is on the timeline and in the final Slack message.
func TestApprovalBySecondPersonDeploys(t *testing.T) {
	sb := newApprovalSandbox(t, time.Hour)
	ctx := context.Background()
	sha := sb.commit("approval approve", "main", "success", true)
	d := deployForApproval(t, sb, sha)

	m, _ := sb.slack.Message(d.SlackChannel, d.SlackTS)
	for _, want := range []string{"action_id:reject", "May approve", "<@" + sandboxApprover + ">", "0 of 1"} {
		if !strings.Contains(blocksText(t, m), want) {
			t.Errorf("Slack message waiting for approval lacks %s: %s", want, m.Blocks)
		}
	}
	if st := githubStatusLine(sb, d); !strings.Contains(st, "queued CI passed; waiting for approval") {
		t.Errorf("GitHub statuses %q: none says queued, waiting for approval", st)
	}

	resp, err := http.Get(sb.bot.URL + "/api/deployments?state=in_flight")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), `"state":"waiting_for_approval"`) || !strings.Contains(string(page), fmt.Sprintf(`"id":%d`, d.ID)) {
		t.Errorf("the dashboard's deployments in flight do not show #%d waiting for approval: %s", d.ID, page)
	}

	if reply := click(t, sb, sandboxUser, bot.ActionApprove, d.ID); !strings.Contains(reply, "you cannot approve it") {
		t.Errorf("self-approval answered %q", reply)
	}
	_, reply, err := sb.slash(ctx, sandboxStranger, fmt.Sprintf("approve #%d", d.ID))
	if err != nil || !strings.Contains(reply, "may not decide on deployments to takumi-server prod") {
		t.Errorf("approval by someone not allowed answered %q, %v", reply, err)
	}
	if d, err = sb.bot.store.Deployment(ctx, d.ID); err != nil || d.State != bot.StateWaitingForApproval {
		t.Fatalf("after two refused approvals: %+v, %v", d, err)
	}
	if calls := sb.aws.Calls(); len(calls) != 0 {
		t.Fatalf("AWS heard of the deployment before its approval: %+v", calls)
	}

	if reply := click(t, sb, sandboxApprover, bot.ActionApprove, d.ID); !strings.Contains(reply, fmt.Sprintf("You approved deployment #%d", d.ID)) || !strings.Contains(reply, "1 of 1") {
		t.Errorf("approval answered %q", reply)
	}
	d, err = sb.wait(ctx, d.ID)
	if err != nil || d.State != bot.StateSucceeded {
		t.Fatalf("after approval: %+v, %v", d, err)
	}
	td, _ := sb.aws.Service("prod", sandboxService)
	if image := sb.aws.TaskDefinitionImage(td, sandboxContainer); image != d.Image {
		t.Errorf("ECS prod runs %q, want %q", image, d.Image)
	}
	if st := sb.github.Statuses(sandboxRepo, d.GitHubDeploymentID); st[len(st)-1].State != "success" {
		t.Errorf("GitHub statuses %q end without success", githubStatusLine(sb, d))
	}
	events, err := sb.bot.store.Events(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	var timeline []string
	for _, e := range events {
		timeline = append(timeline, e.Message)
	}
	if want := "Approved by slack:" + sandboxApprover + " (1 of 1)"; !strings.Contains(strings.Join(timeline, "\n"), want) {
		t.Errorf("timeline %q lacks %q", timeline, want)
	}
	m, _ = sb.slack.Message(d.SlackChannel, d.SlackTS)
	if !strings.Contains(m.Text, "Succeeded") || !strings.Contains(blocksText(t, m), "*Approved by*\n<@"+sandboxApprover+"> at ") {
		t.Errorf("final Slack message %q does not say who approved: %s", m.Text, m.Blocks)
	}
	// The dashboard's page names the approver as Slack does, with the time.
	if page := get(t, fmt.Sprintf("%s/deployments/%d", sb.bot.URL, d.ID)); !strings.Contains(page, `<dd id="approved-by"><span class="who" title="slack:`+sandboxApprover+`">carol</span> <span class="muted small">at <time datetime="`) {
		t.Errorf("the dashboard page of #%d does not say carol approved it, and when", d.ID)
	}
	if strings.Contains(string(m.Blocks), `"action_id":"approve"`) {
		t.Errorf("final Slack message still offers Approve: %s", m.Blocks)
	}
	_, reply, _ = sb.slash(ctx, sandboxApprover, fmt.Sprintf("approve %d", d.ID))
	if !strings.Contains(reply, "is succeeded; only a deployment waiting for approval can be approved") {
		t.Errorf("approving a finished deployment answered %q", reply)
	}
}

// A rejection ends the deployment failed, naming who said no, and nothing
// reaches AWS.
func TestApprovalRejectFails(t *testing.T) {
	sb := newApprovalSandbox(t, time.Hour)
	ctx := context.Background()
	d := deployForApproval(t, sb, sb.commit("approval reject", "main", "success", true))

	if reply := click(t, sb, sandboxStranger, bot.ActionReject, d.ID); !strings.Contains(reply, "may not decide") {
		t.Errorf("rejection by someone not allowed answered %q", reply)
	}
	if reply := click(t, sb, sandboxApprover, bot.ActionReject, d.ID); !strings.Contains(reply, "rejected by <@"+sandboxApprover+">") {
		t.Errorf("rejection answered %q", reply)
	}
	d, err := sb.wait(ctx, d.ID)
	if err != nil || d.State != bot.StateFailed || d.Reason != "rejected by slack:"+sandboxApprover {
		t.Fatalf("after rejection: %+v, %v", d, err)
	}
	st := sb.github.Statuses(sandboxRepo, d.GitHubDeploymentID)
	if last := st[len(st)-1]; last.State != "failure" || last.Description != "Rejected by slack:"+sandboxApprover {
		t.Errorf("final GitHub status %+v, want failure saying who rejected", last)
	}
	if m, _ := sb.slack.Message(d.SlackChannel, d.SlackTS); !strings.Contains(m.Text, "Rejected by <@"+sandboxApprover+">") {
		t.Errorf("Slack message %q", m.Text)
	}
	if calls := sb.aws.Calls(); len(calls) != 0 {
		t.Errorf("AWS calls for a rejected deployment: %+v", calls)
	}
}

// Unapproved within approval_timeout, the deployment fails, and nothing
// reaches AWS.
func TestApprovalTimeoutFails(t *testing.T) {
	sb := newApprovalSandbox(t, 300*time.Millisecond)
	ctx := context.Background()
	sha := sb.commit("approval timeout", "main", "success", true)
	id, err := sb.slashAccepted(ctx, "takumi-server "+sha[:7]+" prod")
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	d, err := sb.wait(ctx, id)
	if err != nil || d.State != bot.StateFailed || !strings.Contains(d.Reason, "not approved within 300ms: 0 of 1 approvals given") {
		t.Fatalf("after the approval timeout: %+v, %v", d, err)
	}
	if st := githubStatusLine(sb, d); !strings.Contains(st, "queued CI passed; waiting for approval") || !strings.Contains(st, "failure not approved within 300ms") {
		t.Errorf("GitHub statuses %q", st)
	}
	if calls := sb.aws.Calls(); len(calls) != 0 {
		t.Errorf("AWS calls for an unapproved deployment: %+v", calls)
	}
}

// A deployment parked waiting for approval by one replica is woken by an
// approval given to another: the wake goes through the store. Unwoken, it
// would look again only after minutes.
func TestApprovalWakesAcrossReplicas(t *testing.T) {
	dsn := pgtest.Schema(t, pgtest.DSN(t))
	f := newFleet(t)
	f.approvals = 1
	f.addServices([]string{"dev"})
	addrs := []string{freeAddr(t), freeAddr(t)}
	logs := replicaLogs(t, 2)
	configs := make([]string, 2)
	for i, addr := range addrs {
		configs[i] = f.config(t, fmt.Sprintf("approve%d.yaml", i), dsn, addr, []string{"dev"})
	}
	// Only B runs while the deployment starts, so B parks it.
	f.serveProcess(t, configs[1], addrs[1], "replica-b", &logs[1])
	sha := f.commit("approval across replicas")
	reply := f.say(t, addrs[1], sandboxUser, "takumi-server "+sha[:7]+" dev")
	var id int64
	if _, err := fmt.Sscanf(reply, `{"response_type":"ephemeral","text":"Deployment #%d accepted`, &id); err != nil {
		t.Fatalf("deploy reply %s: %v", reply, err)
	}
	waitFor(t, "the deployment to wait for approval", 30*time.Second, func() bool {
		return strings.Contains(logs[1].String(), "waiting_for_approval")
	})
	if n := len(f.aws.Calls()); n != 0 {
		t.Fatalf("%d AWS calls before the approval", n)
	}
	f.serveProcess(t, configs[0], addrs[0], "replica-a", &logs[0])
	if reply := f.say(t, addrs[0], "U0OTHER", fmt.Sprintf("approve %d", id)); !strings.Contains(reply, "1 of 1 approvals") {
		t.Fatalf("approval on replica A answered %s", reply)
	}
	f.waitAllSucceeded(t, "the deployment woken through the other replica", 1, time.Minute)
	if n := f.aws.CallCount("UpdateService"); n != 1 {
		t.Errorf("UpdateService called %d times, want 1", n)
	}
}

// The automatic rollback of a failed rollout to an environment with
// approvals does not wait for one: it restores what ran there before.
func TestAutoRollbackNeedsNoApproval(t *testing.T) {
	sb := newApprovalSandbox(t, time.Hour)
	ctx := context.Background()
	first := deployForApproval(t, sb, sb.commit("approval good", "main", "success", true))
	click(t, sb, sandboxApprover, bot.ActionApprove, first.ID)
	if d, err := sb.wait(ctx, first.ID); err != nil || d.State != bot.StateSucceeded {
		t.Fatalf("first deployment: %+v, %v", d, err)
	}

	sb.aws.FailRollouts("prod", sandboxService, true)
	second := deployForApproval(t, sb, sb.commit("approval crashloop", "next", "success", true))
	click(t, sb, sandboxApprover, bot.ActionApprove, second.ID)
	// Failed, or rolled_back already if the rollback won the race to
	// this read.
	if d, err := sb.wait(ctx, second.ID); err != nil || d.State != bot.StateFailed && d.State != bot.StateRolledBack {
		t.Fatalf("failing deployment: %+v, %v", d, err)
	}
	rb, err := sb.latest(ctx)
	if err != nil || rb.RollbackOf != second.ID {
		t.Fatalf("no rollback of #%d: %+v, %v", second.ID, rb, err)
	}
	// Whatever the rollout of the rollback gives, it must get there
	// without anyone approving it.
	rb, err = sb.wait(ctx, rb.ID)
	if err != nil || rb.SHA != first.SHA || rb.RolloutRef == "" {
		t.Fatalf("rollback: %+v, %v; want it to have reached AWS with %s", rb, err, first.ShortSHA())
	}
	if st := githubStatusLine(sb, rb); strings.Contains(st, "waiting for approval") {
		t.Errorf("the rollback waited for approval: %s", st)
	}
}

// Auto deployments to an env with approvals wait for them the same way,
// and a newer push still supersedes one that waits.
func TestAutoDeployWaitsForApproval(t *testing.T) {
	sb := newApprovalSandboxOn(t, "dev", time.Hour)
	ctx := context.Background()
	older := sb.commit("auto approval older", "", "success", true)
	if _, err := sb.github.Push(sandboxRepo, "main", older, "octocat"); err != nil {
		t.Fatal(err)
	}
	first := waitForApprovalMessage(t, sb, autoDeployments(t, sb, "dev")[0].ID)
	if first.Requester != "github:octocat" {
		t.Errorf("auto deployment requested by %s, want the pusher", first.Requester)
	}

	newer := sb.commit("auto approval newer", "", "success", true)
	if _, err := sb.github.Push(sandboxRepo, "main", newer, "octocat"); err != nil {
		t.Fatal(err)
	}
	if d, err := sb.wait(ctx, first.ID); err != nil || d.State != bot.StateSuperseded {
		t.Fatalf("older push waiting for approval: %+v, %v; want superseded", d, err)
	}
	auto := autoDeployments(t, sb, "dev")
	if len(auto) != 2 || auto[1].SHA != newer {
		t.Fatalf("auto deployments %+v, want the older and one of %s", auto, newer)
	}
	second := waitForApprovalMessage(t, sb, auto[1].ID)
	if calls := sb.aws.Calls(); len(calls) != 0 {
		t.Fatalf("AWS heard of auto deployments before an approval: %+v", calls)
	}
	click(t, sb, sandboxApprover, bot.ActionApprove, second.ID)
	if d, err := sb.wait(ctx, second.ID); err != nil || d.State != bot.StateSucceeded || d.SHA != newer {
		t.Fatalf("approved newer push: %+v, %v", d, err)
	}
	if got := updateServices(sb); got["dev"] != 1 {
		t.Errorf("UpdateService calls %v, want one to dev", got)
	}
}
