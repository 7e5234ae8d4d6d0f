package main

import (
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
)

// The end-to-end tests run the real server, store and clients against the
// emulators, exactly as the sandbox does, and judge by what the emulators
// recorded.

func newTestSandbox(t *testing.T) *sandbox {
	t.Helper()
	sb, err := newSandbox(context.Background(), "127.0.0.1:0", io.Discard)
	if err != nil {
		t.Fatalf("sandbox: %v", err)
	}
	t.Cleanup(sb.Close)
	return sb
}

// settle returns once every deployment in the store has finished its
// pipeline, reporting included, and GitHub has delivered its webhooks.
// The HTTP handlers do their work before they answer, so once the
// requests of a test are answered and settle returns, nothing they
// started is still going: "nothing happened" can then be asserted.
func settle(t *testing.T, sb *sandbox) {
	t.Helper()
	ctx := context.Background()
	ds, err := sb.bot.store.Deployments(ctx, 10000)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if _, err := sb.wait(ctx, d.ID); err != nil {
			t.Fatal(err)
		}
	}
	sb.github.WaitWebhooks()
}

func slashDeploy(t *testing.T, sb *sandbox, text string) *bot.Deployment {
	t.Helper()
	ctx := context.Background()
	code, reply, err := sb.slash(ctx, sandboxUser, text)
	if err != nil {
		t.Fatal(err)
	}
	if code != http.StatusOK || !strings.Contains(reply, "accepted") {
		t.Fatalf("reply to %q: %d %q", text, code, reply)
	}
	d, err := sb.latest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d, err = sb.wait(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func lastOf(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1]
}

func TestSlackDeploySucceeds(t *testing.T) {
	sb := newTestSandbox(t)
	sha := sb.commit("e2e good", "main", "success", true)
	d := slashDeploy(t, sb, "takumi-server "+sha[:7]+" dev")

	if d.State != bot.StateSucceeded || d.SHA != sha {
		t.Fatalf("deployment = %s sha %s (%s), want succeeded on %s", d.State, d.SHA, d.Reason, sha)
	}
	td, ok := sb.aws.Service(sandboxCluster, sandboxService)
	if !ok {
		t.Fatal("service gone from the emulator")
	}
	image := sb.aws.TaskDefinitionImage(td, sandboxContainer)
	if !strings.HasPrefix(image, sandboxImage+"@sha256:") || image != d.Image {
		t.Errorf("ECS runs %q on %s, want the digest-pinned %q", image, td, d.Image)
	}
	if sidecar := sb.aws.TaskDefinitionImage(td, "log-router"); !strings.Contains(sidecar, "fluent-bit") {
		t.Errorf("the other container's image changed to %q", sidecar)
	}
	if got := sb.aws.CallCount("RegisterTaskDefinition"); got != 1 {
		t.Errorf("RegisterTaskDefinition called %d times, want 1", got)
	}

	deps := sb.github.Deployments(sandboxRepo)
	if len(deps) != 1 {
		t.Fatalf("GitHub has %d deployments, want 1", len(deps))
	}
	gd := deps[0]
	if gd.ID != d.GitHubDeploymentID || gd.SHA != sha || gd.Environment != "dev" || gd.Payload["app"] != sandboxApp ||
		gd.Payload["requested_by"] != "slack:"+sandboxUser || gd.Payload["source"] != "slack" || gd.RequiredContexts == nil || len(gd.RequiredContexts) != 0 {
		t.Errorf("GitHub deployment = %+v", gd)
	}
	var states []string
	for _, st := range sb.github.Statuses(sandboxRepo, gd.ID) {
		states = append(states, st.State)
	}
	if want := "queued in_progress success"; strings.Join(states, " ") != want {
		t.Errorf("GitHub statuses %v, want %s", states, want)
	}
	final := sb.github.Statuses(sandboxRepo, gd.ID)[len(states)-1]
	if want := fmt.Sprintf("http://127.0.0.1:8080/deployments/%d", d.ID); final.LogURL != want {
		t.Errorf("log_url = %q, want %q", final.LogURL, want)
	}

	msgs := sb.slack.Messages(sandboxChannel)
	if len(msgs) != 1 {
		t.Fatalf("Slack has %d messages in %s, want the one updated in place", len(msgs), sandboxChannel)
	}
	if m := msgs[0]; !strings.Contains(m.Text, "Succeeded") || !strings.Contains(m.Text, sha[:7]) || m.Edits == 0 {
		t.Errorf("Slack message = %q after %d edits", m.Text, m.Edits)
	}
	var blocks any
	if err := json.Unmarshal(msgs[0].Blocks, &blocks); err != nil {
		t.Fatalf("Slack blocks: %v", err)
	}
	if !strings.Contains(fmt.Sprint(blocks), "<@"+sandboxUser+">") {
		t.Errorf("Slack blocks do not name the requester: %s", msgs[0].Blocks)
	}

	// GitHub's own deployment webhook for it arrived and changed nothing.
	sb.github.WaitWebhooks()
	var delivered bool
	for _, dl := range sb.github.Deliveries() {
		if dl.Event == "deployment" {
			delivered = true
			if dl.StatusCode != http.StatusOK {
				t.Errorf("deployment webhook answered %d", dl.StatusCode)
			}
		}
	}
	if !delivered {
		t.Error("the emulator delivered no deployment webhook")
	}
	if all, _ := sb.bot.store.Deployments(context.Background(), 10); len(all) != 1 {
		t.Errorf("store has %d deployments, want 1", len(all))
	}
}

// GitHub API calls one Slack deploy makes once the installation token is
// cached, against DESIGN.md's budget of 8.
func TestSlackDeployGitHubCallBudget(t *testing.T) {
	sb := newTestSandbox(t)
	first := sb.commit("budget 1", "main", "success", true)
	second := sb.commit("budget 2", "release", "success", true)
	slashDeploy(t, sb, "takumi-server "+first[:7]+" dev")
	before := len(sb.github.Calls())
	d := slashDeploy(t, sb, "takumi-server "+second[:7]+" dev")
	if d.State != bot.StateSucceeded {
		t.Fatalf("second deploy %s: %s", d.State, d.Reason)
	}
	calls := sb.github.Calls()[before:]
	var lines []string
	for _, c := range calls {
		lines = append(lines, c.Method+" "+c.Path)
	}
	t.Logf("GitHub calls for one Slack deploy:\n  %s", strings.Join(lines, "\n  "))
	if len(calls) > 8 {
		t.Errorf("%d GitHub calls, budget is 8", len(calls))
	}
}

func TestSlackDeployRedCI(t *testing.T) {
	sb := newTestSandbox(t)
	sha := sb.commit("e2e red", "feature/red", "failure", true)
	d := slashDeploy(t, sb, "takumi-server feature/red to dev")

	if d.State != bot.StateFailed || d.SHA != sha || !strings.Contains(d.Reason, sandboxCheck) {
		t.Fatalf("deployment = %s (%s), want failed naming %s", d.State, d.Reason, sandboxCheck)
	}
	for _, op := range []string{"RegisterTaskDefinition", "UpdateService", "DescribeImages"} {
		if n := sb.aws.CallCount(op); n != 0 {
			t.Errorf("%s called %d times after red CI", op, n)
		}
	}
	states := sb.github.Statuses(sandboxRepo, d.GitHubDeploymentID)
	if len(states) == 0 || states[len(states)-1].State != "failure" || !strings.Contains(states[len(states)-1].Description, sandboxCheck) {
		t.Errorf("GitHub statuses = %+v, want a final failure naming the check", states)
	}
	msgs := sb.slack.Messages(sandboxChannel)
	if len(msgs) != 1 || !strings.Contains(msgs[0].Text, "Failed") || !strings.Contains(msgs[0].Text, sandboxCheck) {
		t.Errorf("Slack messages = %+v, want one saying the check failed", msgs)
	}
}

func TestECSRolloutFailureIsFailure(t *testing.T) {
	sb := newTestSandbox(t)
	sha := sb.commit("e2e crashloop", "main", "success", true)
	sb.aws.FailRollouts(sandboxCluster, sandboxService, true)
	before, _ := sb.aws.Service(sandboxCluster, sandboxService)
	d := slashDeploy(t, sb, "takumi-server "+sha+" dev")

	if d.State != bot.StateFailed || !strings.Contains(d.Reason, "circuit breaker") {
		t.Fatalf("deployment = %s (%s), want failed by the circuit breaker", d.State, d.Reason)
	}
	if after, _ := sb.aws.Service(sandboxCluster, sandboxService); after != before {
		t.Errorf("service on %s after a rolled-back rollout, want %s", after, before)
	}
	states := sb.github.Statuses(sandboxRepo, d.GitHubDeploymentID)
	if last := states[len(states)-1]; last.State != "failure" {
		t.Errorf("final GitHub status %s, want failure", last.State)
	}
	for _, st := range states {
		if st.State == "success" {
			t.Error("a success status was posted for a failed rollout")
		}
	}
}

func TestMissingImageFails(t *testing.T) {
	sb := newTestSandbox(t)
	sha := sb.commit("e2e not pushed", "main", "success", false)
	d := slashDeploy(t, sb, "takumi-server main dev")
	if d.State != bot.StateFailed || d.SHA != sha || !strings.Contains(d.Reason, "git_"+sha[:7]) {
		t.Fatalf("deployment = %s (%s), want failed naming the tag", d.State, d.Reason)
	}
	if n := sb.aws.CallCount("RegisterTaskDefinition"); n != 0 {
		t.Errorf("RegisterTaskDefinition called %d times for a missing image", n)
	}
}

// Requests that are refused leave no trace: nothing stored, no GitHub or
// AWS call.
func TestRefusedRequestsCreateNothing(t *testing.T) {
	sb := newTestSandbox(t)
	sb.commit("refused", "main", "success", true)
	ctx := context.Background()
	url := sb.bot.URL + "/slack/commands"
	cmd := slackemu.Command{UserID: sandboxUser, ChannelID: sb.slack.ChannelID(sandboxChannel), Command: "/deploy", Text: "takumi-server main dev"}

	forged := cmd
	resp, err := slackemu.SlashCommand(ctx, http.DefaultClient, url, "not-the-signing-secret", forged)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden {
		t.Errorf("forged signature: HTTP %d, want 401/403", resp.StatusCode)
	}

	stale := cmd
	stale.Timestamp = time.Now().Add(-10 * time.Minute)
	resp, err = slackemu.SlashCommand(ctx, http.DefaultClient, url, sandboxSigningSecret, stale)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden {
		t.Errorf("10-minute-old timestamp: HTTP %d, want 401/403", resp.StatusCode)
	}

	for text, want := range map[string]string{
		"nope main dev":               `unknown app "nope"; known apps: shop-web, takumi-server`,
		"takumi-server main qa":       `app takumi-server has no environment "qa"; its environments: dev, prod, staging`,
		"takumi-server main":          "could not read",
		"takumi-server main dev prod": "could not read",
	} {
		code, reply, err := sb.slash(ctx, sandboxUser, text)
		if err != nil {
			t.Fatal(err)
		}
		if code != http.StatusOK || !strings.Contains(reply, want) {
			t.Errorf("/deploy %s: %d %q, want %q", text, code, reply, want)
		}
	}

	settle(t, sb)
	if ds, _ := sb.bot.store.Deployments(ctx, 10); len(ds) != 0 {
		t.Errorf("store has %d deployments after refused requests", len(ds))
	}
	if n := len(sb.github.Calls()); n != 0 {
		t.Errorf("%d GitHub calls after refused requests", n)
	}
	if n := len(sb.aws.Calls()); n != 0 {
		t.Errorf("%d AWS calls after refused requests", n)
	}
	if n := len(sb.slack.Messages(sandboxChannel)); n != 0 {
		t.Errorf("%d Slack messages after refused requests", n)
	}
}

// A deployment created through the GitHub API by another tool runs the
// same pipeline and reports on that deployment.
func TestGitHubAPIDeployment(t *testing.T) {
	sb := newTestSandbox(t)
	// git allows a branch named <!channel>; Slack must not ping anyone.
	const branch = "<!channel>"
	sha := sb.commit("api", branch, "success", true)
	apiDeployment(t, sb, branch)
	gd := sb.github.Deployments(sandboxRepo)[0]
	d, err := sb.bot.store.DeploymentByGitHubID(context.Background(), gd.ID)
	if err != nil {
		t.Fatalf("the webhook did not create a deployment: %v (deliveries %+v)", err, sb.github.Deliveries())
	}
	d, err = sb.wait(context.Background(), d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d.State != bot.StateSucceeded || d.SHA != sha || d.Requester != "github:octocat" || d.Source != bot.SourceGitHubAPI {
		t.Errorf("deployment = %+v", d)
	}
	if n := len(sb.github.Deployments(sandboxRepo)); n != 1 {
		t.Errorf("GitHub has %d deployments, want only the API-created one", n)
	}
	states := sb.github.Statuses(sandboxRepo, gd.ID)
	if len(states) == 0 || states[len(states)-1].State != "success" {
		t.Errorf("statuses on the API-created deployment: %+v", states)
	}
	for _, m := range sb.slack.Messages(sandboxChannel) {
		if strings.Contains(m.Text+string(m.Blocks), branch) || !strings.Contains(m.Text, "&lt;!channel&gt;") {
			t.Errorf("Slack message %q (blocks %s) does not escape the ref %s", m.Text, m.Blocks, branch)
		}
	}
}

// The Roll back button under a deployment's Slack message redeploys the
// version before it.
func TestRollbackButton(t *testing.T) {
	sb := newTestSandbox(t)
	first := sb.commit("button first", "main", "success", true)
	second := sb.commit("button second", "next", "success", true)
	slashDeploy(t, sb, "takumi-server "+first[:7]+" dev")
	d := slashDeploy(t, sb, "takumi-server "+second[:7]+" dev")

	m, ok := sb.slack.Message(d.SlackChannel, d.SlackTS)
	if !ok || !strings.Contains(string(m.Blocks), `"action_id":"rollback"`) || !strings.Contains(string(m.Blocks), fmt.Sprintf(`"value":"%d"`, d.ID)) {
		t.Fatalf("message of #%d has no Roll back button: %s", d.ID, m.Blocks)
	}

	responseURL := sb.slack.NewResponseURL()
	payload, _ := json.Marshal(map[string]any{
		"type": "block_actions", "user": map[string]any{"id": sandboxUser}, "channel": map[string]any{"id": d.SlackChannel},
		"response_url": responseURL, "actions": []map[string]any{{"action_id": "rollback", "value": fmt.Sprint(d.ID)}},
	})
	body := []byte(url.Values{"payload": {string(payload)}}.Encode())
	now := time.Now()
	resp, err := http.DefaultClient.Do(signedInteraction(sb, body, sandboxSigningSecret, now))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("interaction: HTTP %d", resp.StatusCode)
	}
	replies := sb.slack.Responses(responseURL)
	if len(replies) != 1 || !strings.Contains(replies[0].Text, "rolling takumi-server dev back to "+first[:7]) || !replies[0].Ephemeral() {
		t.Fatalf("response_url got %+v", replies)
	}
	rb, err := sb.latest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	rb, err = sb.wait(context.Background(), rb.ID)
	if err != nil || rb.State != bot.StateSucceeded || rb.SHA != first {
		t.Errorf("rollback deployment %+v, %v", rb, err)
	}

	// A forged click is refused like a forged command.
	resp, err = http.DefaultClient.Do(signedInteraction(sb, body, "wrong", now))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("forged interaction: HTTP %d", resp.StatusCode)
	}
}

// A deployment waiting for CI can be cancelled: it ends cancelled, GitHub
// gets an error status, and nothing reaches AWS.
func TestCancelWhileWaitingForCI(t *testing.T) {
	sb := newTestSandbox(t)
	sb.commit("slow ci", "main", "pending", true)
	ctx := context.Background()
	code, reply, err := sb.slash(ctx, sandboxUser, "takumi-server main dev")
	if err != nil || code != http.StatusOK || !strings.Contains(reply, "accepted") {
		t.Fatalf("deploy: %d %q %v", code, reply, err)
	}
	d, err := sb.latest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, fmt.Sprintf("deployment #%d to wait for CI", d.ID), 30*time.Second, func() bool {
		if d, err = sb.bot.store.Deployment(ctx, d.ID); err != nil {
			t.Fatal(err)
		}
		return d.State == bot.StateWaitingForCI
	})
	_, reply, err = sb.slash(ctx, sandboxUser, fmt.Sprintf("cancel #%d", d.ID))
	if err != nil || !strings.Contains(reply, fmt.Sprintf("Deployment #%d (takumi-server to dev) cancelled", d.ID)) {
		t.Fatalf("cancel reply %q, %v", reply, err)
	}
	d, err = sb.wait(ctx, d.ID)
	if err != nil || d.State != bot.StateCancelled || !strings.Contains(d.Reason, "cancelled by slack:"+sandboxUser) {
		t.Fatalf("after cancel: %+v, %v", d, err)
	}
	st := sb.github.Statuses(sandboxRepo, d.GitHubDeploymentID)
	if last := st[len(st)-1]; last.State != "error" || !strings.Contains(last.Description, "Cancelled") {
		t.Errorf("final GitHub status %+v, want error saying cancelled", last)
	}
	if m, _ := sb.slack.Message(d.SlackChannel, d.SlackTS); !strings.Contains(m.Text, "Cancelled by") {
		t.Errorf("Slack message %q", m.Text)
	}
	if n := len(sb.aws.Calls()); n != 0 {
		t.Errorf("%d AWS calls for a cancelled deployment", n)
	}
	_, reply, _ = sb.slash(ctx, sandboxUser, fmt.Sprintf("cancel %d", d.ID))
	if !strings.Contains(reply, "is cancelled; only queued, CI-waiting or approval-waiting deployments can be cancelled") {
		t.Errorf("second cancel reply %q", reply)
	}
}

// /metrics counts what one deployment did.
func TestMetricsAfterADeploy(t *testing.T) {
	sb := newTestSandbox(t)
	sha := sb.commit("metrics", "main", "success", true)
	slashDeploy(t, sb, "takumi-server "+sha[:7]+" dev")
	resp, err := http.Get(sb.bot.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: HTTP %d", resp.StatusCode)
	}
	for _, want := range []string{
		`deploybot_deployments_total{app="takumi-server",env="dev",outcome="succeeded"} 1`,
		`deploybot_api_calls_total{api="aws",result="ok",service="ecs.UpdateService"} 1`,
		`deploybot_api_calls_total{api="aws",result="ok",service="ecr.DescribeImages"} 1`,
		`deploybot_http_requests_total{code="200",route="POST /slack/commands"} 1`,
		`deploybot_stage_duration_seconds_count{stage="deploying"} 1`,
		`deploybot_ci_wait_seconds_count{app="takumi-server"} 1`,
		`deploybot_api_calls_total{api="slack",result="2xx",service="slack"}`,
		`deploybot_api_calls_total{api="github",result="2xx",service="github"}`,
		`deploybot_queue_length{app="takumi-server",env="dev"} 0`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// The scenario of `sandbox --once` plays release management too: a dry run,
// a promotion and an approval, each step checked.
func TestSandboxScenarioPlaysReleaseManagement(t *testing.T) {
	sb := newTestSandbox(t)
	var out strings.Builder
	if failures := playScenario(context.Background(), sb, &out); len(failures) > 0 {
		t.Fatalf("the scenario went wrong: %v\n%s", failures, out.String())
	}
	for _, want := range []string{
		"14. /deploy takumi-server ", " prod --dry-run  (the plan only)", "Commits that would ship: 2", "no deployment was created", "no AWS write and no GitHub deployment",
		"15. /deploy promote takumi-server dev staging", "runs version",
		"16. /deploy shop-web ", "nothing reached AWS before the approval", "the requester's own approval is refused", "carol approves",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the scenario does not say %q:\n%s", want, out.String())
		}
	}
	// The sandbox stays up for people to play in: its prod must deploy
	// without a bake time only the scenario knows to fast-forward.
	sha := sb.commit("after the scenario", "main", "success", true)
	if d := slashDeploy(t, sb, "takumi-server "+sha[:7]+" prod"); d.State != bot.StateSucceeded {
		t.Errorf("a prod deploy after the scenario ended %s: %s", d.State, d.Reason)
	}
}
