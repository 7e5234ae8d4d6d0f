package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/dispatch"
	"github.com/deploybot/deploybot/emulator/awsemu"
	"github.com/deploybot/deploybot/emulator/faults"
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

// heldRollouts are the DescribeServices calls the AWS emulator holds.
type heldRollouts struct {
	mu      sync.Mutex
	holding map[string]int // requests held now, by cluster
	heard   chan struct{}  // a request was held
}

// clusters returns how many clusters have a request held now.
func (h *heldRollouts) clusters() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.holding)
}

// holdRollouts makes the AWS emulator hold every DescribeServices of the
// clusters named prefix*, as a rollout that takes its time does, until
// release is closed. A request whose caller gave up (a run stopped) is
// no longer held.
func holdRollouts(sb *sandbox, prefix string, release <-chan struct{}) *heldRollouts {
	h := &heldRollouts{holding: map[string]int{}, heard: make(chan struct{}, 1000)}
	isDescribe := awsemu.Op("ecs.DescribeServices")
	cluster := func(r *http.Request) string {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var in struct {
			Cluster string `json:"cluster"`
		}
		_ = json.Unmarshal(body, &in)
		return in.Cluster
	}
	sb.aws.Inject(faults.Rule{
		Match: func(r *http.Request) bool { return isDescribe(r) && strings.HasPrefix(cluster(r), prefix) },
		Respond: func(w http.ResponseWriter, r *http.Request) {
			c := cluster(r)
			h.mu.Lock()
			h.holding[c]++
			h.mu.Unlock()
			h.heard <- struct{}{}
			select {
			case <-release:
			case <-r.Context().Done():
			}
			h.mu.Lock()
			if h.holding[c]--; h.holding[c] == 0 {
				delete(h.holding, c)
			}
			h.mu.Unlock()
			// The SDK retries a throttled call; by then the rule is gone.
			awsemu.Throttle(w, r)
		},
	})
	return h
}

// One user floods dev with 110 deploys whose CI is pending while another
// holds every slot it may with long rollouts to 20 environments: a prod
// deploy and a prod rollback by a third still reach AWS, and the holder
// holds no more than its share.
func TestFloodAndHeldSlotsStarveNothing(t *testing.T) {
	const holders = 20
	var holdEnvs []string
	sb, err := newSandbox(context.Background(), "127.0.0.1:0", io.Discard, func(o *options) {
		o.sandboxConfig = func(cfg *bot.Config) {
			app := cfg.Apps["takumi-server"]
			for i := range holders {
				name := fmt.Sprintf("hold%02d", i)
				holdEnvs = append(holdEnvs, name)
				app.Environments[name] = &bot.Environment{
					Name: name, App: app.Name, Timeout: app.Environments["dev"].Timeout,
					ECS: &bot.ECSTarget{Cluster: name, Service: sandboxService, Container: sandboxContainer},
				}
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sb.Close)
	for _, env := range holdEnvs {
		sb.aws.AddService(env, sandboxService, awsemu.TaskDef{
			Family: sandboxService + "-" + env, CPU: "256", Memory: "512",
			Containers: []awsemu.Container{{Name: sandboxContainer, Image: sandboxImage + ":git_0000000", Memory: 512}},
		})
	}
	ctx := context.Background()
	accepted := func(user, text string) int64 {
		t.Helper()
		code, reply, err := sb.slash(ctx, user, text)
		var id int64
		if _, serr := fmt.Sscanf(reply, "Deployment #%d accepted", &id); err != nil || serr != nil || code != http.StatusOK {
			t.Fatalf("/deploy %s by %s: %d %q %v", text, user, code, reply, err)
		}
		return id
	}
	old := sb.commit("held: prod before", "old", "success", true)
	if d, err := sb.wait(ctx, accepted(sandboxUser, "takumi-server "+old+" prod")); err != nil || d.State != bot.StateSucceeded {
		t.Fatalf("first prod deploy: %+v, %v", d, err)
	}

	release := make(chan struct{})
	held := holdRollouts(sb, "hold", release)
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	green := sb.commit("held: green", "new", "success", true)
	var holding []int64
	for _, env := range holdEnvs {
		holding = append(holding, accepted("UHOLDER", "takumi-server "+green[:7]+" "+env))
	}
	for held.clusters() < dispatch.PerRequesterShare {
		<-held.heard
	}

	pending := sb.commit("held: ci pending", "busy", "pending", true)
	var flood []int64
	for range 110 {
		flood = append(flood, accepted("UFLOODER", "takumi-server "+pending[:7]+" dev"))
	}

	deploy := accepted(sandboxUser, "takumi-server "+green[:7]+" prod")
	if d, err := sb.wait(ctx, deploy); err != nil || d.State != bot.StateSucceeded {
		t.Fatalf("prod deploy while the slots are held: %+v, %v", d, err)
	}
	rollback := accepted(sandboxUser, "rollback takumi-server prod")
	if d, err := sb.wait(ctx, rollback); err != nil || d.State != bot.StateSucceeded || d.SHA != old {
		t.Fatalf("prod rollback while the slots are held: %+v, %v", d, err)
	}

	// The holder's rollouts are all still held (the deployer looks at the
	// service before it changes it), it runs only its share of them,
	// and no dev deploy reached AWS.
	calls := updateServices(sb)
	if started := held.clusters(); started != dispatch.PerRequesterShare || calls["prod"] != 3 || calls["dev"] != 0 {
		t.Errorf("rollouts of the holder: %d, want %d; UpdateService to prod %d, want 3; to dev %d, want 0",
			started, dispatch.PerRequesterShare, calls["prod"], calls["dev"])
	}
	for _, id := range flood {
		if d, err := sb.bot.store.Deployment(ctx, id); err != nil || d.State.Terminal() {
			t.Errorf("dev deployment #%d: %+v, %v; want it waiting", id, d, err)
		}
	}

	// Released, the held ones and those beyond the share all finish.
	released = true
	sb.aws.ClearFaults()
	close(release)
	for _, id := range holding {
		if d, err := sb.wait(ctx, id); err != nil || d.State != bot.StateSucceeded {
			t.Errorf("held deployment #%d: %+v, %v", id, d, err)
		}
	}
}
