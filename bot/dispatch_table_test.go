package bot_test

import (
	"context"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/bot/bottest"
)

// serve runs w's dispatcher until the test ends, reporting each
// deployment whose pipeline stopped on the returned channel, and a
// channel that hears each park.
func serve(t *testing.T, w *bottest.World) (finished <-chan *bot.Deployment, parked <-chan struct{}) {
	t.Helper()
	fin := make(chan *bot.Deployment, 10)
	park := make(chan struct{}, 10)
	w.Service.Finished = func(d *bot.Deployment) { fin <- d }
	w.Store.After("Park", func() { park <- struct{}{} })
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error)
	go func() { stopped <- w.Service.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-stopped; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return fin, park
}

// A deployment waiting for CI holds no lease and no goroutine: it is
// parked in the store, and a CI webhook brings it back, with no attempt
// counted for the wait.
func TestServeParksAndWakes(t *testing.T) {
	w := newWorld(t)
	w.GitHub.SetChecks(sha1, check("ci/test", bot.CheckPending))
	finished, parked := serve(t, w)
	d := accept(t, w, "web", sha1, "dev", "slack:UDEV")
	w.Service.Start(d)
	<-parked
	got := stored(t, w, d.ID)
	if got.State != bot.StateWaitingForCI || got.LeaseOwner != "" || got.Wait.On != bot.WaitForCI(sha1) ||
		got.Wait.Note != "CI: ci/test pending" || !got.Wait.Until.Equal(bottest.T0.Add(30*time.Minute)) {
		t.Errorf("parked deployment %s, lease %q, wait %+v; want waiting_for_ci, unleased, on CI until its deadline (sooner than the hourly poll)", got.State, got.LeaseOwner, got.Wait)
	}

	w.GitHub.SetChecks(sha1, green("ci/test"))
	w.Service.NotifyCI(sha1)
	end := <-finished
	got = stored(t, w, d.ID)
	if end.ID != d.ID || got.State != bot.StateSucceeded || got.Attempts != 1 {
		t.Errorf("deployment #%d ended %s after %d attempts; want #%d succeeded after 1", end.ID, got.State, got.Attempts, d.ID)
	}
	if n := w.GitHub.Calls("Checks"); n != 2 {
		t.Errorf("%d reads of CI results, want 2: the first, and the one the webhook woke", n)
	}
}

// A parked deployment has no run to stop: cancelling it ends it and
// wakes the one queued behind it.
func TestServeCancelParked(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.GitHub.SetChecks(sha1, check("ci/test", bot.CheckPending))
	w.GitHub.SetChecks(sha2, green("ci/test"))
	finished, parked := serve(t, w)
	first := accept(t, w, "web", sha1, "dev", "slack:UDEV")
	w.Service.Start(first)
	<-parked
	second := accept(t, w, "web", sha2, "dev", "slack:UDEV")
	w.Service.Start(second)
	<-parked // behind the first, at the gate

	if _, err := w.Service.Cancel(ctx, first.ID, "slack:UDEV"); err != nil {
		t.Fatal(err)
	}
	// Only the second's end is waited for: Finished is not heard for a
	// deployment cancelled while its run is still leaving after parking.
	for d := <-finished; d.ID != second.ID; d = <-finished {
	}
	if got := stored(t, w, second.ID); got.State != bot.StateSucceeded {
		t.Errorf("second deployment %s; want it woken at the gate and succeeded", got.State)
	}
	if got := stored(t, w, first.ID); got.State != bot.StateCancelled || w.GitHub.LastStatus(got.GitHubDeploymentID).State != "error" {
		t.Errorf("first deployment %s, GitHub %+v; want cancelled, and GitHub told", got.State, w.GitHub.LastStatus(got.GitHubDeploymentID))
	}
}
