package world

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/deploybot/deploybot/config"
	"github.com/deploybot/deploybot/internal/wiring"
	"github.com/deploybot/deploybot/store/postgres"
	"github.com/deploybot/deploybot/store/postgres/pgtest"
	"github.com/deploybot/deploybot/store/sqlite"
)

// The store a world makes is one the real store packages open, and
// Close takes it away again: a PostgreSQL schema of its own, dropped.
func TestPostgresStoreIsTheWorldsOwnAndDropped(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	w, err := New(ctx, Options{Store: dsn})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if !strings.Contains(w.StoreDSN, "search_path="+w.Schema) {
		t.Fatalf("StoreDSN %q does not name schema %q", w.StoreDSN, w.Schema)
	}
	st, err := postgres.Open(ctx, w.StoreDSN)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()

	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tables := func() int {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM information_schema.tables WHERE table_schema = $1`, w.Schema).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if tables() == 0 {
		t.Fatalf("the store made no table in schema %s", w.Schema)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if n := tables(); n != 0 {
		t.Errorf("after Close schema %s still has %d tables", w.Schema, n)
	}
	if _, err := os.Stat(w.Dir); !os.IsNotExist(err) {
		t.Errorf("after Close %s: %v", w.Dir, err)
	}
}

func TestSQLiteStoreLivesInDir(t *testing.T) {
	ctx := context.Background()
	w, err := New(ctx, Options{Store: "sqlite"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	path, ok := strings.CutPrefix(w.StoreDSN, "sqlite:")
	if !ok || filepath.Dir(path) != w.Dir {
		t.Fatalf("StoreDSN %q is not a file in %s", w.StoreDSN, w.Dir)
	}
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
}

// Wrap stands in front of every emulator, and only Slack's presence puts
// SLACK_URL in a process's environment.
func TestWrapSeesEveryEmulator(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	wrap := func(name string, h http.Handler) http.Handler {
		return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			mu.Lock()
			seen = append(seen, name)
			mu.Unlock()
			h.ServeHTTP(rw, r)
		})
	}
	w, err := New(context.Background(), Options{SlackToken: "xoxb-world", Channels: []string{"#deploys"}, Wrap: wrap})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, u := range []string{w.GitHubURL + "/", w.Slack.APIURL() + "auth.test", w.AWSURL + "/"} {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	mu.Lock()
	slices.Sort(seen)
	got := strings.Join(seen, ",")
	mu.Unlock()
	if got != "aws,github,slack" {
		t.Errorf("Wrap saw %q, want aws,github,slack", got)
	}
	if env := strings.Join(w.Env("X=1"), "\n"); !strings.Contains(env, "SLACK_URL="+w.Slack.APIURL()) || !strings.HasSuffix(env, "X=1") {
		t.Errorf("Env:\n%s", env)
	}

	quiet, err := New(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer quiet.Close()
	if env := strings.Join(quiet.Env(), "\n"); strings.Contains(env, "SLACK_URL") || !strings.Contains(env, "AWS_ENDPOINT_URL="+quiet.AWSURL) {
		t.Errorf("Env without Slack:\n%s", env)
	}
}

// A commit's sha follows from its seed, so that tests can name it first;
// its status and image land in the emulators.
func TestAddCommit(t *testing.T) {
	w, err := New(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.GitHub.AddRepo("acme/api", 0)
	c := Commit{Repo: "acme/api", Seed: "one", Branch: "main", Check: "ci/build", CIState: "success", ECRRepo: "api"}
	sha := w.AddCommit(c)
	if again := AddCommit(w.GitHub, w.AWS, c); again != sha || len(sha) != 40 {
		t.Fatalf("sha %q, then %q", sha, again)
	}
	if other := w.AddCommit(Commit{Repo: "acme/api", Seed: "two"}); other == sha {
		t.Fatalf("two seeds gave one sha %s", sha)
	}
	w.GitHub.AddToken("ghp_world", "octocat")
	req, _ := http.NewRequest("GET", w.GitHubURL+"/api/v3/repos/acme/api/commits/main/status", nil)
	req.Header.Set("Authorization", "token ghp_world")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var status struct {
		State string `json:"state"`
		SHA   string `json:"sha"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&status); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GitHub answered %d: %v", resp.StatusCode, err)
	}
	if status.SHA != sha || status.State != "success" {
		t.Errorf("main's status: %+v, want %s success", status, sha)
	}
}

// A directory the caller gave stays theirs, and KeepStore leaves the
// schema for a look after the run.
func TestKeptDirAndStore(t *testing.T) {
	dsn := pgtest.DSN(t)
	dir := t.TempDir()
	w, err := New(context.Background(), Options{Dir: dir, Store: dsn, KeepStore: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("Close removed the caller's dir: %v", err)
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	defer db.Exec("DROP SCHEMA " + w.Schema + " CASCADE")
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM information_schema.schemata WHERE schema_name = $1`, w.Schema).Scan(&n); err != nil || n != 1 {
		t.Errorf("schema %s after Close with KeepStore: %d, %v", w.Schema, n, err)
	}
}

// StartBot's bot is the one `deploybot serve` runs, on loopback, on the
// world's store, and the world's GitHub delivers to it with the config's
// secret; Close stops it.
func TestStartBotServesTheWorld(t *testing.T) {
	ctx := context.Background()
	w, err := New(ctx, Options{Store: "sqlite"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	cfg, err := config.Parse([]byte(`
store: `+w.StoreDSN+`
github:
  api_url: `+w.GitHubURL+`/api/v3/
  token: ghp_world
  webhook_secret: world-secret
aws:
  region: us-east-1
apps:
  web:
    repo: world/web
    image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/web
    tag: "git_{{.ShortSHA}}"
    environments:
      dev:
        ecs: {cluster: dev, service: web, container: api}
`), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	in, err := w.StartBot(ctx, cfg, wiring.Options{AWSOptions: w.AWSOptions("AKIAWORLD", "secret")})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(in.URL, "http://127.0.0.1:") {
		t.Errorf("bot on %s; want a loopback port", in.URL)
	}
	resp, err := http.Get(in.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /readyz: %d; want 200 (the store opened)", resp.StatusCode)
	}
	// The bot answers 2xx only to a delivery signed with its secret.
	if err := w.GitHub.SendWebhook("ping", []byte(`{"zen":"Keep it logically awesome."}`)); err != nil {
		t.Fatalf("GitHub's signed ping: %v", err)
	}
	w.GitHub.SetWebhook(in.URL+"/webhooks/github", "another-secret")
	if err := w.GitHub.SendWebhook("ping", []byte(`{"zen":"x"}`)); err == nil {
		t.Error("a ping signed with another secret was accepted")
	}

	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if resp, err := http.Get(in.URL + "/healthz"); err == nil {
		resp.Body.Close()
		t.Errorf("the bot still answers after Close: %d", resp.StatusCode)
	}
}
