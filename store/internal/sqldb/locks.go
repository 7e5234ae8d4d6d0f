package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/deploybot/deploybot/bot"
)

// Expiry is decided in Go, not SQL: SQLite keeps times as text, whose
// order is not time order once fractional seconds differ in length.

func (s *DB) Lock(ctx context.Context, l *bot.EnvLock, now time.Time) (*bot.EnvLock, error) {
	tx, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	held, err := s.lockTx(ctx, tx, l.App, l.Env, true)
	switch {
	case err == nil && held.Owner != l.Owner && !held.Expired(now):
		return held, bot.Errorf(bot.ECONFLICT, "%s %s is locked by %s", l.App, l.Env, held.Owner)
	case err == nil:
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM env_locks WHERE app = ? AND env = ?`), l.App, l.Env); err != nil {
			return nil, err
		}
	case !errors.Is(err, sql.ErrNoRows):
		return nil, err
	}
	l.CreatedAt = now.UTC().Truncate(time.Microsecond)
	if !l.ExpiresAt.IsZero() {
		l.ExpiresAt = l.ExpiresAt.UTC().Truncate(time.Microsecond)
	}
	_, err = tx.ExecContext(ctx, s.q(`INSERT INTO env_locks (app, env, owner, reason, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?)`),
		l.App, l.Env, l.Owner, l.Reason, nullTime(l.ExpiresAt), l.CreatedAt)
	if err != nil {
		if s.d.IsUniqueViolation(err) {
			// Another replica took it between our read and our write.
			return nil, bot.Errorf(bot.ECONFLICT, "%s %s was locked by someone else just now", l.App, l.Env)
		}
		return nil, err
	}
	return l, tx.Commit()
}

func (s *DB) Unlock(ctx context.Context, app, env string, now time.Time) (*bot.EnvLock, error) {
	tx, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	held, err := s.lockTx(ctx, tx, app, env, true)
	if errors.Is(err, sql.ErrNoRows) || err == nil && held.Expired(now) {
		return nil, bot.Errorf(bot.ENOTFOUND, "%s %s is not locked", app, env)
	}
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM env_locks WHERE app = ? AND env = ?`), app, env); err != nil {
		return nil, err
	}
	return held, tx.Commit()
}

func (s *DB) EnvLock(ctx context.Context, app, env string, now time.Time) (*bot.EnvLock, error) {
	l, err := s.lockTx(ctx, s.pool(ctx), app, env, false)
	if errors.Is(err, sql.ErrNoRows) || err == nil && l.Expired(now) {
		return nil, bot.Errorf(bot.ENOTFOUND, "%s %s is not locked", app, env)
	}
	return l, err
}

// querier is a *sql.DB or a *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *DB) lockTx(ctx context.Context, q querier, app, env string, forUpdate bool) (*bot.EnvLock, error) {
	query := `SELECT app, env, owner, reason, expires_at, created_at FROM env_locks WHERE app = ? AND env = ?`
	if forUpdate {
		query += s.d.ForUpdate
	}
	var (
		l       bot.EnvLock
		expires sql.NullTime
	)
	err := q.QueryRowContext(ctx, s.q(query), app, env).Scan(&l.App, &l.Env, &l.Owner, &l.Reason, &expires, &l.CreatedAt)
	if err != nil {
		return nil, err
	}
	l.CreatedAt = l.CreatedAt.UTC()
	if expires.Valid {
		l.ExpiresAt = expires.Time.UTC()
	}
	return &l, nil
}

func nullTime(t time.Time) sql.NullTime { return sql.NullTime{Time: t, Valid: !t.IsZero()} }
