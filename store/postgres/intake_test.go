package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/deploybot/deploybot/bot"
)

// With every connection of the pipelines' pool waiting (here at a gate
// someone holds), an ack's reads and writes still go through: the intake
// has connections of its own.
func TestIntakeHasItsOwnConnections(t *testing.T) {
	db, dsn := openFresh(t)
	ctx := context.Background()
	busy := unsharedEnv()
	queued := &bot.Deployment{App: "web", Env: busy, Repo: "o/r", Ref: "main", Requester: "slack:U1", Source: bot.SourceSlack, State: bot.StateQueued}
	if err := db.CreateDeployment(ctx, queued); err != nil {
		t.Fatal(err)
	}

	gate := holdGate(t, dsn, "web", busy)
	defer gate.release()

	const pool = 20 // the pipelines' pool: maxConns
	var wg sync.WaitGroup
	for range pool {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db.EnterGate(ctx, queued.ID, bot.StateQueued, bot.StateWaitingForCI, time.Now())
		}()
	}
	defer wg.Wait()
	if err := gate.awaitWaiters(pool); err != nil {
		gate.release() // or the deferred wg.Wait waits for ever
		t.Fatal(err)
	}

	// Everything an ack asks of the store, reads included: the replay
	// record, the lock check, the insert, a rollback's history and an
	// approval. One of them on the pipelines' pool made every ack of a
	// burst's first second wait for it (bench/ackload: p99 75–100 ms).
	ack := bot.WithIntake(ctx)
	d := &bot.Deployment{App: "web", Env: "dev", Repo: "o/r", Ref: "main", Requester: "slack:U2", Source: bot.SourceSlack, State: bot.StateReceived}
	for _, step := range []struct {
		name string
		do   func() error
	}{
		{"RecordDelivery", func() error { _, err := db.RecordDelivery(ack, "slack-"+busy, "slack"); return err }},
		{"EnvLock", func() error {
			if _, err := db.EnvLock(ack, "web", "dev", time.Now()); !bot.IsNotFound(err) {
				return err
			}
			return nil
		}},
		{"CreateDeployment", func() error { return db.CreateDeployment(ack, d) }},
		{"Deployment", func() error { _, err := db.Deployment(ack, d.ID); return err }},
		{"ListDeployments", func() error {
			_, err := db.ListDeployments(ack, bot.DeploymentFilter{App: "web", Env: "dev"})
			return err
		}},
		{"AddApproval", func() error { return db.AddApproval(ack, &bot.Approval{DeploymentID: d.ID, Approver: "slack:U3"}) }},
		{"Approvals", func() error { _, err := db.Approvals(ack, d.ID); return err }},
	} {
		// Each step gets its own deadline, so that one waiting for the
		// pipelines' pool is named alone.
		var cancel context.CancelFunc
		ack, cancel = context.WithTimeout(bot.WithIntake(ctx), 5*time.Second)
		err := step.do()
		cancel()
		if err != nil {
			t.Errorf("%s for an ack with the pipelines' pool taken: %v", step.name, err)
		}
	}
	gate.release()
}
