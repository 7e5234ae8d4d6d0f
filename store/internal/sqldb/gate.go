package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/deploybot/deploybot/bot"
)

// EnterGate reports, when an older deployment holds the queue, the oldest
// unfinished one of the environment: since every deployment passes the
// gate in id order, that is the one past the gate whenever one is, and
// otherwise the one that will pass next. The lock is checked only once the
// deployment is first in line, so the result names one reason, the one
// that will still hold when the other is gone. Next says that no one else
// waits between the head and the deployment.
func (s *DB) EnterGate(ctx context.Context, id int64, from, to bot.State, now time.Time) (bot.GateResult, error) {
	tx, err := s.begin(ctx)
	if err != nil {
		return bot.GateResult{}, err
	}
	defer tx.Rollback()
	d, err := scanDeployment(tx.QueryRowContext(ctx, s.q(`SELECT `+deploymentColumns+` FROM deployments WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return bot.GateResult{}, bot.Errorf(bot.ENOTFOUND, "deployment #%d not found", id)
	}
	if err != nil {
		return bot.GateResult{}, err
	}
	if d.State != from {
		return bot.GateResult{}, bot.Errorf(bot.ECONFLICT, "deployment #%d is %s", id, d.State)
	}
	if s.d.LockGate != "" {
		if _, err := tx.ExecContext(ctx, s.q(s.d.LockGate), d.App, d.Env); err != nil {
			return bot.GateResult{}, err
		}
	}
	// The two oldest ahead of it: the head, and whether anyone else
	// stands between the head and it.
	ahead, err := s.queryDeploymentsTx(ctx, tx, `SELECT `+deploymentColumns+` FROM deployments
		WHERE app = ? AND env = ? AND id < ? AND state NOT IN `+terminalStates+` ORDER BY id LIMIT 2`, d.App, d.Env, id)
	if err != nil {
		return bot.GateResult{}, err
	}
	if len(ahead) > 0 {
		return bot.GateResult{Behind: ahead[0], Next: len(ahead) == 1}, nil
	}
	held, err := s.lockTx(ctx, tx, d.App, d.Env, false)
	switch {
	case err == nil && held.Owner != d.Requester && !held.Expired(now):
		return bot.GateResult{Lock: held}, nil
	case err != nil && !errors.Is(err, sql.ErrNoRows):
		return bot.GateResult{}, err
	}
	// The state may have moved since it was read (a cancel does not take
	// the gate's lock): only the row's own state decides.
	res, err := tx.ExecContext(ctx, s.q(`UPDATE deployments SET state = ?, updated_at = ? WHERE id = ? AND state = ?`),
		string(to), s.timestamp(), id, string(from))
	if err != nil {
		return bot.GateResult{}, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return bot.GateResult{}, err
	}
	if n == 0 {
		return bot.GateResult{}, bot.Errorf(bot.ECONFLICT, "deployment #%d is no longer %s", id, from)
	}
	if err := tx.Commit(); err != nil {
		return bot.GateResult{}, err
	}
	return bot.GateResult{Entered: true}, nil
}
