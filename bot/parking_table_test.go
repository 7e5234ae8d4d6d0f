package bot_test

import (
	"context"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
)

// stopsHere is a scheduler that runs every deployment here: Stop finds
// the run, so whoever ends a deployment leaves telling its end to the run.
type stopsHere struct{}

func (stopsHere) Kick()                  {}
func (stopsHere) Wake(string)            {}
func (stopsHere) Stop(int64, error) bool { return true }

// A deployment cancelled while its run parks it is ended by that run:
// Finished hears of it once, as the sandbox and the tests wait on it.
func TestCancelWhileParkingIsFinishedOnce(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.Service.Scheduler = stopsHere{}
	var finished []*bot.Deployment
	w.Service.Finished = func(d *bot.Deployment) { finished = append(finished, d) }
	w.GitHub.SetChecks(sha1, check("ci/test", bot.CheckPending))
	accepted := accept(t, w, "web", sha1, "dev", "slack:UDEV")
	d, err := w.Store.ClaimDeployment(ctx, accepted.ID, w.Service.Owner, w.Clock.Now(), w.Clock.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	w.Store.After("Park", func() {
		w.Store.After("Park", nil)
		if _, err := w.Service.Cancel(ctx, d.ID, "slack:UDEV"); err != nil {
			t.Errorf("cancel while parking: %v", err)
		}
	})
	if err := w.Service.RunClaimed(ctx, d, func(context.Context) {}); err == nil {
		t.Error("RunClaimed of a cancelled deployment returned no error")
	}
	if len(finished) != 1 || finished[0].State != bot.StateCancelled {
		t.Fatalf("Finished heard %d ends (%v); want the cancelled deployment once", len(finished), finished)
	}
	if got := stored(t, w, d.ID); got.State != bot.StateCancelled {
		t.Errorf("stored %s, want cancelled", got.State)
	}
}
