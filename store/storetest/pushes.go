package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
	"github.com/google/go-cmp/cmp"
)

// Pushes are ordered by their time, then by id, whatever order their
// deployments were stored in; manual deployments are not pushes.
func testPushes(t *testing.T, s Store) {
	ctx := context.Background()
	push := func(env string, at time.Time, state bot.State) *bot.Deployment {
		d := newDeployment()
		d.App, d.Env, d.Source, d.PushedAt, d.State = "web", env, bot.SourceAuto, at, state
		if err := s.CreateDeployment(ctx, d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	if _, err := s.NewestPush(ctx, "web", "dev"); bot.ErrorCode(err) != bot.ENOTFOUND {
		t.Errorf("NewestPush with none: %v, want ENOTFOUND", err)
	}
	later := push("dev", t0.Add(2*time.Second), bot.StateQueued)
	earlier := push("dev", t0, bot.StateWaitingForCI) // its webhook came late
	sameTime := push("dev", t0, bot.StateQueued)
	deploying := push("dev", t0.Add(-time.Second), bot.StateDeploying)
	push("prod", t0.Add(time.Hour), bot.StateQueued)
	manual := newDeployment()
	manual.App, manual.Env, manual.State = "web", "dev", bot.StateQueued
	if err := s.CreateDeployment(ctx, manual); err != nil {
		t.Fatal(err)
	}

	newest, err := s.NewestPush(ctx, "web", "dev")
	if err != nil || newest.ID != later.ID || !newest.PushedAt.Equal(later.PushedAt) {
		t.Fatalf("NewestPush = %+v, %v; want #%d pushed at %s", newest, err, later.ID, later.PushedAt)
	}
	older, err := s.PushedBefore(ctx, later, []bot.State{bot.StateQueued, bot.StateWaitingForCI})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int64{earlier.ID, sameTime.ID}, ids(older)); diff != "" {
		t.Errorf("PushedBefore(#%d) (-want +got):\n%s", later.ID, diff)
	}
	older, err = s.PushedBefore(ctx, earlier, []bot.State{bot.StateQueued, bot.StateDeploying})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int64{deploying.ID}, ids(older)); diff != "" {
		t.Errorf("PushedBefore(#%d) (-want +got):\n%s", earlier.ID, diff)
	}

	// Superseded is an end: the deployment is claimed no more.
	if _, err := s.TransitionDeployment(ctx, earlier.ID, []bot.State{bot.StateWaitingForCI}, bot.StateSuperseded, "superseded by #1"); err != nil {
		t.Fatal(err)
	}
	for _, d := range claim(t, s, "A", t0, t0.Add(time.Minute), 100) {
		if d.ID == earlier.ID {
			t.Errorf("claimed superseded deployment #%d", d.ID)
		}
	}
}
