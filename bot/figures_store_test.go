package bot_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/store/sqlite"
)

// Stats reads the figures from a real store, so the commit time must
// survive the round trip for the lead time to be known.
func TestStatsFromTheStore(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cfg := &bot.Config{Apps: map[string]*bot.App{"web": {Name: "web", Repo: "acme/shop", Environments: map[string]*bot.Environment{
		"dev":  {Name: "dev", App: "web"},
		"prod": {Name: "prod", App: "web"},
	}}}}
	s := &bot.Service{Config: cfg, Store: db.Ports(), Logger: slog.New(slog.DiscardHandler)}
	end := func(env string, st bot.State, committed time.Time) {
		t.Helper()
		d := &bot.Deployment{App: "web", Env: env, Repo: "acme/shop", Ref: "main", Requester: "slack:U1", Source: bot.SourceSlack, State: bot.StateReceived}
		if err := db.CreateDeployment(ctx, d); err != nil {
			t.Fatal(err)
		}
		d.State, d.RolloutRef, d.CommittedAt = st, "td:1", committed
		if err := db.UpdateDeployment(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	end("prod", bot.StateSucceeded, time.Now().Add(-2*time.Hour))
	end("prod", bot.StateFailed, time.Time{})
	end("dev", bot.StateSucceeded, time.Time{})

	msg, err := s.Stats(ctx, "web", "prod")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Delivery figures of `web`", "`prod`", "7d: 1 deploy (", "30d: 1 deploy (", "lead time 2.0h (median of 1)", "change failure 1/2 (50%)", "not restored yet"} {
		if !strings.Contains(msg.Text, want) {
			t.Errorf("Stats(web, prod) =\n%s\nwant it to say %q", msg.Text, want)
		}
	}
	if strings.Contains(msg.Text, "`dev`") {
		t.Errorf("Stats(web, prod) =\n%s\nwant nothing of dev", msg.Text)
	}
	all, err := s.Stats(ctx, "web", "")
	if err != nil || !strings.Contains(all.Text, "`dev`\n• 7d: 1 deploy (0.1/day), lead time unknown, change failure 0/1 (0%)") {
		t.Errorf("Stats(web) = %q, %v; want dev's figures too", all.Text, err)
	}
	if _, err := s.Stats(ctx, "web", "qa"); bot.ErrorCode(err) != bot.ENOTFOUND {
		t.Errorf("Stats of an unknown env: %v; want %s", err, bot.ENOTFOUND)
	}
}
