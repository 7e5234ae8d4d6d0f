package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/deploybot/deploybot/bot"
)

// TestDashboardButtonsInBrowser signs in with GitHub (the emulator's
// OAuth web flow) and drives the buttons in Chromium: Lock, Unlock,
// Preview (the dry run) and Deploy as planned, Deploy, Roll back from a
// deployment's page, and Approve, as a login the allow list names; a POST without the page's CSRF token does nothing.
func TestDashboardButtonsInBrowser(t *testing.T) {
	browserCtx := browser(t)
	ctx := context.Background()

	// GitHub sends the browser back to public_url, so the bot must listen
	// where public_url says.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	sb, err := newSandbox(ctx, addr, io.Discard, func(o *options) {
		o.sandboxConfig = func(c *bot.Config) {
			c.PublicURL = "http://" + addr
			c.GitHub.ClientID, c.GitHub.ClientSecret = "Iv1.sandbox", "sandbox-oauth-secret"
			// Staging (open to anyone) asks for one approval.
			staging := c.Apps[sandboxApp].Environments["staging"]
			staging.Approvals, staging.ApprovalTimeout = 1, bot.Duration(time.Hour)
		}
	})
	if err != nil {
		t.Fatalf("sandbox: %v", err)
	}
	t.Cleanup(sb.Close)
	sb.github.SetOAuthClient("Iv1.sandbox", "sandbox-oauth-secret")
	sb.github.SignIn(sandboxWriter) // octocat, on prod's allow list
	first := sb.commit("buttons first", "main", "success", true)
	second := sb.commit("buttons second", "release", "success", true)
	env := sb.bot.URL + "/apps/takumi-server/envs/prod"

	visible := func(sel string) chromedp.Action[chromedp.Void] { return chromedp.WaitVisible(sel) }
	text := func(js string) string {
		t.Helper()
		s, err := chromedp.Run(browserCtx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return s
	}

	// Signed out the page is read-only: a way to sign in, no buttons.
	if err := chromedp.Do(browserCtx, chromedp.Navigate(env), visible("#sign-in")); err != nil {
		t.Fatalf("env page signed out: %v", err)
	}
	if n := text(`String(document.querySelectorAll("#deploy, #rollback, #lock-button, #unlock").length)`); n != "0" {
		t.Fatalf("%s buttons shown to nobody in particular", n)
	}

	// Sign in: deploybot → GitHub's authorize → back with a code.
	if err := chromedp.Do(browserCtx, chromedp.Click("#sign-in"), visible("#signed-in")); err != nil {
		t.Fatalf("sign in with GitHub: %v", err)
	}
	if who := text(`document.querySelector("#signed-in").textContent`); who != sandboxWriter {
		t.Fatalf("signed in as %q; want %s", who, sandboxWriter)
	}

	// Lock, then Unlock.
	if err := chromedp.Do(browserCtx, chromedp.Navigate(env), visible("#lock-button"),
		chromedp.SendKeys("#lock-reason", "browser freeze"),
		chromedp.Click("#lock-button"), visible("#locked")); err != nil {
		t.Fatalf("lock: %v", err)
	}
	if l, err := sb.bot.store.EnvLock(ctx, "takumi-server", "prod", time.Now()); err != nil || l.Owner != "github:"+sandboxWriter || l.Reason != "browser freeze" {
		t.Fatalf("lock after the button = %+v, %v; want octocat's, browser freeze", l, err)
	}
	if err := chromedp.Do(browserCtx, chromedp.Click("#unlock"), visible("#lock-button")); err != nil {
		t.Fatalf("unlock: %v", err)
	}
	if _, err := sb.bot.store.EnvLock(ctx, "takumi-server", "prod", time.Now()); bot.ErrorCode(err) != bot.ENOTFOUND {
		t.Fatalf("still locked after Unlock: %v", err)
	}

	// A POST from the page's own origin but without its token is refused.
	status, err := chromedp.Run(browserCtx, chromedp.Evaluate[int](
		`fetch("/apps/takumi-server/envs/prod/lock", {method: "POST", body: new URLSearchParams({for: "1h"})}).then(r => r.status)`,
		chromedp.EvalAwaitPromise))
	if err != nil || status != 403 {
		t.Fatalf("lock without the CSRF token: %d, %v; want 403", status, err)
	}
	if _, err := sb.bot.store.EnvLock(ctx, "takumi-server", "prod", time.Now()); bot.ErrorCode(err) != bot.ENOTFOUND {
		t.Fatalf("a POST without the token locked prod: %v", err)
	}

	// Deploy two commits, each from the form, each to its outcome.
	deploy := func(sha string) int64 {
		t.Helper()
		if err := chromedp.Do(browserCtx, chromedp.Navigate(env), visible("#ref"),
			chromedp.SendKeys("#ref", sha[:7]),
			chromedp.Click("#deploy"), visible("#state")); err != nil {
			t.Fatalf("deploy %s: %v", sha[:7], err)
		}
		var id int64
		if _, err := fmt.Sscanf(text(`location.pathname`), "/deployments/%d", &id); err != nil {
			t.Fatalf("Deploy led to %s: %v", text(`location.href`), err)
		}
		return id
	}
	succeeded := func(id int64) {
		t.Helper()
		d, err := sb.wait(ctx, id)
		if err != nil || d.State != bot.StateSucceeded {
			t.Fatalf("#%d: %v, %v", id, d, err)
		}
		if _, err := chromedp.Run(browserCtx, chromedp.Poll[bool](`document.querySelector("#state").dataset.state === "succeeded"`,
			chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second))); err != nil {
			t.Fatalf("the page of #%d never showed succeeded: %v", id, err)
		}
	}
	// Preview first: the plan, and nothing created; then Deploy as
	// planned, which pins the planned sha.
	before, err := sb.bot.store.ListDeployments(ctx, bot.DeploymentFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(browserCtx, chromedp.Navigate(env), visible("#ref"),
		chromedp.SendKeys("#ref", first[:7]), chromedp.Click("#preview"), visible("#plan")); err != nil {
		t.Fatalf("preview: %v", err)
	}
	if plan := text(`document.querySelector("#plan").innerText`); !strings.Contains(plan, "Dry run: takumi-server") || !strings.Contains(plan, "nothing was created or changed") || !strings.Contains(plan, "New: ") {
		t.Errorf("the preview shows no plan:\n%s", plan)
	}
	if after, err := sb.bot.store.ListDeployments(ctx, bot.DeploymentFilter{}); err != nil || len(after) != len(before) {
		t.Fatalf("the preview created deployments: %d before, %d after (%v)", len(before), len(after), err)
	}
	if err := chromedp.Do(browserCtx, chromedp.Click("#deploy-planned"), visible("#state")); err != nil {
		t.Fatalf("deploy as planned: %v", err)
	}
	var one int64
	if _, err := fmt.Sscanf(text(`location.pathname`), "/deployments/%d", &one); err != nil {
		t.Fatal(err)
	}
	succeeded(one)
	if d, _ := sb.bot.store.Deployment(ctx, one); d.Ref != first {
		t.Errorf("deploy as planned asked for %q; want the planned sha %s", d.Ref, first)
	}
	two := deploy(second)
	succeeded(two)
	if d, _ := sb.bot.store.Deployment(ctx, two); d.Requester != "github:"+sandboxWriter || d.Source != bot.SourceDashboard || d.SHA != second {
		t.Fatalf("#%d = %s by %s via %s; want %s by github:%s via dashboard", two, d.SHA, d.Requester, d.Source, second, sandboxWriter)
	}

	// Roll back from the page of the second: the first runs again.
	if err := chromedp.Do(browserCtx, visible("#rollback"), chromedp.Click("#rollback")); err != nil {
		t.Fatalf("roll back: %v", err)
	}
	// The click navigates; an evaluation caught in between fails, so the
	// new page is waited for by asking again.
	var back int64
	for deadline := time.Now().Add(30 * time.Second); back == 0 || back == two; {
		if time.Now().After(deadline) {
			t.Fatalf("Roll back never led to a new deployment's page (at %s)", text(`location.href`))
		}
		path, err := chromedp.Run(browserCtx, chromedp.Evaluate[string](`document.querySelector("#state") ? location.pathname : ""`))
		if err == nil {
			fmt.Sscanf(path, "/deployments/%d", &back)
		}
		time.Sleep(50 * time.Millisecond)
	}
	succeeded(back)
	if d, _ := sb.bot.store.Deployment(ctx, back); d.SHA != first || d.Requester != "github:"+sandboxWriter {
		t.Errorf("rollback #%d deployed %s by %s; want %s by github:%s", back, d.SHA, d.Requester, first, sandboxWriter)
	}
	if page := text(`document.body.innerText`); !strings.Contains(page, "via dashboard") {
		t.Errorf("the rollback's page does not say it came from the dashboard:\n%s", page)
	}

	// Someone else's deployment to staging waits for one approval; the
	// signed-in person approves it from its page, and it runs.
	waiting, err := sb.slashAccepted(ctx, "takumi-server "+second[:7]+" staging")
	if err != nil {
		t.Fatal(err)
	}
	waitMessage(t, sb, waiting, "waiting for approval (0 of 1)")
	if err := chromedp.Do(browserCtx, chromedp.Navigate(fmt.Sprintf("%s/deployments/%d", sb.bot.URL, waiting)), visible("#approve"),
		chromedp.Click("#approve")); err != nil {
		t.Fatalf("approve: %v", err)
	}
	succeeded(waiting)
	if page := text(`document.body.innerText`); !strings.Contains(page, "Approved by github:"+sandboxWriter+" (1 of 1)") {
		t.Errorf("the approved deployment's page does not say who approved it:\n%s", page)
	}
}
