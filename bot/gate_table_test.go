package bot_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/bot/bottest"
)

// queuedNotes are the descriptions of d's "queued" GitHub statuses.
func queuedNotes(w *bottest.World, d *bot.Deployment) []string {
	var notes []string
	for _, st := range w.GitHub.Statuses(d.GitHubDeploymentID) {
		if st.State == "queued" {
			notes = append(notes, st.Description)
		}
	}
	return notes
}

// onQueuedNote calls f once, when a queued status containing note is
// reported: the pipeline has said what it waits for and is about to wait.
func onQueuedNote(w *bottest.World, note string, f func()) {
	done := false
	w.GitHub.AfterStatus(func(id int64, st bot.DeploymentStatus) {
		if !done && st.State == "queued" && strings.Contains(st.Description, note) {
			done = true
			f()
		}
	})
}

// A deployment waits in FIFO order behind the older one of its
// environment, says so, and passes once that one ends.
func TestGateFIFO(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.GitHub.SetChecks(sha2, green("ci/test"))
	ahead := seed(t, w, "web", "dev", sha1, bot.StateWaitingForCI)
	elsewhere := seed(t, w, "web", "staging", sha1, bot.StateDeploying)
	d := accept(t, w, "web", sha2, "dev", "slack:UDEV")
	onQueuedNote(w, "Queued behind deployment #1", func() {
		if _, err := w.Service.Cancel(ctx, ahead.ID, "slack:UDEV"); err != nil {
			t.Errorf("cancel the one ahead: %v", err)
		}
	})
	if err := w.Service.Run(ctx, d); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := stored(t, w, d.ID); got.State != bot.StateSucceeded {
		t.Errorf("state %s, want succeeded once the one ahead was cancelled", got.State)
	}
	notes := queuedNotes(w, d)
	// Once through the gate, GitHub stops saying it waits behind #1.
	if len(notes) != 3 || notes[1] != "Queued behind deployment #1 (cf7edb2)" || notes[2] != "Waiting for CI" {
		t.Errorf("queued statuses %q; want Queued, then behind #1, then waiting for CI", notes)
	}
	if got := stored(t, w, elsewhere.ID); got.State != bot.StateDeploying {
		t.Errorf("another environment's deployment is %s; the gate must leave it alone", got.State)
	}
}

// Someone else's lock holds a deployment accepted before it was taken;
// unlocking lets it through.
func TestGateHeldByLock(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.GitHub.SetChecks(sha1, green("ci/test"))
	d := accept(t, w, "web", sha1, "prod", "slack:UADMIN")
	if _, err := w.Service.Lock(ctx, "web", "prod", "slack:UOPS", "freeze <!channel>", 0); err != nil {
		t.Fatal(err)
	}
	onQueuedNote(w, "Held:", func() {
		msg, err := w.Service.Unlock(ctx, "web", "prod", "slack:UADMIN")
		if err != nil || !strings.Contains(msg.Text, "(it was locked by <@UOPS>)") {
			t.Errorf("Unlock = %q, %v; want it to name whose lock it was", msg.Text, err)
		}
	})
	if err := w.Service.Run(ctx, d); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := stored(t, w, d.ID); got.State != bot.StateSucceeded {
		t.Errorf("state %s, want succeeded once unlocked", got.State)
	}
	notes := queuedNotes(w, d)
	if len(notes) != 3 || !strings.HasPrefix(notes[1], "Held: web prod is locked by slack:UOPS: freeze") || notes[2] != "Waiting for CI" {
		t.Errorf("queued statuses %q; want Queued, then held by the lock, then waiting for CI", notes)
	}
	// The lock's reason is its owner's words: shown in Slack, it pings no one.
	held := false
	for _, msg := range w.Chat.History(stored(t, w, d.ID).SlackChannel, stored(t, w, d.ID).SlackTS) {
		if strings.Contains(msg.Text, "<!channel>") {
			t.Errorf("Slack message pings the channel: %q", msg.Text)
		}
		held = held || strings.Contains(msg.Text, "Held:")
	}
	if !held {
		t.Error("the Slack message never said the deployment was held")
	}
}

// Locks refuse others at the door, let their owner through, and release
// themselves when they expire.
func TestLocks(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.GitHub.SetChecks(sha1, green("ci/test"))
	msg, err := w.Service.Lock(ctx, "web", "prod", "slack:UOPS", "release freeze", 30*time.Minute)
	if err != nil || !strings.Contains(msg.Text, "web prod locked by <@UOPS> until 2026-11-30 09:30 UTC: release freeze") {
		t.Fatalf("Lock = %q, %v", msg.Text, err)
	}
	_, err = w.Service.Lock(ctx, "web", "prod", "slack:UADMIN", "mine", 0)
	wantCode(t, err, bot.ECONFLICT, "web prod is already locked by slack:UOPS")
	_, err = w.Service.Lock(ctx, "web", "prod", "slack:USTRANGER", "", 0)
	wantCode(t, err, bot.EFORBIDDEN, "may not deploy web to prod")

	_, err = w.Service.Accept(ctx, bot.Request{App: "web", Env: "prod", Ref: sha1, Requester: "slack:UADMIN", Source: bot.SourceSlack})
	wantCode(t, err, bot.EFORBIDDEN, "web prod is locked by slack:UOPS")
	if n := len(w.Store.Deployments()); n != 0 {
		t.Errorf("a refused request stored %d deployments", n)
	}
	own := accept(t, w, "web", sha1, "prod", "slack:UOPS")
	if err := w.Service.Run(ctx, own); err != nil {
		t.Errorf("the lock's owner deploys through it: %v", err)
	}

	w.Clock.Advance(31 * time.Minute)
	accept(t, w, "web", sha1, "prod", "slack:UADMIN")
	_, err = w.Service.Unlock(ctx, "web", "prod", "slack:UADMIN")
	wantCode(t, err, bot.ENOTFOUND, "web prod is not locked")
}

func TestCancel(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	deploying := seed(t, w, "web", "dev", sha1, bot.StateDeploying)
	_, err := w.Service.Cancel(ctx, deploying.ID, "slack:UDEV")
	wantCode(t, err, bot.ECONFLICT, "deployment #1 is deploying; only queued")
	guarded := seed(t, w, "web", "prod", sha1, bot.StateQueued)
	_, err = w.Service.Cancel(ctx, guarded.ID, "slack:USTRANGER")
	wantCode(t, err, bot.EFORBIDDEN, "may not deploy web to prod")
	_, err = w.Service.Cancel(ctx, 99, "slack:UDEV")
	wantCode(t, err, bot.ENOTFOUND, "#99")
	for _, d := range []*bot.Deployment{deploying, guarded} {
		if got := stored(t, w, d.ID); got.State != d.State {
			t.Errorf("a refused cancel moved #%d to %s", d.ID, got.State)
		}
	}
}

// A deployment cancelled while it waits for CI stays cancelled: its
// pipeline stops at its next write and never reaches AWS.
func TestCancelWhileWaitingForCI(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.GitHub.SetChecks(sha1, check("ci/test", bot.CheckPending))
	d := accept(t, w, "web", sha1, "dev", "slack:UDEV")
	w.GitHub.AfterChecks(func(sha string) {
		w.GitHub.AfterChecks(nil)
		msg, err := w.Service.Cancel(ctx, d.ID, "slack:UOTHER")
		if err != nil || msg.Text != ":no_entry_sign: Deployment #1 (web to dev) cancelled." {
			t.Errorf("Cancel = %q, %v", msg.Text, err)
		}
		w.GitHub.SetChecks(sha1, green("ci/test"))
		w.Service.NotifyCI(sha)
	})
	if err := w.Service.Run(ctx, d); err == nil {
		t.Error("Run of a cancelled deployment returned no error")
	}
	got := stored(t, w, d.ID)
	if got.State != bot.StateCancelled || got.Reason != "cancelled by slack:UOTHER" {
		t.Errorf("stored %s %q; want cancelled by slack:UOTHER", got.State, got.Reason)
	}
	if last := w.GitHub.LastStatus(got.GitHubDeploymentID); last.State != "error" || last.Description != "Cancelled by slack:UOTHER" {
		t.Errorf("final GitHub status %+v", last)
	}
	if text := slackText(t, w, got); !strings.Contains(text, "Cancelled by <@UOTHER>") {
		t.Errorf("Slack message %q", text)
	}
	if n := len(w.ECS.Calls()); n != 0 {
		t.Errorf("a cancelled deployment was rolled out %d times", n)
	}
}
