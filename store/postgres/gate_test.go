package postgres_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/store/postgres"
)

// The gate is FIFO by id, so an id must never be drawn while the gate of
// its environment is being passed: a deployment that took id 10 and
// committed after the gate let 11 through would find nothing ahead of it
// either, and two rollouts would run on one environment. An insert takes
// the gate's shared lock before it draws its id.
func TestInsertDrawsItsIDUnderTheGatesLock(t *testing.T) {
	db, dsn := openFresh(t)
	ctx := context.Background()
	env := unsharedEnv()
	first := &bot.Deployment{App: "web", Env: env, Repo: "o/r", Ref: "main", Requester: "slack:U1", Source: bot.SourceSlack, State: bot.StateReceived}
	if err := db.CreateDeployment(ctx, first); err != nil {
		t.Fatal(err)
	}

	gate := holdGate(t, dsn, "web", env)
	defer gate.release()
	created := make(chan error, 1)
	go func() {
		d := &bot.Deployment{App: "web", Env: env, Repo: "o/r", Ref: "main", Requester: "slack:U2", Source: bot.SourceSlack, State: bot.StateReceived}
		created <- db.CreateDeployment(bot.WithIntake(ctx), d)
	}()
	if err := gate.awaitWaiters(1); err != nil {
		t.Fatal(err)
	}
	// The waiting insert has drawn no id yet: the next one is first's + 1.
	var next int64
	if err := gate.conn.QueryRowContext(ctx, `SELECT nextval(pg_get_serial_sequence('deployments', 'id'))`).Scan(&next); err != nil {
		t.Fatal(err)
	}
	if next != first.ID+1 {
		t.Errorf("while the insert waits for the gate, the next id is %d, want %d: the insert drew %d before the lock", next, first.ID+1, first.ID+1)
	}
	gate.release()
	if err := <-created; err != nil {
		t.Fatal(err)
	}
}

// gateLockClass is the first key of an environment gate's advisory lock
// (postgres.go).
const gateLockClass = 0x64706774

// heldGate is an environment's gate lock, held as a pipeline passing the
// gate holds it, from a connection of the test's own.
type heldGate struct {
	t        *testing.T
	raw      *sql.DB
	conn     *sql.Conn
	key      int32
	released bool
}

func holdGate(t *testing.T, dsn, app, env string) *heldGate {
	t.Helper()
	ctx := context.Background()
	raw, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	conn, err := raw.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	g := &heldGate{t: t, raw: raw, conn: conn}
	if err := conn.QueryRowContext(ctx, `SELECT hashtext($1::text || '/' || $2::text)`, app, env).Scan(&g.key); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1, $2)`, gateLockClass, g.key); err != nil {
		t.Fatal(err)
	}
	return g
}

func (g *heldGate) release() {
	if !g.released {
		g.released = true
		if _, err := g.conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock($1, $2)`, gateLockClass, g.key); err != nil {
			g.t.Error(err)
		}
	}
}

// awaitWaiters returns once n sessions wait for the gate's lock, or an
// error after 30 s.
func (g *heldGate) awaitWaiters(n int) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		var waiting int
		if err := g.raw.QueryRowContext(context.Background(), `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
			AND classid = $1 AND objid = $2::oid AND objsubid = 2`, gateLockClass, uint32(g.key)).Scan(&waiting); err != nil {
			return err
		}
		if waiting == n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d wait for the gate's lock", waiting, n)
		}
		time.Sleep(10 * time.Millisecond) // polling PostgreSQL for the waiters
	}
}

// openFresh opens the store on a schema of its own, and gives its DSN.
func openFresh(t *testing.T) (*postgres.DB, string) {
	t.Helper()
	dsn := freshSchema(t, testDSN(t))
	db, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, dsn
}

// unsharedEnv names an environment no other test's gate lock takes: the
// advisory locks are the database's, whatever the schema.
func unsharedEnv() string {
	b := make([]byte, 6)
	rand.Read(b)
	return "env-" + hex.EncodeToString(b)
}
