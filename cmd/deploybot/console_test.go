package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/deploybot/deploybot/bot"
)

// consolePost sends one console action as the page does and returns the
// status and the reply fragment.
func consolePost(t *testing.T, sb *sandbox, path string, form url.Values, header bool) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, sb.bot.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if header {
		req.Header.Set(consoleHeader, "1")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestConsoleActions covers what the browser test does not: refusals,
// escaping, the fault switch and PR comments.
func TestConsoleActions(t *testing.T) {
	sb := newTestSandbox(t)
	ctx := context.Background()

	if code, body := consolePost(t, sb, "/sandbox/slash", url.Values{"user": {sandboxUser}, "text": {"help"}}, false); code != http.StatusForbidden || !strings.Contains(body, consoleHeader) {
		t.Errorf("a POST without the console's header: %d %q", code, body)
	}

	bad := []struct {
		path  string
		form  url.Values
		reply string
	}{
		{"/sandbox/slash", url.Values{"user": {"U0NOBODY"}, "text": {"help"}}, "seeded Slack users"},
		{"/sandbox/push", url.Values{"repo": {"acme/nope"}, "branch": {"main"}, "ci": {"success"}, "pusher": {sandboxWriter}}, "Unknown repository"},
		{"/sandbox/push", url.Values{"repo": {sandboxRepo}, "branch": {"<b>main"}, "ci": {"success"}, "pusher": {sandboxWriter}}, "&lt;b&gt;main"},
		{"/sandbox/push", url.Values{"repo": {sandboxRepo}, "branch": {"main"}, "ci": {"green"}, "pusher": {sandboxWriter}}, "pending, success or failure"},
		{"/sandbox/ci", url.Values{"sha": {strings.Repeat("a", 40)}, "state": {"success"}}, "No commit"},
		{"/sandbox/comment", url.Values{"repo": {sandboxRepo}, "pr": {"7"}, "author": {sandboxWriter}, "body": {"deploy to dev"}}, "no pull request"},
		{"/sandbox/fault", url.Values{"app": {sandboxApp}, "env": {"qa"}, "fail": {"next"}}, "qa"},
		{"/sandbox/fault", url.Values{"app": {sandboxApp}, "env": {"staging"}, "fail": {"sometimes"}}, "next, all or none"},
	}
	for _, c := range bad {
		code, body := consolePost(t, sb, c.path, c.form, true)
		if code != http.StatusUnprocessableEntity || !strings.Contains(body, c.reply) {
			t.Errorf("POST %s %v: %d %q, want 422 saying %q", c.path, c.form, code, body, c.reply)
		}
	}

	// What a person types is shown as text, never as markup.
	if _, body := consolePost(t, sb, "/sandbox/slash", url.Values{"user": {sandboxUser}, "text": {"<img src=x onerror=alert(1)>"}}, true); strings.Contains(body, "<img") || !strings.Contains(body, "&lt;img") {
		t.Errorf("typed markup came back as %q", body)
	}

	// The switch makes Elastic Beanstalk's next rollout fail, the page
	// says so, and once that rollout has failed it turns itself off.
	if code, body := consolePost(t, sb, "/sandbox/fault", url.Values{"app": {sandboxApp}, "env": {"staging"}, "fail": {"next"}}, true); code != http.StatusOK {
		t.Fatalf("fault switch: %d %q", code, body)
	}
	if live := get(t, sb.bot.URL+"/sandbox/live"); !strings.Contains(live, `data-env="takumi-server/staging" data-rollouts="fail next"`) {
		t.Errorf("the AWS panel does not show staging's next rollout failing:\n%s", live)
	}
	consoleDeploy := func(sha string) *bot.Deployment {
		t.Helper()
		code, body := consolePost(t, sb, "/sandbox/slash", url.Values{"user": {sandboxUser}, "text": {"/deploy takumi-server " + sha[:7] + " staging"}}, true)
		match := regexp.MustCompile(`Deployment #(\d+) accepted`).FindStringSubmatch(body)
		if code != http.StatusOK || match == nil {
			t.Fatalf("deploy to staging: %d %q", code, body)
		}
		id, _ := strconv.ParseInt(match[1], 10, 64)
		d, err := sb.wait(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	// Red CI stops a deployment before AWS: the switch stays on for the
	// next one that gets there.
	if d := consoleDeploy(sb.commit("console red", "feature/red", "failure", true)); d.State != bot.StateFailed {
		t.Fatalf("red CI: #%d ended %s", d.ID, d.State)
	}
	if d := consoleDeploy(sb.commit("console staging fault", "main", "success", true)); d.State != bot.StateFailed || !strings.Contains(d.Reason, "rolled back by Elastic Beanstalk") {
		t.Fatalf("with the switch on, #%d ended %s: %s", d.ID, d.State, d.Reason)
	}
	if live := get(t, sb.bot.URL+"/sandbox/live"); !strings.Contains(live, `data-env="takumi-server/staging" data-rollouts="succeed"`) {
		t.Errorf("the switch did not turn itself off after the failed rollout:\n%s", live)
	}
	if d := consoleDeploy(sb.commit("console staging after the fault", "main", "success", true)); d.State != bot.StateSucceeded {
		t.Fatalf("after the failed rollout, #%d ended %s: %s", d.ID, d.State, d.Reason)
	}

	// A push that opens a pull request, then a comment on it deploys
	// its head.
	code, body := consolePost(t, sb, "/sandbox/push", url.Values{"repo": {sandboxRepo}, "branch": {"feature/console"}, "ci": {"success"}, "pusher": {sandboxWriter}, "pr": {"1"}}, true)
	pr := regexp.MustCompile(`Opened pull request #(\d+)`).FindStringSubmatch(body)
	if code != http.StatusOK || pr == nil {
		t.Fatalf("push with a pull request: %d %q", code, body)
	}
	if code, body := consolePost(t, sb, "/sandbox/comment", url.Values{"repo": {sandboxRepo}, "pr": {pr[1]}, "author": {sandboxWriter}, "body": {"deploy to dev"}}, true); code != http.StatusOK {
		t.Fatalf("comment: %d %q", code, body)
	}
	d, err := sb.latest(ctx)
	if err != nil || d.PRNumber == 0 || strconv.Itoa(d.PRNumber) != pr[1] {
		t.Fatalf("the comment started no deployment of PR #%s (latest %+v, %v)", pr[1], d, err)
	}
	if d, err = sb.wait(ctx, d.ID); err != nil || d.State != bot.StateSucceeded {
		t.Fatalf("PR #%s's deployment ended %s %s (%v)", pr[1], d.State, d.Reason, err)
	}
	// The bot's answer on the pull request shows in the GitHub panel.
	if live := get(t, sb.bot.URL+"/sandbox/live"); !strings.Contains(live, "deploy to dev") || strings.Count(live, `class="comment"`) < 2 {
		t.Errorf("the GitHub panel does not show the comment and the bot's answer:\n%s", live)
	}
}

// BenchmarkConsoleLive is what each open console tab asks twice a second:
// the channel, the GitHub and AWS panels rendered from the emulators,
// over loopback HTTP, with a channel of 30 deployments' messages.
func BenchmarkConsoleLive(b *testing.B) {
	sb, err := newSandbox(context.Background(), "127.0.0.1:0", io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	defer sb.Close()
	sb.aws.SetRolloutPolls(1)
	ctx := context.Background()
	for i := range 30 {
		sha := sb.commit("console bench "+strconv.Itoa(i), "bench-"+strconv.Itoa(i), "success", true)
		id, err := sb.slashAccepted(ctx, "takumi-server "+sha[:7]+" dev")
		if err != nil {
			b.Fatal(err)
		}
		if d, err := sb.wait(ctx, id); err != nil || d.State != bot.StateSucceeded {
			b.Fatalf("deployment %d: %v", id, err)
		}
	}
	var size int
	for b.Loop() {
		resp, err := http.Get(sb.bot.URL + "/sandbox/live")
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || strings.Count(string(body), "data-deployment=") != 30 {
			b.Fatalf("live: %d, %d messages", resp.StatusCode, strings.Count(string(body), "data-deployment="))
		}
		size = len(body)
	}
	b.ReportMetric(float64(size)/1024, "KiB/op")
}

// The console offers the people the sandbox knows under the names Slack
// gives them, among them someone who can approve what bob asks for.
func TestConsoleUsersAreSlacksPeople(t *testing.T) {
	sb := newTestSandbox(t)
	page := get(t, sb.bot.URL+"/sandbox")
	for id, name := range map[string]string{sandboxUser: "bob", sandboxApprover: "carol", sandboxStranger: "mallory"} {
		if !strings.Contains(page, `<option value="`+id+`">`+name+` (`) {
			t.Errorf("the console does not offer %s as %s", id, name)
		}
	}
	if code, body := consolePost(t, sb, "/sandbox/slash", url.Values{"user": {sandboxApprover}, "text": {"approve 99"}}, true); code != http.StatusOK || !strings.Contains(body, "no deployment #99") {
		t.Errorf("approve as carol: %d %q", code, body)
	}
}

// Commits pushed in the console follow one another, so a dry run of the
// newer lists what it would ship on top of the deployed one.
func TestConsolePushesAreComparable(t *testing.T) {
	sb := newTestSandbox(t)
	var shas []string
	for range 2 {
		code, body := consolePost(t, sb, "/sandbox/push", url.Values{"repo": {sandboxRepo}, "branch": {"feature/plan"}, "ci": {"success"}, "pusher": {sandboxWriter}}, true)
		m := regexp.MustCompile(`pushed ([0-9a-f]{7}) to`).FindStringSubmatch(body)
		if code != http.StatusOK || m == nil {
			t.Fatalf("push: %d %q", code, body)
		}
		shas = append(shas, m[1])
	}
	if d := slashDeploy(t, sb, "takumi-server "+shas[0]+" dev"); d.State != bot.StateSucceeded {
		t.Fatalf("deploy of the first push ended %s: %s", d.State, d.Reason)
	}
	_, reply, err := sb.slash(context.Background(), sandboxUser, "takumi-server "+shas[1]+" dev --dry-run")
	if err != nil || !strings.Contains(reply, "Commits that would ship: 1") || !strings.Contains(reply, shas[1]) {
		t.Errorf("dry run of the second push: %q, %v", reply, err)
	}
}
