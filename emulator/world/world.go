// Package world builds the emulator world deploybot runs against outside
// production: GitHub, Slack and AWS emulators (and, if asked, an OCI
// registry) on loopback, a temp dir for configs and SQLite files, and a
// store. The sandbox, the end-to-end tests and bench/ackload all start
// their bots against one of these, so the emulators are wired one way.
//
// It is wiring, like cmd/deploybot: it may import every emulator and
// store. StartBot starts a deploybot in this process (internal/wiring, as
// `deploybot serve` does); a bot run as a `deploybot serve` process
// reading Env is handed over with Attach instead. Either way Close stops
// it before the emulators it talks to.
package world

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver for the store's schema

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/emulator/awsemu"
	"github.com/deploybot/deploybot/emulator/githubemu"
	"github.com/deploybot/deploybot/emulator/registryemu"
	"github.com/deploybot/deploybot/emulator/slackemu"
	"github.com/deploybot/deploybot/internal/wiring"
)

// Options says which world to build. The zero value is GitHub with token
// auth and AWS, a temp dir and no store.
type Options struct {
	// AppID, when non-zero, makes GitHub an App emulator with a fresh key
	// (World.AppKeyPEM); otherwise GitHub authenticates tokens.
	AppID int64
	// SlackToken, when set, starts the Slack emulator with that bot
	// token, and Channels are created in it.
	SlackToken string
	Channels   []string
	// Registry, when set, starts an OCI registry on loopback.
	Registry *Registry
	// RolloutPolls is how many DescribeServices polls an ECS rollout
	// takes in the AWS emulator; 0 leaves the emulator's default.
	RolloutPolls int
	// Store is "" (none), "sqlite" (a file in Dir) or a PostgreSQL DSN,
	// which gets a fresh schema of its own, dropped on Close, so runs
	// never see each other's rows.
	Store string
	// KeepStore leaves the PostgreSQL schema in place on Close, for a
	// look after the run.
	KeepStore bool
	// Dir, if set, is the world's directory, which the caller owns;
	// otherwise a temp dir named TempPrefix… ("" is "deploybot-world-")
	// is made and removed on Close.
	Dir, TempPrefix string
	// Wrap, when set, stands in front of each emulator (name is "github",
	// "slack" or "aws"): the place to inject faults or delays.
	Wrap func(name string, h http.Handler) http.Handler
}

// Registry is the OCI registry a world runs, and how it authenticates.
type Registry struct {
	Auth               registryemu.Auth
	Username, Password string
}

// World is the running emulators. Their fields are the emulators' own
// types, for seeding and for reading back what the bot did.
type World struct {
	Dir       string
	GitHub    *githubemu.Emulator
	Slack     *slackemu.Server // nil without Options.SlackToken
	AWS       *awsemu.Server
	OCI       *registryemu.Registry // nil without Options.Registry
	AppKeyPEM []byte                // the GitHub App's private key, with Options.AppID

	GitHubURL string // the GitHub emulator's origin
	AWSURL    string
	// StoreDSN is the store the bot should open (config `store:`).
	StoreDSN string
	// Schema is the PostgreSQL schema made for the store; "" for SQLite.
	Schema string

	// Busy is the nanoseconds the emulators spent answering so far, so
	// that a benchmark can tell the bot's own time from theirs.
	Busy atomic.Int64

	ownDir   bool // Dir was made by New, and Close removes it
	servers  []*httptest.Server
	bot      Bot
	dropDB   func() error
	closeOCI func()
}

// Bot is a deploybot started against the world.
type Bot interface {
	Close(ctx context.Context) error
}

// New starts the emulators. On error nothing is left running.
func New(ctx context.Context, opt Options) (_ *World, err error) {
	w := &World{}
	defer func() {
		if err != nil {
			w.Close()
		}
	}()
	if w.Dir = opt.Dir; w.Dir == "" {
		prefix := opt.TempPrefix
		if prefix == "" {
			prefix = "deploybot-world-"
		}
		if w.Dir, err = os.MkdirTemp("", prefix); err != nil {
			return nil, err
		}
		w.ownDir = true
	}

	var pub *rsa.PublicKey
	if opt.AppID != 0 {
		key, pem, err := githubemu.GenerateKey()
		if err != nil {
			return nil, err
		}
		pub, w.AppKeyPEM = &key.PublicKey, pem
	}
	w.GitHub = githubemu.New(opt.AppID, pub)
	w.GitHubURL = w.serve(opt, "github", w.GitHub).URL

	if opt.SlackToken != "" {
		w.Slack = slackemu.New(opt.SlackToken)
		w.Slack.SetBaseURL(w.serve(opt, "slack", w.Slack).URL)
		for _, ch := range opt.Channels {
			w.Slack.AddChannel(ch)
		}
	}

	w.AWS = awsemu.New()
	w.AWSURL = w.serve(opt, "aws", w.AWS).URL
	if opt.RolloutPolls > 0 {
		w.AWS.SetRolloutPolls(opt.RolloutPolls)
	}

	if r := opt.Registry; r != nil {
		w.OCI = registryemu.Start(r.Auth, r.Username, r.Password)
		w.closeOCI = w.OCI.Close
	}

	switch opt.Store {
	case "":
	case "sqlite":
		w.StoreDSN = "sqlite:" + filepath.Join(w.Dir, "deploybot.db")
	default:
		if err := w.postgresSchema(ctx, opt.Store, opt.KeepStore); err != nil {
			return nil, err
		}
	}
	return w, nil
}

func (w *World) serve(opt Options, name string, h http.Handler) *httptest.Server {
	if opt.Wrap != nil {
		h = opt.Wrap(name, h)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		began := time.Now()
		h.ServeHTTP(rw, r)
		w.Busy.Add(int64(time.Since(began)))
	}))
	w.servers = append(w.servers, srv)
	return srv
}

// postgresSchema makes a schema of the world's own and names it in the
// DSN's search_path, as store/postgres/pgtest does for tests. The
// application_name lets a benchmark tell the bot's backends from those of
// others sharing the server.
func (w *World) postgresSchema(ctx context.Context, dsn string, keep bool) error {
	u, err := url.Parse(dsn)
	if err != nil {
		return fmt.Errorf("store %q: %w", dsn, err)
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return err
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema := "world_" + hex.EncodeToString(b)
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		db.Close()
		return fmt.Errorf("create schema: %w", err)
	}
	w.dropDB = func() error {
		defer db.Close()
		if keep {
			return nil
		}
		if _, err := db.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			return fmt.Errorf("drop schema %s: %w", schema, err)
		}
		return nil
	}
	q := u.Query()
	q.Set("search_path", schema)
	q.Set("application_name", schema)
	u.RawQuery = q.Encode()
	w.StoreDSN, w.Schema = u.String(), schema
	return nil
}

// Attach hands over the bot started against the world, listening on
// botURL: GitHub delivers its webhooks there, signed with secret, and
// Close stops the bot first.
func (w *World) Attach(b Bot, botURL, secret string) {
	w.bot = b
	w.GitHub.SetWebhook(botURL+"/webhooks/github", secret)
}

// StartBot starts a deploybot in this process with cfg, whose addresses
// the caller has pointed at the world, on opt.Listen or else a loopback
// port of its own, and attaches it: GitHub delivers its webhooks to it,
// signed with cfg's webhook secret.
func (w *World) StartBot(ctx context.Context, cfg *bot.Config, opt wiring.Options) (*wiring.Instance, error) {
	if opt.Listen == "" {
		opt.Listen = "127.0.0.1:0"
	}
	in, err := wiring.Start(ctx, cfg, opt)
	if err != nil {
		return nil, err
	}
	w.Attach(in, in.URL, cfg.GitHub.WebhookSecret)
	return in, nil
}

// AWSOptions point an in-process AWS SDK at the emulator.
func (w *World) AWSOptions(keyID, secret string) []func(*awsconfig.LoadOptions) error {
	return []func(*awsconfig.LoadOptions) error{
		awsconfig.WithBaseEndpoint(w.AWSURL),
		awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(keyID, secret, "")),
	}
}

// Env is the environment of a deploybot process in the world: the
// emulators' addresses as GITHUB_URL, SLACK_URL and the SDK's own
// AWS_ENDPOINT_URL, and HOME in Dir so that no developer's ~/.aws leaks
// in. extra ("K=V") is appended.
func (w *World) Env(extra ...string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + w.Dir,
		"GITHUB_URL=" + w.GitHubURL + githubemu.Prefix + "/",
		"AWS_ENDPOINT_URL=" + w.AWSURL, "AWS_EC2_METADATA_DISABLED=true",
	}
	if w.Slack != nil {
		env = append(env, "SLACK_URL="+w.Slack.APIURL())
	}
	return append(env, extra...)
}

// Close stops the bot, then the emulators, drops the store's schema
// (unless KeepStore) and removes Dir if New made it.
func (w *World) Close() error {
	var err error
	if w.bot != nil {
		// The emulators' webhook client and the tests share the default
		// transport; a connection it dialed but never used counts as
		// active to the bot's Shutdown for its first 5 s.
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = w.bot.Close(ctx)
		cancel()
		w.bot = nil
	}
	for _, srv := range w.servers {
		srv.Close()
	}
	w.servers = nil
	if w.closeOCI != nil {
		w.closeOCI()
		w.closeOCI = nil
	}
	if w.dropDB != nil {
		if dropErr := w.dropDB(); err == nil {
			err = dropErr
		}
		w.dropDB = nil
	}
	if w.ownDir {
		os.RemoveAll(w.Dir)
	}
	return err
}

// Commit is a commit to add to a world's repository.
type Commit struct {
	Repo   string // owner/name on GitHub
	Seed   string // the sha and the image digest derive from it
	Branch string // "" adds the commit on no branch
	// Check and CIState, if CIState is set, are its commit status.
	Check, CIState string
	// ECRRepo, if set, is the ECR repository the image is pushed to,
	// tagged git_<short sha>.
	ECRRepo string
}

// AddCommit adds c to gh (and its image to aws) and returns its full sha.
// The sha is a function of the seed, so a test can name it in advance.
func AddCommit(gh *githubemu.Emulator, aws *awsemu.Server, c Commit) string {
	sum := sha256.Sum256([]byte(c.Seed))
	sha := hex.EncodeToString(sum[:20])
	gh.AddCommit(c.Repo, sha, c.Branch)
	if c.CIState != "" {
		gh.SetStatus(c.Repo, sha, c.Check, c.CIState)
	}
	if c.ECRRepo != "" {
		digest := sha256.Sum256([]byte("image " + c.Seed))
		aws.PutImage(c.ECRRepo, "git_"+sha[:7], "sha256:"+hex.EncodeToString(digest[:]))
	}
	return sha
}

// AddCommit adds c to the world's emulators; see the function AddCommit.
func (w *World) AddCommit(c Commit) string { return AddCommit(w.GitHub, w.AWS, c) }
