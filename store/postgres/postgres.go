// Package postgres is the store for several deploybot replicas sharing one
// PostgreSQL database, through pgx.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/store/internal/sqldb"
)

//go:embed migration/*.sql
var migrations embed.FS

// DB is the store on PostgreSQL (Ports gives bot.Store).
type DB struct {
	*sqldb.DB
	intake *sql.DB // the intake's pool, also in sqldb.DB, kept here for WarmIntake
}

// migrationLock is the advisory lock key replicas take while migrating,
// so two starting together do not both create the schema.
const migrationLock = 0x6465706c6f79 // "deploy"

// gateLockClass is the first key of the advisory lock of an environment's
// gate, the second being a hash of app/env. Two-key locks never collide
// with migrationLock's one-key space, and two environments sharing a hash
// merely wait for each other.
const gateLockClass = 0x64706774 // "dpgt"

// maxConns bounds each process's connections to PostgreSQL: maxConns for
// everything but the intake, intakeConns more kept for the acks' writes
// (bot.WithIntake), so that an ack never queues for a connection behind
// the pipelines' traffic. With 4, at 500 commands/s a third of the
// acks queued for one and a quarter were shed (bench/ackload); with 12,
// 1-2 % (docs/benchmarks.md). Two replicas take 2×32 of the server's
// default 100.
const (
	maxConns    = 20
	intakeConns = 12
)

// Open connects to the database at dsn (postgres://…) and brings its
// schema up to date.
func Open(ctx context.Context, dsn string) (*DB, error) {
	cfg, err := pgconnConfig(dsn)
	if err != nil {
		return nil, err
	}
	db := stdlib.OpenDB(*cfg)
	// database/sql's defaults, unbounded open and two idle connections,
	// turned a burst of requests into a connection per request: under
	// load PostgreSQL ran out of connections ("too many clients") and the
	// rest paid a new connection each. A bounded pool kept open queues
	// instead; two replicas take 2×maxConns of the server's default 100.
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to postgres %s@%s/%s: %w", cfg.User, cfg.Host, cfg.Database, err)
	}
	intake := stdlib.OpenDB(*cfg)
	intake.SetMaxOpenConns(intakeConns)
	intake.SetMaxIdleConns(intakeConns)
	// Kept open, once warm (WarmIntake): a burst of acks after a quiet spell
	// must not pay for connecting.
	intake.SetConnMaxIdleTime(0)
	s := &DB{sqldb.New(db, sqldb.Dialect{
		Numbered:          true,
		ForUpdate:         " FOR UPDATE",
		IsUniqueViolation: isUniqueViolation,
		LockMigrations:    fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", migrationLock),
		SkipLocked:        " FOR UPDATE SKIP LOCKED",
		LockGate:          fmt.Sprintf("SELECT pg_advisory_xact_lock(%d, hashtext(?::text || '/' || ?::text))", gateLockClass),
		// Not pulled up into the insert's own projection (it is volatile),
		// so it runs before the row, and its id, is made.
		ShareGate: fmt.Sprintf("(SELECT pg_advisory_xact_lock_shared(%d, hashtext(?::text || '/' || ?::text))) AS gate", gateLockClass),
	}), intake}
	s.SetIntakePool(intake)
	if err := s.Migrate(ctx, migrations, "migration"); err != nil {
		s.Close()
		return nil, fmt.Errorf("migrate postgres: %w", err)
	}
	return s, nil
}

// intakeTables are the tables an ack reads or writes.
var intakeTables = []string{"deployments", "webhook_deliveries", "env_locks", "approvals", "pull_request_heads"}

// WarmIntake opens the intake's connections before the first ack needs
// them (see warm). Only a process that serves needs it: a CLI command
// never uses the intake's pool, and opens none of its connections.
func (s *DB) WarmIntake(ctx context.Context) error {
	if err := warm(ctx, s.intake, intakeConns); err != nil {
		return fmt.Errorf("warm the intake's connections to postgres: %w", err)
	}
	return nil
}

// warm opens n connections of db at once and leaves them idle in it, each
// having planned a read of every table an ack touches: a new PostgreSQL
// session loads each table's and index's description the first time it
// plans a query on it, and in a burst's first tenth of a second every ack
// paid for that on each of the n. With it, the p99 of a 500/s burst's
// first second was 6.2-7.3 ms in 5 of 6 runs (30 ms in one), against
// 5.6-18.9 ms with the connections opened but cold (bench/ackload,
// docs/benchmarks.md).
func warm(ctx context.Context, db *sql.DB, n int) error {
	conns := make([]*sql.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := db.Conn(ctx)
		if err != nil {
			return err
		}
		conns = append(conns, c)
		for _, table := range intakeTables {
			if _, err := c.ExecContext(ctx, "SELECT 1 FROM "+table+" LIMIT 0"); err != nil {
				return err
			}
		}
	}
	return nil
}

func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

func pgconnConfig(dsn string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's own message redacts the password only as best it can,
		// and what it wraps (a net/url error) quotes the whole URL.
		return nil, fmt.Errorf("store: cannot parse %s as a PostgreSQL URL", bot.RedactDSN(dsn))
	}
	return cfg, nil
}
