package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/deploybot/deploybot/bot"
)

// TestDashboardInBrowser watches a deployment from the dashboard in a real
// Chromium: the page shows it in flight, then its outcome, without anyone
// reloading it.
func TestDashboardInBrowser(t *testing.T) {
	browserCtx := browser(t)
	start := time.Now()
	ctx := context.Background()
	sb := newTestSandbox(t)

	// Some history first, so the page has a success, a failure and a lock
	// to show besides the deployment it watches.
	good := sb.commit("browser good", "main", "success", true)
	red := sb.commit("browser red", "feature/red", "failure", true)
	if d := slashDeploy(t, sb, "takumi-server "+good[:7]+" prod"); d.State != bot.StateSucceeded {
		t.Fatalf("prod deploy %s: %s", d.State, d.Reason)
	}
	if d := slashDeploy(t, sb, "takumi-server "+red[:7]+" staging"); d.State != bot.StateFailed {
		t.Fatalf("red CI deploy %s, want failed", d.State)
	}
	if code, reply, err := sb.slash(ctx, sandboxUser, "lock takumi-server prod 2h release freeze until the launch"); err != nil || code != 200 {
		t.Fatalf("lock: %d %q %v", code, reply, err)
	}

	// A slow rollout keeps the watched deployment in flight for a while.
	sb.aws.SetRolloutPolls(40)
	next := sb.commit("browser watched", "main", "success", true)
	id, err := sb.slashAccepted(ctx, "takumi-server "+next[:7]+" dev")
	if err != nil {
		t.Fatal(err)
	}

	launched := time.Now()
	if err := chromedp.Do(browserCtx,
		chromedp.EmulateViewport(1360, 900),
		chromedp.Navigate(sb.bot.URL+"/"),
	); err != nil {
		t.Fatalf("open the dashboard: %v", err)
	}
	t.Logf("sandbox and history ready in %s, Chromium up and page loaded in %s", launched.Sub(start).Round(time.Millisecond), time.Since(launched).Round(time.Millisecond))

	// The row of the watched deployment in the in-flight table, showing
	// the rollout's stage.
	stage := fmt.Sprintf(`(function () {
		var e = document.querySelector("#inflight-%d [data-state]");
		return e && e.offsetParent !== null ? e.textContent.trim() : "";
	})() === "deploying"`, id)
	if _, err := chromedp.Run(browserCtx, chromedp.Poll[bool](stage, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(45*time.Second))); err != nil {
		d, _ := sb.bot.store.Deployment(ctx, id)
		t.Fatalf("the dashboard never showed #%d deploying (it is %s now, %s): %v", id, d.State, d.Reason, err)
	}
	sawStage := time.Now()
	inFlight, err := chromedp.Run(browserCtx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	// A mark on this document: a reload would wipe it.
	if err := chromedp.Do(browserCtx, chromedp.Evaluate[chromedp.Void](`window.deploybotSameDocument = true`)); err != nil {
		t.Fatal(err)
	}

	outcome := fmt.Sprintf(`(function () {
		var e = document.querySelector("#history-%d [data-state]");
		return e && e.offsetParent !== null ? e.textContent.trim() : "";
	})() === "succeeded" && !document.querySelector("#inflight-%d")`, id, id)
	if _, err := chromedp.Run(browserCtx, chromedp.Poll[bool](outcome, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(60*time.Second))); err != nil {
		d, _ := sb.bot.store.Deployment(ctx, id)
		t.Fatalf("the dashboard never showed #%d succeeded (it is %s now, %s): %v", id, d.State, d.Reason, err)
	}
	t.Logf("stage seen, then the outcome %s later", time.Since(sawStage).Round(time.Millisecond))
	same, err := chromedp.Run(browserCtx, chromedp.Evaluate[bool](`window.deploybotSameDocument === true`))
	if err != nil || !same {
		t.Fatalf("the page was reloaded rather than updated in place (%v)", err)
	}
	text, err := chromedp.Run(browserCtx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{next[:7], "release freeze until the launch", "failed"} {
		if !strings.Contains(text, want) {
			t.Errorf("the dashboard does not show %q:\n%s", want, text)
		}
	}
	shot, err := chromedp.Run(browserCtx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}

	// The deployment's own page tells its story.
	if err := chromedp.Do(browserCtx, chromedp.Navigate(fmt.Sprintf("%s/deployments/%d", sb.bot.URL, id))); err != nil {
		t.Fatal(err)
	}
	timeline, err := chromedp.Run(browserCtx, chromedp.Evaluate[string](`document.querySelector(".timeline").innerText`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(timeline, "Succeeded") || !strings.Contains(timeline, "CI: ") {
		t.Errorf("timeline of #%d:\n%s", id, timeline)
	}
	// People by name, and the way to the same deployment elsewhere (#18).
	facts, err := chromedp.Run(browserCtx, chromedp.Evaluate[string](`document.querySelector(".facts").innerText`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"bob", "AWS console", "Slack"} {
		if !strings.Contains(facts, want) {
			t.Errorf("details of #%d lack %q:\n%s", id, want, facts)
		}
	}
	detail, err := chromedp.Run(browserCtx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}

	saveScreenshots(t, map[string][]byte{"dashboard-in-flight.png": inFlight, "dashboard.png": shot, "deployment.png": detail})
	if os.Getenv("DEPLOYBOT_UPDATE_SCREENSHOT") == "1" {
		path := filepath.Join("..", "..", "docs", "dashboard.png")
		if err := os.WriteFile(path, shot, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("updated %s", path)
	}
	t.Logf("browser test took %s", time.Since(start).Round(time.Millisecond))
}
