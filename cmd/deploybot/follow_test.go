package main

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
)

// `deploybot deploy` whose deployment a serve on the same store took
// prints that deployment's timeline and ends with it.
func TestFollowPrintsTheTimelineToTheEnd(t *testing.T) {
	ctx := context.Background()
	store, err := openStore(ctx, "sqlite:"+filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	d := &bot.Deployment{App: "web", Env: "dev", Repo: "acme/web", Ref: "main", Requester: "cli:me", Source: bot.SourceCLI, State: bot.StateReceived}
	if err := store.CreateDeployment(ctx, d); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"Waiting for CI", "Deploying", "Succeeded"} {
		if err := store.AddEvent(ctx, &bot.Event{DeploymentID: d.ID, Stage: bot.StateDeploying, Message: line}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := store.TransitionDeployment(ctx, d.ID, []bot.State{bot.StateReceived}, bot.StateSucceeded, ""); err != nil {
		t.Fatal(err)
	}
	var printed []string
	ended, err := follow(ctx, store, d.ID, func(_ *bot.Deployment, line string) { printed = append(printed, line) }, time.Hour)
	if err != nil || ended.State != bot.StateSucceeded {
		t.Fatalf("follow = %v, %v; want the succeeded deployment", ended, err)
	}
	if want := []string{"Waiting for CI", "Deploying", "Succeeded"}; !slices.Equal(printed, want) {
		t.Errorf("printed %q, want %q", printed, want)
	}
}
