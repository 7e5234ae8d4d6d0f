package bot_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/emulator/githubemu"
	"github.com/deploybot/deploybot/ghclient"
	"github.com/deploybot/deploybot/store/sqlite"
)

// updates records what a Reporter hears.
type updates struct {
	mu  sync.Mutex
	got []bot.Update
}

func (u *updates) Report(ctx context.Context, up bot.Update) {
	u.mu.Lock()
	defer u.mu.Unlock()
	d := *up.Deployment
	up.Deployment = &d
	u.got = append(u.got, up)
}

// A cancel is one update, after the store says cancelled: each reporter
// renders the same words for its medium, the requester quoted in each.
func TestCancelIsReportedOnceToEveryReporter(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cfg := &bot.Config{Apps: map[string]*bot.App{"web": {Name: "web", Repo: "acme/shop", Environments: map[string]*bot.Environment{
		"dev": {Name: "dev", App: "web"},
	}}}}
	rec := &updates{}
	s := &bot.Service{Config: cfg, Store: db.Ports(), Logger: slog.New(slog.DiscardHandler), Reporters: []bot.Reporter{rec}}
	d, err := s.Accept(ctx, bot.Request{App: "web", Env: "dev", Ref: "main", Requester: "slack:U1", Source: bot.SourceSlack})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Cancel(ctx, d.ID, "slack:U<!channel>"); err != nil {
		t.Fatal(err)
	}
	if len(rec.got) != 1 {
		t.Fatalf("reporters heard %d updates, want 1: %+v", len(rec.got), rec.got)
	}
	u := rec.got[0]
	if u.Deployment.ID != d.ID || u.Deployment.State != bot.StateCancelled {
		t.Errorf("update of deployment #%d in %s; want #%d cancelled", u.Deployment.ID, u.Deployment.State, d.ID)
	}
	if u.GitHub != "error" || u.GitHubDescription.Plain() != "Cancelled by slack:U<!channel>" {
		t.Errorf("GitHub status %q %q; want error, Cancelled by slack:U<!channel>", u.GitHub, u.GitHubDescription.Plain())
	}
	if got, want := u.Status.Slack(), "Cancelled by <@U&lt;!channel&gt;>"; got != want {
		t.Errorf("Slack status %q, want %q", got, want)
	}
	if u.Line.Plain() != "" {
		t.Errorf("timeline line %q; a cancel adds none", u.Line.Plain())
	}
}

// A github-team allow entry is answered through PullRequests when no
// Teams is wired, as serve wires ghclient's client: a member is let in,
// anyone else refused.
func TestTeamsFallBackToPullRequests(t *testing.T) {
	ctx := context.Background()
	emu := githubemu.New(1, nil)
	emu.AddRepo("acme/shop", 7)
	emu.AddToken("tok", "octocat")
	emu.AddTeamMember("acme", "deployers", "ada")
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	gh, err := ghclient.New(ghclient.Config{APIURL: srv.URL + githubemu.Prefix + "/", Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cfg := &bot.Config{Apps: map[string]*bot.App{"web": {Name: "web", Repo: "acme/shop", Environments: map[string]*bot.Environment{
		"prod": {Name: "prod", App: "web", Allow: []string{"github-team:acme/deployers"}},
	}}}}
	s := &bot.Service{Config: cfg, Store: db.Ports(), PullRequests: gh, Logger: slog.New(slog.DiscardHandler)}
	if _, err := s.Accept(ctx, bot.Request{App: "web", Env: "prod", Ref: "main", Requester: "github:ada", Source: bot.SourceGitHubAPI}); err != nil {
		t.Errorf("team member refused: %v", err)
	}
	if _, err := s.Accept(ctx, bot.Request{App: "web", Env: "prod", Ref: "main", Requester: "github:bob", Source: bot.SourceGitHubAPI}); bot.ErrorCode(err) != bot.EFORBIDDEN {
		t.Errorf("non-member: %v; want %s", err, bot.EFORBIDDEN)
	}
}
