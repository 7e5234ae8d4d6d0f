package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/store/sqlite"
)

// intakeSpy notes, for each deployment stored, whether the store was
// asked for it on the intake's path (bot.WithIntake).
type intakeSpy struct {
	*sqlite.DB
	mu     sync.Mutex
	intake []bool
}

func (s *intakeSpy) CreateDeployment(ctx context.Context, d *bot.Deployment) error {
	s.mu.Lock()
	s.intake = append(s.intake, bot.IsIntake(ctx))
	s.mu.Unlock()
	return s.DB.CreateDeployment(ctx, d)
}

// A Slack command's deployment is stored on the intake's path, which the
// store serves ahead of the pipelines; other work is not.
func TestSlackCommandStoresOnTheIntakePath(t *testing.T) {
	now := time.Now()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	spy := &intakeSpy{DB: db}
	cfg := &bot.Config{
		Slack: bot.SlackConfig{SigningSecret: slackSecret},
		Apps: map[string]*bot.App{"web": {Name: "web", Repo: "octo-org/octo-repo", Environments: map[string]*bot.Environment{
			"dev": {Name: "dev", App: "web"},
		}}},
	}
	svc := &bot.Service{Config: cfg, Store: bot.Store{Deployments: spy, Deliveries: spy, Locks: spy, Timeline: spy, Queue: spy, Approvals: spy}, Now: func() time.Time { return now }, Logger: slog.New(slog.DiscardHandler)}
	s := &Server{Config: cfg, Deployments: &recorder{Service: svc}, Store: spy, Now: func() time.Time { return now }}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)

	body := url.Values{"user_id": {"U1"}, "channel_id": {"C1"}, "text": {"web main dev"}}.Encode()
	if resp, out := postSlack(t, srv, now.Unix(), slackSign(slackSecret, now.Unix(), body), body); resp.StatusCode != http.StatusOK {
		t.Fatalf("slash command: %d %v", resp.StatusCode, out)
	}
	if _, err := svc.Accept(context.Background(), bot.Request{App: "web", Env: "dev", Ref: "main", Requester: "cli:me", Source: bot.SourceCLI}); err != nil {
		t.Fatal(err)
	}
	spy.mu.Lock()
	defer spy.mu.Unlock()
	if len(spy.intake) != 2 || !spy.intake[0] || spy.intake[1] {
		t.Errorf("stored on the intake's path: %v, want [true false] (the command's, then the CLI's)", spy.intake)
	}
}
