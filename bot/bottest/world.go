package bottest

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
)

// World is a bot.Service wired to fakes of everything it talks to.
type World struct {
	Clock    *Clock
	Store    *Store
	GitHub   *GitHub
	Chat     *Chat
	PRs      *PullRequests
	Images   *Images
	ECS      *Deployer
	EB       *Deployer
	Observer *Observer
	Reporter *Reporter
	Service  *bot.Service
}

// NewWorld validates cfg (failing t if it is invalid) and returns a
// Service on it whose ports are fresh fakes and whose clock is a Clock.
// CI is polled hourly, so a wait for CI that goes on is one woken by
// NotifyCI: a test that leans on a wake fails (hangs) when the wake is lost.
func NewWorld(t testing.TB, cfg *bot.Config) *World {
	t.Helper()
	if errs := cfg.Validate(); len(errs) > 0 {
		t.Fatalf("test config: %v", errs)
	}
	w := &World{
		Clock: NewClock(), GitHub: NewGitHub(), Chat: NewChat(), PRs: NewPullRequests(),
		Images: NewImages(), ECS: NewDeployer(), EB: NewDeployer(), Observer: &Observer{}, Reporter: &Reporter{},
	}
	w.Store = NewStore(w.Clock.Now)
	w.Service = &bot.Service{
		Config: cfg, Store: w.Store.Ports(), GitHub: w.GitHub, Chat: w.Chat, PullRequests: w.PRs, Teams: w.PRs, Images: w.Images,
		Deployers: map[string]bot.Deployer{bot.TargetECS: w.ECS, bot.TargetElasticBeanstalk: w.EB},
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		CIPoll:    bot.Backoff{Initial: time.Hour, Max: time.Hour},
		Now:       w.Clock.Now,
		Observer:  w.Observer,
		Reporters: []bot.Reporter{w.Reporter},
		Owner:     "test-replica",
	}
	return w
}
