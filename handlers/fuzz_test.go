package handlers

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/store/sqlite"
)

// The intake fuzz targets send hostile requests through the whole HTTP
// handler, over the real service and a SQLite store, and check what the
// caller gets back and whether anything reached the bot. Run one with:
//
//	go test -run='^$' -fuzz=FuzzSlackIntake -fuzztime=30s ./handlers
//
// The store lives for the whole run of a fuzz worker, so a signed request
// may meet deployments and locks left by earlier inputs.

// fuzzServer is a Server whose every call into the bot is counted; the
// deliveries it records are among them, since the handlers ask the bot.
type fuzzServer struct {
	handler http.Handler
	bot     *countingBot
	clock   time.Time // the handlers' clock: Slack's replay window
}

func newFuzzServer(f *testing.F) *fuzzServer {
	f.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(f.TempDir(), "db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	env := func(app, name string, allow ...string) *bot.Environment {
		return &bot.Environment{Name: name, App: app, Allow: allow, ECS: &bot.ECSTarget{Cluster: name, Service: app, Container: app}}
	}
	cfg := &bot.Config{
		GitHub: bot.GitHubConfig{WebhookSecret: hookSecret},
		Slack:  bot.SlackConfig{SigningSecret: slackSecret},
		Apps: map[string]*bot.App{
			// The corpus's deployments are of Codertocat/Hello-World to
			// production: they are accepted.
			"web": {Name: "web", Repo: "Codertocat/Hello-World", Environments: map[string]*bot.Environment{
				"dev":        env("web", "dev"),
				"production": env("web", "production"),
				"prod":       env("web", "prod", "slack:UOK", "github:Codertocat"),
			}},
			"api": {Name: "api", Repo: "octo-org/octo-repo", Environments: map[string]*bot.Environment{
				"dev": env("api", "dev"),
			}},
		},
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	quiet := slog.New(slog.DiscardHandler)
	fs := &fuzzServer{
		bot:   &countingBot{recorder: &recorder{Service: &bot.Service{Config: cfg, Store: db.Ports(), Now: func() time.Time { return now }, Logger: quiet}}},
		clock: now,
	}
	s := &Server{Config: cfg, Deployments: fs.bot, Store: db, Logger: quiet, Now: func() time.Time { return fs.clock }}
	fs.handler = s.Handler()
	return fs
}

// serve runs req and returns the answer and the calls it made into the bot.
func (fs *fuzzServer) serve(req *http.Request) (rec *httptest.ResponseRecorder, calls []string) {
	before := len(fs.bot.calls)
	rec = httptest.NewRecorder()
	fs.handler.ServeHTTP(rec, req)
	return rec, append(calls, fs.bot.calls[before:]...)
}

// countingBot is the recorder with every method of Deployments counted.
type countingBot struct {
	*recorder
	calls []string
}

func (c *countingBot) hit(name string) { c.calls = append(c.calls, name) }

func (c *countingBot) Accept(ctx context.Context, req bot.Request) (*bot.Deployment, error) {
	c.hit("Accept")
	return c.recorder.Accept(ctx, req)
}

func (c *countingBot) Kick() {
	c.hit("Kick")
	c.recorder.Kick()
}

func (c *countingBot) Reject(ctx context.Context, repo bot.Repo, id int64, err error) {
	c.hit("Reject")
	c.recorder.Reject(ctx, repo, id, err)
}

func (c *countingBot) Rollback(ctx context.Context, req bot.Request) (*bot.Deployment, error) {
	c.hit("Rollback")
	return c.recorder.Rollback(ctx, req)
}

func (c *countingBot) Cancel(ctx context.Context, id int64, requester string) (bot.Message, error) {
	c.hit("Cancel")
	return c.recorder.Cancel(ctx, id, requester)
}

func (c *countingBot) Approve(ctx context.Context, id int64, who string) (bot.Message, error) {
	c.hit("Approve")
	return c.recorder.Approve(ctx, id, who)
}

func (c *countingBot) RejectDeployment(ctx context.Context, id int64, who, reason string) (bot.Message, error) {
	c.hit("RejectDeployment")
	return c.recorder.RejectDeployment(ctx, id, who, reason)
}

func (c *countingBot) Lock(ctx context.Context, app, env, requester, reason string, d time.Duration) (bot.Message, error) {
	c.hit("Lock")
	return c.recorder.Lock(ctx, app, env, requester, reason, d)
}

func (c *countingBot) Unlock(ctx context.Context, app, env, requester string) (bot.Message, error) {
	c.hit("Unlock")
	return c.recorder.Unlock(ctx, app, env, requester)
}

func (c *countingBot) Status(ctx context.Context, app, env string) (bot.Message, error) {
	c.hit("Status")
	return c.recorder.Status(ctx, app, env)
}

func (c *countingBot) History(ctx context.Context, app, env string) (bot.Message, error) {
	c.hit("History")
	return c.recorder.History(ctx, app, env)
}

func (c *countingBot) Apps() bot.Message {
	c.hit("Apps")
	return c.recorder.Apps()
}

func (c *countingBot) HandleComment(ctx context.Context, cm bot.Comment) (*bot.Deployment, error) {
	c.hit("HandleComment")
	return c.recorder.HandleComment(ctx, cm)
}

func (c *countingBot) RollbackFrom(ctx context.Context, id int64, req bot.Request) (*bot.Deployment, error) {
	c.hit("RollbackFrom")
	return c.recorder.RollbackFrom(ctx, id, req)
}

func (c *countingBot) Respond(ctx context.Context, responseURL string, msg bot.Message) {
	c.hit("Respond")
	c.recorder.Respond(ctx, responseURL, msg)
}

func (c *countingBot) NotifyCI(sha string) {
	c.hit("NotifyCI")
	c.recorder.NotifyCI(sha)
}

func (c *countingBot) FirstDelivery(ctx context.Context, d bot.Delivery) (bool, error) {
	c.hit("FirstDelivery")
	return c.recorder.FirstDelivery(ctx, d)
}

func (c *countingBot) ForgetDelivery(ctx context.Context, d bot.Delivery) error {
	c.hit("ForgetDelivery")
	return c.recorder.ForgetDelivery(ctx, d)
}

func (c *countingBot) GitHubDeploymentOf(ctx context.Context, githubID int64) (*bot.Deployment, error) {
	c.hit("GitHubDeploymentOf")
	return c.recorder.GitHubDeploymentOf(ctx, githubID)
}

func (c *countingBot) CreatedByUs(ctx context.Context, id int64, repo bot.Repo, githubID int64, sha, env string) (bool, error) {
	c.hit("CreatedByUs")
	return c.recorder.CreatedByUs(ctx, id, repo, githubID, sha, env)
}

func (c *countingBot) HeadChanged(ctx context.Context, ch bot.HeadChange) error {
	c.hit("HeadChanged")
	return c.recorder.HeadChanged(ctx, ch)
}

// slackSignature is Slack's v0 signature of body sent with the timestamp
// header ts, exactly as written.
func slackSignature(ts, body string) string {
	mac := hmac.New(sha256.New, []byte(slackSecret))
	fmt.Fprintf(mac, "v0:%s:%s", ts, body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// slackForm turns a form as Slack's documentation shows it (a comment,
// then one field a line) into the body Slack sends.
func slackForm(doc string) string {
	var b strings.Builder
	for line := range strings.SplitSeq(doc, "\n") {
		if !strings.HasPrefix(line, "#") {
			b.WriteString(strings.TrimSpace(line))
		}
	}
	return b.String()
}

// FuzzSlackIntake sends a raw body with fuzzed X-Slack-Request-Timestamp
// and X-Slack-Signature headers to /slack/commands or /slack/interactions.
// When sign is set the body is signed with the real secret (an unparsable
// timestamp is replaced by a valid one first). The handlers' clock stands
// age seconds after the timestamp.
//
// Properties: never a panic or a 5xx. A request that is not both signed
// with the secret and within the five-minute window gets 401 (413 when
// oversized) and calls nothing in the bot. A correctly signed command gets
// a 200 whose body is a Slack reply with text, whatever the text typed
// (only a body that is not a form at all may get a 400); a correctly
// signed interaction gets 200, or 400 with a reason.
func FuzzSlackIntake(f *testing.F) {
	type seed struct {
		route     uint8
		body, ts  string
		signature string
		sign      bool
		age       int16
	}
	var seeds []seed
	if raw, err := os.ReadFile("../testdata/corpus/slack/signing-example.json"); err == nil {
		var ex struct {
			Headers map[string]string `json:"headers"`
			Body    string            `json:"raw_body"`
		}
		if err := json.Unmarshal(raw, &ex); err != nil {
			f.Fatal(err)
		}
		ts, sig := ex.Headers["X-Slack-Request-Timestamp"], ex.Headers["X-Slack-Signature"]
		seeds = append(seeds,
			// Slack's published signature, checked at its own time: valid.
			seed{0, ex.Body, ts, sig, false, 60},
			// The same request ten minutes late, or ahead.
			seed{0, ex.Body, ts, sig, false, 600},
			seed{0, ex.Body, ts, sig, false, -600},
			seed{0, ex.Body + "&x=1", ts, sig, false, 0},
			seed{0, ex.Body, ts, "", true, 0},
		)
	} else {
		f.Logf("corpus not beside the repository: %v", err)
	}
	if doc, err := os.ReadFile("../testdata/corpus/slack/slash-command-doc-example.form.txt"); err == nil {
		seeds = append(seeds, seed{0, slackForm(string(doc)), "1531420618", "", true, 0})
	}
	form := func(text string) string {
		return url.Values{"user_id": {"U1"}, "channel_id": {"C1"}, "response_url": {"https://hooks.slack.com/commands/1/2"}, "text": {text}}.Encode()
	}
	for _, text := range []string{
		"web main dev", "web main prod", "web main to production", "help", "", "apps", "status web", "history web dev",
		"lock web dev 2h release freeze", "unlock web dev", "cancel 1", "cancel #99999999999999999999",
		"rollback web dev", "nope main dev", "web <http://x|x> dev", "lock web dev &lt;!channel&gt;", "web\xffmain dev",
	} {
		seeds = append(seeds, seed{0, form(text), "1772366400", "", true, 0})
	}
	interaction := func(payload string) string {
		return url.Values{"payload": {payload}}.Encode()
	}
	for _, payload := range []string{
		`{"type":"block_actions","user":{"id":"U1"},"channel":{"id":"C1"},"response_url":"https://hooks.slack.com/actions/1/2","actions":[{"action_id":"rollback","value":"1"}]}`,
		`{"type":"block_actions","user":{"id":"U1"},"actions":[{"action_id":"rollback","value":"x"}]}`,
		`{"type":"block_actions","actions":[{"action_id":"other"}]}`,
		`{"type":"block_actions","actions":[]}`,
		`{"type":"view_submission"}`, `null`, `[`,
	} {
		seeds = append(seeds, seed{1, interaction(payload), "1772366400", "", true, 0})
	}
	seeds = append(seeds,
		seed{0, "text=%zz", "1772366400", "", true, 0},
		seed{0, "text=a;b", "1772366400", "", true, 0},
		seed{0, form("web main dev"), "1772366400", "v0=00", false, 0},
		seed{0, form("web main dev"), "+1772366400", "", true, 0},
		seed{0, form("web main dev"), "01772366400", "", true, 299},
		seed{0, form("web main dev"), "1772366400", "", true, 301},
		seed{0, form("web main dev"), "-9223372036854775808", "", true, 0},
		seed{0, form("web main dev"), "9223372036854775807", "", true, -1},
		seed{0, form("web main dev"), "not a time", "", true, 0},
		seed{1, interaction("{}"), "", "", false, 0},
	)
	for _, s := range seeds {
		f.Add(s.route, s.body, s.ts, s.signature, s.sign, s.age)
	}

	fs := newFuzzServer(f)
	base := fs.clock
	f.Fuzz(func(t *testing.T, route uint8, body, ts, signature string, sign bool, age int16) {
		path := "/slack/commands"
		if route%2 == 1 {
			path = "/slack/interactions"
		}
		tsValue, err := strconv.ParseInt(ts, 10, 64)
		tsParses := err == nil
		if sign {
			if !tsParses {
				ts, tsValue, tsParses = strconv.FormatInt(base.Unix(), 10), base.Unix(), true
			}
			signature = slackSignature(ts, body)
		}
		signedAt := base
		if tsParses {
			signedAt = time.Unix(tsValue, 0)
		}
		fs.clock = signedAt.Add(time.Duration(age) * time.Second)
		skew := fs.clock.Sub(signedAt)
		fresh := tsParses && -slackReplayWindow <= skew && skew <= slackReplayWindow
		authentic := hmac.Equal([]byte(signature), []byte(slackSignature(ts, body)))

		req := httptest.NewRequest("POST", path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Slack-Request-Timestamp", ts)
		req.Header.Set("X-Slack-Signature", signature)
		rec, calls := fs.serve(req)
		answer := rec.Body.String()
		t.Logf("%s %s: HTTP %d %q, bot calls %v", path, ts, rec.Code, answer, calls)

		if rec.Code >= 500 {
			t.Fatalf("HTTP %d: %s", rec.Code, answer)
		}
		if len(body) > maxSlackBody {
			if rec.Code != http.StatusRequestEntityTooLarge || len(calls) > 0 {
				t.Fatalf("oversize body: HTTP %d, bot calls %v; want 413 and none", rec.Code, calls)
			}
			return
		}
		if !authentic || !fresh {
			if rec.Code != http.StatusUnauthorized || len(calls) > 0 {
				t.Fatalf("authentic %v, fresh %v (clock %s after the timestamp): HTTP %d, bot calls %v; want 401 and none", authentic, fresh, skew, rec.Code, calls)
			}
			return
		}
		if rec.Code == http.StatusUnauthorized {
			t.Fatalf("a correctly signed request was refused: %s", answer)
		}
		if _, err := url.ParseQuery(body); err != nil {
			if rec.Code != http.StatusBadRequest || len(calls) > 0 {
				t.Fatalf("body is not a form (%v): HTTP %d, bot calls %v; want 400 and none", err, rec.Code, calls)
			}
			return
		}
		if path == "/slack/interactions" {
			if rec.Code == http.StatusBadRequest && strings.TrimSpace(answer) != "" && len(calls) == 0 {
				return
			}
			if rec.Code != http.StatusOK {
				t.Fatalf("interaction: HTTP %d %q; want 200, or 400 with a reason and no bot calls", rec.Code, answer)
			}
			return
		}
		if rec.Code != http.StatusOK {
			t.Fatalf("signed command: HTTP %d; want 200", rec.Code)
		}
		var reply slackReply
		if err := json.Unmarshal(rec.Body.Bytes(), &reply); err != nil {
			t.Fatalf("signed command: reply is not JSON: %v", err)
		}
		if reply.ResponseType != "ephemeral" && reply.ResponseType != "in_channel" {
			t.Fatalf("signed command: response_type %q", reply.ResponseType)
		}
		if strings.TrimSpace(reply.Text) == "" {
			t.Fatalf("signed command: the reply has no text")
		}
	})
}

// FuzzGitHubIntake sends a body with fuzzed X-GitHub-Event,
// X-GitHub-Delivery, X-Hub-Signature-256 and Content-Type headers to
// /webhooks/github. When sign is set the body is signed with the real
// secret.
//
// Properties: never a panic or a 5xx. Without both event and delivery
// headers the answer is 400; otherwise a signature not made with the
// secret gets 401 (or 415 when the body is declared as other than JSON),
// and none of these calls anything in the bot or records a delivery. A correctly signed delivery is never refused as
// unauthenticated: it gets a 2xx with a JSON body, or a 4xx saying why.
func FuzzGitHubIntake(f *testing.F) {
	events, err := os.ReadDir("../testdata/corpus/github-webhooks")
	if err != nil {
		f.Logf("corpus not beside the repository: %v", err)
	}
	for _, dir := range events {
		event := dir.Name()
		files, err := filepath.Glob(filepath.Join("../testdata/corpus/github-webhooks", event, "*.json"))
		if err != nil {
			f.Fatal(err)
		}
		for i, file := range files {
			body, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			delivery := fmt.Sprintf("%s-%d", event, i)
			f.Add(event, delivery, "application/json", "", body, true)
			// GitHub sends the payloads without the examples' indentation,
			// which the CI events' sha lookup relies on.
			var compact bytes.Buffer
			if err := json.Compact(&compact, body); err == nil {
				f.Add(event, delivery+"-compact", "application/json", "", compact.Bytes(), true)
			}
			if i == 0 {
				// The real payload, forged and unsigned.
				f.Add(event, delivery, "application/json", hubSign("not the secret", body), body, false)
				f.Add(event, delivery, "application/json", "", body, false)
			}
		}
	}
	if raw, err := os.ReadFile("../testdata/corpus/github-signature/example.json"); err == nil {
		var ex struct {
			Payload   string `json:"payload"`
			Signature string `json:"X-Hub-Signature-256"`
		}
		if err := json.Unmarshal(raw, &ex); err != nil {
			f.Fatal(err)
		}
		// GitHub's published signature is made with hookSecret: valid.
		f.Add("push", "sig-1", "application/json", ex.Signature, []byte(ex.Payload), false)
		f.Add("push", "sig-2", "application/json", "sha256="+strings.ToUpper(strings.TrimPrefix(ex.Signature, "sha256=")), []byte(ex.Payload), false)
		f.Add("push", "sig-3", "application/json", "sha1=757107ea0eb2509fc211221cce984b8a37570b6d", []byte(ex.Payload), false)
		f.Add("ping", "sig-4", "application/x-www-form-urlencoded", "", []byte("payload="+url.QueryEscape(ex.Payload)), true)
	}
	if raw, err := os.ReadFile("../testdata/corpus/github-webhooks/issue_comment/created.with-installation.payload.json"); err == nil {
		// A comment on a pull request, which the corpus lacks.
		var ev map[string]any
		if err := json.Unmarshal(raw, &ev); err != nil {
			f.Fatal(err)
		}
		ev["issue"].(map[string]any)["pull_request"] = map[string]any{"url": "https://api.github.com/repos/Codertocat/Hello-World/pulls/1"}
		for i, comment := range []string{"/deploy web to dev", "/deploy to production", "> /deploy web to dev", "/deploy"} {
			ev["comment"].(map[string]any)["body"] = comment
			ev["comment"].(map[string]any)["id"] = 9000 + i
			body, _ := json.Marshal(ev)
			f.Add("issue_comment", "pr-"+comment, "application/json", "", body, true)
		}
	}
	for _, body := range []string{
		``, `null`, `{}`, `[]`, `"x"`, `{"deployment":{}}`, `{"deployment":{},"repository":{}}`,
		`{"deployment":{"id":1,"payload":"{\"deploybot_id\":7}"},"repository":{"full_name":"Codertocat/Hello-World"}}`,
		`{"deployment":{"id":2,"payload":"{\"app\":\"nope\"}"},"repository":{"full_name":"Codertocat/Hello-World"}}`,
		`{"deployment":{"id":3,"environment":"dev","payload":{"app":"api"}},"repository":{"full_name":"octo-org/octo-repo"}}`,
		`{"action":"created","comment":{},"issue":{"pull_request":{}},"repository":{}}`,
		`{"head_sha":"` + strings.Repeat("a", 40) + `"}`, `{"sha":"` + strings.Repeat("0", 39) + `"}`,
	} {
		for _, event := range []string{"deployment", "issue_comment", "check_run", "status", "ping"} {
			f.Add(event, "mini-"+event, "application/json", "", []byte(body), true)
		}
	}
	f.Add("", "d", "application/json", "", []byte(`{}`), true)
	f.Add("ping", "", "application/json", "", []byte(`{}`), true)
	f.Add("ping", "d", "", "sha256=", []byte(`{}`), false)
	f.Add("ping", "d", "", "sha256=zz", []byte(`{}`), false)
	f.Add("ping", "d", "", "=", []byte(`{}`), false)

	fs := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, event, delivery, contentType, signature string, body []byte, sign bool) {
		if sign {
			signature = hubSign(hookSecret, body)
		}
		req := httptest.NewRequest("POST", "/webhooks/github", bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("X-GitHub-Event", event)
		req.Header.Set("X-GitHub-Delivery", delivery)
		req.Header.Set("X-Hub-Signature-256", signature)
		rec, calls := fs.serve(req)
		answer := rec.Body.String()
		t.Logf("%s %s: HTTP %d %q, calls %v", event, delivery, rec.Code, answer, calls)

		if rec.Code >= 500 {
			t.Fatalf("HTTP %d: %s", rec.Code, answer)
		}
		refused := func(want ...int) {
			t.Helper()
			want = slices.DeleteFunc(want, func(code int) bool { return code == 0 })
			if !slices.Contains(want, rec.Code) || len(calls) > 0 {
				t.Fatalf("HTTP %d, calls %v; want one of %v and none", rec.Code, calls, want)
			}
		}
		// A declared type other than JSON may be refused before the
		// signature is looked at.
		wrongType := 0
		if mt, _, err := mime.ParseMediaType(contentType); contentType != "" && (err != nil || mt != "application/json") {
			wrongType = http.StatusUnsupportedMediaType
		}
		switch {
		case event == "" || delivery == "":
			refused(http.StatusBadRequest)
			return
		case len(body) > int(githubBodyLimit(event)) && actsOn(event):
			refused(http.StatusRequestEntityTooLarge, wrongType)
			return
		case !hubAuthentic(signature, body):
			refused(http.StatusUnauthorized, wrongType)
			return
		}
		switch {
		case rec.Code == http.StatusUnauthorized:
			t.Fatalf("a correctly signed delivery was refused: %s", answer)
		case rec.Code >= 400:
			if strings.TrimSpace(answer) == "" {
				t.Fatalf("HTTP %d with no reason", rec.Code)
			}
		case rec.Code >= 200 && rec.Code < 300:
			var out map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out["msg"] == nil {
				t.Fatalf("HTTP %d: body %q is not a JSON object with a msg (%v)", rec.Code, answer, err)
			}
		default:
			t.Fatalf("HTTP %d", rec.Code)
		}
	})
}

// hubAuthentic reports whether signature is an X-Hub-Signature-256 of body
// made with the secret: "sha256=" and the HMAC in hex, of either case.
func hubAuthentic(signature string, body []byte) bool {
	hexMAC, ok := strings.CutPrefix(signature, "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(hexMAC)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(hookSecret))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}
