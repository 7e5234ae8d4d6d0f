package postgres_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/store/postgres"
)

// gateLockClass is the first key of an environment gate's advisory lock
// (postgres.go).
const gateLockClass = 0x64706774

// With every connection of the pipelines' pool waiting (here at a gate
// someone holds), an ack's reads and writes still go through: the intake
// has connections of its own.
func TestIntakeHasItsOwnConnections(t *testing.T) {
	dsn := freshSchema(t, testDSN(t))
	db, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	b := make([]byte, 6)
	rand.Read(b)
	busy := "busy-" + hex.EncodeToString(b) // a gate key no one else's test takes
	queued := &bot.Deployment{App: "web", Env: busy, Repo: "o/r", Ref: "main", Requester: "slack:U1", Source: bot.SourceSlack, State: bot.StateQueued}
	if err := db.CreateDeployment(ctx, queued); err != nil {
		t.Fatal(err)
	}

	raw, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	holder, err := raw.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	var key int32
	if err := holder.QueryRowContext(ctx, `SELECT hashtext($1::text || '/' || $2::text)`, "web", busy).Scan(&key); err != nil {
		t.Fatal(err)
	}
	if _, err := holder.ExecContext(ctx, `SELECT pg_advisory_lock($1, $2)`, gateLockClass, key); err != nil {
		t.Fatal(err)
	}
	released := false
	release := func() {
		if !released {
			released = true
			holder.ExecContext(ctx, `SELECT pg_advisory_unlock($1, $2)`, gateLockClass, key)
		}
	}
	defer release()

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
	deadline := time.Now().Add(30 * time.Second)
	for {
		var waiting int
		if err := raw.QueryRowContext(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
			AND classid = $1 AND objid = $2::oid AND objsubid = 2`, gateLockClass, uint32(key)).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting == pool {
			break
		}
		if time.Now().After(deadline) {
			release() // or the deferred wg.Wait waits for ever
			t.Fatalf("%d of %d pipelines wait for the gate's lock", waiting, pool)
		}
		time.Sleep(10 * time.Millisecond) // polling PostgreSQL for the waiters
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
	release()
}
