package main

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deploybot/deploybot/store/postgres/pgtest"
)

// replicaLogs collects the logs of n replicas, shown if the test fails.
func replicaLogs(t *testing.T, n int) []syncBuffer {
	logs := make([]syncBuffer, n)
	t.Cleanup(func() {
		if t.Failed() {
			for i := range logs {
				t.Logf("replica %d logs:\n%s", i, logs[i].String())
			}
		}
	})
	return logs
}

// Two `deploybot serve` processes on one PostgreSQL database take 50
// deployments across 10 environments, sent to both in turn: each runs
// exactly once, and no environment ever has two rollouts at once.
func TestTwoReplicasShareTheWork(t *testing.T) {
	dsn := pgtest.Schema(t, pgtest.DSN(t))
	f := newFleet(t)
	var envs []string
	for i := range 10 {
		envs = append(envs, fmt.Sprintf("env%d", i))
	}
	addrs := []string{freeAddr(t), freeAddr(t)}
	logs := replicaLogs(t, 2)
	f.addServices(envs)
	for i, addr := range addrs {
		config := f.config(t, fmt.Sprintf("replica%d.yaml", i), dsn, addr, envs)
		f.serveProcess(t, config, addr, fmt.Sprintf("replica-%d", i), &logs[i])
	}

	var shas []string
	for i := range 50 {
		shas = append(shas, f.commit(fmt.Sprintf("replica commit %d", i)))
	}
	var wg sync.WaitGroup
	for i, sha := range shas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.slash(t, addrs[i%2], fmt.Sprintf("takumi-server %s %s", sha[:7], envs[i%10]))
		}()
	}
	wg.Wait()

	waitFor(t, "50 deployments to end", 3*time.Minute, func() bool {
		ended := 0
		for _, st := range f.finalStates() {
			if st == "success" || st == "failure" || st == "error" {
				ended++
			}
		}
		return ended == 50
	})
	if n := len(f.github.Deployments(sandboxRepo)); n != 50 {
		t.Errorf("%d GitHub deployments, want 50", n)
	}
	for id, st := range f.finalStates() {
		if st != "success" {
			t.Errorf("GitHub deployment %d ended %s", id, st)
		}
	}
	if n := f.aws.CallCount("UpdateService"); n != 50 {
		t.Errorf("UpdateService called %d times, want 50 (one per deployment)", n)
	}
	if n := f.aws.CallCount("RegisterTaskDefinition"); n != 50 {
		t.Errorf("RegisterTaskDefinition called %d times, want 50", n)
	}
	if overlaps := f.aws.OverlappingRollouts(); len(overlaps) != 0 {
		t.Errorf("rollouts overlapped on one service: %v", overlaps)
	}
	takeovers := strings.Count(logs[0].String(), "took the deployment over") + strings.Count(logs[1].String(), "took the deployment over")
	t.Logf("leases taken over from a live replica: %d", takeovers)
}

// A deployment parked waiting for CI by one replica is woken by a CI
// webhook delivered to another: the wake goes through the store. The CI
// poll is an hour, so nothing but the webhook could move it on.
func TestCIWebhookWakesAcrossReplicas(t *testing.T) {
	dsn := pgtest.Schema(t, pgtest.DSN(t))
	f := newFleet(t)
	f.ciPoll = "1h"
	f.addServices([]string{"dev"})
	addrs := []string{freeAddr(t), freeAddr(t)}
	logs := replicaLogs(t, 2)
	configs := make([]string, 2)
	for i, addr := range addrs {
		configs[i] = f.config(t, fmt.Sprintf("wake%d.yaml", i), dsn, addr, []string{"dev"})
	}
	// Only B runs while the deployment starts, so B is the one that
	// claimed it and parked it.
	f.serveProcess(t, configs[1], addrs[1], "replica-b", &logs[1])
	sha := (&sandbox{github: f.github, aws: f.aws}).commit("wake across replicas", "b-wake", "pending", true)
	f.slash(t, addrs[1], "takumi-server "+sha[:7]+" dev")
	waitFor(t, "the deployment to wait for CI", 30*time.Second, func() bool {
		return strings.Contains(logs[1].String(), "waiting for CI")
	})
	f.serveProcess(t, configs[0], addrs[0], "replica-a", &logs[0])

	f.github.SetStatus(sandboxRepo, sha, sandboxCheck, "success")
	f.github.SetWebhook("http://"+addrs[0]+"/webhooks/github", sandboxWebhookSecret)
	payload := fmt.Sprintf(`{"sha":%q,"state":"success","context":%q,"repository":{"full_name":%q}}`, sha, sandboxCheck, sandboxRepo)
	if err := f.github.SendWebhook("status", []byte(payload)); err != nil {
		t.Fatal(err)
	}
	f.waitAllSucceeded(t, "the deployment woken through the other replica", 1, time.Minute)
	if n := f.aws.CallCount("UpdateService"); n != 1 {
		t.Errorf("UpdateService called %d times, want 1", n)
	}
}
