package sqldb

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/deploybot/deploybot/bot"
)

// Lease expiry is kept as unix milliseconds, not as a timestamp, so that
// SQL can compare it: SQLite's text timestamps do not sort in time order.

// ClaimDeployments leases to owner up to limit unfinished deployments,
// oldest first, whose lease is free or has expired and which are not
// parked until later, and counts an attempt on each that was not parked
// (a parked one gave its lease back on purpose: taking it up again
// resumes nothing that was interrupted). Leases owner holds already are not returned: the dispatcher
// passes its free slots, and its heartbeats renew what it runs. (Returning
// them, as this once did, rewrote every running lease on every claim.)
func (s *DB) ClaimDeployments(ctx context.Context, owner string, now, expires time.Time, limit int) ([]*bot.Deployment, error) {
	if owner == "" {
		// An empty owner would read as a free lease and disable fencing.
		return nil, bot.Errorf(bot.EINVALID, "a lease needs an owner")
	}
	if limit <= 0 {
		return nil, nil
	}
	nowMS, expiresMS := now.UnixMilli(), expires.UnixMilli()
	tx, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	// MATERIALIZED: the pick, and the row locks it takes, happen once,
	// whatever plan the outer UPDATE gets. ORDER BY +id, not id: ordered
	// by id, SQLite walks the unfinished rows in id order, parked ones and
	// all, instead of reading the few whose wake has come through
	// deployments_wake and sorting them.
	rows, err := tx.QueryContext(ctx, s.q(`WITH picked AS MATERIALIZED (
			SELECT id FROM deployments
			WHERE state NOT IN `+terminalStates+` AND (lease_owner = '' OR lease_expires_ms < ?) AND wake_ms <= ?
			ORDER BY +id LIMIT ?`+s.d.SkipLocked+`)
		UPDATE deployments SET
			attempts = attempts + CASE WHEN parked = 1 THEN 0 ELSE 1 END, parked = 0,
			lease_owner = ?, lease_expires_ms = ?
		WHERE id IN (SELECT id FROM picked)
		RETURNING `+deploymentColumns),
		nowMS, nowMS, limit, owner, expiresMS)
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
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	// RETURNING follows no ORDER BY.
	slices.SortFunc(ds, func(a, b *bot.Deployment) int { return cmp.Compare(a.ID, b.ID) })
	return ds, nil
}

// ClaimDeployment is ClaimDeployments for one deployment, for a process
// that runs just that one (`deploybot deploy`).
func (s *DB) ClaimDeployment(ctx context.Context, id int64, owner string, now, expires time.Time) (*bot.Deployment, error) {
	if owner == "" {
		return nil, bot.Errorf(bot.EINVALID, "a lease needs an owner")
	}
	nowMS := now.UnixMilli()
	unlock, err := s.lockWrites(ctx)
	if err != nil {
		return nil, err
	}
	d, err := scanDeployment(s.pool(ctx).QueryRowContext(ctx, s.q(`UPDATE deployments SET
			attempts = attempts + CASE WHEN parked = 1 OR (lease_owner = ? AND lease_expires_ms >= ?) THEN 0 ELSE 1 END,
			parked = 0, lease_owner = ?, lease_expires_ms = ?
		WHERE id = ? AND state NOT IN `+terminalStates+` AND (lease_owner = '' OR lease_owner = ? OR lease_expires_ms < ?)
		RETURNING `+deploymentColumns),
		owner, nowMS, owner, expires.UnixMilli(), id, owner, nowMS))
	unlock()
	if errors.Is(err, sql.ErrNoRows) {
		stored, err := s.Deployment(ctx, id)
		if err != nil {
			return nil, err
		}
		return nil, bot.Errorf(bot.ECONFLICT, "deployment #%d is %s and run by %s", id, stored.State, orDash(stored.LeaseOwner))
	}
	return d, err
}

func orDash(s string) string {
	if s == "" {
		return "nobody"
	}
	return s
}

// RenewLease keeps a lease that expired but that no one took: its owner
// never stopped, and no other replica ran the deployment meanwhile.
func (s *DB) RenewLease(ctx context.Context, id int64, owner string, expires time.Time) error {
	res, err := s.exec(ctx, s.q(`UPDATE deployments SET lease_expires_ms = ? WHERE id = ? AND lease_owner = ?`),
		expires.UnixMilli(), id, owner)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		if _, err := s.Deployment(ctx, id); err != nil {
			return err
		}
		return bot.Errorf(bot.ECONFLICT, "deployment #%d is no longer run by this replica", id)
	}
	return nil
}

func (s *DB) ReleaseLease(ctx context.Context, id int64, owner string) error {
	_, err := s.exec(ctx, s.q(`UPDATE deployments SET lease_owner = '', lease_expires_ms = 0 WHERE id = ? AND lease_owner = ?`),
		id, owner)
	return err
}

// Park gives back owner's lease of id and records what it waits for; it
// is claimed again from w.Until, or at once if what it waits on was woken
// since w.Checked (the wake may have been written while the run decided
// to park), or sooner once Wake(w.On) comes.
func (s *DB) Park(ctx context.Context, id int64, owner string, w bot.Wait) error {
	until, checked := toMillis(w.Until), toMillis(w.Checked)
	if w.Checked.IsZero() {
		// Not known when the run looked: no wake counts as news.
		checked = math.MaxInt64
	}
	res, err := s.exec(ctx, s.q(`UPDATE deployments SET
			waiting_on = ?, wait_note = ?, wait_since_ms = ?,
			wake_ms = CASE WHEN COALESCE((SELECT at_ms FROM wakes WHERE wakes.waiting_on = ?), 0) >= CAST(? AS BIGINT)
				THEN CAST(? AS BIGINT) ELSE CAST(? AS BIGINT) END,
			parked = 1, lease_owner = '', lease_expires_ms = 0
		WHERE id = ? AND lease_owner = ? AND state NOT IN `+terminalStates),
		w.On, w.Note, toMillis(w.Since), w.On, checked, min(checked, until), until, id, owner)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return err
	}
	stored, err := s.Deployment(ctx, id)
	if err != nil {
		return err
	}
	return bot.Errorf(bot.ECONFLICT, "deployment #%d is %s and run by %s", id, stored.State, orDash(stored.LeaseOwner))
}

// Wake brings the deployments parked on on forward to now, and records
// the wake for those about to park (Park). Only rows whose wake is later
// change, so a flood of events for one commit rewrites one small row.
func (s *DB) Wake(ctx context.Context, on string, now time.Time) (int, error) {
	tx, err := s.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	nowMS := now.UnixMilli()
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO wakes (waiting_on, at_ms) VALUES (?, ?)
		ON CONFLICT (waiting_on) DO UPDATE SET at_ms = excluded.at_ms WHERE excluded.at_ms > wakes.at_ms`), on, nowMS); err != nil {
		return 0, err
	}
	res, err := tx.ExecContext(ctx, s.q(`UPDATE deployments SET wake_ms = ?
		WHERE waiting_on = ? AND state NOT IN `+terminalStates+` AND wake_ms > ?`), nowMS, on, nowMS)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	return int(n), tx.Commit()
}

// ClaimFair leases to owner the claimable deployments (as ClaimDeployments
// would take them) that q picks: candidates are read first, at most
// q.PerRequester of each requester and q.PerEnv of each environment, in
// the order q starts them; then the picked ones are taken in one UPDATE
// that checks again that each is claimable, so that of replicas claiming
// at once only one gets a deployment (another may get fewer than it
// picked, and claims again at its next kick).
//
// The read is bounded, whatever the backlog: it sees the oldest
// claimable rows, the head of each environment's queue and the explicit
// rollbacks, each arm with a LIMIT, and skips the requesters and
// environments already at their share here. The heads are found by a
// skip scan (envHeads), an index probe per environment with unfinished
// deployments, not a read of all of them. Reading every claimable row
// through window functions, as it did, took 50–130 ms a claim on SQLite
// with 5,000 waiting (47 % of serve's CPU at 500 commands/s), and as much
// when it could pick nothing. What a row beyond the oldest ones loses is
// only its place before the gate: every row that starts first (rollbacks
// of automatic or /deploy rollback origin, heads of their queue) is read
// whatever its age, and one behind others in its environment could not
// roll out before them anyway (the gate is FIFO). A redeploy of a sha
// that succeeded before counts as a rollback only once it is read.
func (s *DB) ClaimFair(ctx context.Context, owner string, now, expires time.Time, q bot.ClaimQuota) ([]bot.Claim, error) {
	if owner == "" {
		return nil, bot.Errorf(bot.EINVALID, "a lease needs an owner")
	}
	if q.Slots <= 0 {
		return nil, nil
	}
	nowMS, expiresMS := now.UnixMilli(), expires.UnixMilli()
	claimable := `state NOT IN ` + terminalStates + ` AND (lease_owner = '' OR lease_expires_ms < ?) AND wake_ms <= ?`
	// Read outside the write transaction: the UPDATE checks each again.
	// +wake_ms: through deployments_wake SQLite would read every claimable
	// row (all of a backlog wakes at 0) and sort them, where the index of
	// each arm's order finds its LIMIT and stops.
	arm := `state NOT IN ` + terminalStates + ` AND (lease_owner = '' OR lease_expires_ms < ?) AND +wake_ms <= ?`
	armArgs := []any{nowMS, nowMS}
	if full := atShare(q.ByRequester, q.PerRequester); len(full) > 0 {
		arm += ` AND requester NOT IN (` + marks(len(full)) + `)`
		armArgs = append(armArgs, full...)
	}
	if full := atShare(q.ByEnv, q.PerEnv); len(full) > 0 {
		arm += ` AND (app || '/' || env) NOT IN (` + marks(len(full)) + `)`
		armArgs = append(armArgs, full...)
	}
	window := max(64, 8*q.Slots)
	const cols = `SELECT ` + candidateColumns + ` FROM deployments WHERE `
	var args []any
	args = append(append(append(append(append(args, armArgs...), window), armArgs...), window), armArgs...)
	args = append(args, q.Slots, q.PerRequester, q.PerEnv, window)
	// The window functions cap each requester and environment before the
	// LIMIT, so that one flood cannot fill the candidates.
	rows, err := s.pool(ctx).QueryContext(ctx, s.q(envHeads+`SELECT c.id, c.requester, c.app, c.env,
			CASE WHEN c.source = '`+string(bot.SourceAutoRollback)+`' OR c.rollback_of <> 0 OR EXISTS (
				SELECT 1 FROM deployments p WHERE p.app = c.app AND p.env = c.env AND p.sha = c.sha
				AND p.state = '`+string(bot.StateSucceeded)+`' AND p.id < c.id) THEN 1 ELSE 0 END AS rollback,
			CASE WHEN EXISTS (
				SELECT 1 FROM deployments o WHERE o.app = c.app AND o.env = c.env AND o.id < c.id
				AND o.state NOT IN `+terminalStates+`) THEN 1 ELSE 0 END AS behind
		FROM (SELECT w.*,
				ROW_NUMBER() OVER (PARTITION BY requester ORDER BY id) AS nth_of_requester,
				ROW_NUMBER() OVER (PARTITION BY app, env ORDER BY id) AS nth_of_env
			FROM (SELECT * FROM (`+cols+arm+` ORDER BY id LIMIT ?) oldest
				UNION SELECT * FROM (SELECT `+candidateColumns+` FROM env_heads WHERE `+arm+`
					ORDER BY id LIMIT ?) heads
				UNION SELECT * FROM (`+cols+arm+` AND (source = '`+string(bot.SourceAutoRollback)+`' OR rollback_of <> 0)
					ORDER BY id LIMIT ?) rollbacks) w) c
		WHERE c.nth_of_requester <= ? AND c.nth_of_env <= ?
		ORDER BY rollback DESC, behind, c.id LIMIT ?`), args...)
	if err != nil {
		return nil, err
	}
	var cs []bot.ClaimCandidate
	for rows.Next() {
		var c bot.ClaimCandidate
		var rollback, behind int
		if err := rows.Scan(&c.ID, &c.Requester, &c.App, &c.Env, &rollback, &behind); err != nil {
			rows.Close()
			return nil, err
		}
		c.Rollback, c.Behind = rollback == 1, behind == 1
		cs = append(cs, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	picked := q.Pick(cs)
	if len(picked) == 0 {
		return nil, nil
	}
	args = []any{owner, expiresMS}
	rollback := map[int64]bool{}
	for _, c := range picked {
		args = append(args, c.ID)
		rollback[c.ID] = c.Rollback
	}
	args = append(args, nowMS, nowMS)
	tx, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	claimed, err := tx.QueryContext(ctx, s.q(`UPDATE deployments SET
			attempts = attempts + CASE WHEN parked = 1 THEN 0 ELSE 1 END, parked = 0,
			lease_owner = ?, lease_expires_ms = ?
		WHERE id IN (`+marks(len(picked))+`) AND `+claimable+`
		RETURNING `+deploymentColumns), args...)
	if err != nil {
		return nil, err
	}
	defer claimed.Close()
	var out []bot.Claim
	for claimed.Next() {
		d, err := scanDeployment(claimed)
		if err != nil {
			return nil, err
		}
		out = append(out, bot.Claim{Deployment: d, Rollback: rollback[d.ID]})
	}
	if err := claimed.Err(); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	order := map[int64]int{}
	for i, c := range picked {
		order[c.ID] = i
	}
	slices.SortFunc(out, func(a, b bot.Claim) int { return cmp.Compare(order[a.Deployment.ID], order[b.Deployment.ID]) })
	return out, nil
}

// candidateColumns are what ClaimFair reads of each candidate.
const candidateColumns = `id, requester, app, env, sha, source, rollback_of`

// envHeads is the oldest unfinished deployment of each environment, read
// as a skip scan of deployments_unfinished_app_env: from one environment's
// head, the next environment's is the first entry past it in the index,
// one probe per environment. GROUP BY app, env read every unfinished row
// instead: neither engine skips through the index for it by itself. The next
// environment is sought within the app first, then in the next app, not
// as (app, env) > (h.app, h.env): SQLite bounds a row value's range by
// app alone, and walked all of an app's rows at each step. The heads
// carry the columns that ClaimFair reads and filters on: joined back to
// deployments by id, PostgreSQL guessed 100 heads and hashed a scan of
// the whole table against them.
var envHeads = func() string {
	const cols = candidateColumns + `, state, lease_owner, lease_expires_ms, wake_ms`
	const next = `SELECT d.id FROM deployments d WHERE d.state NOT IN %s AND %s ORDER BY d.app, d.env, d.id LIMIT 1`
	return `WITH RECURSIVE env_heads AS (
		SELECT * FROM (SELECT ` + cols + ` FROM deployments WHERE state NOT IN ` + terminalStates + `
			ORDER BY app, env, id LIMIT 1) first_head
		UNION ALL
		SELECT n.` + strings.ReplaceAll(cols, ", ", ", n.") + ` FROM env_heads h JOIN deployments n ON n.id = COALESCE(
			(` + fmt.Sprintf(next, terminalStates, `d.app = h.app AND d.env > h.env`) + `),
			(` + fmt.Sprintf(next, terminalStates, `d.app > h.app`) + `)))
	`
}()

// atShare lists the keys of running whose count has reached share.
func atShare(running map[string]int, share int) []any {
	var full []any
	for k, n := range running {
		if n >= share {
			full = append(full, k)
		}
	}
	return full
}

func marks(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}
