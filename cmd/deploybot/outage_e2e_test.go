package main

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/emulator/awsemu"
	"github.com/deploybot/deploybot/emulator/faults"
	"github.com/deploybot/deploybot/store/postgres"
	"github.com/deploybot/deploybot/store/postgres/pgtest"
)

// The store failing just after AWS accepted the change (issue #11): the
// deployment is neither failed nor errored for it, but recorded once the
// store is back, by this run or, when its lease ran out meanwhile, by the
// run that resumes it; GitHub and Slack hear one end, the true one.
func TestStoreOutageMidRolloutReportsOnce(t *testing.T) {
	pg := pgtest.NewCluster(t)
	for _, tc := range []struct {
		name  string
		lease string
		// down makes the store fail; it returns what ends the outage.
		down func(t *testing.T) (up func())
		// longer than the lease: the run must give the deployment up and
		// a resumption must finish it.
		outlastsLease bool
		rolloutFails  bool // ECS's circuit breaker rolls the service back
	}{
		{name: "stopped within the lease", lease: "30s", down: stopped(pg)},
		{name: "stopped longer than the lease", lease: "4s", down: stopped(pg), outlastsLease: true},
		{name: "refusing writes, as on a full disk", lease: "4s", down: func(t *testing.T) func() {
			pg.RefuseWrites(t, true)
			return func() { pg.RefuseWrites(t, false) }
		}, outlastsLease: true},
		{name: "stopped longer than the lease, the rollout failing", lease: "4s", down: stopped(pg), outlastsLease: true, rolloutFails: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dsn := pgtest.Schema(t, pg.DSN)
			f := newFleet(t)
			f.lease = tc.lease
			f.addServices([]string{"dev"})
			f.aws.FailRollouts("dev", sandboxService, tc.rolloutFails)
			want, wantState, said, unsaid := "success", bot.StateSucceeded, "Succeeded", "Failed"
			if tc.rolloutFails {
				want, wantState, said, unsaid = "failure", bot.StateFailed, "Failed", "Succeeded"
			}
			addr := freeAddr(t)
			var logs syncBuffer
			defer func() {
				if t.Failed() {
					t.Logf("deploybot logs:\n%s", logs.String())
				}
			}()

			// The outage begins between AWS accepting UpdateService and
			// deploybot hearing so: nothing can be recorded after it.
			accepted, resume := make(chan struct{}), make(chan struct{})
			var release sync.Once
			t.Cleanup(func() { release.Do(func() { close(resume) }) })
			f.aws.Inject(faults.Rule{Match: awsemu.Op("ecs.UpdateService"), Times: 1, Respond: func(w http.ResponseWriter, r *http.Request) {
				f.aws.ServeHTTP(w, r)
				close(accepted)
				<-resume
			}})

			f.serveProcess(t, f.config(t, "outage.yaml", dsn, addr, []string{"dev"}), addr, "outage", &logs)
			sha := f.commit("outage " + tc.name)
			f.slash(t, addr, "takumi-server "+sha[:7]+" dev")
			select {
			case <-accepted:
			case <-time.After(60 * time.Second):
				t.Fatal("the deployment never reached UpdateService")
			}
			polls := rolloutPolls(f.aws)
			up := tc.down(t)
			release.Do(func() { close(resume) })

			// The emulator ends a rollout on its third poll: after that
			// deploybot knows how it went and has its end to record.
			waitFor(t, "deploybot to see the rollout complete", 60*time.Second, func() bool {
				return rolloutPolls(f.aws) >= polls+3
			})
			hold := 2 * time.Second
			if tc.outlastsLease {
				lease, _ := time.ParseDuration(tc.lease)
				hold = 3 * lease
			}
			time.Sleep(hold) // the length of the outage, not a wait for an outcome
			up()

			deps := f.github.Deployments(sandboxRepo)
			if len(deps) != 1 {
				t.Fatalf("%d GitHub deployments; want 1", len(deps))
			}
			id := deps[0].ID
			states := func() []string {
				var out []string
				for _, st := range f.github.Statuses(sandboxRepo, id) {
					out = append(out, st.State)
				}
				return out
			}
			final := func(st string) bool { return st == "success" || st == "failure" || st == "error" }
			waitFor(t, "a final GitHub status", 2*time.Minute, func() bool {
				for _, st := range states() {
					if final(st) {
						return true
					}
				}
				return false
			})
			for _, st := range states() {
				if final(st) {
					if st != want {
						t.Fatalf("GitHub statuses %v: the first end reported is %s; want %s", states(), st, want)
					}
					break
				}
			}

			// Once the store shows the deployment ended and its lease
			// freed, no run of it is left to report anything more.
			db, err := postgres.Open(context.Background(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var stored *bot.Deployment
			waitFor(t, "the deployment's run to end", time.Minute, func() bool {
				ds, err := db.Deployments(context.Background(), 10)
				if err != nil || len(ds) != 1 {
					return false
				}
				stored = ds[0]
				return stored.State.Terminal() && stored.LeaseOwner == ""
			})
			if stored.State != wantState {
				t.Errorf("the store says %s (%s); want %s", stored.State, stored.Reason, wantState)
			}
			var ends []string
			for _, st := range states() {
				if final(st) {
					ends = append(ends, st)
				}
			}
			if strings.Join(ends, " ") != want {
				t.Errorf("GitHub statuses %v; want exactly one end, %s", states(), want)
			}
			if tc.outlastsLease && stored.Attempts < 2 {
				t.Errorf("the deployment was taken on %d times; an outage longer than the lease must leave it to a resumption", stored.Attempts)
			}
			if n := f.aws.CallCount("UpdateService"); n != 1 {
				t.Errorf("UpdateService called %d times; want 1", n)
			}

			msgs := f.slack.Messages(sandboxChannel)
			if len(msgs) != 1 {
				t.Fatalf("Slack shows %d messages; want the deployment's one", len(msgs))
			}
			texts := []string{msgs[0].Text}
			for _, rev := range msgs[0].History {
				texts = append(texts, rev.Text)
			}
			for _, text := range texts {
				if strings.Contains(text, unsaid) {
					t.Errorf("Slack said %q", text)
				}
			}
			if !strings.Contains(msgs[0].Text, said) {
				t.Errorf("Slack shows %q at the end; want %s", msgs[0].Text, said)
			}
		})
	}
}

// stopped is the outage of a stopped server.
func stopped(pg *pgtest.Cluster) func(*testing.T) func() {
	return func(t *testing.T) func() {
		pg.Stop(t)
		return func() { pg.Start(t) }
	}
}
