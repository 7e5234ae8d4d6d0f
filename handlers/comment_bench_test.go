package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/store/sqlite"
	"github.com/google/go-github/v60/github"
)

// BenchmarkIgnoredComment is the intake of a plain PR comment (15.8 kB
// signed, as GitHub sends it: compact JSON, a discussion comment of a few
// kB) against what bounds it from below and what it replaced:
//
//   - hmac: the X-Hub-Signature-256 check of the bytes alone, the floor
//     any intake pays;
//   - ignored-event: the whole handler for an event deploybot does not
//     act on (push): headers, streaming HMAC, the answer;
//   - ignored-comment: the whole handler for the comment: HMAC, the
//     decision from the bytes, the answer (no decode, no store write);
//   - full-decode: HMAC plus go-github's decode of the event, which is
//     what Atlantis does for every comment before it looks at it (and
//     what deploybot did, plus a store write).
//
// Each also reports cpu-ns/op, the process's CPU time per request, which
// a busy shared machine distorts far less than ns/op. docs/benchmarks.md
// has the numbers.
func BenchmarkIgnoredComment(b *testing.B) {
	db, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	cfg := &bot.Config{
		GitHub: bot.GitHubConfig{WebhookSecret: hookSecret},
		Apps: map[string]*bot.App{"web": {Name: "web", Repo: "octo-org/octo-repo", Environments: map[string]*bot.Environment{
			"dev": {Name: "dev", App: "web"},
		}}},
	}
	svc := &bot.Service{Config: cfg, Store: db.Ports(), Logger: slog.New(slog.DiscardHandler)}
	h := (&Server{Config: cfg, Deployments: kickless{svc}, Store: db, Logger: slog.New(slog.DiscardHandler)}).Handler()

	// A review comment of realistic length: several paragraphs, quotes,
	// code, the word deploy, but no command on its first line.
	text := "Looks good overall, a few notes before we merge.\n\n> should we deploy to dev first?\n\nYes, but after CI.\n\n```go\nfunc f() {}\n```\n"
	body := commentEvent(b, "octo-org/octo-repo", 9001, text)
	for len(body) < 15800 {
		text += "Another paragraph of \"discussion\" about naming, tests and the deploy plan.\n"
		body = commentEvent(b, "octo-org/octo-repo", 9001, text)
	}
	sig := hubSign(hookSecret, body)
	secrets := cfg.GitHub.WebhookSecrets()
	serve := func(event, want string) func(b *testing.B) {
		return func(b *testing.B) {
			req := httptest.NewRequest("POST", "/webhooks/github", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-GitHub-Event", event)
			req.Header.Set("X-GitHub-Delivery", "d")
			req.Header.Set("X-Hub-Signature-256", sig)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusAccepted || !strings.Contains(rec.Body.String(), want) {
				b.Fatalf("%d %s", rec.Code, rec.Body.String())
			}
		}
	}
	for _, bm := range []struct {
		name string
		once func(b *testing.B)
	}{
		{"hmac", func(b *testing.B) {
			if !validSignature(sig, body, secrets) {
				b.Fatal("signature refused")
			}
		}},
		{"ignored-event", serve("star", "ignored event star")},
		{"ignored-comment", serve("issue_comment", "ignored: not a command")},
		{"full-decode", func(b *testing.B) {
			if !validSignature(sig, body, secrets) {
				b.Fatal("signature refused")
			}
			var ev github.IssueCommentEvent
			if err := json.Unmarshal(body, &ev); err != nil || ev.GetComment().GetBody() == "" {
				b.Fatal(err)
			}
		}},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			defer reportCPU(b)()
			for b.Loop() {
				bm.once(b)
			}
		})
	}
}

// reportCPU starts measuring the process's CPU time; the function it
// returns reports it per operation as cpu-ns/op.
func reportCPU(b *testing.B) func() {
	start := processCPU()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64(processCPU()-start)/float64(b.N), "cpu-ns/op")
		}
	}
}
