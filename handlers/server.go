// Package handlers is deploybot's HTTP face: GitHub webhooks, Slack
// commands, health. Each handler checks who is calling, turns the request
// into a bot.Request, and leaves the work to the bot.
package handlers

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/deploybot/deploybot/bot"
)

// Deployments is what the handlers need of the bot's service.
type Deployments interface {
	Accept(ctx context.Context, req bot.Request) (*bot.Deployment, error)
	Start(d *bot.Deployment)
	// Reject closes a GitHub deployment deploybot will not run, so it does
	// not stay pending forever.
	Reject(ctx context.Context, repo bot.Repo, githubID int64, err error)

	Rollback(ctx context.Context, req bot.Request) (*bot.Deployment, error)
	Cancel(ctx context.Context, id int64, requester string) (bot.Message, error)
	Lock(ctx context.Context, app, env, requester, reason string, d time.Duration) (bot.Message, error)
	Unlock(ctx context.Context, app, env, requester string) (bot.Message, error)
	Status(ctx context.Context, app, env string) (bot.Message, error)
	History(ctx context.Context, app, env string) (bot.Message, error)
	Apps() bot.Message
	HandleComment(ctx context.Context, c bot.Comment) (*bot.Deployment, error)
	RollbackFrom(ctx context.Context, id int64, req bot.Request) (*bot.Deployment, error)
	Respond(ctx context.Context, responseURL string, msg bot.Message)
	// NotifyCI wakes the deployments waiting for CI on sha.
	NotifyCI(sha string)
}

// Server holds what every handler shares.
type Server struct {
	Config      *bot.Config
	Deployments Deployments
	Store       bot.Store
	Logger      *slog.Logger
	// Ready reports whether the store answers; nil means always ready.
	Ready func(ctx context.Context) error
	// Now is the clock used for Slack's replay window; nil means time.Now.
	Now func() time.Time
	// Metrics serves GET /metrics, behind the dashboard's protection; nil
	// leaves the route out.
	Metrics http.Handler
	// CommentTimeout bounds the handling of a PR comment inside its
	// webhook; zero means DefaultCommentTimeout.
	CommentTimeout time.Duration
}

// DefaultCommentTimeout leaves room in the 10 s GitHub gives a webhook
// before it counts the delivery failed.
const DefaultCommentTimeout = 8 * time.Second

// Handler returns the routes of DESIGN.md's contract built so far.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /webhooks/github", s.githubWebhook)
	mux.HandleFunc("POST /slack/commands", s.slackCommand)
	mux.HandleFunc("POST /slack/interactions", s.slackInteraction)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.readyz)

	// The dashboard shows who deploys what and where; it sits behind
	// config's dashboard credentials when there are any.
	mux.Handle("GET /{$}", s.protected(http.HandlerFunc(s.dashboard)))
	mux.Handle("GET /deployments/{id}", s.protected(http.HandlerFunc(s.deploymentPage)))
	mux.Handle("GET /api/deployments", s.protected(http.HandlerFunc(s.apiDeployments)))
	mux.Handle("GET /api/deployments/{id}", s.protected(http.HandlerFunc(s.apiDeployment)))
	if s.Metrics != nil {
		mux.Handle("GET /metrics", s.protected(s.Metrics))
	}
	return mux
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.Ready(ctx); err != nil {
			s.logger().Warn("not ready", "err", err)
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "store unreachable"})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
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
