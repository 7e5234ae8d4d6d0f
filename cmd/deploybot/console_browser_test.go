package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browser starts a headless Chromium for t, or skips t saying how to
// enable it.
func browser(t *testing.T) context.Context {
	t.Helper()
	chromium := os.Getenv("DEPLOYBOT_TEST_CHROMIUM")
	if chromium == "" {
		t.Skip("DEPLOYBOT_TEST_CHROMIUM is not set; set it to a Chromium binary (Debian's chromium package: /usr/bin/chromium) to run the browser test")
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("DEPLOYBOT_TEST_CHROMIUM=%s: %v", chromium, err)
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true), // runs as root in CI
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		// Chromium otherwise keeps calling Google's hosts, which a closed
		// network refuses.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	t.Cleanup(cancelAlloc)
	ctx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelBrowser)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancelTimeout)
	return ctx
}

// TestConsoleInBrowser plays the sandbox console as a person would: types
// a deploy as a seeded Slack user and watches its message turn to
// success, then pushes a commit to the auto-deployed branch with CI
// pending, turns CI green and watches dev deploy it, then clicks the
// message's Roll back button.
func TestConsoleInBrowser(t *testing.T) {
	ctx := browser(t)
	sb := newTestSandbox(t)
	good := sb.commit("console typed deploy", "main", "success", true)

	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(1360, 900),
		chromedp.Navigate(sb.bot.URL+"/sandbox"),
		chromedp.SetValue(chromedp.CSS("#as-user"), sandboxUser),
		chromedp.SendKeys(chromedp.CSS("#slash-text"), "takumi-server "+good[:7]+" dev"),
		chromedp.Click(chromedp.CSS("#slash-send")),
	); err != nil {
		t.Fatalf("type a deploy in the console: %v", err)
	}
	reply := waitText(t, ctx, "#reply", "accepted")
	match := regexp.MustCompile(`Deployment #(\d+) accepted`).FindStringSubmatch(reply)
	if match == nil {
		t.Fatalf("the console's reply names no deployment: %q", reply)
	}
	id, _ := strconv.ParseInt(match[1], 10, 64)
	waitStage(t, ctx, sb, id, "succeeded")
	typed, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	// A mark on this document: a reload would wipe it.
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`window.consoleSameDocument = true`)); err != nil {
		t.Fatal(err)
	}

	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#push-repo"), sandboxRepo),
		chromedp.SetValue(chromedp.CSS("#push-branch"), "main"),
		chromedp.SetValue(chromedp.CSS("#push-ci"), "pending"),
		chromedp.Click(chromedp.CSS("#push-send")),
	); err != nil {
		t.Fatalf("push from the console: %v", err)
	}
	waitText(t, ctx, "#reply", "pushed")
	sha, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#reply [data-sha]").dataset.sha`))
	if err != nil || len(sha) != 40 {
		t.Fatalf("the push reply names no commit (%q, %v)", sha, err)
	}
	auto, err := sb.latest(context.Background())
	if err != nil || auto.SHA != sha {
		t.Fatalf("the push started no auto deployment of %s (latest %v, %v)", sha[:7], auto, err)
	}
	// The CI button appears with the commit's row, drawn by the page's
	// own refresh.
	flip := fmt.Sprintf(`#commits tr[data-sha="%s"] button[data-state="success"]`, sha)
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(flip)), chromedp.Click(chromedp.CSS(flip))); err != nil {
		t.Fatalf("turn CI green: %v", err)
	}
	waitText(t, ctx, "#reply", "now success")
	waitStage(t, ctx, sb, auto.ID, "succeeded")
	runs := fmt.Sprintf(`document.querySelector('#targets tr[data-env="%s/dev"] [data-runs]').textContent`, sandboxApp)
	d, err := sb.wait(context.Background(), auto.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf(`%s === %q`, runs, d.Image), chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		shown, _ := chromedp.Run(ctx, chromedp.Evaluate[string](runs))
		t.Errorf("the AWS panel shows dev running %q, want %s", shown, d.Image)
	}

	// The message's Roll back button, clicked as a seeded user, takes dev
	// back to the typed deploy's image.
	rollback := fmt.Sprintf(`#channel [data-deployment="%d"] button[data-action="rollback"]`, auto.ID)
	if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS("#as-user"), sandboxUser), chromedp.Click(chromedp.CSS(rollback))); err != nil {
		t.Fatalf("click Roll back: %v", err)
	}
	reply = waitText(t, ctx, "#reply", "accepted")
	match = regexp.MustCompile(`Deployment #(\d+) accepted: rolling`).FindStringSubmatch(reply)
	if match == nil {
		t.Fatalf("the click's reply names no rollback: %q", reply)
	}
	rb, _ := strconv.ParseInt(match[1], 10, 64)
	waitStage(t, ctx, sb, rb, "succeeded")
	first, err := sb.bot.store.Deployment(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf(`%s === %q`, runs, first.Image), chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		shown, _ := chromedp.Run(ctx, chromedp.Evaluate[string](runs))
		t.Errorf("after the rollback the AWS panel shows dev running %q, want %s", shown, first.Image)
	}
	same, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.consoleSameDocument === true`))
	if err != nil || !same {
		t.Errorf("the page was reloaded rather than updated in place (%v)", err)
	}
	pushed, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	saveScreenshots(t, map[string][]byte{"console-typed.png": typed, "console-pushed.png": pushed})
}

// saveScreenshots writes them to $DEPLOYBOT_TEST_ARTIFACTS, where CI
// keeps them, else to a temp dir.
func saveScreenshots(t *testing.T, shots map[string][]byte) {
	t.Helper()
	dir := os.Getenv("DEPLOYBOT_TEST_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, png := range shots {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", path)
	}
}

// waitText waits until the element's text contains want and returns it.
func waitText(t *testing.T, ctx context.Context, selector, want string) string {
	t.Helper()
	js := fmt.Sprintf(`(document.querySelector(%q) || {}).innerText || ""`, selector)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf(`(%s).indexOf(%q) >= 0`, js, want), chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		got, _ := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		t.Fatalf("%s never said %q; it says %q (%v)", selector, want, got, err)
	}
	got, _ := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	return got
}

// waitStage waits until the console's channel shows deployment id's
// message at stage.
func waitStage(t *testing.T, ctx context.Context, sb *sandbox, id int64, stage string) {
	t.Helper()
	js := fmt.Sprintf(`(function () {
		var e = document.querySelector('#channel [data-deployment="%d"] [data-field="Stage"] .value');
		return e ? e.textContent.trim() : "";
	})()`, id)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf(`%s === %q`, js, stage), chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(60*time.Second))); err != nil {
		shown, _ := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		d, _ := sb.bot.store.Deployment(context.Background(), id)
		t.Fatalf("the console never showed #%d %s: it shows %q, the store has %s %s (%v)", id, stage, shown, d.State, d.Reason, err)
	}
	if text, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector('#channel [data-deployment="%d"]').innerText`, id))); err != nil || !strings.Contains(text, fmt.Sprintf("Deployment #%d", id)) {
		t.Errorf("message of #%d reads %q (%v)", id, text, err)
	}
}
