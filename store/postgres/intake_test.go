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
// someone holds), an ack's write still goes through: the intake has
// connections of its own.
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

	ack, cancel := context.WithTimeout(bot.WithIntake(ctx), 10*time.Second)
	defer cancel()
	d := &bot.Deployment{App: "web", Env: "dev", Repo: "o/r", Ref: "main", Requester: "slack:U2", Source: bot.SourceSlack, State: bot.StateReceived}
	if err := db.CreateDeployment(ack, d); err != nil {
		t.Errorf("an ack's write with the pipelines' pool taken: %v", err)
	}
	release()
}
