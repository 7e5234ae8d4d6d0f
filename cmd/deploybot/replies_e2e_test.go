package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/deploybot/deploybot/bot"
)

// A failed rollout that deploybot rolls back is one "failed" row on its
// timeline, saying both: the failure used to be reported a second time
// with the rollback, a second row reading "Failed: …" (#18).
func TestAutoRollbackFailureIsOneTimelineRow(t *testing.T) {
	sb := newTestSandbox(t)
	good := sb.commit("auto rollback good", "main", "success", true)
	if d := slashDeploy(t, sb, "takumi-server "+good[:7]+" prod"); d.State != bot.StateSucceeded {
		t.Fatalf("first deployment %s: %s", d.State, d.Reason)
	}
	bad := sb.commit("auto rollback bad", "main", "success", true)
	sb.aws.FailRollouts("prod", sandboxService, true)
	d := slashDeploy(t, sb, "takumi-server "+bad[:7]+" prod")
	sb.aws.FailRollouts("prod", sandboxService, false)
	if d.State != bot.StateFailed {
		t.Fatalf("second deployment %s: %s, want failed", d.State, d.Reason)
	}
	rb, err := sb.latest(context.Background())
	if err != nil || rb.RollbackOf != d.ID {
		t.Fatalf("no rollback of #%d started (latest %+v, %v)", d.ID, rb, err)
	}
	if rb, err = sb.wait(context.Background(), rb.ID); err != nil || rb.State != bot.StateSucceeded {
		t.Fatalf("rollback #%d: %v %+v", rb.ID, err, rb)
	}

	lines := timeline(t, sb, d.ID)
	if n := containsLine(lines, "Failed:"); n != 1 {
		t.Errorf("timeline of #%d has %d failure rows, want 1:\n%s", d.ID, n, strings.Join(lines, "\n"))
	}
	if n := containsLine(lines, "rolling back automatically to "+good[:7]); n != 1 {
		t.Errorf("timeline of #%d does not say once that it rolls back to %s:\n%s", d.ID, good[:7], strings.Join(lines, "\n"))
	}
}

// Mistakes are answered with what was wrong and one line of help, not the
// whole usage, and a near miss gets a "did you mean".
func TestSlackMistakesGetShortAnswers(t *testing.T) {
	sb := newTestSandbox(t)
	ctx := context.Background()
	for text, want := range map[string]string{
		"takumi-servr main dev":         `unknown app "takumi-servr"; did you mean takumi-server?`,
		"takumi-server main prdo":       `app takumi-server has no environment "prdo"; did you mean prod?`,
		"histroy takumi-server":         "Did you mean `/deploy history takumi-server`?",
		"deploy takumi-server main dev": "Did you mean `/deploy takumi-server main dev`?",
		"cancel 99":                     "no deployment #99. Try `/deploy history &lt;app&gt;` to see the recent ones.",
	} {
		code, reply, err := sb.slash(ctx, sandboxUser, text)
		if err != nil {
			t.Fatal(err)
		}
		if code != http.StatusOK || !strings.Contains(reply, want) {
			t.Errorf("/deploy %s: %d %q, want %q", text, code, reply, want)
		}
		if strings.Count(reply, "\n") > 1 {
			t.Errorf("/deploy %s: %d lines, want at most 2:\n%s", text, strings.Count(reply, "\n")+1, reply)
		}
	}
}

// The dashboard names people as Slack shows them (users.info through the
// real client), not by their user ids, and GitHub users by their login.
func TestDashboardShowsSlackNames(t *testing.T) {
	sb := newTestSandbox(t)
	sha := sb.commit("names", "main", "success", true)
	d := slashDeploy(t, sb, "takumi-server "+sha[:7]+" dev")
	want := `title="slack:` + sandboxUser + `">bob<`
	for _, path := range []string{"/", fmt.Sprintf("/deployments/%d", d.ID)} {
		if page := get(t, sb.bot.URL+path); !strings.Contains(page, want) {
			t.Errorf("%s does not name %s as bob", path, sandboxUser)
		}
	}
	// A lock owner is a person too: named as requesters are.
	ctx := context.Background()
	if code, reply, err := sb.slash(ctx, sandboxUser, "lock takumi-server dev names"); err != nil || code != http.StatusOK || !strings.Contains(reply, "Others are refused") {
		t.Fatalf("lock: %d %q %v", code, reply, err)
	}
	page := get(t, sb.bot.URL+"/")
	if start := strings.Index(page, `data-env="dev"`); start < 0 || !strings.Contains(page[start:], `<strong>Locked</strong> by <span class="who" `+want) {
		t.Errorf("the matrix does not name the lock owner %s as bob", sandboxUser)
	}
	if page := get(t, sb.bot.URL+"/apps/takumi-server/envs/dev"); !strings.Contains(page, `id="lock">by <span class="who" `+want) {
		t.Errorf("the env page does not name the lock owner %s as bob", sandboxUser)
	}
	// Asked once however many pages show the name.
	asked := 0
	for _, c := range sb.slack.Calls() {
		if c.Method == "users.info" {
			asked++
		}
	}
	if asked != 1 {
		t.Errorf("users.info asked %d times, want 1", asked)
	}
}

// The timeline says whose commit was deployed and what it is, from the
// answer that resolved the ref.
func TestTimelineNamesTheCommit(t *testing.T) {
	sb := newTestSandbox(t)
	sha := sb.commit("commit words", "main", "success", true)
	d := slashDeploy(t, sb, "takumi-server main dev")
	lines := timeline(t, sb, d.ID)
	if n := containsLine(lines, "Commit "+sha[:7]+" by Emulator: Commit "+sha[:7]); n != 1 {
		t.Errorf("timeline names the commit %d times, want 1:\n%s", n, strings.Join(lines, "\n"))
	}
}
