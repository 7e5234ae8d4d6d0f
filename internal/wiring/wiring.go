// Package wiring builds a running deploybot from a config: it opens the
// store, wires the concrete adapters (GitHub, Slack, AWS, registries,
// handlers, metrics) to bot.Service and its dispatcher, and serves HTTP.
//
// It is the one place that knows every adapter, so that `deploybot serve`,
// the CLI, the sandbox and the emulator world (emulator/world) start the
// same bot. Options are the knobs the sandbox and the tests turn; their
// zero values are production's.
package wiring

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
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

// Options are the knobs the sandbox and the end-to-end tests turn; serve
// leaves them at their zero values, which mean production defaults.
type Options struct {
	// Listen is the address Start serves on; "" is the config's listen.
	Listen     string
	Logger     *slog.Logger // nil discards
	AWSOptions []func(*awsconfig.LoadOptions) error
	Now        func() time.Time
	Finished   func(*bot.Deployment)
	Progress   func(*bot.Deployment, string)

	FailOnInterrupt bool

	// Tests shorten the waits of the resilience policies.
	Slack               []slackclient.Option
	CommentTimeout      time.Duration
	GitHubRetryBase     time.Duration
	FinalStatusPatience time.Duration
	// Routes lets the sandbox serve its console beside the bot's own
	// routes; serve never sets it.
	Routes func(next http.Handler) http.Handler
}

// Instance is one running deploybot: store, pipeline and HTTP server.
type Instance struct {
	Config  *bot.Config
	Store   Store
	Service *bot.Service
	// Dispatcher runs Service's deployments (its Scheduler).
	Dispatcher *dispatch.Dispatcher
	URL        string // http://host:port of the listening server; "" from Wire
	// Done receives the HTTP server's error if it stops on its own, and
	// is closed when it stops.
	Done <-chan error

	server       *http.Server
	stopDispatch context.CancelFunc
	dispatched   chan struct{}
	pruned       chan struct{} // closed when the retention loop stopped
}

// Store is what the wiring needs of either store.
type Store interface {
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

// intakeWarmer is a store whose acks have connections of their own,
// opened ahead of the first burst when it serves (PostgreSQL).
type intakeWarmer interface {
	WarmIntake(ctx context.Context) error
}

// OpenStore opens the store a config's `store:` names: "sqlite:path" or
// a PostgreSQL DSN.
func OpenStore(ctx context.Context, dsn string) (Store, error) {
	if path, ok := strings.CutPrefix(dsn, "sqlite:"); ok {
		return sqlite.Open(ctx, path)
	}
	return postgres.Open(ctx, dsn)
}

// Start opens the store, wires the bot and serves it on opt.Listen (or
// cfg.Listen): the HTTP server, the dispatcher and the retention loop run
// until Close.
func Start(ctx context.Context, cfg *bot.Config, opt Options) (*Instance, error) {
	listen := opt.Listen
	if listen == "" {
		listen = cfg.Listen
	}
	store, err := OpenStore(ctx, cfg.Store)
	if err != nil {
		return nil, err
	}
	if w, ok := store.(intakeWarmer); ok {
		if err := w.WarmIntake(ctx); err != nil {
			store.Close()
			return nil, err
		}
	}
	in, err := Wire(ctx, cfg, store, opt)
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
	logger := logger(opt)
	dispatchCtx, stopDispatch := context.WithCancel(context.WithoutCancel(ctx))
	in.stopDispatch, in.dispatched = stopDispatch, make(chan struct{})
	go func() {
		defer close(in.dispatched)
		_ = in.Dispatcher.Serve(dispatchCtx)
	}()
	clock := opt.Now
	if clock == nil {
		clock = time.Now
	}
	in.pruned = make(chan struct{})
	go func() {
		defer close(in.pruned)
		pruneIntake(dispatchCtx, store, clock, intakePruneEvery, logger)
	}()
	done := make(chan error, 1)
	in.Done = done
	go func() {
		if err := in.server.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			done <- err
		}
		close(done)
	}()
	return in, nil
}

func logger(opt Options) *slog.Logger {
	if opt.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return opt.Logger
}

// Wire builds the bot on an open store without serving or dispatching:
// the CLI runs one deployment through its Dispatcher and closes the store
// itself.
func Wire(ctx context.Context, cfg *bot.Config, store Store, opt Options) (*Instance, error) {
	logger := logger(opt)
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
		RetryBase:  opt.GitHubRetryBase,
	})
	if err != nil {
		return nil, fmt.Errorf("github client: %w", err)
	}
	var chat bot.Chat
	if cfg.Slack.BotToken != "" {
		chat = slackclient.New(cfg.Slack.BotToken, cfg.Slack.APIURL, &http.Client{Transport: m.Transport("slack", nil), Timeout: 30 * time.Second}, opt.Slack...)
	}

	// Endpoints come from the SDK's own AWS_ENDPOINT_URL* variables, so
	// LocalStack-style setups need nothing from deploybot.
	awsOpts := append([]func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(cfg.AWS.Region), awsconfig.WithAPIOptions(m.AWSAPIOptions())}, opt.AWSOptions...)
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
		Now:    opt.Now,

		FinalStatusPatience: opt.FinalStatusPatience,

		Observer: m,

		Owner: owner,
		Lease: time.Duration(timing.Lease),

		Finished:        opt.Finished,
		Progress:        opt.Progress,
		FailOnInterrupt: opt.FailOnInterrupt,
	}
	dispatcher := &dispatch.Dispatcher{
		Store: store, Runner: service, Owner: owner, Logger: logger, Now: opt.Now,
		Lease: time.Duration(timing.Lease), QueuePoll: time.Duration(timing.QueuePoll),
	}
	service.Scheduler = dispatcher
	// The Slack client also names people on the dashboard (users.info).
	names, _ := chat.(handlers.SlackNames)
	h := &handlers.Server{
		Config: cfg, Deployments: service, Store: store, Logger: logger,
		Ready: store.Ping, Now: opt.Now, Metrics: m.Handler(), CommentTimeout: opt.CommentTimeout,
		Names: names,
	}
	handler := m.Middleware(h.Handler())
	if opt.Routes != nil {
		handler = opt.Routes(handler)
	}
	return &Instance{
		Config:     cfg,
		Store:      store,
		Service:    service,
		Dispatcher: dispatcher,
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
func (in *Instance) Close(ctx context.Context) error {
	errHTTP := in.server.Shutdown(ctx)
	var errRun error
	if in.stopDispatch != nil {
		in.stopDispatch()
		select {
		case <-in.dispatched:
			errRun = in.Service.Shutdown(ctx)
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
	errStore := in.Store.Close()
	return errors.Join(errHTTP, errRun, errStore)
}
