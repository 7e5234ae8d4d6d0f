package main

import (
	"context"
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
	"github.com/deploybot/deploybot/dispatch"
	"github.com/deploybot/deploybot/internal/wiring"
	"github.com/deploybot/deploybot/slackclient"
)

// options are the knobs the sandbox and the end-to-end tests turn; serve
// leaves them at their zero values, which mean production defaults. All
// but sandboxConfig are wiring.Options under the names the tests use.
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

func (o options) wiring(listen string) wiring.Options {
	return wiring.Options{
		Listen: listen, Logger: o.logger, AWSOptions: o.awsOptions, Now: o.now,
		Finished: o.finished, Progress: o.progress, FailOnInterrupt: o.failOnInterrupt,
		Slack: o.slack, CommentTimeout: o.commentTimeout, GitHubRetryBase: o.githubRetryBase,
		FinalStatusPatience: o.finalStatusPatience, Routes: o.routes,
	}
}

// instance is one running deploybot (wiring.Instance) under the short
// names the end-to-end tests read it by.
type instance struct {
	*wiring.Instance
	store   storeDB
	service *bot.Service
	// dispatcher runs service's deployments (its Scheduler).
	dispatcher *dispatch.Dispatcher
}

func newInstance(in *wiring.Instance) *instance {
	return &instance{Instance: in, store: in.Store, service: in.Service, dispatcher: in.Dispatcher}
}

// storeDB is what cmd needs of either store.
type storeDB = wiring.Store

func openStore(ctx context.Context, dsn string) (storeDB, error) { return wiring.OpenStore(ctx, dsn) }

func serve(ctx context.Context, cfg *bot.Config, stderr io.Writer) error {
	logger := newLogger(stderr)
	in, err := wiring.Start(ctx, cfg, wiring.Options{Logger: logger})
	if err != nil {
		return err
	}
	logger.Info("deploybot listening", "addr", in.URL, "store", bot.RedactDSN(cfg.Store), "apps", len(cfg.Apps))
	if msg := dashboardAccess(cfg.Dashboard); msg != "" {
		logger.Warn(msg)
	}
	select {
	case <-ctx.Done():
	case err := <-in.Done:
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

// wire builds the bot on store for the CLI, which runs one deployment
// through its dispatcher and closes the store itself.
func wire(ctx context.Context, cfg *bot.Config, store storeDB, logger *slog.Logger, opt options) (*instance, error) {
	opt.logger = logger
	in, err := wiring.Wire(ctx, cfg, store, opt.wiring(""))
	if err != nil {
		return nil, err
	}
	return newInstance(in), nil
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
