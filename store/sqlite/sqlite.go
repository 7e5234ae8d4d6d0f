// Package sqlite is deploybot's default store: one SQLite file, written
// through the pure-Go modernc.org/sqlite driver so the binary needs no cgo.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"sort"
	"time"

	"github.com/deploybot/deploybot/bot"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migration/*.sql
var migrations embed.FS

// DB is a bot.Store on one SQLite file.
type DB struct {
	db  *sql.DB
	now func() time.Time
}

var _ bot.Store = (*DB)(nil)

// Open opens (creating if needed) the database at path and brings its
// schema up to date.
func Open(ctx context.Context, path string) (*DB, error) {
	// WAL lets readers run beside the writer; busy_timeout makes a writer
	// wait for another instead of failing at once; immediate transactions
	// take the write lock up front so two writers never deadlock upgrading.
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	s := &DB{db: db, now: time.Now}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate sqlite %s: %w", path, err)
	}
	return s, nil
}

// Close closes the database.
func (s *DB) Close() error { return s.db.Close() }

// Ping reports whether the database answers.
func (s *DB) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// migrate runs each embedded migration not yet recorded, each in its own
// transaction together with its record.
func (s *DB) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)`); err != nil {
		return err
	}
	names, err := fs.Glob(migrations, "migration/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		if err := s.migrateFile(ctx, name); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

func (s *DB) migrateFile(ctx context.Context, name string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE name = ?`, name).Scan(&n); err != nil {
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
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)`, name, formatTime(s.now())); err != nil {
		return err
	}
	return tx.Commit()
}

const deploymentColumns = `id, app, env, repo, ref, sha, image, requester, source, state, reason,
	github_deployment_id, installation_id, slack_channel, slack_ts, slack_response_url,
	environment_url, created_at, updated_at`

func (s *DB) CreateDeployment(ctx context.Context, d *bot.Deployment) error {
	now := s.now().UTC()
	res, err := s.db.ExecContext(ctx, `INSERT INTO deployments (app, env, repo, ref, sha, image, requester, source, state, reason,
		github_deployment_id, installation_id, slack_channel, slack_ts, slack_response_url, environment_url, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		d.App, d.Env, d.Repo, d.Ref, d.SHA, d.Image, d.Requester, string(d.Source), string(d.State), d.Reason,
		nullID(d.GitHubDeploymentID), d.InstallationID, d.SlackChannel, d.SlackTS, d.SlackResponseURL, d.EnvironmentURL,
		formatTime(now), formatTime(now))
	if err != nil {
		return translate(err, d)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return err
	}
	d.ID, d.CreatedAt, d.UpdatedAt = id, now, now
	return nil
}

func (s *DB) UpdateDeployment(ctx context.Context, d *bot.Deployment) error {
	now := s.now().UTC()
	res, err := s.db.ExecContext(ctx, `UPDATE deployments SET ref = ?, sha = ?, image = ?, state = ?, reason = ?,
		github_deployment_id = ?, installation_id = ?, slack_channel = ?, slack_ts = ?, slack_response_url = ?,
		environment_url = ?, updated_at = ? WHERE id = ?`,
		d.Ref, d.SHA, d.Image, string(d.State), d.Reason,
		nullID(d.GitHubDeploymentID), d.InstallationID, d.SlackChannel, d.SlackTS, d.SlackResponseURL,
		d.EnvironmentURL, formatTime(now), d.ID)
	if err != nil {
		return translate(err, d)
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return bot.Errorf(bot.ENOTFOUND, "deployment #%d not found", d.ID)
	}
	d.UpdatedAt = now
	return nil
}

func (s *DB) Deployment(ctx context.Context, id int64) (*bot.Deployment, error) {
	d, err := scanDeployment(s.db.QueryRowContext(ctx, `SELECT `+deploymentColumns+` FROM deployments WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, bot.Errorf(bot.ENOTFOUND, "deployment #%d not found", id)
	}
	return d, err
}

func (s *DB) DeploymentByGitHubID(ctx context.Context, githubID int64) (*bot.Deployment, error) {
	d, err := scanDeployment(s.db.QueryRowContext(ctx, `SELECT `+deploymentColumns+` FROM deployments WHERE github_deployment_id = ?`, githubID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, bot.Errorf(bot.ENOTFOUND, "no deployment has GitHub deployment id %d", githubID)
	}
	return d, err
}

// Deployments returns the most recent deployments, newest first.
func (s *DB) Deployments(ctx context.Context, limit int) ([]*bot.Deployment, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+deploymentColumns+` FROM deployments ORDER BY id DESC LIMIT ?`, limit)
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

func (s *DB) RecordDelivery(ctx context.Context, deliveryID, event string) (bool, error) {
	res, err := s.db.ExecContext(ctx, `INSERT INTO webhook_deliveries (delivery_id, event, received_at) VALUES (?, ?, ?)
		ON CONFLICT (delivery_id) DO NOTHING`, deliveryID, event, formatTime(s.now()))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

type scanner interface{ Scan(dest ...any) error }

func scanDeployment(row scanner) (*bot.Deployment, error) {
	var (
		d                    bot.Deployment
		source, state        string
		githubID             sql.NullInt64
		createdAt, updatedAt string
	)
	err := row.Scan(&d.ID, &d.App, &d.Env, &d.Repo, &d.Ref, &d.SHA, &d.Image, &d.Requester, &source, &state, &d.Reason,
		&githubID, &d.InstallationID, &d.SlackChannel, &d.SlackTS, &d.SlackResponseURL,
		&d.EnvironmentURL, &createdAt, &updatedAt)
	if err != nil {
		return nil, err
	}
	d.Source, d.State, d.GitHubDeploymentID = bot.Source(source), bot.State(state), githubID.Int64
	if d.CreatedAt, err = time.Parse(time.RFC3339Nano, createdAt); err != nil {
		return nil, fmt.Errorf("deployment %d created_at: %w", d.ID, err)
	}
	if d.UpdatedAt, err = time.Parse(time.RFC3339Nano, updatedAt); err != nil {
		return nil, fmt.Errorf("deployment %d updated_at: %w", d.ID, err)
	}
	return &d, nil
}

// nullID stores a missing GitHub id as NULL so the UNIQUE index allows
// many deployments that have none yet.
func nullID(id int64) sql.NullInt64 { return sql.NullInt64{Int64: id, Valid: id != 0} }

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// translate turns a unique-constraint violation into bot.ECONFLICT.
func translate(err error, d *bot.Deployment) error {
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE {
		return bot.Errorf(bot.ECONFLICT, "GitHub deployment %d already belongs to another deployment", d.GitHubDeploymentID)
	}
	return err
}
