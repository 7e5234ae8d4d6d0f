// Package handlers is deploybot's HTTP face: GitHub webhooks, Slack
// commands, health. Each handler checks who is calling, turns the request
// into a bot.Request, and leaves the work to the bot.
package handlers

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/deploybot/deploybot/bot"
)

// The handlers depend on the bot through the small interfaces below, each
// the part of it one kind of request needs.

// Triggers turn requests into deployments and hand them over.
type Triggers interface {
	Accept(ctx context.Context, req bot.Request) (*bot.Deployment, error)
	HandleComment(ctx context.Context, c bot.Comment) (*bot.Deployment, error)
	// AutoDeploy stores a deployment of a push for every environment
	// that deploys its branch (not started yet).
	AutoDeploy(ctx context.Context, p bot.Push) ([]*bot.Deployment, error)
	// Kick: a deployment was accepted and may be claimed now; called
	// after the request is answered, so the answer never waits for it.
	Kick()
	// Reject closes a GitHub deployment deploybot will not run, so it does
	// not stay pending forever.
	Reject(ctx context.Context, repo bot.Repo, githubID int64, err error)
	// NotifyCI wakes the deployments waiting for CI on sha.
	NotifyCI(sha string)
}

// Operations are the Slack subcommands that change something, besides
// deploy, and the Roll back button.
type Operations interface {
	Rollback(ctx context.Context, req bot.Request) (*bot.Deployment, error)
	RollbackFrom(ctx context.Context, id int64, req bot.Request) (*bot.Deployment, error)
	Cancel(ctx context.Context, id int64, requester string) (bot.Message, error)
	Lock(ctx context.Context, app, env, requester, reason string, d time.Duration) (bot.Message, error)
	Unlock(ctx context.Context, app, env, requester string) (bot.Message, error)
	Respond(ctx context.Context, responseURL string, msg bot.Message)
}

// Reports are the Slack subcommands that only read.
type Reports interface {
	Status(ctx context.Context, app, env string) (bot.Message, error)
	History(ctx context.Context, app, env string) (bot.Message, error)
	Stats(ctx context.Context, app, env string) (bot.Message, error)
	Apps() bot.Message
}

// Deliveries keeps what was acted on already, so that a redelivered
// webhook or a replayed Slack request does nothing twice, and what GitHub
// said that a later request is compared with.
type Deliveries interface {
	FirstDelivery(ctx context.Context, d bot.Delivery) (bool, error)
	ForgetDelivery(ctx context.Context, d bot.Delivery) error
	// GitHubDeploymentOf returns the deployment of a GitHub deployment id;
	// ENOTFOUND if none.
	GitHubDeploymentOf(ctx context.Context, githubID int64) (*bot.Deployment, error)
	// CreatedByUs reports whether a GitHub deployment whose payload claims
	// deploybot_id id is really the one deploybot created.
	CreatedByUs(ctx context.Context, id int64, repo bot.Repo, githubID int64, sha, env string) (bool, error)
	// HeadChanged records that a pull request's head moved.
	HeadChanged(ctx context.Context, c bot.HeadChange) error
}

// Deployments is the bot as cmd wires it into a Server: every part above.
type Deployments interface {
	Triggers
	Operations
	Approvals
	Reports
	Deliveries
	Releases
}

// Records are the stored deployments the dashboard reads.
type Records interface {
	Deployment(ctx context.Context, id int64) (*bot.Deployment, error)
	ListDeployments(ctx context.Context, f bot.DeploymentFilter) ([]*bot.Deployment, error)
	Events(ctx context.Context, deploymentID int64) ([]bot.Event, error)
	EnvLock(ctx context.Context, app, env string, now time.Time) (*bot.EnvLock, error)
}

// Server holds what every handler shares.
type Server struct {
	Config      *bot.Config
	Deployments Deployments
	Store       Records
	Logger      *slog.Logger
	// Ready reports whether the store answers; nil means always ready.
	Ready func(ctx context.Context) error
	// Now is the clock used for Slack's replay window; nil means time.Now.
	Now func() time.Time
	// Metrics serves GET /metrics, behind the dashboard's protection; nil
	// leaves the route out.
	Metrics http.Handler
	// Names gives the dashboard people's Slack names; nil shows user ids.
	Names SlackNames
	// CommentTimeout bounds the handling of a PR comment inside its
	// webhook; zero means DefaultCommentTimeout.
	CommentTimeout time.Duration
	// BodyBudget bounds the bytes of request bodies held at once; zero
	// means DefaultBodyBudget.
	BodyBudget int64
	// InFlight bounds the requests each intake route handles at once;
	// zero means DefaultInFlight.
	InFlight int

	initOnce sync.Once
	budget   *bodyBudget
	ready    readiness
}

// DefaultInFlight is how many requests an intake route (GitHub webhooks,
// Slack commands, Slack interactions) handles at once; the next gets 503
// at once instead of waiting in memory behind the others. Neither Slack
// nor GitHub retries a 503 by itself — the Slack user sees the command
// fail and runs it again, a GitHub delivery can be redelivered — but an
// answer in time is what makes that possible: a request queued past
// Slack's 3 s is lost the same way, and takes memory meanwhile. At the
// measured capacity (docs/benchmarks.md) a handful are in flight; 64 of
// them finish well inside a second even when each waits for the store in
// turn.
const DefaultInFlight = 64

// dashboardInFlight bounds the dashboard's pages and API, which read the
// store for whoever asks; they must never take what the intake needs.
const dashboardInFlight = 8

func (s *Server) init() {
	s.initOnce.Do(func() {
		budget := s.BodyBudget
		if budget <= 0 {
			budget = DefaultBodyBudget
		}
		s.budget = &bodyBudget{max: budget}
	})
}

func (s *Server) bodyBudget() *bodyBudget {
	s.init()
	return s.budget
}

// DefaultCommentTimeout leaves room in the 10 s GitHub gives a webhook
// before it counts the delivery failed.
const DefaultCommentTimeout = 8 * time.Second

// Handler returns the routes of DESIGN.md's contract built so far.
func (s *Server) Handler() http.Handler {
	s.init()
	inFlight := s.InFlight
	if inFlight <= 0 {
		inFlight = DefaultInFlight
	}
	mux := http.NewServeMux()
	// Each route sheds on its own, so a flood of one kind of request
	// never takes the slots of another.
	mux.Handle("POST /webhooks/github", shed(inFlight, intake(s.githubWebhook)))
	mux.Handle("POST /slack/commands", shed(inFlight, intake(s.slackCommand)))
	mux.Handle("POST /slack/interactions", shed(inFlight, intake(s.slackInteraction)))
	// Health answers from memory and is never shed: an orchestrator that
	// sees a busy bot as a dead one would restart it, and its in-flight
	// deployments, at the worst time.
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.readyz)

	// The dashboard shows who deploys what and where; it sits behind
	// config's dashboard credentials, or is public only when config says
	// so.
	dash := func(h http.Handler) http.Handler { return shed(dashboardInFlight, s.protected(h)) }
	mux.Handle("GET /{$}", dash(http.HandlerFunc(s.dashboard)))
	mux.Handle("GET /deployments/{id}", dash(http.HandlerFunc(s.deploymentPage)))
	mux.Handle("GET /api/deployments", dash(http.HandlerFunc(s.apiDeployments)))
	mux.Handle("GET /api/deployments/{id}", dash(http.HandlerFunc(s.apiDeployment)))
	mux.Handle("GET /apps/{app}/envs/{env}", dash(http.HandlerFunc(s.envPage)))
	// Signing in needs no credentials: it is how a person gets some. The
	// buttons check the session and its CSRF token themselves.
	mux.Handle("GET /login", shed(dashboardInFlight, http.HandlerFunc(s.login)))
	mux.Handle("GET /login/callback", shed(dashboardInFlight, http.HandlerFunc(s.loginCallback)))
	mux.Handle("POST /logout", shed(dashboardInFlight, http.HandlerFunc(s.logout)))
	mux.Handle("POST /apps/{app}/envs/{env}/deploy", dash(http.HandlerFunc(s.deployAction)))
	mux.Handle("POST /apps/{app}/envs/{env}/preview", dash(http.HandlerFunc(s.previewAction)))
	mux.Handle("POST /apps/{app}/envs/{env}/rollback", dash(http.HandlerFunc(s.rollbackAction)))
	mux.Handle("POST /apps/{app}/envs/{env}/lock", dash(http.HandlerFunc(s.lockAction)))
	mux.Handle("POST /apps/{app}/envs/{env}/unlock", dash(http.HandlerFunc(s.unlockAction)))
	mux.Handle("POST /deployments/{id}/rollback", dash(http.HandlerFunc(s.rollbackFromAction)))
	mux.Handle("POST /deployments/{id}/approve", dash(s.decideAction(bot.CommandApprove)))
	mux.Handle("POST /deployments/{id}/reject", dash(s.decideAction(bot.CommandReject)))
	if s.Metrics != nil {
		mux.Handle("GET /metrics", dash(s.Metrics))
	}
	return mux
}

// intake marks the request's work as the intake's: the store serves it
// ahead of the pipelines (bot.WithIntake).
func intake(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h(w, r.WithContext(bot.WithIntake(r.Context())))
	})
}

// shed lets at most limit requests into h at once and answers the others
// 503 at once: a queue of requests in memory only makes every one of
// them late (Slack gives up after 3 s) and the process large.
func shed(limit int, h http.Handler) http.Handler {
	slots := make(chan struct{}, limit)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
			h.ServeHTTP(w, r)
		default:
			w.Header().Set("Retry-After", "1")
			if r.ContentLength < 0 || r.ContentLength > maxSlackBody {
				// The server would read what is left of an unread body
				// before the next request on this connection; a short
				// announced one is cheap to skip, any other is not.
				w.Header().Set("Connection", "close")
			}
			http.Error(w, "deploybot is busy; retry shortly", http.StatusServiceUnavailable)
		}
	})
}

// readiness remembers the store's last answer for a second, and asks it
// once at a time: probes during a flood must not queue for the store
// behind the flood, nor add to it.
type readiness struct {
	mu       sync.Mutex
	at       time.Time
	err      error
	checking bool
}

const readinessFresh = time.Second

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if err := s.readyErr(r.Context()); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "store unreachable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (s *Server) readyErr(ctx context.Context) error {
	if s.Ready == nil {
		return nil
	}
	rd := &s.ready
	rd.mu.Lock()
	if !rd.at.IsZero() && (rd.checking || time.Since(rd.at) < readinessFresh) {
		err := rd.err
		rd.mu.Unlock()
		return err
	}
	rd.checking = true
	rd.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	err := s.Ready(ctx)
	if err != nil {
		s.logger().Warn("not ready", "err", err)
	}
	rd.mu.Lock()
	rd.at, rd.err, rd.checking = time.Now(), err, false
	rd.mu.Unlock()
	return err
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}

func (s *Server) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
