package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/store/postgres/pgtest"
)

// The waiting deployments of BenchmarkWaitingDeployments, 5,000 in all.
const (
	ciEnvs       = 100 // each: one waiting for CI (its own pending commit), 9 queued behind it
	queuedBehind = 9
	rolloutEnvs  = 10 // each: one in a rollout that does not end, 200 queued behind it
	lockedEnvs   = 10 // each: 200 queued, held by someone else's lock
	perLongEnv   = 200
	// waitingCIPoll is timing.ci_poll: production's first poll, so that
	// the polls of 100 CI waits do not themselves load the machine.
	waitingCIPoll = 10 * time.Second
	// idleWindow is how long the bench watches serve do nothing: a whole
	// gate recheck (bot's gateRecheck, 1 min), which every queued
	// deployment makes once in it.
	idleWindow = 61 * time.Second
)

// BenchmarkWaitingDeployments parks 5,000 deployments in one `deploybot
// serve` process — waiting for CI, queued behind a rollout that does not
// end, held by a lock — and then deploys to an idle environment, with
// SQLite and with PostgreSQL (DEPLOYBOT_TEST_POSTGRES). DESIGN.md's budget:
// the idle deploy reaches AWS as fast as with none waiting (≤ 1 s on 2
// cores), RSS ≤ 300 MB, no poll per waiting deployment faster than its
// backoff. It reports
//
//   - idle-env-ms: the idle deploy's Slack command → its UpdateService,
//     and idle-env-ms-none-waiting, the same before any waited;
//   - peak-rss-MB: serve's VmHWM, reached while the 5,000 are accepted,
//     and idle-rss-MB, its VmRSS once they are parked;
//   - store-queries-per-s and github-calls-per-s over 61 s with nothing
//     happening but the waits (and -none-waiting: the same before any);
//   - min-ci-poll-s: the shortest gap between two reads of one waiting
//     commit's CI results, which timing.ci_poll (10 s) must bound.
//
// Run with -run '^$' -bench WaitingDeployments -benchtime 1x.
func BenchmarkWaitingDeployments(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		for b.Loop() {
			benchWaiting(b, func(f *fleet) string { return "sqlite:" + filepath.Join(f.dir, "deploybot.db") })
		}
	})
	b.Run("postgres", func(b *testing.B) {
		dsn := pgtest.DSN(b)
		for b.Loop() {
			benchWaiting(b, func(*fleet) string { return pgtest.Schema(b, dsn) })
		}
	})
}

func benchWaiting(b *testing.B, storeDSN func(*fleet) string) {
	f := newFleet(b)
	f.ciPoll = waitingCIPoll.String()
	// Long enough that no rollout, CI wait or lock runs out during the bench.
	f.envTimeout = "2h"
	f.publicDashboard = true
	var ciNames, rolloutNames, lockedNames []string
	for i := range ciEnvs {
		ciNames = append(ciNames, fmt.Sprintf("ci%03d", i))
	}
	for i := range rolloutEnvs {
		rolloutNames = append(rolloutNames, fmt.Sprintf("rollout%02d", i))
	}
	for i := range lockedEnvs {
		lockedNames = append(lockedNames, fmt.Sprintf("locked%02d", i))
	}
	idle := []string{"idle0", "idle1", "idle2"} // warm-up, none waiting, 5,000 waiting
	envs := append(append(append(append([]string{}, idle...), ciNames...), rolloutNames...), lockedNames...)
	f.addServices(envs)
	addr := freeAddr(b)
	dsn := storeDSN(f)
	config := f.config(b, "waiting.yaml", dsn, addr, envs)
	var logs syncBuffer
	defer func() {
		if b.Failed() {
			b.Logf("deploybot logs (last 4000 bytes):\n%s", tail(logs.String(), 4000))
		}
	}()
	cmd := f.serveProcess(b, config, addr, "bench", &logs)
	sb := &sandbox{github: f.github, aws: f.aws}
	green := f.commit("waiting: green")

	// None waiting: a warm-up deploy (first connections, first token),
	// then the one measured, then the idle baseline.
	f.aws.SetRolloutPolls(1)
	idleDeploy(b, f, addr, green, idle[0])
	noneWaitingMS := idleDeploy(b, f, addr, green, idle[1])
	f.waitAllSucceeded(b, "the deploys to idle environments", 2, time.Minute)
	quietBefore := watchIdle(b, f, addr, nil)

	// The waits. Rollouts from here on never end.
	f.aws.SetRolloutPolls(1 << 30)
	db, err := openStore(context.Background(), dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	began := time.Now()
	ciSHAs := map[string]bool{}
	for _, env := range ciNames {
		sha := sb.commit("waiting: ci pending "+env, "b-"+env, "pending", true)
		ciSHAs[sha] = true
		f.slash(b, addr, "takumi-server "+sha[:7]+" "+env)
	}
	for _, env := range rolloutNames {
		f.slash(b, addr, "takumi-server "+green[:7]+" "+env)
	}
	// The locked environments' first deployments wait for CI until they
	// are cancelled, once the lock is taken: Accept refuses deploys to a
	// locked env, so the queue is made first.
	lockHead := sb.commit("waiting: lock head", "b-lock-head", "pending", true)
	var heads []int64
	for _, env := range lockedNames {
		var id int64
		reply := f.say(b, addr, sandboxUser, "takumi-server "+lockHead[:7]+" "+env)
		if _, err := fmt.Sscanf(reply, `{"response_type":"ephemeral","text":"Deployment #%d`, &id); err != nil {
			b.Fatalf("deploy to %s: %q: %v", env, reply, err)
		}
		heads = append(heads, id)
	}
	// The rollouts begin before anything queues behind them.
	waitFor(b, "the rollouts to begin", time.Minute, func() bool {
		return f.aws.CallCount("UpdateService") >= 2+rolloutEnvs
	})
	var commands []string
	for _, env := range ciNames {
		for range queuedBehind {
			commands = append(commands, "takumi-server "+green[:7]+" "+env)
		}
	}
	for _, env := range rolloutNames {
		for range perLongEnv {
			commands = append(commands, "takumi-server "+green[:7]+" "+env)
		}
	}
	for _, env := range lockedNames {
		for range perLongEnv {
			commands = append(commands, "takumi-server "+green[:7]+" "+env)
		}
	}
	sendAll(b, f, addr, commands, 8)
	for i, env := range lockedNames {
		if reply := f.say(b, addr, "ULOCKER", "lock takumi-server "+env+" benchmark"); !strings.Contains(reply, "ocked") {
			b.Fatalf("lock %s: %s", env, reply)
		}
		if reply := f.say(b, addr, sandboxUser, fmt.Sprintf("cancel %d", heads[i])); !strings.Contains(reply, "ancel") {
			b.Fatalf("cancel %d: %s", heads[i], reply)
		}
	}
	acked := time.Since(began)
	want := ciEnvs*(1+queuedBehind) + (rolloutEnvs+lockedEnvs)*perLongEnv
	waitFor(b, fmt.Sprintf("%d deployments to be parked", want), 15*time.Minute, func() bool {
		parked, ci := countParked(b, db)
		return parked == want && ci == ciEnvs
	})
	b.Logf("%d deployments acknowledged in %s (%d sheds sent again), all parked after %s", want+len(ciNames)+len(rolloutNames)+len(lockedNames), acked.Round(time.Millisecond), f.shed.Load(), time.Since(began).Round(time.Millisecond))

	quiet := watchIdle(b, f, addr, ciSHAs)
	idleRSS := megabytes(b, procStatus(b, cmd.Process.Pid, "VmRSS"))
	waitingMS := idleDeploy(b, f, addr, green, idle[2])
	// Queued deployments recheck the gate on their timers: one may be
	// claimed just now, and parks again at once.
	var parked int
	for range 100 {
		if parked, _ = countParked(b, db); parked == want {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if parked != want {
		b.Errorf("%d parked after the idle deploy, want %d", parked, want)
	}
	rss := peakRSS(b, cmd.Process.Pid)

	b.Logf("idle-env-ms %.1f (none waiting %.1f), peak RSS %s (%.1f MB parked), store queries/s %.1f (none waiting %.1f), GitHub calls/s %.2f (none waiting %.2f), shortest CI poll %s",
		waitingMS, noneWaitingMS, rss, idleRSS, quiet.queriesPerS, quietBefore.queriesPerS, quiet.githubPerS, quietBefore.githubPerS, quiet.minCIPoll.Round(time.Millisecond))
	b.ReportMetric(waitingMS, "idle-env-ms")
	b.ReportMetric(noneWaitingMS, "idle-env-ms-none-waiting")
	b.ReportMetric(megabytes(b, rss), "peak-rss-MB")
	b.ReportMetric(idleRSS, "idle-rss-MB")
	b.ReportMetric(quiet.queriesPerS, "store-queries-per-s")
	b.ReportMetric(quietBefore.queriesPerS, "store-queries-per-s-none-waiting")
	b.ReportMetric(quiet.githubPerS, "github-calls-per-s")
	b.ReportMetric(quietBefore.githubPerS, "github-calls-per-s-none-waiting")
	b.ReportMetric(quiet.minCIPoll.Seconds(), "min-ci-poll-s")
	if quiet.minCIPoll < waitingCIPoll*9/10 {
		b.Errorf("a waiting commit's CI was read %s after the previous read; its backoff starts at %s", quiet.minCIPoll, waitingCIPoll)
	}
	if quiet.otherGitHub > 0 {
		b.Errorf("%d GitHub calls while idle other than reading the CI of the %d commits waiting for it: %v", quiet.otherGitHub, ciEnvs, quiet.otherPaths)
	}
}

// idleDeploy deploys sha to env and returns the milliseconds from the
// command to env's UpdateService.
func idleDeploy(b *testing.B, f *fleet, addr, sha, env string) float64 {
	b.Helper()
	sent := time.Now()
	f.slash(b, addr, "takumi-server "+sha[:7]+" "+env)
	var at time.Time
	waitFor(b, "the deploy to "+env+" to reach AWS", time.Minute, func() bool {
		for _, c := range f.aws.Calls() {
			if c.Op == "UpdateService" && strings.Contains(string(c.Body), `"`+env+`"`) {
				at = c.At
				return true
			}
		}
		return false
	})
	return float64(at.Sub(sent).Microseconds()) / 1000
}

// sendAll sends the commands, at most inFlight at a time.
func sendAll(b *testing.B, f *fleet, addr string, commands []string, inFlight int) {
	b.Helper()
	next := make(chan string)
	var wg sync.WaitGroup
	for range inFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for text := range next {
				f.slash(b, addr, text)
			}
		}()
	}
	for _, text := range commands {
		next <- text
	}
	close(next)
	wg.Wait()
}

// countParked counts the unfinished deployments that wait in the store,
// held by no one, and of them those waiting for CI.
func countParked(b *testing.B, db storeDB) (parked, ci int) {
	b.Helper()
	ds, err := db.ListDeployments(context.Background(), bot.DeploymentFilter{States: []bot.State{bot.StateQueued, bot.StateWaitingForCI}, Limit: 100000})
	if err != nil {
		b.Fatal(err)
	}
	for _, d := range ds {
		if d.LeaseOwner == "" && d.Wait.On != "" {
			parked++
			if d.State == bot.StateWaitingForCI {
				ci++
			}
		}
	}
	return parked, ci
}

// quietWatch is what serve did during idleWindow.
type quietWatch struct {
	queriesPerS, githubPerS float64
	// minCIPoll is the shortest gap between two reads of one waiting
	// commit's CI status; otherGitHub counts the calls that were not such
	// reads.
	minCIPoll   time.Duration
	otherGitHub int
	otherPaths  []string
}

// watchIdle scrapes deploybot_store_queries_total at both ends of
// idleWindow and reads the GitHub calls serve made meanwhile; ciSHAs are
// the commits whose CI is awaited.
func watchIdle(b *testing.B, f *fleet, addr string, ciSHAs map[string]bool) quietWatch {
	b.Helper()
	q0, t0 := storeQueries(b, addr), time.Now()
	time.Sleep(idleWindow)
	q1, t1 := storeQueries(b, addr), time.Now()
	w := quietWatch{queriesPerS: (q1 - q0) / t1.Sub(t0).Seconds(), minCIPoll: time.Duration(1<<63 - 1)}
	lastRead := map[string]time.Time{}
	n := 0
	for _, c := range f.github.Calls() {
		// The CI of a commit is read as its combined status and its check
		// runs; the gap is measured between the status reads.
		sha, what := ciRead(c.Path)
		if c.At.After(t1) || (c.At.Before(t0) && sha == "") {
			continue
		}
		if sha != "" && what == "status" {
			if last, ok := lastRead[sha]; ok && !c.At.Before(t0) {
				w.minCIPoll = min(w.minCIPoll, c.At.Sub(last))
			}
			lastRead[sha] = c.At
		}
		if c.At.Before(t0) {
			continue
		}
		n++
		if !ciSHAs[sha] {
			w.otherGitHub++
			if len(w.otherPaths) < 5 {
				w.otherPaths = append(w.otherPaths, c.Method+" "+c.Path)
			}
		}
	}
	w.githubPerS = float64(n) / t1.Sub(t0).Seconds()
	return w
}

// ciRead returns the commit and "status" or "check-runs" of a read of CI
// results, else "".
func ciRead(path string) (sha, what string) {
	_, rest, ok := strings.Cut(path, "/commits/")
	if !ok {
		return "", ""
	}
	sha, what, _ = strings.Cut(rest, "/")
	if what != "status" && what != "check-runs" {
		return "", ""
	}
	return sha, what
}

// storeQueries reads deploybot_store_queries_total from serve's /metrics.
func storeQueries(b *testing.B, addr string) float64 {
	b.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "deploybot_store_queries_total "); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	b.Fatalf("/metrics (%d) has no deploybot_store_queries_total", resp.StatusCode)
	return 0
}

// megabytes reads a /proc/pid/status size ("98304 kB").
func megabytes(b *testing.B, size string) float64 {
	b.Helper()
	kB, err := strconv.ParseFloat(strings.TrimSuffix(size, " kB"), 64)
	if err != nil {
		b.Fatalf("size %q: %v", size, err)
	}
	return kB / 1024
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
