package handlers

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/store/sqlite"
)

// oneByte is a body that announces far more than it sends.
type oneByte struct{ sent bool }

func (b *oneByte) Read(p []byte) (int, error) {
	if b.sent || len(p) == 0 {
		return 0, io.EOF
	}
	b.sent = true
	p[0] = '{'
	return 1, nil
}

// A request that announces a large body and sends a byte costs a few
// kilobytes, not what it announced: what is allocated is sized by what
// arrives, never by Content-Length. Before, each of these took the whole
// announced megabyte before any signature was looked at.
func TestAnnouncedBodySizeAllocatesNothing(t *testing.T) {
	s := &Server{Config: &bot.Config{
		GitHub: bot.GitHubConfig{WebhookSecret: hookSecret},
		Slack:  bot.SlackConfig{SigningSecret: slackSecret},
	}, Logger: slog.New(slog.DiscardHandler)}
	h := s.Handler()
	requests := map[string]func() *http.Request{
		"github": func() *http.Request {
			r := httptest.NewRequest("POST", "/webhooks/github", &oneByte{})
			r.ContentLength = maxGitHubBody
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("X-GitHub-Event", "deployment")
			r.Header.Set("X-GitHub-Delivery", "d1")
			r.Header.Set("X-Hub-Signature-256", "sha256="+strings.Repeat("0", 64))
			return r
		},
		"slack": func() *http.Request {
			r := httptest.NewRequest("POST", "/slack/commands", &oneByte{})
			r.ContentLength = maxSlackBody
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(time.Now().Unix(), 10))
			r.Header.Set("X-Slack-Signature", "v0="+strings.Repeat("0", 64))
			return r
		},
	}
	for name, newRequest := range requests {
		t.Run(name, func(t *testing.T) {
			const n = 50
			reqs := make([]*http.Request, n)
			recs := make([]*httptest.ResponseRecorder, n)
			for i := range reqs {
				reqs[i], recs[i] = newRequest(), httptest.NewRecorder()
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			for i := range reqs {
				h.ServeHTTP(recs[i], reqs[i])
			}
			runtime.ReadMemStats(&after)
			for _, rec := range recs {
				if rec.Code != http.StatusUnauthorized {
					t.Fatalf("HTTP %d, want 401 for a bad signature: %s", rec.Code, rec.Body)
				}
			}
			perRequest := (after.TotalAlloc - before.TotalAlloc) / n
			if perRequest > 32<<10 {
				t.Errorf("%d bytes allocated per unauthenticated request that sent 1 byte, want at most 32 KiB", perRequest)
			}
		})
	}
}

// A body announced over the route's cap is refused from its headers
// alone, before a byte is read.
func TestBodyOverRouteCapRefusedFromHeaders(t *testing.T) {
	s := &Server{Config: &bot.Config{GitHub: bot.GitHubConfig{WebhookSecret: hookSecret}}, Logger: slog.New(slog.DiscardHandler)}
	body := &countingReader{}
	r := httptest.NewRequest("POST", "/webhooks/github", body)
	r.ContentLength = 25 << 20
	r.Header.Set("X-GitHub-Event", "issue_comment")
	r.Header.Set("X-GitHub-Delivery", "d1")
	r.Header.Set("X-Hub-Signature-256", "sha256="+strings.Repeat("0", 64))
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, r)
	if rec.Code != http.StatusRequestEntityTooLarge || !strings.Contains(rec.Body.String(), "1 MiB") {
		t.Errorf("HTTP %d %q, want 413 naming the 1 MiB cap", rec.Code, rec.Body)
	}
	if body.read != 0 {
		t.Errorf("%d bytes read of a body refused by its announced size", body.read)
	}
}

type countingReader struct{ read int }

func (c *countingReader) Read(p []byte) (int, error) {
	c.read += len(p)
	return len(p), nil
}

// Bodies in flight share one budget: while a slow sender holds most of it,
// the next body that does not fit is answered 503 at once, and health
// checks still answer.
func TestBodyBudgetRefusesAtOnce(t *testing.T) {
	s := &Server{
		Config:     &bot.Config{Slack: bot.SlackConfig{SigningSecret: slackSecret}},
		Logger:     slog.New(slog.DiscardHandler),
		BodyBudget: 48 << 10,
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	slow, feed := io.Pipe()
	defer feed.Close()
	slowDone := make(chan int)
	go func() {
		resp, err := http.DefaultClient.Do(slackRequest(t, srv.URL, slow))
		if err != nil {
			slowDone <- 0
			return
		}
		resp.Body.Close()
		slowDone <- resp.StatusCode
	}()
	// The budget counts buffers, which grow by doubling: these 30 KiB
	// hold 32 of its 48.
	if _, err := feed.Write([]byte(strings.Repeat("a", 30<<10))); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.bodyBudget().used.Load() < 30<<10 {
		if time.Now().After(deadline) {
			t.Fatalf("the slow body never took its share of the budget: %d bytes", s.bodyBudget().used.Load())
		}
		time.Sleep(time.Millisecond)
	}

	resp, err := http.DefaultClient.Do(slackRequest(t, srv.URL, strings.NewReader(strings.Repeat("b", 20<<10))))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("a body over the budget: HTTP %d (Retry-After %q), want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if resp, err := http.Get(srv.URL + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("healthz while the budget is spent: %v %v", resp, err)
	}

	feed.Close()
	if code := <-slowDone; code != http.StatusUnauthorized {
		t.Errorf("the slow request: HTTP %d, want 401 (its signature is made up)", code)
	}
	if used := s.bodyBudget().used.Load(); used != 0 {
		t.Errorf("%d bytes of budget still held after every request ended", used)
	}
}

func slackRequest(t *testing.T, base string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest("POST", base+"/slack/commands", body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(time.Now().Unix(), 10))
	req.Header.Set("X-Slack-Signature", "v0="+strings.Repeat("0", 64))
	return req
}

// Each intake route takes a bounded number of requests at once; the next
// is answered 503 at once instead of waiting in memory, other routes keep
// their own slots, and health checks are never shed.
func TestInFlightRequestsShed(t *testing.T) {
	s := &Server{
		Config:   &bot.Config{Slack: bot.SlackConfig{SigningSecret: slackSecret}, GitHub: bot.GitHubConfig{WebhookSecret: hookSecret}},
		Logger:   slog.New(slog.DiscardHandler),
		InFlight: 2,
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	var feeds []*io.PipeWriter
	done := make(chan struct{}, 2)
	for range 2 {
		body, feed := io.Pipe()
		feeds = append(feeds, feed)
		go func() {
			if resp, err := http.DefaultClient.Do(slackRequest(t, srv.URL, body)); err == nil {
				resp.Body.Close()
			}
			done <- struct{}{}
		}()
		if _, err := feed.Write([]byte("a")); err != nil {
			t.Fatal(err)
		}
	}
	// Each handler charges its first buffer to the budget once it reads
	// the body: then both hold their slots.
	deadline := time.Now().Add(10 * time.Second)
	for s.bodyBudget().used.Load() < 2*firstChunk {
		if time.Now().After(deadline) {
			t.Fatalf("the two slow requests never reached the handler: %d bytes of budget held", s.bodyBudget().used.Load())
		}
		time.Sleep(time.Millisecond)
	}

	resp, err := http.DefaultClient.Do(slackRequest(t, srv.URL, strings.NewReader("text=x")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("a third Slack command: HTTP %d, want 503 with Retry-After", resp.StatusCode)
	}
	// Another route is not held up by this one's flood.
	ping := `{"zen":"x"}`
	req, _ := http.NewRequest("POST", srv.URL+"/webhooks/github", strings.NewReader(ping))
	req.Header.Set("X-GitHub-Event", "ping")
	req.Header.Set("X-GitHub-Delivery", "p1")
	req.Header.Set("X-Hub-Signature-256", hubSign(hookSecret, []byte(ping)))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("a GitHub ping while Slack's slots are full: %v %v", resp, err)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if resp, err := http.Get(srv.URL + path); err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("%s while Slack's slots are full: %v %v", path, resp, err)
		}
	}
	for _, feed := range feeds {
		feed.Close()
	}
	<-done
	<-done
	// The slots are free again.
	resp, err = http.DefaultClient.Do(slackRequest(t, srv.URL, strings.NewReader("text=x")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("once the slots are free: HTTP %d, want 401 (bad signature)", resp.StatusCode)
	}
}

// replayWorld is a server over an SQLite file that can be restarted.
type replayWorld struct {
	t    *testing.T
	path string
	now  time.Time
	cfg  *bot.Config
	db   *sqlite.DB
	rec  *recorder
	srv  *httptest.Server
}

func newReplayWorld(t *testing.T, slack bot.SlackConfig) *replayWorld {
	slack.SigningSecret = slackSecret
	w := &replayWorld{t: t, path: filepath.Join(t.TempDir(), "db"), now: time.Now(), cfg: &bot.Config{
		Slack: slack,
		Apps: map[string]*bot.App{"web": {Name: "web", Repo: "octo-org/octo-repo", Environments: map[string]*bot.Environment{
			"dev": {Name: "dev", App: "web"},
		}}},
	}}
	w.start()
	t.Cleanup(w.stop)
	return w
}

func (w *replayWorld) start() {
	db, err := sqlite.Open(context.Background(), w.path)
	if err != nil {
		w.t.Fatal(err)
	}
	now := func() time.Time { return w.now }
	w.db = db
	w.rec = &recorder{Service: &bot.Service{Config: w.cfg, Store: db.Ports(), Now: now, Logger: slog.New(slog.DiscardHandler)}}
	s := &Server{Config: w.cfg, Deployments: w.rec, Store: db, Now: now, Logger: slog.New(slog.DiscardHandler)}
	w.srv = httptest.NewServer(s.Handler())
}

func (w *replayWorld) stop() {
	if w.srv != nil {
		w.srv.Close()
		w.db.Close()
		w.srv = nil
	}
}

func (w *replayWorld) deployments() int {
	ds, err := w.db.ListDeployments(context.Background(), bot.DeploymentFilter{})
	if err != nil {
		w.t.Fatal(err)
	}
	return len(ds)
}

// The same signed /deploy sent again — by a restarted bot, too — is not
// acted on again: Slack's signature stays valid for five minutes, and
// anyone who saw the request once could otherwise deploy with it again.
func TestSlackReplayRefusedAcrossRestart(t *testing.T) {
	w := newReplayWorld(t, bot.SlackConfig{})
	ts := w.now.Unix()
	body := url.Values{"user_id": {"UALICE"}, "text": {"web main dev"}, "channel_id": {"C1"}}.Encode()
	sig := slackSign(slackSecret, ts, body)

	resp, out := postSlack(t, w.srv, ts, sig, body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(out["text"], "accepted") {
		t.Fatalf("first: HTTP %d %v", resp.StatusCode, out)
	}
	resp, out = postSlack(t, w.srv, ts, sig, body)
	if resp.StatusCode != http.StatusOK || strings.Contains(out["text"], "accepted") || !strings.Contains(out["text"], "already handled") {
		t.Errorf("replayed: HTTP %d %v, want it refused", resp.StatusCode, out)
	}
	w.stop()
	w.start()
	resp, out = postSlack(t, w.srv, ts, sig, body)
	if resp.StatusCode != http.StatusOK || strings.Contains(out["text"], "accepted") {
		t.Errorf("replayed after a restart: HTTP %d %v, want it refused", resp.StatusCode, out)
	}
	if n := w.deployments(); n != 1 {
		t.Errorf("%d deployments stored, want 1", n)
	}
	// Reading commands may repeat; they change nothing.
	statusBody := url.Values{"user_id": {"UALICE"}, "text": {"status web"}}.Encode()
	statusSig := slackSign(slackSecret, ts, statusBody)
	for range 2 {
		if resp, out := postSlack(t, w.srv, ts, statusSig, statusBody); resp.StatusCode != http.StatusOK || strings.Contains(out["text"], "already handled") {
			t.Errorf("status: HTTP %d %v", resp.StatusCode, out)
		}
	}
}

// One Roll back click replayed rolls back once.
func TestSlackInteractionReplayRefused(t *testing.T) {
	w := newReplayWorld(t, bot.SlackConfig{})
	payload, _ := json.Marshal(map[string]any{
		"type": "block_actions", "user": map[string]string{"id": "UALICE"},
		"response_url": "http://127.0.0.1:1/nowhere",
		"actions":      []map[string]string{{"action_id": "no-such-action", "value": "1"}},
	})
	body := url.Values{"payload": {string(payload)}}.Encode()
	ts := w.now.Unix()
	post := func() int {
		req, _ := http.NewRequest("POST", w.srv.URL+"/slack/interactions", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(ts, 10))
		req.Header.Set("X-Slack-Signature", slackSign(slackSecret, ts, body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(); code != http.StatusOK {
		t.Fatalf("first click: HTTP %d", code)
	}
	first, err := w.db.RecordDelivery(context.Background(), "slack:"+slackSign(slackSecret, ts, body), "slack")
	if err != nil || first {
		t.Fatalf("the click was not recorded as handled (first=%v, err=%v)", first, err)
	}
	w.stop()
	w.start()
	post()
	w.rec.mu.Lock()
	responded := w.rec.responses
	w.rec.mu.Unlock()
	if len(responded) != 0 {
		t.Errorf("a replayed click was acted on after a restart: %v", responded)
	}
}

// With slack.team_id (enterprise_id, api_app_id) set, a request signed
// with the right secret but from another workspace or app is refused and
// changes nothing.
func TestSlackWorkspacePinning(t *testing.T) {
	w := newReplayWorld(t, bot.SlackConfig{TeamID: "T0ACME", EnterpriseID: "E0ACME", APIAppID: "A0DEPLOY"})
	ts := w.now.Unix()
	for _, tc := range []struct {
		name   string
		fields url.Values
		want   int
	}{
		{"another team", url.Values{"team_id": {"T0EVILCORP"}, "enterprise_id": {"E0ACME"}, "api_app_id": {"A0DEPLOY"}}, http.StatusForbidden},
		{"no team", url.Values{"enterprise_id": {"E0ACME"}, "api_app_id": {"A0DEPLOY"}}, http.StatusForbidden},
		{"another org", url.Values{"team_id": {"T0ACME"}, "enterprise_id": {"E0EVIL"}, "api_app_id": {"A0DEPLOY"}}, http.StatusForbidden},
		{"another app", url.Values{"team_id": {"T0ACME"}, "enterprise_id": {"E0ACME"}, "api_app_id": {"A0OTHER"}}, http.StatusForbidden},
		{"ours", url.Values{"team_id": {"T0ACME"}, "enterprise_id": {"E0ACME"}, "api_app_id": {"A0DEPLOY"}}, http.StatusOK},
	} {
		form := tc.fields
		form.Set("user_id", "UEVE")
		form.Set("text", "lock web dev 365d mine")
		body := form.Encode()
		resp, out := postSlack(t, w.srv, ts, slackSign(slackSecret, ts, body), body)
		if resp.StatusCode != tc.want {
			t.Errorf("%s: HTTP %d %v, want %d", tc.name, resp.StatusCode, out, tc.want)
		}
		lock, err := w.db.EnvLock(context.Background(), "web", "dev", w.now)
		locked := err == nil && lock != nil
		if locked != (tc.want == http.StatusOK) {
			t.Errorf("%s: dev locked = %v (err %v)", tc.name, locked, err)
		}
	}
}

func (r *recorder) Respond(ctx context.Context, responseURL string, msg bot.Message) {
	r.mu.Lock()
	r.responses = append(r.responses, msg.Text)
	r.mu.Unlock()
}

// Button clicks are pinned as commands are: a click signed with the right
// secret from another workspace, organisation or app is refused before it
// is recorded or acted on.
func TestSlackInteractionWorkspacePinning(t *testing.T) {
	w := newReplayWorld(t, bot.SlackConfig{TeamID: "T0ACME", EnterpriseID: "E0ACME", APIAppID: "A0DEPLOY"})
	ts := w.now.Unix()
	for _, tc := range []struct {
		name             string
		team, org, appID string
		want             int
	}{
		{"another team", "T0EVILCORP", "E0ACME", "A0DEPLOY", http.StatusForbidden},
		{"another org", "T0ACME", "E0EVIL", "A0DEPLOY", http.StatusForbidden},
		{"no org", "T0ACME", "", "A0DEPLOY", http.StatusForbidden},
		{"another app", "T0ACME", "E0ACME", "A0OTHER", http.StatusForbidden},
		{"ours", "T0ACME", "E0ACME", "A0DEPLOY", http.StatusOK},
	} {
		in := map[string]any{
			"type": "block_actions", "user": map[string]string{"id": "UEVE"},
			"team": map[string]string{"id": tc.team}, "api_app_id": tc.appID,
			"response_url": "http://127.0.0.1:1/" + tc.name,
			"actions":      []map[string]string{{"action_id": "no-such-action", "value": "1"}},
		}
		if tc.org != "" {
			in["enterprise"] = map[string]string{"id": tc.org}
		}
		payload, _ := json.Marshal(in)
		body := url.Values{"payload": {string(payload)}}.Encode()
		sig := slackSign(slackSecret, ts, body)
		req, _ := http.NewRequest("POST", w.srv.URL+"/slack/interactions", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(ts, 10))
		req.Header.Set("X-Slack-Signature", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: HTTP %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
		// The answer is written before the click is acted on; whether it
		// was recorded as handled is in the store by then.
		first, err := w.db.RecordDelivery(context.Background(), "slack:"+sig, "slack")
		if err != nil || first != (tc.want != http.StatusOK) {
			t.Errorf("%s: recorded as handled = %v (err %v)", tc.name, !first, err)
		}
	}
	w.rec.mu.Lock()
	responded := len(w.rec.responses)
	w.rec.mu.Unlock()
	if responded > 1 {
		t.Errorf("%d clicks acted on, want only ours", responded)
	}
}
