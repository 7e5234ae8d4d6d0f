package handlers

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/emulator/githubemu"
	"github.com/deploybot/deploybot/store/sqlite"
)

// loginWorld is the dashboard with a real bot.Service and store, and the
// GitHub emulator as the OAuth provider.
type loginWorld struct {
	srv *httptest.Server
	gh  *githubemu.Emulator
	db  *sqlite.DB
}

func newLoginWorld(t *testing.T) *loginWorld {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	gh := githubemu.New(1, nil)
	ghSrv := httptest.NewServer(gh)
	t.Cleanup(ghSrv.Close)
	gh.SetOAuthClient("Iv1.dash", "dash-secret")
	cfg := &bot.Config{
		GitHub: bot.GitHubConfig{APIURL: ghSrv.URL + githubemu.Prefix + "/", ClientID: "Iv1.dash", ClientSecret: "dash-secret"},
		Apps: map[string]*bot.App{"web": {Name: "web", Repo: "octo-org/web", Environments: map[string]*bot.Environment{
			"prod": {Name: "prod", App: "web", Allow: []string{"github:octocat"}},
		}}},
	}
	svc := &bot.Service{Config: cfg, Store: db.Ports(), Logger: slog.New(slog.DiscardHandler)}
	srv := httptest.NewServer((&Server{Config: cfg, Deployments: kickless{svc}, Store: db, Logger: slog.New(slog.DiscardHandler)}).Handler())
	t.Cleanup(srv.Close)
	return &loginWorld{srv: srv, gh: gh, db: db}
}

// browser is a client with a cookie jar that follows redirects, across
// the bot and the emulator, like a browser.
func browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar}
}

func fetch(t *testing.T, c *http.Client, method, u string, form url.Values) (int, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func TestDashboardLoginAndButtons(t *testing.T) {
	w := newLoginWorld(t)
	env := w.srv.URL + "/apps/web/envs/prod"

	// Signed out: read-only (the dashboard is not public, so not even that
	// without credentials), and a POST does nothing.
	anon := browser(t)
	if code, _ := fetch(t, anon, "GET", env, nil); code != http.StatusUnauthorized {
		t.Errorf("env page signed out: %d; want 401", code)
	}
	if code, _ := fetch(t, anon, "POST", env+"/lock", url.Values{"for": {"1h"}}); code != http.StatusUnauthorized {
		t.Errorf("lock signed out: %d; want 401", code)
	}

	// Signed in to GitHub as someone the allow list names.
	w.gh.SignIn("octocat")
	me := browser(t)
	code, page := fetch(t, me, "GET", w.srv.URL+"/login", nil)
	if code != http.StatusOK || !strings.Contains(page, `signed in as <strong id="signed-in">octocat</strong>`) {
		t.Fatalf("after login: %d\n%s", code, page)
	}
	if !strings.Contains(page, `href="/apps/web/envs/prod">deploy, lock…</a>`) {
		t.Errorf("the matrix does not lead a signed-in person to prod's buttons:\n%s", page)
	}
	_, page = fetch(t, me, "GET", env, nil)
	m := csrfRE.FindStringSubmatch(page)
	if m == nil || !strings.Contains(page, `id="deploy"`) || !strings.Contains(page, `id="lock-button"`) {
		t.Fatalf("env page signed in lacks the buttons:\n%s", page)
	}
	csrf := m[1]

	// Without the CSRF token, nothing happens.
	if code, _ := fetch(t, me, "POST", env+"/lock", url.Values{"for": {"1h"}}); code != http.StatusForbidden {
		t.Errorf("lock without a CSRF token: %d; want 403", code)
	}
	if code, _ := fetch(t, me, "POST", env+"/lock", url.Values{"for": {"1h"}, "csrf": {csrf + "x"}}); code != http.StatusForbidden {
		t.Errorf("lock with a wrong CSRF token: %d; want 403", code)
	}
	if _, err := w.db.EnvLock(context.Background(), "web", "prod", time.Now()); bot.ErrorCode(err) != bot.ENOTFOUND {
		t.Fatalf("a refused POST locked the env: %v", err)
	}

	code, page = fetch(t, me, "POST", env+"/lock", url.Values{"for": {"2h"}, "reason": {"<b>freeze</b>"}, "csrf": {csrf}})
	if code != http.StatusOK || !strings.Contains(page, `id="locked"`) || !strings.Contains(page, "&lt;b&gt;freeze&lt;/b&gt;") {
		t.Errorf("lock: %d\n%s", code, page)
	}
	l, err := w.db.EnvLock(context.Background(), "web", "prod", time.Now())
	if err != nil || l.Owner != "github:octocat" || l.Reason != "<b>freeze</b>" || l.ExpiresAt.IsZero() {
		t.Errorf("stored lock = %+v, %v; want octocat's for 2h", l, err)
	}
	if code, _ := fetch(t, me, "POST", env+"/lock", url.Values{"for": {"1000h"}, "csrf": {csrf}}); code != http.StatusBadRequest {
		t.Errorf("lock for a duration not offered: %d; want 400", code)
	}

	code, page = fetch(t, me, "POST", env+"/deploy", url.Values{"ref": {"main"}, "csrf": {csrf}})
	if code != http.StatusOK || !strings.Contains(page, "web → prod") {
		t.Fatalf("deploy: %d\n%s", code, page)
	}
	ds, err := w.db.ListDeployments(context.Background(), bot.DeploymentFilter{App: "web", Env: "prod"})
	if err != nil || len(ds) != 1 || ds[0].Requester != "github:octocat" || ds[0].Source != bot.SourceDashboard || ds[0].Ref != "main" {
		t.Fatalf("deployments after Deploy = %+v, %v; want one of main by github:octocat from the dashboard", ds, err)
	}
	// Approve is the domain's too: prod asks for no approval.
	approve := fmt.Sprintf("%s/deployments/%d/approve", w.srv.URL, ds[0].ID)
	if code, _ := fetch(t, me, "POST", approve, url.Values{}); code != http.StatusForbidden {
		t.Errorf("approve without a CSRF token: %d; want 403", code)
	}
	if code, page := fetch(t, me, "POST", approve, url.Values{"csrf": {csrf}}); code != http.StatusBadRequest || !strings.Contains(page, "needs no approval") {
		t.Errorf("approve on prod: %d\n%s", code, page)
	}
	if code, _ := fetch(t, me, "POST", env+"/deploy", url.Values{"ref": {"../x"}, "csrf": {csrf}}); code != http.StatusBadRequest {
		t.Errorf("deploy of a bad ref: %d; want 400", code)
	}

	code, page = fetch(t, me, "POST", env+"/unlock", url.Values{"csrf": {csrf}})
	if code != http.StatusOK || strings.Contains(page, `id="locked"`) {
		t.Errorf("unlock: %d\n%s", code, page)
	}

	// Someone GitHub knows but the allow list does not name is refused in
	// the domain's words, and nothing is created.
	w.gh.SignIn("mallory")
	other := browser(t)
	fetch(t, other, "GET", w.srv.URL+"/login", nil)
	_, page = fetch(t, other, "GET", env, nil)
	m = csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("mallory's env page has no form:\n%s", page)
	}
	if m[1] == csrf {
		t.Error("two sessions share a CSRF token")
	}
	code, page = fetch(t, other, "POST", env+"/deploy", url.Values{"ref": {"main"}, "csrf": {m[1]}})
	if code != http.StatusForbidden || !strings.Contains(page, "may not deploy web to prod") {
		t.Errorf("mallory's deploy: %d\n%s", code, page)
	}
	if code, page := fetch(t, other, "POST", env+"/preview", url.Values{"ref": {"main"}, "csrf": {m[1]}}); code != http.StatusForbidden || !strings.Contains(page, "may not deploy web to prod") {
		t.Errorf("mallory's preview: %d\n%s", code, page)
	}
	if code, _ := fetch(t, other, "POST", env+"/deploy", url.Values{"ref": {"main"}, "csrf": {csrf}}); code != http.StatusForbidden {
		t.Errorf("mallory with octocat's CSRF token: %d; want 403", code)
	}
	if ds, _ := w.db.ListDeployments(context.Background(), bot.DeploymentFilter{}); len(ds) != 1 {
		t.Errorf("%d deployments after refusals; want 1", len(ds))
	}

	// Signing out needs the token too; then the session is gone.
	if code, _ := fetch(t, me, "POST", w.srv.URL+"/logout", url.Values{}); code != http.StatusForbidden {
		t.Errorf("logout without a CSRF token: %d; want 403", code)
	}
	if code, page := fetch(t, me, "POST", w.srv.URL+"/logout", url.Values{"csrf": {csrf}}); code != http.StatusUnauthorized || strings.Contains(page, "signed in as") {
		t.Errorf("after logout the dashboard answered %d; want 401 (it is not public)", code)
	}

	// A forged session cookie is no session.
	forged := browser(t)
	u, _ := url.Parse(w.srv.URL)
	forged.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: "b2N0b2NhdHw5OTk5OTk5OTk5fHg.AAAA"}})
	if code, _ := fetch(t, forged, "GET", env, nil); code != http.StatusUnauthorized {
		t.Errorf("env page with a forged session: %d; want 401", code)
	}
}

func TestLoginStateMustMatch(t *testing.T) {
	w := newLoginWorld(t)
	w.gh.SignIn("octocat")
	c := browser(t)
	// A callback this browser did not start (no state cookie) signs no one in.
	code, page := fetch(t, c, "GET", w.srv.URL+"/login/callback?code=x&state=y", nil)
	if code != http.StatusBadRequest || strings.Contains(page, "signed in as") {
		t.Errorf("callback without a login started: %d\n%s", code, page)
	}
}
