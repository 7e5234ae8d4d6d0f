package handlers

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
)

// hidingWriter wraps a ResponseWriter as middleware does (the metrics one
// among them), hiding the server's own methods behind it.
type hidingWriter struct{ http.ResponseWriter }

// An oversize body is answered at once even behind middleware, without the
// server first reading more of it: the sender here stops after the limit
// and a little, and still gets its 413.
func TestBodyTooLargeAnsweredBehindMiddleware(t *testing.T) {
	s := &Server{Config: &bot.Config{Slack: bot.SlackConfig{SigningSecret: slackSecret}}}
	h := s.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(hidingWriter{w}, r)
	}))
	defer srv.Close()

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	chunk := strings.Repeat("a", maxSlackBody+1024)
	// Headers as Slack's, so that the body is what is judged.
	fmt.Fprintf(conn, "POST /slack/commands HTTP/1.1\r\nHost: deploybot\r\nContent-Type: application/x-www-form-urlencoded\r\nX-Slack-Request-Timestamp: %d\r\nX-Slack-Signature: v0=00\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n", time.Now().Unix(), len(chunk), chunk)
	// No more of the body, and no end to it.
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer while the rest of the body is withheld: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !resp.Close {
		t.Errorf("HTTP %d, Connection %q; want 413 closing the connection", resp.StatusCode, resp.Header.Get("Connection"))
	}
}

// A body declared as another type than the endpoint takes is refused
// before anything reads it; a request that declares none is still read.
func TestIntakeRefusesWrongContentType(t *testing.T) {
	srv, rec := newTestServer(t, time.Now())
	now := time.Now().Unix()
	for _, tt := range []struct {
		path, contentType, body string
	}{
		{"/slack/commands", "application/json", `{"user_id":"U1","text":"web main dev"}`},
		{"/slack/commands", "text/plain", url.Values{"user_id": {"U1"}, "text": {"web main dev"}}.Encode()},
		{"/slack/commands", "application/x-www-form-urlencoded; charset", url.Values{"user_id": {"U1"}, "text": {"web main dev"}}.Encode()},
		{"/slack/interactions", "application/json", `{"type":"block_actions"}`},
	} {
		req, _ := http.NewRequest("POST", srv.URL+tt.path, strings.NewReader(tt.body))
		req.Header.Set("Content-Type", tt.contentType)
		req.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(now, 10))
		req.Header.Set("X-Slack-Signature", slackSign(slackSecret, now, tt.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("%s as %s: HTTP %d, want 415", tt.path, tt.contentType, resp.StatusCode)
		}
	}

	body := rewriteDeployment(t, 5151, "web", "dev")
	form := []byte(url.Values{"payload": {string(body)}}.Encode())
	req, _ := http.NewRequest("POST", srv.URL+"/webhooks/github", strings.NewReader(string(form)))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-GitHub-Event", "deployment")
	req.Header.Set("X-GitHub-Delivery", "form-1")
	req.Header.Set("X-Hub-Signature-256", hubSign(hookSecret, form))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("form-encoded webhook: HTTP %d, want 415", resp.StatusCode)
	}
	if len(rec.accepted)+len(rec.rejected) != 0 {
		t.Errorf("refused requests reached the bot: accepted %v, rejected %v", rec.accepted, rec.rejected)
	}

	// Without a declared type, the body is read as what it should be.
	if out := slackSay(t, srv, time.Now(), "U1", "web main dev"); !strings.Contains(fmt.Sprint(out["text"]), "accepted") {
		t.Errorf("untyped command: %v", out)
	}
}

// A refused Slack request says why: a stale timestamp is not a bad secret.
func TestSlackRefusalSaysWhy(t *testing.T) {
	now := time.Now()
	srv, _ := newTestServer(t, now)
	body := url.Values{"user_id": {"U1"}, "text": {"web main dev"}}.Encode()
	stale := now.Add(-6 * time.Minute).Unix()
	for _, tt := range []struct {
		ts   int64
		sig  string
		want string
	}{
		{stale, slackSign(slackSecret, stale, body), "outside the 5m0s window"},
		{now.Unix(), slackSign("wrong", now.Unix(), body), "signature does not match"},
		{now.Unix(), "", "missing X-Slack-Request-Timestamp or X-Slack-Signature"},
	} {
		req, _ := http.NewRequest("POST", srv.URL+"/slack/commands", strings.NewReader(body))
		req.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(tt.ts, 10))
		req.Header.Set("X-Slack-Signature", tt.sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		reply, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(string(reply), "invalid Slack signature: ") || !strings.Contains(string(reply), tt.want) {
			t.Errorf("HTTP %d %q, want 401 saying %q", resp.StatusCode, reply, tt.want)
		}
	}
}

// editEvent changes a JSON event.
func editEvent(t *testing.T, body []byte, edit func(ev, dep map[string]any)) []byte {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal(body, &ev); err != nil {
		t.Fatal(err)
	}
	dep, _ := ev["deployment"].(map[string]any)
	edit(ev, dep)
	out, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Deployment events GitHub would never send are refused saying what is
// wrong, and reach neither Accept nor Reject; other actions than created
// are ignored; a refusal echoes a bounded message.
func TestDeploymentEventMalformed(t *testing.T) {
	srv, rec := newTestServer(t, time.Now())
	valid := rewriteDeployment(t, 6161, "web", "dev")
	for i, tt := range []struct {
		edit func(ev, dep map[string]any)
		code int
		want string
	}{
		{func(_, dep map[string]any) { dep["sha"] = "f95f852" }, http.StatusBadRequest, "not a full commit sha"},
		{func(_, dep map[string]any) { dep["sha"] = strings.Repeat("g", 40) }, http.StatusBadRequest, "not a full commit sha"},
		{func(_, dep map[string]any) { dep["sha"] = strings.ToUpper(dep["sha"].(string)) }, http.StatusBadRequest, "not a full commit sha"},
		{func(_, dep map[string]any) { delete(dep, "sha") }, http.StatusBadRequest, "not a full commit sha"},
		{func(_, dep map[string]any) { dep["id"] = "x" }, http.StatusBadRequest, "deployment.id"},
		{func(ev, _ map[string]any) { ev["repository"] = "x" }, http.StatusBadRequest, "not a deployment event: json"},
		{func(ev, _ map[string]any) { delete(ev, "repository") }, http.StatusBadRequest, "no deployment or repository"},
		{func(ev, _ map[string]any) { ev["action"] = "deleted" }, http.StatusAccepted, "ignored: deployment deleted"},
	} {
		body := editEvent(t, valid, tt.edit)
		code, out := postHook(t, srv, "deployment", fmt.Sprintf("malformed-%d", i), map[string]string{"X-Hub-Signature-256": hubSign(hookSecret, body)}, body)
		if code != tt.code || !strings.Contains(out, tt.want) {
			t.Errorf("case %d: HTTP %d %q, want %d saying %q", i, code, out, tt.code, tt.want)
		}
	}
	if len(rec.accepted)+len(rec.rejected) != 0 {
		t.Errorf("malformed events reached the bot: accepted %v, rejected %v", rec.accepted, rec.rejected)
	}

	long := editEvent(t, valid, func(_, dep map[string]any) { dep["environment"] = strings.Repeat("e", 10<<10) })
	code, out := postHook(t, srv, "deployment", "long-env", map[string]string{"X-Hub-Signature-256": hubSign(hookSecret, long)}, long)
	if code != http.StatusAccepted || !strings.Contains(out, "has no environment") || len(out) > 1000 || len(rec.rejected) != 1 {
		t.Errorf("10 kB environment: HTTP %d, %d-byte reply %.100q, rejected %d; want 202, a short refusal, one Reject", code, len(out), out, len(rec.rejected))
	}
}
