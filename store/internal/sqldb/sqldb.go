// Package sqldb is the store written once for both SQL databases: the
// queries, the scanning and the migration runner. The sqlite and postgres
// packages bring their driver, their DDL and a Dialect.
package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/deploybot/deploybot/bot"
)

// Dialect is what differs between the databases.
type Dialect struct {
	// Numbered placeholders ($1, $2…) instead of ?.
	Numbered bool
	// IsUniqueViolation recognises the driver's unique-constraint error.
	IsUniqueViolation func(error) bool
	// ForUpdate is appended to a SELECT whose rows the transaction will
	// change (" FOR UPDATE"); SQLite's immediate transactions need none.
	ForUpdate string
	// LockMigrations, if set, runs first in the migration transaction so
	// that replicas starting together migrate one at a time.
	LockMigrations string
	// SkipLocked ends the SELECT that picks the deployments to claim
	// (" FOR UPDATE SKIP LOCKED"), so replicas claiming at once each take
	// other rows instead of waiting for, or taking, the same ones.
	SkipLocked string
	// LockGate, if set, runs first in EnterGate's transaction with app and
	// env as arguments and holds until it ends, so that the gate of one
	// environment decides for one deployment at a time.
	LockGate string
	// SerializeWrites lets one write at a time in from this process,
	// acks first (see writeGate): SQLite, whose file has one writer.
	SerializeWrites bool
	// ShareGate, if set, is the FROM item of CreateDeployment's insert,
	// with app and env as arguments, that takes the gate's lock shared
	// before the row's id is drawn and holds it to the commit. Where ids
	// are drawn before commit (PostgreSQL sequences), a deployment with a
	// smaller id may become visible after a newer one has passed the gate
	// ahead of it; the shared lock makes the gate wait for inserts in
	// flight. It is one statement, not a transaction of three, because
	// every ack makes it: BEGIN and COMMIT were two of the ack's five
	// round trips to PostgreSQL.
	ShareGate string
}

// DB keeps everything bot.Store and the dispatcher need on a *sql.DB.
type DB struct {
	// sql is the pipelines' pool. Queries reach it only through pool(ctx),
	// which gives the intake's contexts their own: a read of the ack's
	// (the lock check) taken from here waited behind the pipelines.
	sql *sql.DB
	// intake, if set, serves the contexts marked bot.WithIntake: a pool
	// of their own, so that acks never wait for a connection the
	// pipelines hold.
	intake *sql.DB
	gate   *writeGate // with Dialect.SerializeWrites
	d      Dialect
	now    func() time.Time
	// queries counts the statements sent, for the store-queries metric:
	// every statement is written through q, once per call.
	queries atomic.Uint64
}

// Ports is db as the bot.Service takes it: every part of bot.Store.
func (db *DB) Ports() bot.Store {
	return bot.Store{Deployments: db, Deliveries: db, Locks: db, Timeline: db, Queue: db, Approvals: db}
}

// New wraps db; migrations must be run with Migrate before use.
func New(db *sql.DB, d Dialect) *DB {
	s := &DB{sql: db, d: d, now: time.Now}
	if d.SerializeWrites {
		s.gate = &writeGate{}
	}
	return s
}

// SetIntakePool makes db serve the intake's contexts (bot.WithIntake);
// Close closes it.
func (s *DB) SetIntakePool(db *sql.DB) { s.intake = db }

func (s *DB) Close() error {
	if s.intake != nil {
		s.intake.Close()
	}
	return s.sql.Close()
}

// pool is the connections ctx's queries use.
func (s *DB) pool(ctx context.Context) *sql.DB {
	if s.intake != nil && bot.IsIntake(ctx) {
		return s.intake
	}
	return s.sql
}

// lockWrites waits for ctx's turn to write, where writes are serialized,
// and returns what ends it.
func (s *DB) lockWrites(ctx context.Context) (unlock func(), err error) {
	if s.gate == nil {
		return func() {}, nil
	}
	if err := s.gate.lock(ctx, bot.IsIntake(ctx)); err != nil {
		return nil, err
	}
	return s.gate.unlock, nil
}

// exec runs one writing statement.
func (s *DB) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	unlock, err := s.lockWrites(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return s.pool(ctx).ExecContext(ctx, query, args...)
}

// txn is a transaction holding its turn to write until it ends.
type txn struct {
	*sql.Tx
	unlock func()
	once   sync.Once
}

func (t *txn) Commit() error {
	err := t.Tx.Commit()
	t.once.Do(t.unlock)
	return err
}

func (t *txn) Rollback() error {
	err := t.Tx.Rollback()
	t.once.Do(t.unlock)
	return err
}

// begin starts a transaction; every transaction here writes.
func (s *DB) begin(ctx context.Context) (*txn, error) {
	unlock, err := s.lockWrites(ctx)
	if err != nil {
		return nil, err
	}
	tx, err := s.pool(ctx).BeginTx(ctx, nil)
	if err != nil {
		unlock()
		return nil, err
	}
	return &txn{Tx: tx, unlock: unlock}, nil
}
func (s *DB) Ping(ctx context.Context) error { return s.sql.PingContext(ctx) }

// Queries is how many statements the store has sent to the database since
// it was opened (transactions' BEGIN and COMMIT not counted).
func (s *DB) Queries() uint64 { return s.queries.Load() }

// q rewrites ? placeholders for the dialect, and counts the statement: each
// query here is built by q once per time it is sent. The queries here
// never hold a literal question mark.
func (s *DB) q(query string) string {
	s.queries.Add(1)
	if !s.d.Numbered {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// timestamp is the store's clock reading. PostgreSQL keeps microseconds,
// so both stores do, and a deployment reads back equal to what was written.
func (s *DB) timestamp() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// Migrate applies each file of dir in migrations, in name order, that is
// not yet recorded; each in its own transaction with its record.
func (s *DB) Migrate(ctx context.Context, migrations fs.FS, dir string) error {
	names, err := fs.Glob(migrations, dir+"/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		if err := s.migrateFile(ctx, migrations, name); err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
	}
	return nil
}

func (s *DB) migrateFile(ctx context.Context, migrations fs.FS, name string) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if s.d.LockMigrations != "" {
		if _, err := tx.ExecContext(ctx, s.d.LockMigrations); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TIMESTAMP NOT NULL)`); err != nil {
		return err
	}
	base := name[strings.LastIndex(name, "/")+1:]
	var n int
	if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM schema_migrations WHERE name = ?`), base).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	body, err := fs.ReadFile(migrations, name)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, string(body)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)`), base, s.timestamp()); err != nil {
		return err
	}
	return tx.Commit()
}

const deploymentColumns = `id, app, env, repo, ref, sha, image, requester, source, state, reason,
	github_deployment_id, installation_id, slack_channel, slack_ts, slack_response_url,
	pr_number, pr_comment_id, environment_url, rollout_ref, rollback_of, attempts, lease_owner,
	created_at, updated_at, waiting_on, wait_note, wait_since_ms, wake_ms, pushed_at_ms,
	promoted_from_env, promoted_from_id, promoted_from_digest, committed_at_ms`

// CreateDeployment leaves Attempts and the lease at zero whatever d says:
// only the lease methods write them.
func (s *DB) CreateDeployment(ctx context.Context, d *bot.Deployment) error {
	now := s.timestamp()
	var promo bot.Promotion
	if d.PromotedFrom != nil {
		promo = *d.PromotedFrom
	}
	args := []any{d.App, d.Env, d.Repo, d.Ref, d.SHA, d.Image, d.Requester, string(d.Source), string(d.State), d.Reason,
		nullID(d.GitHubDeploymentID), d.InstallationID, d.SlackChannel, d.SlackTS, d.SlackResponseURL, d.PRNumber, d.PRCommentID,
		d.EnvironmentURL, d.RolloutRef, d.RollbackOf, now, now, toMillis(d.PushedAt),
		promo.Env, promo.Deployment, promo.Digest, toMillis(d.CommittedAt)}
	values := `VALUES (` + marks(len(args)) + `)`
	if s.d.ShareGate != "" {
		values = `SELECT ` + marks(len(args)) + ` FROM ` + s.d.ShareGate
		args = append(args, d.App, d.Env)
	}
	unlock, err := s.lockWrites(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	err = s.pool(ctx).QueryRowContext(ctx, s.q(`INSERT INTO deployments (app, env, repo, ref, sha, image, requester, source, state, reason,
		github_deployment_id, installation_id, slack_channel, slack_ts, slack_response_url, pr_number, pr_comment_id,
		environment_url, rollout_ref, rollback_of, created_at, updated_at, pushed_at_ms,
		promoted_from_env, promoted_from_id, promoted_from_digest, committed_at_ms)
		`+values+` RETURNING id`), args...).Scan(&d.ID)
	if err != nil {
		return s.translate(err, d)
	}
	d.CreatedAt, d.UpdatedAt = now, now
	return nil
}

// UpdateDeployment never writes Attempts or the lease: those belong to the
// lease methods, and a pipeline's copy of them may be stale.
func (s *DB) UpdateDeployment(ctx context.Context, d *bot.Deployment) error {
	now := s.timestamp()
	query := `UPDATE deployments SET ref = ?, sha = ?, image = ?, state = ?, reason = ?,
		github_deployment_id = ?, installation_id = ?, slack_channel = ?, slack_ts = ?, slack_response_url = ?,
		pr_number = ?, pr_comment_id = ?, environment_url = ?, rollout_ref = ?, rollback_of = ?, committed_at_ms = ?, updated_at = ?
		WHERE id = ? AND (state NOT IN ` + terminalStates + ` OR state = ?)`
	args := []any{d.Ref, d.SHA, d.Image, string(d.State), d.Reason,
		nullID(d.GitHubDeploymentID), d.InstallationID, d.SlackChannel, d.SlackTS, d.SlackResponseURL,
		d.PRNumber, d.PRCommentID, d.EnvironmentURL, d.RolloutRef, d.RollbackOf, toMillis(d.CommittedAt), now, d.ID, string(d.State)}
	if d.LeaseOwner != "" {
		query += ` AND lease_owner = ?`
		args = append(args, d.LeaseOwner)
	}
	res, err := s.exec(ctx, s.q(query), args...)
	if err != nil {
		return s.translate(err, d)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		stored, err := s.Deployment(ctx, d.ID)
		if err != nil {
			return err
		}
		switch {
		case d.LeaseOwner != "" && stored.LeaseOwner != "" && stored.LeaseOwner != d.LeaseOwner:
			return bot.Errorf(bot.ECONFLICT, "deployment #%d is now run by another replica", d.ID)
		case d.LeaseOwner != "" && stored.LeaseOwner != d.LeaseOwner:
			return bot.Errorf(bot.ECONFLICT, "deployment #%d is no longer run by this replica", d.ID)
		}
		return bot.Errorf(bot.ECONFLICT, "deployment #%d has already ended %s", d.ID, stored.State)
	}
	d.UpdatedAt = now
	return nil
}

func (s *DB) TransitionDeployment(ctx context.Context, id int64, from []bot.State, to bot.State, reason string) (*bot.Deployment, error) {
	args := []any{string(to), reason, s.timestamp(), id}
	for _, st := range from {
		args = append(args, string(st))
	}
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(from)), ", ")
	res, err := s.exec(ctx, s.q(`UPDATE deployments SET state = ?, reason = ?, updated_at = ? WHERE id = ? AND state IN (`+marks+`)`), args...)
	if err != nil {
		return nil, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return nil, err
	}
	d, err := s.Deployment(ctx, id)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return d, bot.Errorf(bot.ECONFLICT, "deployment #%d is %s", id, d.State)
	}
	return d, nil
}

// terminalStates are the states a deployment never leaves.
var terminalStates = func() string {
	var quoted []string
	for _, st := range []bot.State{bot.StateSucceeded, bot.StateFailed, bot.StateCancelled, bot.StateRolledBack, bot.StateSuperseded} {
		if !st.Terminal() {
			panic("not terminal: " + st)
		}
		quoted = append(quoted, "'"+string(st)+"'")
	}
	return "(" + strings.Join(quoted, ", ") + ")"
}()

func (s *DB) ListDeployments(ctx context.Context, f bot.DeploymentFilter) ([]*bot.Deployment, error) {
	var (
		where []string
		args  []any
	)
	if f.App != "" {
		where, args = append(where, "app = ?"), append(args, f.App)
	}
	if f.Env != "" {
		where, args = append(where, "env = ?"), append(args, f.Env)
	}
	if len(f.States) > 0 {
		marks := strings.TrimSuffix(strings.Repeat("?, ", len(f.States)), ", ")
		where = append(where, "state IN ("+marks+")")
		for _, st := range f.States {
			args = append(args, string(st))
		}
	}
	query := `SELECT ` + deploymentColumns + ` FROM deployments`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	query += " ORDER BY id DESC LIMIT ?"
	args = append(args, limit)
	return s.queryDeployments(ctx, query, args...)
}

func (s *DB) queryDeployments(ctx context.Context, query string, args ...any) ([]*bot.Deployment, error) {
	return s.queryDeploymentsTx(ctx, s.pool(ctx), query, args...)
}

func (s *DB) queryDeploymentsTx(ctx context.Context, q querier, query string, args ...any) ([]*bot.Deployment, error) {
	rows, err := q.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ds []*bot.Deployment
	for rows.Next() {
		d, err := scanDeployment(rows)
		if err != nil {
			return nil, err
		}
		ds = append(ds, d)
	}
	return ds, rows.Err()
}

func (s *DB) Deployment(ctx context.Context, id int64) (*bot.Deployment, error) {
	d, err := scanDeployment(s.pool(ctx).QueryRowContext(ctx, s.q(`SELECT `+deploymentColumns+` FROM deployments WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, bot.Errorf(bot.ENOTFOUND, "deployment #%d not found", id)
	}
	return d, err
}

func (s *DB) DeploymentByGitHubID(ctx context.Context, githubID int64) (*bot.Deployment, error) {
	d, err := scanDeployment(s.pool(ctx).QueryRowContext(ctx, s.q(`SELECT `+deploymentColumns+` FROM deployments WHERE github_deployment_id = ?`), githubID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, bot.Errorf(bot.ENOTFOUND, "no deployment has GitHub deployment id %d", githubID)
	}
	return d, err
}

// Deployments returns the most recent deployments, newest first.
func (s *DB) Deployments(ctx context.Context, limit int) ([]*bot.Deployment, error) {
	return s.ListDeployments(ctx, bot.DeploymentFilter{Limit: limit})
}

func (s *DB) RecordDelivery(ctx context.Context, deliveryID, event string) (bool, error) {
	res, err := s.exec(ctx, s.q(`INSERT INTO webhook_deliveries (delivery_id, event, received_at) VALUES (?, ?, ?)
		ON CONFLICT (delivery_id) DO NOTHING`), deliveryID, event, s.timestamp())
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (s *DB) ForgetDelivery(ctx context.Context, deliveryID string) error {
	_, err := s.exec(ctx, s.q(`DELETE FROM webhook_deliveries WHERE delivery_id = ?`), deliveryID)
	return err
}

type scanner interface{ Scan(dest ...any) error }

func scanDeployment(row scanner) (*bot.Deployment, error) {
	var (
		d               bot.Deployment
		source, state   string
		githubID        sql.NullInt64
		sinceMS, wakeMS int64
		pushedMS        int64
		promo           bot.Promotion
		committedMS     int64
	)
	err := row.Scan(&d.ID, &d.App, &d.Env, &d.Repo, &d.Ref, &d.SHA, &d.Image, &d.Requester, &source, &state, &d.Reason,
		&githubID, &d.InstallationID, &d.SlackChannel, &d.SlackTS, &d.SlackResponseURL,
		&d.PRNumber, &d.PRCommentID, &d.EnvironmentURL, &d.RolloutRef, &d.RollbackOf, &d.Attempts, &d.LeaseOwner,
		&d.CreatedAt, &d.UpdatedAt, &d.Wait.On, &d.Wait.Note, &sinceMS, &wakeMS, &pushedMS,
		&promo.Env, &promo.Deployment, &promo.Digest, &committedMS)
	if err != nil {
		return nil, err
	}
	if promo.Env != "" {
		d.PromotedFrom = &promo
	}
	d.Wait.Since, d.Wait.Until = fromMillis(sinceMS), fromMillis(wakeMS)
	d.PushedAt, d.CommittedAt = fromMillis(pushedMS), fromMillis(committedMS)
	d.Source, d.State, d.GitHubDeploymentID = bot.Source(source), bot.State(state), githubID.Int64
	d.CreatedAt, d.UpdatedAt = d.CreatedAt.UTC(), d.UpdatedAt.UTC()
	return &d, nil
}

// nullID stores a missing GitHub id as NULL so the UNIQUE index allows
// many deployments that have none yet.
func nullID(id int64) sql.NullInt64 { return sql.NullInt64{Int64: id, Valid: id != 0} }

// translate turns a unique-constraint violation into bot.ECONFLICT.
func (s *DB) translate(err error, d *bot.Deployment) error {
	if s.d.IsUniqueViolation(err) {
		return bot.Errorf(bot.ECONFLICT, "GitHub deployment %d already belongs to another deployment", d.GitHubDeploymentID)
	}
	return err
}

// fromMillis reads a unix-milliseconds column; 0 is no time at all.
func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// toMillis writes a time to a unix-milliseconds column.
func toMillis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// RecordHeadChange keeps the change with the latest At; the row's
// recorded_at is deploybot's clock, for pruning.
func (s *DB) RecordHeadChange(ctx context.Context, c bot.HeadChange) error {
	now := s.timestamp()
	_, err := s.exec(ctx, s.q(`INSERT INTO pull_request_heads (repo, number, sha, changed_at, recorded_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (repo, number) DO UPDATE SET sha = excluded.sha, changed_at = excluded.changed_at, recorded_at = excluded.recorded_at
		WHERE excluded.changed_at >= pull_request_heads.changed_at`),
		strings.ToLower(c.Repo), c.Number, c.SHA, c.At.UTC().Truncate(time.Microsecond), now)
	return err
}

func (s *DB) LastHeadChange(ctx context.Context, repo string, number int) (bot.HeadChange, error) {
	c := bot.HeadChange{Repo: repo, Number: number}
	err := s.pool(ctx).QueryRowContext(ctx, s.q(`SELECT sha, changed_at FROM pull_request_heads WHERE repo = ? AND number = ?`),
		strings.ToLower(repo), number).Scan(&c.SHA, &c.At)
	if errors.Is(err, sql.ErrNoRows) {
		return c, bot.Errorf(bot.ENOTFOUND, "no head change of %s#%d recorded", repo, number)
	}
	c.At = c.At.UTC()
	return c, err
}

// PruneIntake deletes the delivery records (GitHub deliveries, handled
// comments, Slack requests: whatever RecordDelivery kept) and the pull
// request heads recorded before before, and says how many rows went.
func (s *DB) PruneIntake(ctx context.Context, before time.Time) (int64, error) {
	cutoff := before.UTC().Truncate(time.Microsecond)
	var total int64
	for _, query := range []string{
		`DELETE FROM webhook_deliveries WHERE received_at < ?`,
		`DELETE FROM pull_request_heads WHERE recorded_at < ?`,
		`DELETE FROM wakes WHERE at_ms < ?`,
	} {
		var arg any = cutoff
		if strings.Contains(query, "at_ms") {
			arg = cutoff.UnixMilli()
		}
		res, err := s.exec(ctx, s.q(query), arg)
		if err != nil {
			return total, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

// NewestPush returns app/env's auto deployment of the latest push: the
// greatest pushed_at, the greater id between pushes of one millisecond.
func (s *DB) NewestPush(ctx context.Context, app, env string) (*bot.Deployment, error) {
	d, err := scanDeployment(s.pool(ctx).QueryRowContext(ctx, s.q(`SELECT `+deploymentColumns+` FROM deployments
		WHERE app = ? AND env = ? AND source = 'auto' ORDER BY pushed_at_ms DESC, id DESC LIMIT 1`), app, env))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, bot.Errorf(bot.ENOTFOUND, "%s %s has no auto deployment", app, env)
	}
	return d, err
}

// PushedBefore returns app/env's auto deployments in one of states whose
// push came before d's, oldest first.
func (s *DB) PushedBefore(ctx context.Context, d *bot.Deployment, states []bot.State) ([]*bot.Deployment, error) {
	if len(states) == 0 {
		return nil, nil
	}
	args := []any{d.App, d.Env, toMillis(d.PushedAt), toMillis(d.PushedAt), d.ID}
	marks := make([]string, len(states))
	for i, st := range states {
		marks[i] = "?"
		args = append(args, string(st))
	}
	return s.queryDeployments(ctx, `SELECT `+deploymentColumns+` FROM deployments
		WHERE app = ? AND env = ? AND source = 'auto' AND (pushed_at_ms < ? OR (pushed_at_ms = ? AND id < ?))
		AND state IN (`+strings.Join(marks, ", ")+`) ORDER BY pushed_at_ms, id`, args...)
}
