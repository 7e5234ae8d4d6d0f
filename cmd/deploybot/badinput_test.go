package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/emulator/githubemu"
	"github.com/deploybot/deploybot/emulator/slackemu"
)

// Body limits of handlers/body.go, as a caller meets them, and how much
// more than the limit an oversize stream offers before it holds back.
const (
	slackBodyLimit  = 64 << 10
	githubBodyLimit = 1 << 20
	overLimit       = 256 << 10
)

// otherRepo is a repository the App is installed on but deploybot has no
// app for.
const otherRepo = "takumi/other"

// badInput is one HTTP request a running deploybot must refuse or ignore,
// and what it must answer.
type badInput struct {
	name   string // "category: what is wrong"
	method string // POST when empty
	path   string
	header map[string]string
	body   []byte
	// stream, when set, replaces body: that many bytes, sent chunked
	// unless announce (a Content-Length) is set, of which no more than
	// readAtMost are given until the server has answered. A server that
	// reads the body whole before answering never answers.
	stream     int64
	announce   int64
	readAtMost int64

	status int
	reply  string // a substring of the reply's text

	// fails marks what the contract accepts and fails later (a ref that
	// does not exist): one deployment is stored and ends failed with a
	// reason containing fails, and nothing reaches GitHub's deployments or
	// AWS.
	fails string
	// responseURL, when set, is a Slack response_url that must receive
	// exactly one message containing responded; the others get none.
	responseURL, responded string
	// prReply is what the bot must answer on the pull request (prRepo
	// #prNumber); the other pull requests get no comment.
	prRepo   string
	prNumber int
	prReply  string
}

// ref is the ref a failing row's reason names.
func (r badInput) ref() string {
	ref, _, _ := strings.Cut(strings.TrimPrefix(r.fails, `ref "`), `"`)
	return ref
}

// heldReader offers left bytes of 'a' but none past hold until answered
// is closed, and counts how many were read.
type heldReader struct {
	left, hold int64
	answered   <-chan struct{}
	read       atomic.Int64
}

func (r *heldReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	n := r.read.Load()
	if n >= r.hold {
		<-r.answered
		return 0, errors.New("the server has answered; the rest of the body is not sent")
	}
	p = p[:min(int64(len(p)), r.left, r.hold-n)]
	for i := range p {
		p[i] = 'a'
	}
	r.left -= int64(len(p))
	r.read.Add(int64(len(p)))
	return len(p), nil
}

// The bad-input suite: every row is one request to the real HTTP server of
// a running deploybot, and each must be answered with a clear status and
// message, create nothing (no deployment in the store, none on GitHub, no
// Slack message, no AWS call), and leave the bot healthy and deploying.
func TestBadInputSuite(t *testing.T) {
	corpusDir := "../../testdata/corpus/github-webhooks/"
	if _, err := os.Stat(corpusDir); err != nil {
		t.Fatalf("corpus: %v", err)
	}
	sb := newTestSandbox(t)
	ctx := context.Background()
	good := sb.commit("bad input good", "main", "success", true)
	head := sb.commit("bad input pr head", "feature/bad-input", "success", true)
	sb.github.AddPullRequest(sandboxRepo, 12, head, "feature/bad-input", sandboxWriter)
	sb.github.AddRepo(otherRepo, sandboxInstall)
	sb.github.AddCommit(otherRepo, head, "main")
	sb.github.AddPullRequest(otherRepo, 7, head, "main", sandboxWriter)

	rows := badInputRows(t, sb, corpusDir, good)

	var tried, handled, crashes int
	categories := map[string]int{}
	expectedDeployments := 0
	for _, row := range rows {
		category, _, _ := strings.Cut(row.name, ":")
		categories[category]++
		tried++
		t.Run(row.name, func(t *testing.T) {
			ok, crashed := runBadInput(t, sb, row)
			if ok {
				handled++
			}
			if crashed {
				crashes++
			}
		})
		if row.fails != "" {
			expectedDeployments++
		}
	}
	var counts []string
	for c, n := range categories {
		counts = append(counts, fmt.Sprintf("%s %d", c, n))
	}
	sort.Strings(counts)
	t.Logf("rows by category: %s", strings.Join(counts, ", "))
	t.Logf("bad input: %d tried, %d handled, %d crashes", tried, handled, crashes)
	if handled != tried || crashes != 0 {
		t.Errorf("bad input: %d tried, %d handled, %d crashes; want all handled and none crashed", tried, handled, crashes)
	}

	settle(t, sb)
	if ds, _ := sb.bot.store.Deployments(ctx, 1000); len(ds) != expectedDeployments {
		t.Errorf("store has %d deployments after the table, want %d (the accepted refs that do not exist)", len(ds), expectedDeployments)
	}
	if deps := sb.github.Deployments(sandboxRepo); len(deps) != 0 {
		t.Errorf("GitHub deployments were created: %+v", deps)
	}
	if n := len(sb.aws.Calls()); n != 0 {
		t.Errorf("%d AWS calls after bad input", n)
	}

	// The bot is still healthy and still deploys.
	resp, err := http.Get(sb.bot.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz after bad input: HTTP %d", resp.StatusCode)
	}
	d := slashDeploy(t, sb, "takumi-server "+good[:7]+" dev")
	if d.State != bot.StateSucceeded || d.SHA != good {
		t.Fatalf("deploy after bad input: %s %s (%s), want succeeded on %s", d.State, d.SHA, d.Reason, good)
	}
	if deps := sb.github.Deployments(sandboxRepo); len(deps) != 1 || deps[0].ID != d.GitHubDeploymentID {
		t.Errorf("GitHub deployments after the valid deploy: %+v", deps)
	}
}

// runBadInput sends one row and checks what came of it. ok means the
// answer was the expected one; crashed that there was no answer or a 5xx.
func runBadInput(t *testing.T, sb *sandbox, row badInput) (ok, crashed bool) {
	ctx := context.Background()
	before, err := sb.bot.store.Deployments(ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	slackBefore := len(sb.slack.Messages(sandboxChannel))
	prBefore := map[string]int{
		sandboxRepo: len(sb.github.Comments(sandboxRepo, 12)),
		otherRepo:   len(sb.github.Comments(otherRepo, 7)),
	}
	ghCallsBefore := len(sb.github.Calls())
	awsBefore := len(sb.aws.Calls())

	method := row.method
	if method == "" {
		method = http.MethodPost
	}
	reqCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var (
		body     io.Reader = bytes.NewReader(row.body)
		held     *heldReader
		answered = make(chan struct{})
		once     sync.Once
	)
	// The held reader lets go once the answer came or the wait is over:
	// the client does not return before its body writer has stopped.
	release := func() { once.Do(func() { close(answered) }) }
	defer release()
	defer context.AfterFunc(reqCtx, release)()
	if row.stream > 0 {
		held = &heldReader{left: row.stream, hold: row.readAtMost, answered: answered}
		body = held
	}
	req, err := http.NewRequestWithContext(reqCtx, method, sb.bot.URL+row.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if held != nil {
		req.ContentLength = -1
		if row.announce > 0 {
			req.ContentLength = row.announce
		}
	}
	for k, v := range row.header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	release()
	if err != nil {
		if held != nil {
			t.Errorf("no answer after %d bytes of %d: %v; a server that cuts bodies off answers by then", held.read.Load(), row.stream, err)
		} else {
			t.Errorf("no answer: %v", err)
		}
		return false, true
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := replyText(raw)

	ok = true
	if resp.StatusCode >= 500 {
		crashed = true
	}
	if resp.StatusCode != row.status {
		t.Errorf("HTTP %d %q, want %d", resp.StatusCode, text, row.status)
		ok = false
	}
	if !strings.Contains(text, row.reply) {
		t.Errorf("reply %q, want it to contain %q", text, row.reply)
		ok = false
	}
	// A clear reply is short and never a stack trace.
	if len(raw) > 4096 || strings.Contains(text, "goroutine ") || strings.Contains(text, "panic") {
		t.Errorf("reply of %d bytes is no clear message: %.300q", len(raw), text)
		ok = false
	}
	if held != nil {
		t.Logf("answered %d with %d of %d bytes sent", resp.StatusCode, held.read.Load(), row.stream)
	}

	// What the row left behind.
	after, err := sb.bot.store.Deployments(ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	newDeployments := len(after) - len(before)
	slackWant := 0
	if row.fails != "" {
		if newDeployments != 1 {
			t.Fatalf("%d deployments stored, want the one accepted", newDeployments)
		}
		d, err := sb.wait(ctx, after[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if d.State != bot.StateFailed || !strings.Contains(d.Reason, row.fails) || d.GitHubDeploymentID != 0 {
			t.Errorf("deployment #%d ended %s (%s) with GitHub deployment %d; want failed saying %q and no GitHub deployment", d.ID, d.State, d.Reason, d.GitHubDeploymentID, row.fails)
			ok = false
		}
		// The failure is reported in the deployment's Slack message.
		slackWant = 1
		if m, found := sb.slack.Message(d.SlackChannel, d.SlackTS); !found || !strings.Contains(m.Text, "Failed") || !strings.Contains(m.Text, row.ref()) {
			t.Errorf("Slack message of #%d = %q, want it to say it failed and name the ref", d.ID, m.Text)
			ok = false
		}
	} else if newDeployments != 0 {
		t.Errorf("%d deployments stored: %+v", newDeployments, after[0])
		ok = false
	}
	sb.github.WaitWebhooks()
	if n := len(sb.slack.Messages(sandboxChannel)) - slackBefore; n != slackWant {
		t.Errorf("%d Slack messages posted in %s, want %d: %+v", n, sandboxChannel, slackWant, sb.slack.Messages(sandboxChannel))
		ok = false
	}
	if row.responseURL != "" {
		rs := sb.slack.Responses(row.responseURL)
		switch {
		case row.responded == "" && len(rs) != 0:
			t.Errorf("response_url got %+v, want nothing", rs)
			ok = false
		case row.responded != "" && (len(rs) != 1 || !strings.Contains(rs[0].Text, row.responded) || !rs[0].Ephemeral()):
			t.Errorf("response_url got %+v, want one ephemeral message saying %q", rs, row.responded)
			ok = false
		}
	}
	for repo, n := range prBefore {
		number := 12
		if repo != sandboxRepo {
			number = 7
		}
		comments := sb.github.Comments(repo, number)
		want := 0
		if row.prReply != "" && repo == row.prRepo && number == row.prNumber {
			want = 1
		}
		if len(comments)-n != want {
			t.Errorf("%d new comments on %s#%d, want %d: %+v", len(comments)-n, repo, number, want, comments[n:])
			ok = false
			continue
		}
		if want == 1 {
			if c := comments[len(comments)-1]; !strings.Contains(c.Body, row.prReply) {
				t.Errorf("reply on %s#%d = %q, want it to say %q", repo, number, c.Body, row.prReply)
				ok = false
			}
		}
	}
	for _, c := range sb.github.Calls()[ghCallsBefore:] {
		if c.Method == http.MethodPost && strings.HasSuffix(c.Path, "/deployments") {
			t.Errorf("a GitHub deployment was created: %s %s", c.Method, c.Path)
			ok = false
		}
	}
	if n := len(sb.aws.Calls()) - awsBefore; n != 0 {
		t.Errorf("%d AWS calls", n)
		ok = false
	}
	return ok, crashed
}

// replyText is the message of a reply: the text of a Slack reply, the msg
// of a webhook answer, or the plain body.
func replyText(body []byte) string {
	var j struct {
		Text string `json:"text"`
		Msg  string `json:"msg"`
	}
	if json.Unmarshal(body, &j) == nil && j.Text+j.Msg != "" {
		return j.Text + j.Msg
	}
	return strings.TrimSpace(string(body))
}

func badInputRows(t *testing.T, sb *sandbox, corpusDir, good string) []badInput {
	t.Helper()
	var rows []badInput
	add := func(r ...badInput) { rows = append(rows, r...) }

	// --- Slack requests ---
	channelID := sb.slack.ChannelID(sandboxChannel)
	slackForm := func(text, responseURL string) []byte {
		return slackemu.Command{
			UserID: sandboxUser, UserName: "sandbox-user", ChannelID: channelID, ChannelName: "deploys",
			Command: "/deploy", Text: text, ResponseURL: responseURL,
		}.Body()
	}
	slackHeaders := func(secret string, ts time.Time, body []byte) map[string]string {
		return map[string]string{
			"Content-Type":              "application/x-www-form-urlencoded",
			"X-Slack-Request-Timestamp": fmt.Sprint(ts.Unix()),
			"X-Slack-Signature":         slackemu.Sign(secret, ts, body),
		}
	}
	// slack is a signed /deploy whose answer is a 200 with an ephemeral text.
	slack := func(name, text, reply string) badInput {
		responseURL := sb.slack.NewResponseURL()
		body := slackForm(text, responseURL)
		return badInput{name: name, path: "/slack/commands", header: slackHeaders(sandboxSigningSecret, time.Now(), body), body: body,
			status: http.StatusOK, reply: reply, responseURL: responseURL}
	}
	// slackSigned is a /deploy of a valid command with the headers changed.
	slackSigned := func(name string, edit func(h map[string]string, body []byte), status int, reply string) badInput {
		body := slackForm("takumi-server main dev", "")
		h := slackHeaders(sandboxSigningSecret, time.Now(), body)
		edit(h, body)
		return badInput{name: name, path: "/slack/commands", header: h, body: body, status: status, reply: reply}
	}
	now := time.Now()
	add(
		slackSigned("slack signature: no X-Slack-Signature", func(h map[string]string, _ []byte) { delete(h, "X-Slack-Signature") },
			http.StatusUnauthorized, "missing X-Slack-Request-Timestamp or X-Slack-Signature"),
		slackSigned("slack signature: no X-Slack-Request-Timestamp", func(h map[string]string, _ []byte) { delete(h, "X-Slack-Request-Timestamp") },
			http.StatusUnauthorized, "missing X-Slack-Request-Timestamp or X-Slack-Signature"),
		slackSigned("slack signature: forged with another secret", func(h map[string]string, b []byte) {
			h["X-Slack-Signature"] = slackemu.Sign("not-the-signing-secret", now, b)
		}, http.StatusUnauthorized, "signature does not match"),
		slackSigned("slack signature: signature of another body", func(h map[string]string, b []byte) {
			h["X-Slack-Signature"] = slackemu.Sign(sandboxSigningSecret, now, append(b, '&'))
		}, http.StatusUnauthorized, "signature does not match"),
		slackSigned("slack signature: not hex", func(h map[string]string, _ []byte) { h["X-Slack-Signature"] = "v0=zzzz" },
			http.StatusUnauthorized, "signature does not match"),
		slackSigned("slack signature: unknown version v1", func(h map[string]string, _ []byte) {
			h["X-Slack-Signature"] = "v1=" + strings.TrimPrefix(h["X-Slack-Signature"], "v0=")
		}, http.StatusUnauthorized, "signature does not match"),
		slackSigned("slack signature: truncated", func(h map[string]string, _ []byte) { h["X-Slack-Signature"] = h["X-Slack-Signature"][:20] },
			http.StatusUnauthorized, "signature does not match"),
		slackSigned("slack signature: timestamp not a number", func(h map[string]string, _ []byte) { h["X-Slack-Request-Timestamp"] = "yesterday" },
			http.StatusUnauthorized, "bad X-Slack-Request-Timestamp"),
		slackSigned("slack signature: timestamp beyond int64", func(h map[string]string, _ []byte) {
			h["X-Slack-Request-Timestamp"] = "99999999999999999999"
		}, http.StatusUnauthorized, "bad X-Slack-Request-Timestamp"),
		slackSigned("slack signature: timestamp of another moment", func(h map[string]string, _ []byte) {
			h["X-Slack-Request-Timestamp"] = fmt.Sprint(now.Unix() - 1)
		}, http.StatusUnauthorized, "signature does not match"),
		slackSigned("slack replay: signed 6 minutes ago", func(h map[string]string, b []byte) {
			ts := now.Add(-6 * time.Minute)
			h["X-Slack-Request-Timestamp"], h["X-Slack-Signature"] = fmt.Sprint(ts.Unix()), slackemu.Sign(sandboxSigningSecret, ts, b)
		}, http.StatusUnauthorized, "outside the 5m0s window"),
		slackSigned("slack replay: signed 10 minutes in the future", func(h map[string]string, b []byte) {
			ts := now.Add(10 * time.Minute)
			h["X-Slack-Request-Timestamp"], h["X-Slack-Signature"] = fmt.Sprint(ts.Unix()), slackemu.Sign(sandboxSigningSecret, ts, b)
		}, http.StatusUnauthorized, "outside the 5m0s window"),
		slackSigned("slack replay: Slack's documented 2018 example", func(h map[string]string, _ []byte) {
			h["X-Slack-Request-Timestamp"] = "1531420618"
			h["X-Slack-Signature"] = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
		}, http.StatusUnauthorized, "outside the 5m0s window"),
	)
	// A forged button click is refused like a forged command.
	{
		payload := url.Values{"payload": {`{"type":"block_actions","user":{"id":"` + sandboxUser + `"},"actions":[{"action_id":"rollback","value":"1"}]}`}}.Encode()
		h := slackHeaders("not-the-signing-secret", now, []byte(payload))
		add(badInput{name: "slack signature: forged button click", path: "/slack/interactions", header: h, body: []byte(payload),
			status: http.StatusUnauthorized, reply: "signature does not match"})
	}

	// Content types: Slack sends forms, GitHub (as deploybot's App is set
	// up) JSON. Signed, so that only the type is wrong.
	{
		jsonBody := []byte(`{"command":"/deploy","text":"takumi-server main dev","user_id":"` + sandboxUser + `"}`)
		h := slackHeaders(sandboxSigningSecret, now, jsonBody)
		h["Content-Type"] = "application/json"
		add(badInput{name: "content type: Slack command as JSON", path: "/slack/commands", header: h, body: jsonBody,
			status: http.StatusUnsupportedMediaType, reply: "application/x-www-form-urlencoded"})

		form := slackForm("takumi-server main dev", "")
		h = slackHeaders(sandboxSigningSecret, now, form)
		h["Content-Type"] = "text/plain"
		add(badInput{name: "content type: Slack command as text/plain", path: "/slack/commands", header: h, body: form,
			status: http.StatusUnsupportedMediaType, reply: "application/x-www-form-urlencoded"})

		multipart := []byte("--x\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\ntakumi-server main dev\r\n--x--\r\n")
		h = slackHeaders(sandboxSigningSecret, now, multipart)
		h["Content-Type"] = "multipart/form-data; boundary=x"
		add(badInput{name: "content type: Slack command as multipart", path: "/slack/commands", header: h, body: multipart,
			status: http.StatusUnsupportedMediaType, reply: "application/x-www-form-urlencoded"})

		click := []byte(`{"type":"block_actions","actions":[{"action_id":"rollback","value":"1"}]}`)
		h = slackHeaders(sandboxSigningSecret, now, click)
		h["Content-Type"] = "application/json"
		add(badInput{name: "content type: Slack button click as JSON", path: "/slack/interactions", header: h, body: click,
			status: http.StatusUnsupportedMediaType, reply: "application/x-www-form-urlencoded"})

		h = slackHeaders(sandboxSigningSecret, now, form)
		h["Content-Type"] = "x-www-form-urlencoded"
		add(badInput{name: "content type: Slack command with a type missing its slash", path: "/slack/commands", header: h, body: form,
			status: http.StatusUnsupportedMediaType, reply: "application/x-www-form-urlencoded"})

		h = slackHeaders(sandboxSigningSecret, now, form)
		h["Content-Type"] = "application/x-www-form-urlencoded; charset"
		add(badInput{name: "content type: Slack command with a malformed parameter", path: "/slack/commands", header: h, body: form,
			status: http.StatusUnsupportedMediaType, reply: "application/x-www-form-urlencoded"})
	}

	// Slack text: what a person may type.
	notEnv := "is not an environment name"
	notRef := "is not a ref I can deploy"
	notApp := "is not an app name"
	couldNot := "I could not read"
	add(
		slack("slack text: empty", "", "Tell me what to deploy."),
		slack("slack text: unknown command", "frobnicate", couldNot),
		slack("slack text: app not configured", "nope main dev", `unknown app "nope"; known apps: shop-web, takumi-server`),
		slack("slack text: environment not configured", "takumi-server main qa", `app takumi-server has no environment "qa"; its environments: dev, prod, staging`),
		slack("slack text: environment in unicode", "takumi-server main dév", notEnv),
		slack("slack text: environment in Cyrillic look-alikes", "takumi-server main рrod", notEnv),
		slack("slack text: environment ../prod", "takumi-server main ../prod", notEnv),
		slack("slack text: environment with NUL", "takumi-server main dev\x00", notEnv),
		slack("slack text: environment with a control character", "takumi-server main de\x1bv", notEnv),
		slack("slack text: environment with spaces", "takumi-server main to \"dev prod\"", couldNot),
		slack("slack text: environment {{.Env}}", "takumi-server main {{.Env}}", notEnv),
		slack("slack text: environment in backticks", "takumi-server main `prod`", notEnv),
		slack("slack text: environment dev;rm", "takumi-server main dev;rm", notEnv),
		slack("slack text: environment dev|cat", "takumi-server main dev|cat", notEnv),
		slack("slack text: environment dev&&ls", "takumi-server main dev&&ls", notEnv),
		slack("slack text: environment as a Slack broadcast", "takumi-server main <!channel>", notEnv),
		slack("slack text: app {{.Env}}", "{{.Env}} main dev", notApp),
		slack("slack text: app $(id)", "$(id) main dev", notApp),
		slack("slack text: ref $(rm -rf /)", "takumi-server $(rm -rf /) dev", couldNot),
		slack("slack text: ref $(id)", "takumi-server $(id) dev", notRef),
		slack("slack text: ref {{.Env}}", "takumi-server {{.Env}} dev", notRef),
		slack("slack text: ref {{.SHA}} in a tag template's words", "takumi-server git_{{.ShortSHA}} dev", notRef),
		slack("slack text: ref in backticks", "takumi-server `reboot` dev", notRef),
		slack("slack text: ref main;reboot", "takumi-server main;reboot dev", notRef),
		slack("slack text: ref a|b", "takumi-server a|b dev", notRef),
		slack("slack text: ref a&b", "takumi-server a&b dev", notRef),
		slack("slack text: ref ../../etc/passwd", "takumi-server ../../etc/passwd dev", notRef),
		slack("slack text: ref starting with a dash", "takumi-server --upload-pack=x dev", notRef),
		slack("slack text: sha of 256 hex digits", "takumi-server "+strings.Repeat("ab", 128)+" dev", notRef),
		slack("slack text: 10 kB ref", "takumi-server "+strings.Repeat("a", 10<<10)+" dev", notRef),
		slack("slack text: 10 kB of words", strings.Repeat("deploy ", (10<<10)/7), couldNot),
		slack("slack text: 10 kB environment", "takumi-server main "+strings.Repeat("é", 5<<10), notEnv),
		slack("slack text: cancel of a non-number", "cancel $(id)", "is not a deployment id"),
		slack("slack text: lock for 999 days", "lock takumi-server dev 999d", "is not a lock duration"),
		slack("slack text: status of ../x", "status ../x", notApp),
		slack("slack text: rollback of an unknown environment", "rollback takumi-server q/a", notEnv),
	)
	// Refs that look fine and do not exist: the contract acknowledges a
	// deploy before resolving its ref (DESIGN.md: stored before it is
	// acknowledged, resolved by the pipeline), so these are accepted and
	// then fail, before any GitHub deployment exists.
	for _, ref := range []string{
		"0badc0d",                           // 7 hex digits
		"0badc0de0bad",                      // 12
		strings.Repeat("0badc0de", 5),       // 40
		strings.Repeat("0badc0de", 5) + "0", // 41
		strings.Repeat("g", 40),             // 40, not hex
		"no-such-branch",
		"v9.9.9",
	} {
		r := slack("missing ref: "+ref, "takumi-server "+ref+" dev", "accepted")
		r.fails = fmt.Sprintf("ref %q not found in %s", ref, sandboxRepo)
		add(r)
	}

	// Slack button clicks.
	click := func(name, payload string, status int, reply, responded string) badInput {
		responseURL := sb.slack.NewResponseURL()
		payload = strings.ReplaceAll(payload, "RESPONSE_URL", responseURL)
		body := []byte(url.Values{"payload": {payload}}.Encode())
		return badInput{name: name, path: "/slack/interactions", header: slackHeaders(sandboxSigningSecret, time.Now(), body), body: body,
			status: status, reply: reply, responseURL: responseURL, responded: responded}
	}
	user := `"user":{"id":"` + sandboxUser + `"},"channel":{"id":"` + channelID + `"},"response_url":"RESPONSE_URL"`
	add(
		click("slack click: unknown action", `{"type":"block_actions",`+user+`,"actions":[{"action_id":"$(rm -rf /)","value":"1"}]}`,
			http.StatusOK, "", `I do not know the action "$(rm -rf /)"`),
		click("slack click: value not a number", `{"type":"block_actions",`+user+`,"actions":[{"action_id":"rollback","value":"{{.Env}}"}]}`,
			http.StatusOK, "", "That button does not name a deployment."),
		click("slack click: deployment that does not exist", `{"type":"block_actions",`+user+`,"actions":[{"action_id":"rollback","value":"999999"}]}`,
			http.StatusOK, "", "999999"),
		click("slack click: unknown payload type", `{"type":"view_submission",`+user+`,"actions":[{"action_id":"rollback","value":"1"}]}`,
			http.StatusBadRequest, "not a block_actions payload", ""),
		click("slack click: no actions", `{"type":"block_actions",`+user+`,"actions":[]}`,
			http.StatusBadRequest, "not a block_actions payload", ""),
		click("slack click: truncated JSON", `{"type":"block_actions",`+user+`,"actions":[{"action_id":"rollb`,
			http.StatusBadRequest, "not a block_actions payload", ""),
		click("slack click: actions of the wrong type", `{"type":"block_actions",`+user+`,"actions":"rollback"}`,
			http.StatusBadRequest, "not a block_actions payload", ""),
		click("slack click: no payload", ``, http.StatusBadRequest, "not a block_actions payload", ""),
	)

	// Bodies over the limit, cut off without being read whole. The
	// headers are as Slack's and GitHub's (the signature made up), so that
	// the size is what is judged.
	slackLike := map[string]string{"Content-Type": "application/x-www-form-urlencoded",
		"X-Slack-Request-Timestamp": strconv.FormatInt(now.Unix(), 10), "X-Slack-Signature": "v0=" + strings.Repeat("0", 64)}
	githubLike := func(event, delivery string) map[string]string {
		return map[string]string{"Content-Type": "application/json", "X-GitHub-Event": event, "X-GitHub-Delivery": delivery,
			"X-Hub-Signature-256": "sha256=" + strings.Repeat("0", 64)}
	}
	add(
		badInput{name: "body size: Slack command streamed 32 MiB", path: "/slack/commands",
			header: slackLike, stream: 32 << 20, readAtMost: slackBodyLimit + overLimit,
			status: http.StatusRequestEntityTooLarge, reply: "request body too large"},
		badInput{name: "body size: Slack command announcing 32 MiB", path: "/slack/commands",
			header: slackLike, stream: 32 << 20, announce: 32 << 20, readAtMost: overLimit,
			status: http.StatusRequestEntityTooLarge, reply: "request body too large"},
		badInput{name: "body size: Slack button click streamed 32 MiB", path: "/slack/interactions",
			header: slackLike, stream: 32 << 20, readAtMost: slackBodyLimit + overLimit,
			status: http.StatusRequestEntityTooLarge, reply: "request body too large"},
		badInput{name: "body size: Slack command one byte over", path: "/slack/commands",
			header: slackHeaders(sandboxSigningSecret, now, bytes.Repeat([]byte("a"), slackBodyLimit+1)), body: bytes.Repeat([]byte("a"), slackBodyLimit+1),
			status: http.StatusRequestEntityTooLarge, reply: "request body too large"},
		badInput{name: "body size: GitHub webhook streamed 128 MiB", path: "/webhooks/github",
			header: githubLike("deployment", "bad-size-1"), stream: 128 << 20, readAtMost: githubBodyLimit + overLimit,
			status: http.StatusRequestEntityTooLarge, reply: "request body too large"},
		badInput{name: "body size: GitHub webhook announcing 128 MiB", path: "/webhooks/github",
			header: githubLike("deployment", "bad-size-2"), stream: 128 << 20, announce: 128 << 20, readAtMost: overLimit,
			status: http.StatusRequestEntityTooLarge, reply: "request body too large"},
		badInput{name: "body size: GitHub comment announcing 2 MiB", path: "/webhooks/github",
			header: githubLike("issue_comment", "bad-size-3"), stream: 2 << 20, announce: 2 << 20, readAtMost: overLimit,
			status: http.StatusRequestEntityTooLarge, reply: "1 MiB"},
		// Without the headers a sender would have, nothing of the body is
		// read at all.
		badInput{name: "body size: unsigned Slack command announcing 32 MiB", path: "/slack/commands",
			header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, stream: 32 << 20, announce: 32 << 20, readAtMost: overLimit,
			status: http.StatusUnauthorized, reply: "missing X-Slack-Request-Timestamp"},
		badInput{name: "body size: unsigned GitHub webhook streamed 128 MiB", path: "/webhooks/github",
			header: map[string]string{"Content-Type": "application/json", "X-GitHub-Event": "deployment", "X-GitHub-Delivery": "bad-size-4"}, stream: 128 << 20, readAtMost: overLimit,
			status: http.StatusUnauthorized, reply: "X-Hub-Signature-256 required"},
	)

	// --- GitHub webhooks ---
	delivery := 0
	hook := func(name, event string, body []byte, status int, reply string) badInput {
		delivery++
		return badInput{name: name, path: "/webhooks/github", header: map[string]string{
			"Content-Type":        "application/json",
			"X-GitHub-Event":      event,
			"X-GitHub-Delivery":   fmt.Sprintf("bad-input-%d", delivery),
			"X-Hub-Signature-256": githubemu.Signature256(sandboxWebhookSecret, body),
		}, body: body, status: status, reply: reply}
	}
	readCorpus := func(path string) map[string]any {
		raw, err := os.ReadFile(corpusDir + path)
		if err != nil {
			t.Fatal(err)
		}
		var ev map[string]any
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatal(err)
		}
		return ev
	}
	nextID := int64(900000)
	// deployment is GitHub's example deployment event rewritten into a
	// valid one for the sandbox (a dev deploy of a green commit), then
	// changed by edit.
	deployment := func(edit func(ev, dep map[string]any)) []byte {
		ev := readCorpus("deployment/with-installation.payload.json")
		ev["repository"].(map[string]any)["full_name"] = sandboxRepo
		ev["installation"] = map[string]any{"id": sandboxInstall}
		dep := ev["deployment"].(map[string]any)
		nextID++
		dep["id"] = nextID
		dep["sha"], dep["ref"], dep["environment"] = good, "main", "dev"
		dep["payload"] = map[string]any{}
		dep["creator"].(map[string]any)["login"] = sandboxWriter
		edit(ev, dep)
		out, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	valid := deployment(func(ev, dep map[string]any) {})
	signedHook := func(name string, edit func(h map[string]string), status int, reply string) badInput {
		r := hook(name, "deployment", valid, status, reply)
		edit(r.header)
		return r
	}
	sha1Sig := func(secret string, body []byte) string {
		mac := hmac.New(sha1.New, []byte(secret))
		mac.Write(body)
		return "sha1=" + hex.EncodeToString(mac.Sum(nil))
	}
	add(
		signedHook("github signature: no X-Hub-Signature-256", func(h map[string]string) { delete(h, "X-Hub-Signature-256") },
			http.StatusUnauthorized, "X-Hub-Signature-256 required"),
		signedHook("github signature: SHA-1 X-Hub-Signature only", func(h map[string]string) {
			delete(h, "X-Hub-Signature-256")
			h["X-Hub-Signature"] = sha1Sig(sandboxWebhookSecret, valid)
		}, http.StatusUnauthorized, "X-Hub-Signature-256 required"),
		signedHook("github signature: SHA-1 HMAC in X-Hub-Signature-256", func(h map[string]string) {
			h["X-Hub-Signature-256"] = sha1Sig(sandboxWebhookSecret, valid)
		}, http.StatusUnauthorized, "X-Hub-Signature-256"),
		signedHook("github signature: forged with another secret", func(h map[string]string) {
			h["X-Hub-Signature-256"] = githubemu.Signature256("not-the-webhook-secret", valid)
		}, http.StatusUnauthorized, "invalid X-Hub-Signature-256"),
		signedHook("github signature: signature of another body", func(h map[string]string) {
			h["X-Hub-Signature-256"] = githubemu.Signature256(sandboxWebhookSecret, append([]byte(" "), valid...))
		}, http.StatusUnauthorized, "invalid X-Hub-Signature-256"),
		signedHook("github signature: not hex", func(h map[string]string) { h["X-Hub-Signature-256"] = "sha256=zz" },
			http.StatusUnauthorized, "invalid X-Hub-Signature-256"),
		signedHook("github signature: empty digest", func(h map[string]string) { h["X-Hub-Signature-256"] = "sha256=" },
			http.StatusUnauthorized, "invalid X-Hub-Signature-256"),
		signedHook("github signature: truncated digest", func(h map[string]string) {
			h["X-Hub-Signature-256"] = h["X-Hub-Signature-256"][:len("sha256=")+32]
		}, http.StatusUnauthorized, "invalid X-Hub-Signature-256"),
		signedHook("github signature: no algorithm", func(h map[string]string) {
			h["X-Hub-Signature-256"] = strings.TrimPrefix(h["X-Hub-Signature-256"], "sha256=")
		}, http.StatusUnauthorized, "X-Hub-Signature-256"),
		signedHook("github headers: no X-GitHub-Event", func(h map[string]string) { delete(h, "X-GitHub-Event") },
			http.StatusBadRequest, "missing X-GitHub-Event or X-GitHub-Delivery"),
		signedHook("github headers: no X-GitHub-Delivery", func(h map[string]string) { delete(h, "X-GitHub-Delivery") },
			http.StatusBadRequest, "missing X-GitHub-Event or X-GitHub-Delivery"),
	)
	{
		// A webhook set up with GitHub's other content type.
		form := []byte(url.Values{"payload": {string(valid)}}.Encode())
		r := hook("content type: GitHub webhook as a form", "deployment", form, http.StatusUnsupportedMediaType, "application/json")
		r.header["Content-Type"] = "application/x-www-form-urlencoded"
		add(r)
		r = hook("content type: GitHub webhook as text/plain", "deployment", valid, http.StatusUnsupportedMediaType, "application/json")
		r.header["Content-Type"] = "text/plain"
		add(r)
		r = hook("content type: GitHub webhook as XML", "deployment", []byte("<deployment/>"), http.StatusUnsupportedMediaType, "application/json")
		r.header["Content-Type"] = "application/xml"
		add(r)
	}

	notDeployment := "not a deployment event"
	add(
		hook("github JSON: truncated deployment", "deployment", valid[:len(valid)/2], http.StatusBadRequest, notDeployment),
		hook("github JSON: empty body", "deployment", nil, http.StatusBadRequest, notDeployment),
		hook("github JSON: null", "deployment", []byte("null"), http.StatusBadRequest, notDeployment),
		hook("github JSON: an array", "deployment", []byte("[]"), http.StatusBadRequest, notDeployment),
		hook("github JSON: no deployment object", "deployment", []byte(`{"action":"created","repository":{"full_name":"takumi/takumi-server"}}`), http.StatusBadRequest, notDeployment),
		hook("github JSON: deployment id a string", "deployment", deployment(func(_, dep map[string]any) { dep["id"] = "x" }), http.StatusBadRequest, "deployment.id"),
		hook("github JSON: deployment a string", "deployment", deployment(func(ev, _ map[string]any) { ev["deployment"] = "x" }), http.StatusBadRequest, notDeployment),
		hook("github JSON: environment a number", "deployment", deployment(func(_, dep map[string]any) { dep["environment"] = 5 }), http.StatusBadRequest, "deployment.environment"),
		hook("github JSON: sha an object", "deployment", deployment(func(_, dep map[string]any) { dep["sha"] = map[string]any{} }), http.StatusBadRequest, "deployment.sha"),
		hook("github JSON: repository a number", "deployment", deployment(func(ev, _ map[string]any) { ev["repository"] = 5 }), http.StatusBadRequest, notDeployment),
		hook("github JSON: creator a list", "deployment", deployment(func(_, dep map[string]any) { dep["creator"] = []any{} }), http.StatusBadRequest, "deployment.creator"),
		hook("github JSON: installation id a string", "deployment", deployment(func(ev, _ map[string]any) { ev["installation"] = map[string]any{"id": "x"} }), http.StatusBadRequest, "installation.id"),
		hook("github JSON: invalid UTF-8", "deployment", append([]byte(`{"deployment":{"environment":"`), 0xff, '"', '}', '}'), http.StatusBadRequest, notDeployment),
	)
	// Deployment events deploybot will not run: refused naming why, the
	// GitHub deployment closed with an error status (Reject), nothing
	// stored.
	add(
		hook("github event: repository not configured", "deployment", deployment(func(ev, _ map[string]any) {
			ev["repository"].(map[string]any)["full_name"] = "someone/else"
		}), http.StatusAccepted, "ignored: deploybot serves no app in someone/else"),
		hook("github event: repository ../../etc", "deployment", deployment(func(ev, _ map[string]any) {
			ev["repository"].(map[string]any)["full_name"] = "../../etc"
		}), http.StatusAccepted, "ignored: deploybot serves no app in ../../etc"),
		hook("github event: app not configured", "deployment", deployment(func(_, dep map[string]any) {
			dep["payload"] = map[string]any{"app": "nope"}
		}), http.StatusAccepted, `deploybot has no app "nope" for takumi/takumi-server`),
		hook("github event: app {{.Env}}", "deployment", deployment(func(_, dep map[string]any) {
			dep["payload"] = map[string]any{"app": "{{.Env}}"}
		}), http.StatusAccepted, `deploybot has no app "{{.Env}}"`),
		hook("github event: environment not configured", "deployment", deployment(func(_, dep map[string]any) { dep["environment"] = "qa" }),
			http.StatusAccepted, `app takumi-server has no environment "qa"`),
		hook("github event: GitHub Pages' own deployment", "deployment", deployment(func(_, dep map[string]any) {
			dep["environment"], dep["ref"] = "github-pages", "gh-pages"
			dep["creator"].(map[string]any)["login"] = "github-pages[bot]"
		}), http.StatusAccepted, `has no environment "github-pages"`),
		hook("github event: creator not allowed on prod", "deployment", deployment(func(_, dep map[string]any) {
			dep["environment"] = "prod"
			dep["creator"].(map[string]any)["login"] = "mallory"
		}), http.StatusAccepted, "may not deploy takumi-server to prod"),
		hook("github event: unknown action", "deployment", deployment(func(ev, _ map[string]any) { ev["action"] = "deleted" }),
			http.StatusAccepted, "ignored: deployment deleted"),
		hook("github event: forged deploybot_id", "deployment", deployment(func(_, dep map[string]any) {
			dep["payload"] = map[string]any{"app": sandboxApp, "deploybot_id": 424242}
		}), http.StatusAccepted, "not created by deploybot"),
	)
	for _, env := range []string{"dév", "de v", "../prod", "dev\x00", "{{.Env}}", "$(rm -rf /)", "`reboot`", "dev;ls|cat&", "<!channel>", strings.Repeat("e", 10<<10)} {
		name := env
		if len(name) > 20 {
			name = name[:20] + "…"
		}
		add(hook("github event: environment "+name, "deployment", deployment(func(_, dep map[string]any) { dep["environment"] = env }),
			http.StatusAccepted, "app takumi-server has no environment"))
	}
	for _, sha := range []string{
		good[:7], good[:12], good[:39], good + "0", strings.Repeat("g", 40), strings.ToUpper(good),
		"", "$(rm -rf /)", "{{.SHA}}", strings.Repeat("a", 10<<10),
	} {
		name := sha
		if len(name) > 20 {
			name = name[:20] + "…"
		}
		add(hook(fmt.Sprintf("github event: sha %q (%d chars)", name, len(sha)), "deployment", deployment(func(_, dep map[string]any) { dep["sha"] = sha }),
			http.StatusBadRequest, "not a full commit sha"))
	}

	// Events deploybot does not act on: acknowledged and ignored.
	add(
		hook("github event: push without a repository", "push", []byte(`{"ref":"refs/heads/main"}`), http.StatusBadRequest, "not a push event"),
		hook("github event: push of a tag", "push", []byte(`{"ref":"refs/tags/main","after":"`+good+`","repository":{"full_name":"`+sandboxRepo+`"}}`), http.StatusAccepted, "not a branch"),
		hook("github event: push to a branch nothing deploys", "push", []byte(`{"ref":"refs/heads/feature","after":"`+good+`","repository":{"full_name":"`+sandboxRepo+`"}}`), http.StatusAccepted, "no environment deploys pushes to feature"),
		hook("github event: push to another repository", "push", []byte(`{"ref":"refs/heads/main","after":"`+good+`","repository":{"full_name":"`+otherRepo+`"}}`), http.StatusAccepted, "no environment deploys"),
		hook("github event: push deleting the branch", "push", []byte(`{"ref":"refs/heads/main","after":"`+strings.Repeat("0", 40)+`","deleted":true,"repository":{"full_name":"`+sandboxRepo+`"}}`), http.StatusAccepted, "deleted"),
		hook("github event: push of a short sha", "push", []byte(`{"ref":"refs/heads/main","after":"`+good[:7]+`","repository":{"full_name":"`+sandboxRepo+`"}}`), http.StatusBadRequest, "not a full commit sha"),
		hook("github event: deployment_status", "deployment_status", []byte(`{"action":"created"}`), http.StatusAccepted, "ignored event deployment_status"),
		hook("github event: named ../../admin", "../../admin", []byte(`{}`), http.StatusAccepted, "ignored event ../../admin"),
		hook("github event: upper-case Deployment", "Deployment", valid, http.StatusAccepted, "ignored event Deployment"),
		hook("github event: check_run truncated", "check_run", []byte(`{"action":"completed","check_run":{"head_sha":"`+good[:20]), http.StatusAccepted, "check_run noted"),
		hook("github event: status with a non-hex sha", "status", []byte(`{"sha":"`+strings.Repeat("z", 40)+`","state":"success"}`), http.StatusAccepted, "status noted"),
	)

	// Pull-request comments, from GitHub's example issue_comment event.
	comment := func(name, repo string, number int, body string, edit func(ev map[string]any), status int, reply, prReply string) badInput {
		ev := readCorpus("issue_comment/created.payload.json")
		ev["repository"].(map[string]any)["full_name"] = repo
		ev["installation"] = map[string]any{"id": sandboxInstall}
		issue := ev["issue"].(map[string]any)
		issue["number"] = number
		issue["pull_request"] = map[string]any{"url": "https://api.github.com/repos/" + repo + "/pulls/" + fmt.Sprint(number)}
		c := ev["comment"].(map[string]any)
		nextID++
		c["id"] = nextID
		c["body"] = body
		c["user"].(map[string]any)["login"] = sandboxWriter
		c["user"].(map[string]any)["type"] = "User"
		if edit != nil {
			edit(ev)
		}
		raw, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		r := hook(name, "issue_comment", raw, status, reply)
		if prReply != "" {
			r.prRepo, r.prNumber, r.prReply = repo, number, prReply
		}
		return r
	}
	pr := func(name, body, prReply string) badInput {
		return comment(name, sandboxRepo, 12, body, nil, http.StatusAccepted, "no deployment", prReply)
	}
	add(
		pr("pr comment: environment ../prod", "deploy to ../prod", notEnv),
		pr("pr comment: environment $(rm -rf /)", "deploy to $(rm -rf /)", notEnv),
		pr("pr comment: environment dév", "deploy to dév", notEnv),
		pr("pr comment: environment in backticks", "deploy to `prod`", notEnv),
		pr("pr comment: environment dev;", "deploy to dev; rm -rf /", notEnv),
		pr("pr comment: environment with NUL", "deploy to dev\x00", notEnv),
		pr("pr comment: app {{.Env}}", "deploy {{.Env}} to dev", notApp),
		pr("pr comment: environment not configured", "deploy to qa", `app takumi-server has no environment "qa"`),
		pr("pr comment: app not configured", "deploy nope to dev", `takumi/takumi-server has no app "nope"`),
		pr("pr comment: 10 kB environment", "deploy to "+strings.Repeat("x;", 5<<10), notEnv),
		comment("pr comment: repository not configured", otherRepo, 7, "deploy to dev", nil, http.StatusAccepted, "ignored: deploybot serves no app in takumi/other", ""),
		comment("pr comment: edited", sandboxRepo, 12, "deploy to dev", func(ev map[string]any) { ev["action"] = "edited" }, http.StatusAccepted, "ignored: comment edited", ""),
		comment("pr comment: unknown action", sandboxRepo, 12, "deploy to dev", func(ev map[string]any) { ev["action"] = "frobnicated" }, http.StatusAccepted, "ignored: comment frobnicated", ""),
		comment("pr comment: on a plain issue", sandboxRepo, 12, "deploy to dev", func(ev map[string]any) { delete(ev["issue"].(map[string]any), "pull_request") }, http.StatusAccepted, "ignored: not a pull request", ""),
		comment("pr comment: by a bot", sandboxRepo, 12, "deploy to dev", func(ev map[string]any) {
			ev["comment"].(map[string]any)["user"].(map[string]any)["login"] = "other-bot[bot]"
		}, http.StatusAccepted, "ignored: comment by a bot", ""),
		comment("github JSON: comment body a number", sandboxRepo, 12, "", func(ev map[string]any) { ev["comment"].(map[string]any)["body"] = 5 }, http.StatusBadRequest, "comment.body", ""),
		hook("github JSON: truncated issue_comment", "issue_comment", []byte(`{"action":"created","comment":{"body":"deploy to dev`), http.StatusBadRequest, "not an issue_comment event"),
	)

	// Methods and paths outside the contract.
	add(
		badInput{name: "http: GET a webhook", method: http.MethodGet, path: "/webhooks/github", status: http.StatusMethodNotAllowed, reply: "Method Not Allowed"},
		badInput{name: "http: PUT a Slack command", method: http.MethodPut, path: "/slack/commands", status: http.StatusMethodNotAllowed, reply: "Method Not Allowed"},
		badInput{name: "http: DELETE a deployment page", method: http.MethodDelete, path: "/deployments/1", status: http.StatusMethodNotAllowed, reply: "Method Not Allowed"},
		badInput{name: "http: POST /healthz", path: "/healthz", status: http.StatusMethodNotAllowed, reply: "Method Not Allowed"},
		badInput{name: "http: unknown path", path: "/webhooks/gitlab", status: http.StatusNotFound, reply: "404 page not found"},
	)
	return rows
}
