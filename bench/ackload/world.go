package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/deploybot/deploybot/emulator/awsemu"
	"github.com/deploybot/deploybot/emulator/githubemu"
	"github.com/deploybot/deploybot/emulator/slackemu"
	emuworld "github.com/deploybot/deploybot/emulator/world"
	"github.com/deploybot/deploybot/internal/wiring"

	"github.com/deploybot/deploybot/bot"
)

// The world the load runs in.
const (
	app           = "web"
	repo          = "ackload/web"
	image         = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web"
	service       = "web-api"
	container     = "api"
	ciCheck       = "ci/build"
	channel       = "#deploys"
	botToken      = "xoxb-ackload"
	githubToken   = "ghp_ackload_bot"
	humanToken    = "ghp_ackload_human"
	humanLogin    = "Codertocat" // the creator in GitHub's example payload
	slackUser     = "U0ACKLOAD"
	signingSecret = "ackload-slack-signing-secret"
	webhookSecret = "ackload-github-webhook-secret"
)

// world is the emulators serve talks to, in this process, seeded for
// the load.
type world struct {
	*emuworld.World
	github  *githubemu.Emulator
	slack   *slackemu.Server
	aws     *awsemu.Server
	ghURL   string // the GitHub emulator's origin
	envs    []string
	sha     string   // the commit every request deploys; its CI stays pending
	environ []string // serve's environment: where the emulators are

	comments atomic.Int64 // PR comments sent so far, for their ids
}

// newWorld starts the emulators with dir as serve's HOME and the store
// of storeFlag (see prepareStore) in it.
func newWorld(ctx context.Context, envCount int, dir, storeFlag string, keep bool) (*world, error) {
	ew, err := emuworld.New(ctx, emuworld.Options{
		SlackToken: botToken, Channels: []string{channel}, Dir: dir, Store: storeFlag, KeepStore: keep,
	})
	if err != nil {
		return nil, err
	}
	w := &world{World: ew, github: ew.GitHub, slack: ew.Slack, aws: ew.AWS, ghURL: ew.GitHubURL}
	w.github.AddRepo(repo, 0)
	w.github.AddToken(githubToken, "ackload-bot")
	w.github.AddToken(humanToken, humanLogin)
	w.sha = ew.AddCommit(emuworld.Commit{Repo: repo, Seed: "ackload commit", Branch: "main", Check: ciCheck, CIState: "pending", ECRRepo: "web"})
	for i := range envCount {
		env := fmt.Sprintf("env%02d", i+1)
		w.envs = append(w.envs, env)
		w.aws.AddService(env, service, awsemu.TaskDef{
			Family: service + "-" + env, CPU: "256", Memory: "512",
			Containers: []awsemu.Container{{Name: container, Image: image + ":git_0000000", Memory: 512}},
		})
	}
	w.environ = ew.Env("AWS_ACCESS_KEY_ID=AKIAACKLOAD", "AWS_SECRET_ACCESS_KEY=secret")
	return w, nil
}

// config writes serve's config: production timing (no timing section),
// one app whose environments are the ECS services, ci_timeout 1h.
func (w *world) config(dir, listen, store string) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, `listen: %q
store: %q
github:
  api_url: ${GITHUB_URL}
  token: %s
  webhook_secret: %s
slack:
  api_url: ${SLACK_URL}
  bot_token: %s
  signing_secret: %s
  channel: %q
aws:
  region: us-east-1
apps:
  %s:
    repo: %s
    image: %s
    tag: "git_{{.ShortSHA}}"
    checks: [%q]
    ci_timeout: 1h
    environments:
`, listen, store, githubToken, webhookSecret, botToken, signingSecret, channel, app, repo, image, ciCheck)
	for _, env := range w.envs {
		fmt.Fprintf(&b, "      %s:\n        ecs: {cluster: %s, service: %s, container: %s}\n        timeout: 10m\n", env, env, service, container)
	}
	path := filepath.Join(dir, "deploybot.yaml")
	return path, os.WriteFile(path, []byte(b.String()), 0o600)
}

// storeSetup is the store serve runs on.
type storeSetup struct {
	dsn string
	// close releases what watches the store; the world drops it.
	close func() error
	// sessions, for PostgreSQL, is how many connections the server has
	// accepted so far; nil for SQLite.
	sessions func(ctx context.Context) (int64, error)
	// backendCPU, for PostgreSQL, is the CPU time used so far by the
	// backends serving serve's connections open now; nil for SQLite.
	backendCPU func(ctx context.Context) (time.Duration, error)
}

// prepareStore watches the world's store. PostgreSQL has a schema of
// the world's own, whose name is also the application_name of serve's
// connections, so that the CPU of their backends can be told from the
// other users' of a shared PostgreSQL.
func prepareStore(w *world, flagValue string) (storeSetup, error) {
	if w.Schema == "" {
		return storeSetup{dsn: w.StoreDSN, close: func() error { return nil }}, nil
	}
	db, err := sql.Open("pgx", flagValue)
	if err != nil {
		return storeSetup{}, err
	}
	db.SetMaxOpenConns(1)
	schema := w.Schema
	return storeSetup{
		dsn:   w.StoreDSN,
		close: db.Close,
		sessions: func(ctx context.Context) (int64, error) {
			// A backend reports its session to the statistics within a
			// second or so; this one's own is subtracted by the caller's
			// difference.
			var n int64
			err := db.QueryRowContext(ctx, `SELECT sessions FROM pg_stat_database WHERE datname = current_database()`).Scan(&n)
			return n, err
		},
		backendCPU: func(ctx context.Context) (time.Duration, error) {
			// Serve keeps its pool of connections open, so the backends
			// seen at both ends of a load did its work; one that ended
			// meanwhile takes its time with it (an underestimate).
			rows, err := db.QueryContext(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name = $1`, schema)
			if err != nil {
				return 0, err
			}
			defer rows.Close()
			var total time.Duration
			for rows.Next() {
				var pid int
				if err := rows.Scan(&pid); err != nil {
					return 0, err
				}
				if used, err := procCPU(pid); err == nil {
					total += used
				}
			}
			return total, rows.Err()
		},
	}, nil
}

func describeStore(flagValue string) string {
	if flagValue == "sqlite" {
		return "SQLite (file in the temp dir)"
	}
	return "PostgreSQL (a fresh schema)"
}

// deploymentLister is what verify reads of either store.
type deploymentLister interface {
	Deployments(ctx context.Context, limit int) ([]*bot.Deployment, error)
	Close() error
}

// openStore opens the store as serve does, so verify reads what serve wrote.
func openStore(ctx context.Context, dsn string) (deploymentLister, error) {
	return wiring.OpenStore(ctx, dsn)
}
