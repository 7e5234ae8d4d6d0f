package main

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/store/postgres/pgtest"
)

// The scale of BenchmarkAutoDeployFanOut: issue #14's is the default;
// smaller runs are for working on the benchmark itself.
var (
	fanOutApps   = flag.Int("fanout.apps", 200, "BenchmarkAutoDeployFanOut: apps on the one repository")
	fanOutPushes = flag.Int("fanout.pushes", 20, "BenchmarkAutoDeployFanOut: pushes while CI is pending")
	fanOutLog    = flag.String("fanout.log", "", "BenchmarkAutoDeployFanOut: keep deploybot serve's log in this file")
)

// fanOutEnvs are the environments of each app; every one deploys main.
var fanOutEnvs = []string{"dev", "stg", "prod"}

// BenchmarkAutoDeployFanOut is continuous delivery on a busy monorepo
// (issue #14): one `deploybot serve` process, 200 apps on one repository,
// each with 3 ECS environments that deploy main (auto_deploy), and 20
// pushes to main while CI is pending. Each push fans out to 600
// deployments and supersedes the 600 of the push before: 12,000 created,
// 11,400 superseded. Then CI turns green for the last commit and one
// status webhook comes; it measures the time from that webhook to the
// last of the 600 UpdateService calls. Before that, it waits until GitHub
// has heard that the 11,400 were superseded, which is told after each
// push is answered.
//
// The next push is sent once every deployment of the last one waits for
// CI, with its GitHub deployment and Slack message: pushes to a monorepo
// come minutes apart, and that is the case where a supersede has the
// most to tell (GitHub inactive, the Slack message). CI is not polled
// (ci_poll 1h): the webhook is what wakes them, as the issue asks.
//
// Run with -run '^$' -bench AutoDeployFanOut -benchtime 1x; PostgreSQL
// only with DEPLOYBOT_TEST_POSTGRES.
func BenchmarkAutoDeployFanOut(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		benchFanOut(b, func(f *fleet) (string, *sql.DB) {
			path := filepath.Join(f.dir, "deploybot.db")
			return "sqlite:" + path, openRaw(b, "sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
		})
	})
	b.Run("postgres", func(b *testing.B) {
		benchFanOut(b, func(*fleet) (string, *sql.DB) {
			dsn := pgtest.Schema(b, pgtest.DSN(b))
			return dsn, openRaw(b, "pgx", dsn)
		})
	})
}

func openRaw(b *testing.B, driver, dsn string) *sql.DB {
	db, err := sql.Open(driver, dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

// benchFanOut runs the benchmark against the store store returns: serve's
// DSN, and a connection of the benchmark's own to count rows with.
func benchFanOut(b *testing.B, store func(f *fleet) (string, *sql.DB)) {
	for b.Loop() {
		f := newFleet(b)
		f.autoDeploy = "main"
		f.lease = "30s"
		f.ciPoll = "1h"
		f.aws.SetRolloutPolls(2)
		var apps []fleetApp
		for i := range *fanOutApps {
			name := fmt.Sprintf("app-%03d", i)
			apps = append(apps, fleetApp{name: name, image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/" + name, clusterPrefix: name + "-", envs: fanOutEnvs})
			for _, env := range fanOutEnvs {
				f.aws.AddService(name+"-"+env, sandboxService, awsemuTaskDef())
			}
		}
		envs := len(apps) * len(fanOutEnvs)
		dsn, db := store(f)
		addr := freeAddr(b)
		config := f.appsConfig(b, "monorepo.yaml", dsn, addr, apps)
		logPath := *fanOutLog
		if logPath == "" {
			logPath = filepath.Join(f.dir, "serve.log")
		}
		logs, err := os.Create(logPath)
		if err != nil {
			b.Fatal(err)
		}
		defer func() {
			logs.Close()
			if b.Failed() {
				out, _ := os.ReadFile(logs.Name())
				if len(out) > 20000 {
					out = out[len(out)-20000:]
				}
				b.Logf("deploybot logs (the end):\n%s", out)
			}
		}()
		cmd := f.serveProcess(b, config, addr, "fanout", logs)
		f.github.SetWebhook("http://"+addr+"/webhooks/github", sandboxWebhookSecret)

		// commit is a commit on main whose CI runs, with each app's image
		// for it pushed.
		commit := func(n int) string {
			sum := sha256.Sum256([]byte("fan-out push " + strconv.Itoa(n)))
			sha := hex.EncodeToString(sum[:20])
			f.github.AddCommit(sandboxRepo, sha)
			f.github.SetStatus(sandboxRepo, sha, sandboxCheck, "pending")
			for _, app := range apps {
				f.aws.PutImage(app.name, "git_"+sha[:7], fanOutDigest(app.name, sha))
			}
			return sha
		}
		count := func(query string) int {
			var n int
			if err := db.QueryRow(query).Scan(&n); err != nil {
				b.Fatalf("%s: %v", query, err)
			}
			return n
		}

		var (
			acks, fanOuts []time.Duration
			shas          []string
			sent          time.Time
		)
		githubBefore, slackBefore := f.github.CallCount(), len(f.slack.Calls())
		began := time.Now()
		for n := range *fanOutPushes {
			sha := commit(n)
			shas = append(shas, sha)
			sent = time.Now()
			if _, err := f.github.Push(sandboxRepo, "main", sha, "octocat"); err != nil {
				// GitHub gives up after 10 s and marks the delivery
				// failed; the benchmark goes on to see what was made of it.
				b.Errorf("push %d: %v", n+1, err)
			}
			acks = append(acks, time.Since(sent))
			// The sha is hex: safe to write into the query.
			waitFor(b, fmt.Sprintf("push %d's %d deployments to wait for CI", n+1, envs), 10*time.Minute, func() bool {
				return count(`SELECT COUNT(*) FROM deployments WHERE sha = '`+sha+`' AND state = 'waiting_for_ci' AND parked = 1`) == envs
			})
			fanOuts = append(fanOuts, time.Since(sent))
			f.github.Advance(time.Second) // GitHub's pushed_at orders the pushes
		}
		// GitHub and Slack hear of the superseded deployments after the
		// push is answered; CI takes minutes, so they have by the time it
		// turns green.
		total := envs * len(shas)
		var finals map[string]int
		for deadline := time.Now().Add(2 * time.Minute); ; {
			finals = fanOutFinals(f)
			if finals["inactive"] >= total-envs || time.Now().After(deadline) {
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
		told := time.Since(sent)
		pushing := time.Since(began)
		githubPushing, slackPushing := f.github.CallCount()-githubBefore, len(f.slack.Calls())-slackBefore

		last := shas[len(shas)-1]
		f.github.SetStatus(sandboxRepo, last, sandboxCheck, "success")
		green := time.Now()
		payload := fmt.Sprintf(`{"sha":%q,"state":"success","context":%q,"repository":{"full_name":%q}}`, last, sandboxCheck, sandboxRepo)
		if err := f.github.SendWebhook("status", []byte(payload)); err != nil {
			b.Fatal(err)
		}
		waitFor(b, fmt.Sprintf("%d deployments of the last push to succeed", envs), 10*time.Minute, func() bool {
			return count(`SELECT COUNT(*) FROM deployments WHERE state = 'succeeded'`) >= envs
		})
		allSucceeded := time.Since(green)
		var lastUpdate time.Time
		updates := 0
		for _, c := range f.aws.Calls() {
			if c.Op == "UpdateService" {
				updates++
				if c.At.After(lastUpdate) {
					lastUpdate = c.At
				}
			}
		}
		rss := peakRSS(b, cmd.Process.Pid)

		// What was kept.
		var rows [4]int
		for i, table := range []string{"deployments", "webhook_deliveries", "wakes", "deployment_events"} {
			rows[i] = count(`SELECT COUNT(*) FROM ` + table)
		}
		states := map[string]int{}
		rs, err := db.Query(`SELECT state, COUNT(*) FROM deployments GROUP BY state`)
		if err != nil {
			b.Fatal(err)
		}
		for rs.Next() {
			var st string
			var n int
			if err := rs.Scan(&st, &n); err != nil {
				b.Fatal(err)
			}
			states[st] = n
		}
		rs.Close()

		// Correctness: the last commit everywhere, once; everything else
		// superseded, here and on GitHub.
		if updates != envs {
			b.Errorf("%d UpdateService calls, want %d (one per environment)", updates, envs)
		}
		if states["succeeded"] != envs || states["superseded"] != total-envs || len(states) != 2 {
			b.Errorf("deployments by state %v, want %d succeeded and %d superseded", states, envs, total-envs)
		}
		// Nothing crashed, so nothing should have been resumed: a second
		// attempt is a lease that ran out on a deployment nobody ran.
		resumed := count(`SELECT COUNT(*) FROM deployments WHERE attempts > 1`)
		if resumed > 0 {
			b.Errorf("%d deployments were claimed more than once (attempts > 1) in a run where nothing crashed", resumed)
		}
		if n := count(`SELECT COUNT(*) FROM deployments WHERE state = 'succeeded' AND sha = '` + last + `'`); n != envs {
			b.Errorf("%d deployments of the last push succeeded, want %d", n, envs)
		}
		for _, app := range apps {
			want := app.image + "@" + fanOutDigest(app.name, last)
			for _, env := range fanOutEnvs {
				td, _ := f.aws.Service(app.name+"-"+env, sandboxService)
				if img := f.aws.TaskDefinitionImage(td, sandboxContainer); img != want {
					b.Errorf("%s %s runs %s, want %s", app.name, env, img, want)
				}
			}
		}
		finals = fanOutFinals(f)
		ghDeployments := len(f.github.Deployments(sandboxRepo))
		if finals["inactive"] != total-envs || finals["success"] != envs || ghDeployments != total {
			b.Errorf("%d GitHub deployments, by last status %v; want %d: %d inactive, %d success", ghDeployments, finals, total, total-envs, envs)
		}

		slices.Sort(acks)
		slices.Sort(fanOuts)
		ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
		b.ReportMetric(ms(lastUpdate.Sub(green)), "green-to-last-update-ms")
		b.ReportMetric(ms(allSucceeded), "green-to-all-succeeded-ms")
		b.ReportMetric(ms(acks[len(acks)/2]), "push-ack-p50-ms")
		b.ReportMetric(ms(acks[len(acks)-1]), "push-ack-max-ms")
		b.ReportMetric(ms(fanOuts[len(fanOuts)/2]), "push-to-all-waiting-p50-ms")
		b.ReportMetric(ms(fanOuts[len(fanOuts)-1]), "push-to-all-waiting-max-ms")
		b.ReportMetric(ms(told), "last-push-to-all-told-ms")
		b.ReportMetric(float64(kB(b, rss))/1024, "peak-rss-MB")
		b.ReportMetric(float64(rows[0]+rows[1]+rows[2]), "rows-kept")
		b.ReportMetric(float64(rows[3]), "event-rows")
		b.ReportMetric(float64(githubPushing)/float64(total), "github-calls/deployment-pushing")
		b.ReportMetric(float64(slackPushing)/float64(total), "slack-calls/deployment-pushing")
		b.Logf("%d apps × %d envs, %d pushes: %d deployments, by state %v; GitHub deployments by last status %v", len(apps), len(fanOutEnvs), len(shas), total, states, finals)
		b.Logf("push acks (sorted) %v", acks)
		b.Logf("push → all %d waiting for CI (sorted) %v; %d pushes took %s, with %d GitHub and %d Slack calls", envs, fanOuts, len(shas), pushing.Round(time.Millisecond), githubPushing, slackPushing)
		b.Logf("last push → GitHub told of all %d it superseded %s", total-envs, told.Round(time.Millisecond))
		b.Logf("green → last UpdateService %s, → all %d succeeded %s; %d UpdateService calls", lastUpdate.Sub(green).Round(time.Millisecond), envs, allSucceeded.Round(time.Millisecond), updates)
		b.Logf("peak RSS of deploybot serve %s; rows kept: deployments %d, webhook_deliveries %d, wakes %d (events %d)", rss, rows[0], rows[1], rows[2], rows[3])
	}
}

// fanOutFinals counts the GitHub deployments by their last status.
func fanOutFinals(f *fleet) map[string]int {
	finals := map[string]int{}
	for _, d := range f.github.Deployments(sandboxRepo) {
		st := f.github.Statuses(sandboxRepo, d.ID)
		if len(st) == 0 {
			finals["none"]++
			continue
		}
		finals[st[len(st)-1].State]++
	}
	return finals
}

// fanOutDigest is app's image digest for sha.
func fanOutDigest(app, sha string) string {
	sum := sha256.Sum256([]byte("image " + app + " " + sha))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// kB reads /proc's "98304 kB".
func kB(b *testing.B, s string) int64 {
	n, err := strconv.ParseInt(strings.TrimSuffix(s, " kB"), 10, 64)
	if err != nil {
		b.Fatalf("read %q as kB: %v", s, err)
	}
	return n
}
