package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/deployer/awsenv"
	"github.com/deploybot/deploybot/deployer/ecr"
	"github.com/deploybot/deploybot/deployer/ecs"
	"github.com/deploybot/deploybot/deployer/elasticbeanstalk"
	"github.com/deploybot/deploybot/deployer/registry"
	"github.com/deploybot/deploybot/dispatch"
	"github.com/deploybot/deploybot/ghclient"
	"github.com/deploybot/deploybot/handlers"
	"github.com/deploybot/deploybot/metrics"
	"github.com/deploybot/deploybot/slackclient"
	"github.com/deploybot/deploybot/store/postgres"
	"github.com/deploybot/deploybot/store/sqlite"
)

// options are the knobs the sandbox and the end-to-end tests turn; serve
// leaves them at their zero values, which mean production defaults.
type options struct {
	logger     *slog.Logger
	awsOptions []func(*awsconfig.LoadOptions) error
	now        func() time.Time
	finished   func(*bot.Deployment)
	progress   func(*bot.Deployment, string)

	failOnInterrupt bool

	// Tests shorten the waits of the resilience policies.
	slack               []slackclient.Option
	commentTimeout      time.Duration
	githubRetryBase     time.Duration
	finalStatusPatience time.Duration
	// sandboxConfig, for tests, changes the sandbox's config before the
	// bot starts.
	sandboxConfig func(*bot.Config)
	// routes lets the sandbox serve its console beside the bot's own
	// routes; serve never sets it.
	routes func(next http.Handler) http.Handler
}

// instance is one running deploybot: store, pipeline and HTTP server.
type instance struct {
	cfg     *bot.Config
	store   storeDB
	service *bot.Service
	// dispatcher runs service's deployments (its Scheduler).
	dispatcher *dispatch.Dispatcher
	server     *http.Server
	URL        string // http://host:port of the listening server
	done       chan error

	stopDispatch context.CancelFunc
	dispatched   chan struct{}
	pruned       chan struct{} // closed when the retention loop stopped
}

func serve(ctx context.Context, cfg *bot.Config, stderr io.Writer) error {
	logger := newLogger(stderr)
	in, err := start(ctx, cfg, cfg.Listen, options{logger: logger})
	if err != nil {
		return err
	}
	logger.Info("deploybot listening", "addr", in.URL, "store", bot.RedactDSN(cfg.Store), "apps", len(cfg.Apps))
	if msg := dashboardAccess(cfg.Dashboard); msg != "" {
		logger.Warn(msg)
	}
	select {
	case <-ctx.Done():
	case err := <-in.done:
		return fmt.Errorf("http server: %w", err)
	}
	logger.Info("shutting down; waiting for running deployments")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return in.Close(shutdownCtx)
}

// newLogger writes JSON for log collectors, text when a person watches.
func newLogger(w io.Writer) *slog.Logger {
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			return slog.New(slog.NewTextHandler(w, nil))
		}
	}
	return slog.New(slog.NewJSONHandler(w, nil))
}

// start wires concrete types to the bot and starts the HTTP server.
func start(ctx context.Context, cfg *bot.Config, listen string, opt options) (*instance, error) {
	logger := opt.logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	store, err := openStore(ctx, cfg.Store)
	if err != nil {
		return nil, err
	}
	in, err := wire(ctx, cfg, store, logger, opt)
	if err != nil {
		store.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("listen on %s: %w", listen, err)
	}
	in.URL = "http://" + ln.Addr().String()
	dispatchCtx, stopDispatch := context.WithCancel(context.WithoutCancel(ctx))
	in.stopDispatch, in.dispatched = stopDispatch, make(chan struct{})
	go func() {
		defer close(in.dispatched)
		_ = in.dispatcher.Serve(dispatchCtx)
	}()
	clock := opt.now
	if clock == nil {
		clock = time.Now
	}
	in.pruned = make(chan struct{})
	go func() {
		defer close(in.pruned)
		pruneIntake(dispatchCtx, store, clock, intakePruneEvery, logger)
	}()
	in.done = make(chan error, 1)
	go func() {
		if err := in.server.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			in.done <- err
		}
		close(in.done)
	}()
	return in, nil
}

// storeDB is what cmd needs of either store.
type storeDB interface {
	// Ports is the store as bot.Service takes it.
	Ports() bot.Store
	bot.Deployments
	bot.Locks
	bot.Timeline
	bot.Deliveries
	// Wake and the leases are how the dispatcher claims.
	Wake(ctx context.Context, on string, now time.Time) (int, error)
	ClaimDeployment(ctx context.Context, id int64, owner string, now, expires time.Time) (*bot.Deployment, error)
	RenewLease(ctx context.Context, id int64, owner string, expires time.Time) error
	ReleaseLease(ctx context.Context, id int64, owner string) error
	// ClaimFair is how the dispatcher claims (bot.ClaimQuota).
	ClaimFair(ctx context.Context, owner string, now, expires time.Time, q bot.ClaimQuota) ([]bot.Claim, error)
	intakePruner
	Deployments(ctx context.Context, limit int) ([]*bot.Deployment, error)
	Ping(ctx context.Context) error
	Close() error
	Queries() uint64
}

func openStore(ctx context.Context, dsn string) (storeDB, error) {
	if path, ok := strings.CutPrefix(dsn, "sqlite:"); ok {
		return sqlite.Open(ctx, path)
	}
	return postgres.Open(ctx, dsn)
}

func wire(ctx context.Context, cfg *bot.Config, store storeDB, logger *slog.Logger, opt options) (*instance, error) {
	privateKey := []byte(cfg.GitHub.PrivateKey)
	if cfg.GitHub.PrivateKeyFile != "" {
		var err error
		if privateKey, err = os.ReadFile(cfg.GitHub.PrivateKeyFile); err != nil {
			return nil, fmt.Errorf("github.private_key_file: %w", err)
		}
	}
	var envs [][2]string
	for _, app := range cfg.AppNames() {
		for _, env := range cfg.Apps[app].EnvNames() {
			envs = append(envs, [2]string{app, env})
		}
	}
	m := metrics.New(store, envs)
	m.CountStoreQueries(store)
	gh, err := ghclient.New(ghclient.Config{
		APIURL: cfg.GitHub.APIURL, AppID: cfg.GitHub.AppID, PrivateKey: privateKey, Token: cfg.GitHub.Token,
		HTTPClient: &http.Client{Transport: m.Transport("github", nil), Timeout: 30 * time.Second},
		RetryBase:  opt.githubRetryBase,
	})
	if err != nil {
		return nil, fmt.Errorf("github client: %w", err)
	}
	var chat bot.Chat
	if cfg.Slack.BotToken != "" {
		chat = slackclient.New(cfg.Slack.BotToken, cfg.Slack.APIURL, &http.Client{Transport: m.Transport("slack", nil), Timeout: 30 * time.Second}, opt.slack...)
	}

	// Endpoints come from the SDK's own AWS_ENDPOINT_URL* variables, so
	// LocalStack-style setups need nothing from deploybot.
	awsOpts := append([]func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(cfg.AWS.Region), awsconfig.WithAPIOptions(m.AWSAPIOptions())}, opt.awsOptions...)
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsOpts...)
	if err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	awsConfigs := awsenv.NewRoles(awsCfg)
	var (
		ecsOpts []ecs.Option
		ebOpts  []elasticbeanstalk.Option
		ciPoll  bot.Backoff
		timing  = cfg.Timing
	)
	if first := time.Duration(timing.RolloutPoll); first > 0 {
		ecsOpts = append(ecsOpts, ecs.WithPollInterval(first, 6*first))
		ebOpts = append(ebOpts, elasticbeanstalk.WithPollInterval(first, 6*first))
	}
	if first := time.Duration(timing.CIPoll); first > 0 {
		ciPoll = bot.Backoff{Initial: first, Max: 6 * first}
	}
	owner := dispatch.NewOwner(os.Getenv("DEPLOYBOT_REPLICA_ID"))
	service := &bot.Service{
		Config:       cfg,
		Store:        store.Ports(),
		GitHub:       gh,
		PullRequests: gh,
		Chat:         chat,
		Images: imagesByRegistry{
			ecr: ecr.New(awsConfigs),
			oci: registry.New(cfg.Registries, registry.WithTransport(m.Transport("registry", nil))),
		},
		Deployers: map[string]bot.Deployer{
			bot.TargetECS:              ecs.New(awsConfigs, ecsOpts...),
			bot.TargetElasticBeanstalk: elasticbeanstalk.New(awsConfigs, append(ebOpts, elasticbeanstalk.WithRepoFiles(gh))...),
		},
		Logger: logger,
		CIPoll: ciPoll,
		Now:    opt.now,

		FinalStatusPatience: opt.finalStatusPatience,

		Observer: m,

		Owner: owner,
		Lease: time.Duration(timing.Lease),

		Finished:        opt.finished,
		Progress:        opt.progress,
		FailOnInterrupt: opt.failOnInterrupt,
	}
	dispatcher := &dispatch.Dispatcher{
		Store: store, Runner: service, Owner: owner, Logger: logger, Now: opt.now,
		Lease: time.Duration(timing.Lease), QueuePoll: time.Duration(timing.QueuePoll),
	}
	service.Scheduler = dispatcher
	// The Slack client also names people on the dashboard (users.info).
	names, _ := chat.(handlers.SlackNames)
	h := &handlers.Server{
		Config: cfg, Deployments: service, Store: store, Logger: logger,
		Ready: store.Ping, Now: opt.now, Metrics: m.Handler(), CommentTimeout: opt.commentTimeout,
		Names: names,
	}
	handler := m.Middleware(h.Handler())
	if opt.routes != nil {
		handler = opt.routes(handler)
	}
	return &instance{
		cfg:        cfg,
		store:      store,
		service:    service,
		dispatcher: dispatcher,
		server: &http.Server{
			Handler:           handler,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       2 * time.Minute,
		},
	}, nil
}

// Close stops taking requests, stops the running pipelines where they
// stand (their leases freed, so a restart or another replica resumes them
// at once) and closes the store.
func (in *instance) Close(ctx context.Context) error {
	errHTTP := in.server.Shutdown(ctx)
	var errRun error
	if in.stopDispatch != nil {
		in.stopDispatch()
		select {
		case <-in.dispatched:
			errRun = in.service.Shutdown(ctx)
		case <-ctx.Done():
			errRun = ctx.Err()
		}
		// The retention loop stops with the dispatcher; it must be out
		// of the store before the store closes.
		select {
		case <-in.pruned:
		case <-ctx.Done():
			errRun = ctx.Err()
		}
	}
	errStore := in.store.Close()
	return errors.Join(errHTTP, errRun, errStore)
}

func describeApps(cfg *bot.Config) string {
	var parts []string
	for _, name := range cfg.AppNames() {
		app := cfg.Apps[name]
		envs := app.EnvNames()
		for i, e := range envs {
			envs[i] = e + " (" + app.Environments[e].TargetKind() + ")"
		}
		sort.Strings(envs)
		parts = append(parts, fmt.Sprintf("%s → %s", name, strings.Join(envs, ", ")))
	}
	return strings.Join(parts, "; ")
}

// dashboardAccess says what a stranger gets from the dashboard, its API
// and /metrics when that is not what an operator might assume; empty when
// they sit behind credentials.
func dashboardAccess(c bot.DashboardConfig) string {
	switch {
	case c.Public:
		return "dashboard, /api and /metrics are public (dashboard.public): anyone who reaches this address sees who deploys what, where"
	case !c.HasCredentials():
		return "dashboard, /api and /metrics answer 401 to everyone: set dashboard.token or dashboard.username and password to use them, or dashboard.public: true on a trusted network"
	}
	return ""
}

// isLoopback reports whether addr (host:port) listens only on this
// machine.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
