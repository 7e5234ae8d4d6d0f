package main

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
)

// updateServices counts the UpdateService calls the AWS emulator saw for
// each cluster.
func updateServices(sb *sandbox) map[string]int {
	n := map[string]int{}
	for _, c := range sb.aws.Calls() {
		if c.Service != "ecs" || c.Op != "UpdateService" {
			continue
		}
		var in struct {
			Cluster string `json:"cluster"`
		}
		_ = json.Unmarshal(c.Body, &in)
		n[in.Cluster]++
	}
	return n
}

// One user's 110 deploys of a commit whose CI is pending — more than a
// replica runs at once — wait without taking a slot: someone else's prod
// deploy and prod rollback still reach AWS while every one of the 110
// waits. (They used to hold all the slots, and prod stayed received.)
func TestWaitingDeploymentsStarveNothing(t *testing.T) {
	sb := newTestSandbox(t)
	ctx := context.Background()
	old := sb.commit("starve: prod before", "old", "success", true)
	id, err := sb.slashAccepted(ctx, "takumi-server "+old+" prod")
	if err != nil {
		t.Fatal(err)
	}
	if d, err := sb.wait(ctx, id); err != nil || d.State != bot.StateSucceeded {
		t.Fatalf("first prod deploy: %+v, %v", d, err)
	}

	pending := sb.commit("starve: ci pending", "busy", "pending", true)
	const flood = 110 // more than the pipelines a replica runs at once (16; 100 before)
	var waiting []int64
	for range flood {
		id, err := sb.slashAccepted(ctx, "takumi-server "+pending[:7]+" dev")
		if err != nil {
			t.Fatal(err)
		}
		waiting = append(waiting, id)
	}
	// The first waits for CI, the others behind it in dev's queue.
	waitState(t, sb, waiting[0], bot.StateWaitingForCI)
	for _, id := range waiting[1:] {
		waitState(t, sb, id, bot.StateQueued)
	}

	green := sb.commit("starve: prod now", "new", "success", true)
	deploy, err := sb.slashAccepted(ctx, "takumi-server "+green+" prod")
	if err != nil {
		t.Fatal(err)
	}
	if d, err := sb.wait(ctx, deploy); err != nil || d.State != bot.StateSucceeded {
		t.Fatalf("prod deploy behind %d waiting dev deploys: %+v, %v", flood, d, err)
	}
	code, reply, err := sb.slash(ctx, sandboxUser, "rollback takumi-server prod")
	if err != nil || code != 200 {
		t.Fatalf("rollback: %d %q %v", code, reply, err)
	}
	var rollback int64
	if _, err := fmt.Sscanf(reply, "Deployment #%d", &rollback); err != nil {
		t.Fatalf("rollback reply %q", reply)
	}
	if d, err := sb.wait(ctx, rollback); err != nil || d.State != bot.StateSucceeded || d.SHA != old {
		t.Fatalf("prod rollback behind %d waiting dev deploys: %+v, %v", flood, d, err)
	}

	// Prod went three times to AWS while every dev deploy still waited,
	// and none of them reached it.
	if got := updateServices(sb); got["prod"] != 3 || got["dev"] != 0 {
		t.Errorf("UpdateService calls by cluster: %v, want prod 3 and dev 0", got)
	}
	for _, id := range waiting {
		d, err := sb.bot.store.Deployment(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if d.State.Terminal() {
			t.Errorf("dev deployment #%d ended (%s: %s) while its CI was pending", id, d.State, d.Reason)
		}
	}

	// Green CI, and the dev queue drains in order, one at a time.
	sb.github.SetStatus(sandboxRepo, pending, sandboxCheck, "success")
	sb.bot.service.NotifyCI(pending)
	var last time.Time
	for _, id := range waiting[:3] {
		d, err := sb.wait(ctx, id)
		if err != nil || d.State != bot.StateSucceeded {
			t.Fatalf("dev deployment #%d after green CI: %+v, %v", id, d, err)
		}
		if d.UpdatedAt.Before(last) {
			t.Errorf("dev deployment #%d finished before the one ahead of it", id)
		}
		last = d.UpdatedAt
	}
}
