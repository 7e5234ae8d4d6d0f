package main

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deploybot/deploybot/store/postgres/pgtest"
)

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
	var logs [2]syncBuffer
	defer func() {
		if t.Failed() {
			for i := range logs {
				t.Logf("replica %d logs:\n%s", i, logs[i].String())
			}
		}
	}()
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
