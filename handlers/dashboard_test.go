package handlers

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/store/sqlite"
)

// dashboardWorld is a real SQLite store seeded with deployments in every
// kind of state, behind the real routes.
type dashboardWorld struct {
	srv   *httptest.Server
	db    *sqlite.DB
	cfg   *bot.Config
	ids   map[string]int64
	shaA  string // web dev's older success, and web prod's failure
	shaB  string // what web dev runs
	shaC  string // web prod's deployment in flight
	xssed string // a lock reason and a failure reason with markup in it
}

func sha40(c byte) string { return strings.Repeat(string(c), 40) }

func newDashboardWorld(t *testing.T, dash bot.DashboardConfig) *dashboardWorld {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	w := &dashboardWorld{
		db: db, ids: map[string]int64{},
		shaA: sha40('a'), shaB: sha40('b'), shaC: sha40('c'),
		xssed: `<script>alert("pwned")</script> & release freeze`,
	}
	w.cfg = &bot.Config{
		GitHub:    bot.GitHubConfig{APIURL: "https://api.github.com/", WebhookSecret: hookSecret},
		Slack:     bot.SlackConfig{SigningSecret: slackSecret},
		Dashboard: dash,
		AWS:       bot.AWSConfig{Region: "eu-west-1"},
		Apps: map[string]*bot.App{
			"web": {Name: "web", Repo: "octo-org/web", Environments: map[string]*bot.Environment{
				"dev":  {Name: "dev", App: "web", ElasticBeanstalk: &bot.EBTarget{Application: "web", Environment: "web-dev"}},
				"prod": {Name: "prod", App: "web", ECS: &bot.ECSTarget{Cluster: "prod", Service: "web-api", Container: "api"}},
			}},
			"api": {Name: "api", Repo: "octo-org/api", Environments: map[string]*bot.Environment{
				"dev": {Name: "dev", App: "api"}, "staging": {Name: "staging", App: "api"},
			}},
		},
	}

	add := func(name string, d bot.Deployment, final bot.State, events ...bot.Event) {
		t.Helper()
		d.State = bot.StateQueued
		if err := db.CreateDeployment(ctx, &d); err != nil {
			t.Fatal(err)
		}
		for _, e := range events {
			e.DeploymentID = d.ID
			if err := db.AddEvent(ctx, &e); err != nil {
				t.Fatal(err)
			}
		}
		if final != d.State {
			// Ended deployments get a measurable duration.
			time.Sleep(5 * time.Millisecond)
			d.State = final
			if err := db.UpdateDeployment(ctx, &d); err != nil {
				t.Fatal(err)
			}
		}
		w.ids[name] = d.ID
	}
	add("web-dev-old", bot.Deployment{App: "web", Env: "dev", Repo: "octo-org/web", Ref: "main", SHA: w.shaA,
		Requester: "slack:U1OLD", Source: bot.SourceSlack}, bot.StateSucceeded)
	add("web-dev", bot.Deployment{App: "web", Env: "dev", Repo: "octo-org/web", Ref: "bbbbbbb", SHA: w.shaB,
		Image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/web@sha256:beef", Requester: "github:octocat",
		Source: bot.SourcePRComment, PRNumber: 12, GitHubDeploymentID: 9001, EnvironmentURL: "https://web-dev.example.com"},
		bot.StateSucceeded,
		bot.Event{Stage: bot.StateQueued, Message: "Queued"},
		bot.Event{Stage: bot.StateWaitingForCI, Message: "CI: ci/test success"},
		bot.Event{Stage: bot.StateDeploying, Message: "registered task definition web:42"},
		bot.Event{Stage: bot.StateVerifyingHealth, Message: "Succeeded: Deployed bbbbbbb to dev"})
	add("web-prod-failed", bot.Deployment{App: "web", Env: "prod", Repo: "octo-org/web", Ref: "main", SHA: w.shaA,
		Requester: "slack:U2", Source: bot.SourceSlack, Reason: "CI failed for aaaaaaa: " + w.xssed,
		SlackChannel: "C0DEPLOYS", SlackTS: "1700000000.000100"}, bot.StateFailed)
	add("web-prod", bot.Deployment{App: "web", Env: "prod", Repo: "octo-org/web", Ref: "ccccccc", SHA: w.shaC,
		Requester: "slack:U3", Source: bot.SourceSlack}, bot.StateDeploying,
		bot.Event{Stage: bot.StateQueued, Message: "Queued"},
		bot.Event{Stage: bot.StateDeploying, Message: "Deploying web:git_ccccccc"})
	add("api-staging", bot.Deployment{App: "api", Env: "staging", Repo: "octo-org/api", Ref: "main",
		Requester: "github:hubot", Source: bot.SourceGitHubAPI}, bot.StateQueued)

	if _, err := db.Lock(ctx, &bot.EnvLock{App: "web", Env: "prod", Owner: "slack:U2", Reason: w.xssed,
		ExpiresAt: time.Now().Add(2 * time.Hour)}, time.Now()); err != nil {
		t.Fatal(err)
	}
	// An expired lock is no lock.
	if _, err := db.Lock(ctx, &bot.EnvLock{App: "api", Env: "dev", Owner: "slack:U9", Reason: "long gone",
		ExpiresAt: time.Now().Add(-time.Minute)}, time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}

	s := &Server{Config: w.cfg, Store: db, Logger: slog.New(slog.DiscardHandler)}
	w.srv = httptest.NewServer(s.Handler())
	t.Cleanup(w.srv.Close)
	return w
}

func (w *dashboardWorld) get(t *testing.T, path string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, w.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// cell returns the matrix cell of app/env as HTML.
func cell(t *testing.T, page, app, env string) string {
	t.Helper()
	start := strings.Index(page, `data-app="`+app+`" data-env="`+env+`"`)
	if start < 0 {
		t.Fatalf("no matrix cell for %s/%s", app, env)
	}
	end := strings.Index(page[start:], "</td>")
	return page[start : start+end]
}

func row(t *testing.T, page, id string) string {
	t.Helper()
	start := strings.Index(page, `<tr id="`+id+`">`)
	if start < 0 {
		t.Fatalf("no row %s on the page", id)
	}
	end := strings.Index(page[start:], "</tr>")
	return page[start : start+end]
}

func TestDashboardMatrix(t *testing.T) {
	w := newDashboardWorld(t, bot.DashboardConfig{Public: true})
	resp, page := w.get(t, "/")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET / = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}

	// Columns from config, in the order code travels.
	header := regexp.MustCompile(`<th>([a-z]+)</th>`).FindAllStringSubmatch(page[:strings.Index(page, "</thead>")], -1)
	var cols []string
	for _, m := range header {
		cols = append(cols, m[1])
	}
	if diff := cmp.Diff([]string{"dev", "staging", "prod"}, cols); diff != "" {
		t.Errorf("matrix columns (-want +got):\n%s", diff)
	}
	if strings.Index(page, `data-app="api"`) > strings.Index(page, `data-app="web"`) {
		t.Error("apps are not sorted by name")
	}

	webDev := cell(t, page, "web", "dev")
	for _, want := range []string{
		`href="https://github.com/octo-org/web/commit/` + w.shaB + `"`, ">bbbbbbb<", "octocat", `<time datetime="`,
	} {
		if !strings.Contains(webDev, want) {
			t.Errorf("web/dev cell lacks %q:\n%s", want, webDev)
		}
	}
	if strings.Contains(webDev, "aaaaaaa") {
		t.Errorf("web/dev shows the older sha:\n%s", webDev)
	}

	webProd := cell(t, page, "web", "prod")
	for _, want := range []string{
		"nothing deployed yet", // its only ended deployment failed
		"deploying", "ccccccc", // in flight
		"Locked</strong> by", "slack:", "U2", "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt; &amp; release freeze", "until ",
	} {
		if !strings.Contains(webProd, want) {
			t.Errorf("web/prod cell lacks %q:\n%s", want, webProd)
		}
	}
	if apiDev := cell(t, page, "api", "dev"); strings.Contains(apiDev, "Locked") || strings.Contains(apiDev, "long gone") {
		t.Errorf("api/dev shows an expired lock:\n%s", apiDev)
	}
	if !strings.Contains(page, "not configured") {
		t.Error("web/staging, which web lacks, is not marked as not configured")
	}
}

// Text that people typed (lock reasons, failure reasons that quote CI)
// reaches the page as text, never as markup.
func TestDashboardEscapesUserText(t *testing.T) {
	w := newDashboardWorld(t, bot.DashboardConfig{Public: true})
	for _, path := range []string{"/", "/deployments/" + itoa(w.ids["web-prod-failed"])} {
		resp, page := w.get(t, path)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %d", path, resp.StatusCode)
		}
		if strings.Contains(page, `<script>alert(`) || strings.Contains(page, `"pwned")</script>`) {
			t.Errorf("GET %s: user text was rendered as markup", path)
		}
		if !strings.Contains(page, "&lt;script&gt;alert(") {
			t.Errorf("GET %s: the escaped text is missing", path)
		}
		// The only scripts allowed are the page's own, by nonce.
		csp := resp.Header.Get("Content-Security-Policy")
		nonce := regexp.MustCompile(`script-src 'nonce-([A-Za-z0-9_-]+)'`).FindStringSubmatch(csp)
		if nonce == nil || strings.Contains(csp, "unsafe-inline") {
			t.Fatalf("GET %s: CSP %q", path, csp)
		}
		scripts := regexp.MustCompile(`<script[^>]*>`).FindAllString(page, -1)
		for _, s := range scripts {
			if s != `<script nonce="`+nonce[1]+`">` {
				t.Errorf("GET %s: script tag %s without this response's nonce", path, s)
			}
		}
		for _, external := range []string{`<link`, `src="http`, `@import`} {
			if strings.Contains(page, external) {
				t.Errorf("GET %s has an external asset (%s)", path, external)
			}
		}
	}
}

func TestDashboardInFlightAndHistory(t *testing.T) {
	w := newDashboardWorld(t, bot.DashboardConfig{Public: true})
	_, page := w.get(t, "/")

	inflight := page[strings.Index(page, "<h2>In flight"):strings.Index(page, "<h2>History")]
	for name, want := range map[string]string{"web-prod": "deploying", "api-staging": "queued"} {
		r := row(t, inflight, "inflight-"+itoa(w.ids[name]))
		if !strings.Contains(r, `data-state="`+want+`"`) {
			t.Errorf("in-flight row of %s lacks stage %s:\n%s", name, want, r)
		}
	}
	if strings.Contains(inflight, "inflight-"+itoa(w.ids["web-dev"])) {
		t.Error("a succeeded deployment is listed in flight")
	}

	history := page[strings.Index(page, "<h2>History"):]
	if n := strings.Count(history, `<tr id="history-`); n != len(w.ids) {
		t.Errorf("history has %d rows, want %d", n, len(w.ids))
	}
	// Newest first.
	if strings.Index(history, "history-"+itoa(w.ids["api-staging"])) > strings.Index(history, "history-"+itoa(w.ids["web-dev-old"])) {
		t.Error("history is not newest first")
	}
	webDev := row(t, history, "history-"+itoa(w.ids["web-dev"]))
	for _, want := range []string{`data-state="succeeded"`, "octocat", `href="/deployments/` + itoa(w.ids["web-dev"]) + `"`, `<time datetime="`} {
		if !strings.Contains(webDev, want) {
			t.Errorf("history row of web-dev lacks %q:\n%s", want, webDev)
		}
	}
	if !regexp.MustCompile(`<td class="num">[0-9.]+(ms|s)</td>`).MatchString(webDev) {
		t.Errorf("history row of an ended deployment has no duration:\n%s", webDev)
	}
	failed := row(t, history, "history-"+itoa(w.ids["web-prod-failed"]))
	if !strings.Contains(failed, `data-state="failed"`) || !strings.Contains(failed, "CI failed for aaaaaaa") {
		t.Errorf("history row of the failure lacks its outcome or reason:\n%s", failed)
	}
	queued := row(t, history, "history-"+itoa(w.ids["api-staging"]))
	if !strings.Contains(queued, "—") || !strings.Contains(queued, `title="not resolved yet">main<`) {
		t.Errorf("a deployment in flight has a duration, or its unresolved ref is not shown:\n%s", queued)
	}
}

func TestDeploymentPage(t *testing.T) {
	w := newDashboardWorld(t, bot.DashboardConfig{Public: true})
	id := itoa(w.ids["web-dev"])
	resp, page := w.get(t, "/deployments/"+id)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /deployments/%s = %d", id, resp.StatusCode)
	}
	for _, want := range []string{
		"#" + id + " web → dev", `data-state="succeeded"`,
		`href="https://github.com/octo-org/web/commit/` + w.shaB + `"`,
		`href="https://github.com/octo-org/web/pull/12"`,
		`href="https://web-dev.example.com"`,
		"@sha256:beef", "9001", "octocat", "via pr_comment", "Ended",
		// The timeline, in order.
		"Queued", "CI: ci/test success", "registered task definition web:42", "Succeeded: Deployed bbbbbbb to dev",
		`data-poll="/api/deployments/` + id + `"`, `data-interval="15000"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("deployment page lacks %q", want)
		}
	}
	timeline := page[strings.Index(page, "<h2>Timeline"):]
	if strings.Index(timeline, "CI: ci/test success") > strings.Index(timeline, "registered task definition") {
		t.Error("timeline is not oldest first")
	}
	if n := strings.Count(timeline, "<tr>"); n != 1+4 {
		t.Errorf("timeline has %d rows, want a header and 4 events", n)
	}

	_, live := w.get(t, "/deployments/"+itoa(w.ids["web-prod"]))
	if !strings.Contains(live, `data-interval="2000"`) || !strings.Contains(live, "Running for") {
		t.Error("a deployment in flight is not polled every 2 s or has no running time")
	}
}

// The details link to where else the deployment shows, and leave out what
// is not known rather than saying so.
func TestDeploymentPageLinks(t *testing.T) {
	w := newDashboardWorld(t, bot.DashboardConfig{Public: true})
	_, failed := w.get(t, "/deployments/"+itoa(w.ids["web-prod-failed"]))
	for _, want := range []string{
		`id="slack-message" href="https://slack.com/archives/C0DEPLOYS/p1700000000000100"`,
		`id="aws-console" href="https://eu-west-1.console.aws.amazon.com/ecs/v2/clusters/prod/services/web-api/health?region=eu-west-1"`,
		"ECS service prod/web-api",
	} {
		if !strings.Contains(failed, want) {
			t.Errorf("page of a failed deployment lacks %q", want)
		}
	}
	for _, unwanted := range []string{"no URL known", `id="environment-url"`, `id="github-deployment"`} {
		if strings.Contains(failed, unwanted) {
			t.Errorf("page of a failed deployment without URL or GitHub deployment shows %q", unwanted)
		}
	}

	_, done := w.get(t, "/deployments/"+itoa(w.ids["web-dev"]))
	for _, want := range []string{
		`id="environment-url" href="https://web-dev.example.com"`,
		`id="github-deployment" class="mono" href="https://github.com/octo-org/web/deployments"`,
		`id="aws-console" href="https://eu-west-1.console.aws.amazon.com/elasticbeanstalk/home?region=eu-west-1#/application/overview?applicationName=web"`,
	} {
		if !strings.Contains(done, want) {
			t.Errorf("page of a succeeded deployment lacks %q", want)
		}
	}
	if strings.Contains(done, `id="slack-message"`) {
		t.Error("a deployment with no Slack message links to one")
	}
}

func TestDashboardNotFound(t *testing.T) {
	w := newDashboardWorld(t, bot.DashboardConfig{Public: true})
	for _, path := range []string{"/deployments/999999", "/deployments/abc", "/deployments/-1"} {
		resp, page := w.get(t, path)
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(page, "No such deployment") || !strings.Contains(page, `href="/"`) {
			t.Errorf("GET %s = %d, want the 404 page:\n%s", path, resp.StatusCode, page)
		}
		if strings.Contains(page, "data-poll=\"/") {
			t.Errorf("GET %s: the 404 page polls", path)
		}
	}
	for _, path := range []string{"/api/deployments/999999", "/api/deployments/abc"} {
		resp, body := w.get(t, path)
		var e map[string]string
		if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Content-Type") != "application/json" ||
			json.Unmarshal([]byte(body), &e) != nil || !strings.Contains(e["error"], "no deployment") {
			t.Errorf("GET %s = %d %s %q, want a JSON 404", path, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	}
	if resp, _ := w.get(t, "/nowhere"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nowhere = %d, want 404 (the dashboard is / only)", resp.StatusCode)
	}
}

var deploymentKeys = []string{
	"app", "attempts", "commit_url", "created_at", "dashboard_url", "duration_seconds", "ended", "env",
	"environment_url", "github_deployment_id", "id", "image", "pr_number", "reason", "ref", "repo", "requester",
	"rollback_of", "sha", "source", "state", "updated_at", "waiting",
}

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func TestAPIDeployments(t *testing.T) {
	w := newDashboardWorld(t, bot.DashboardConfig{Public: true})
	resp, body := w.get(t, "/api/deployments")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /api/deployments = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var list struct {
		Deployments []map[string]any `json:"deployments"`
	}
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Deployments) != len(w.ids) {
		t.Fatalf("%d deployments, want %d", len(list.Deployments), len(w.ids))
	}
	// Every key on every deployment, in flight or not: stable names.
	for _, d := range list.Deployments {
		if diff := cmp.Diff(deploymentKeys, keys(d)); diff != "" {
			t.Errorf("deployment %v keys (-want +got):\n%s", d["id"], diff)
		}
	}
	byID := map[int64]map[string]any{}
	for _, d := range list.Deployments {
		byID[int64(d["id"].(float64))] = d
	}
	webDev := byID[w.ids["web-dev"]]
	want := map[string]any{
		"app": "web", "env": "dev", "repo": "octo-org/web", "ref": "bbbbbbb", "sha": w.shaB, "state": "succeeded",
		"ended": true, "requester": "github:octocat", "source": "pr_comment", "pr_number": float64(12),
		"github_deployment_id": float64(9001), "environment_url": "https://web-dev.example.com",
		"commit_url":    "https://github.com/octo-org/web/commit/" + w.shaB,
		"dashboard_url": "/deployments/" + itoa(w.ids["web-dev"]),
	}
	for k, v := range want {
		if webDev[k] != v {
			t.Errorf("web-dev %s = %#v, want %#v", k, webDev[k], v)
		}
	}
	if secs, ok := webDev["duration_seconds"].(float64); !ok || secs <= 0 {
		t.Errorf("ended deployment's duration_seconds = %#v", webDev["duration_seconds"])
	}
	if inflight := byID[w.ids["web-prod"]]; inflight["duration_seconds"] != nil || inflight["ended"] != false {
		t.Errorf("in-flight deployment: duration_seconds %#v ended %#v", inflight["duration_seconds"], inflight["ended"])
	}
	for _, k := range []string{"created_at", "updated_at"} {
		if _, err := time.Parse(time.RFC3339Nano, webDev[k].(string)); err != nil || !strings.HasSuffix(webDev[k].(string), "Z") {
			t.Errorf("%s = %v, want RFC 3339 in UTC", k, webDev[k])
		}
	}

	ids := func(query string) []int64 {
		t.Helper()
		resp, body := w.get(t, "/api/deployments"+query)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %d %s", query, resp.StatusCode, body)
		}
		var l struct {
			Deployments []struct{ ID int64 } `json:"deployments"`
		}
		if err := json.Unmarshal([]byte(body), &l); err != nil {
			t.Fatal(err)
		}
		got := []int64{}
		for _, d := range l.Deployments {
			got = append(got, d.ID)
		}
		return got
	}
	id := w.ids
	for query, want := range map[string][]int64{
		"?app=web":                 {id["web-prod"], id["web-prod-failed"], id["web-dev"], id["web-dev-old"]},
		"?app=web&env=dev":         {id["web-dev"], id["web-dev-old"]},
		"?env=staging":             {id["api-staging"]},
		"?state=succeeded":         {id["web-dev"], id["web-dev-old"]},
		"?state=failed,queued":     {id["api-staging"], id["web-prod-failed"]},
		"?state=in_flight":         {id["api-staging"], id["web-prod"]},
		"?app=web&state=in_flight": {id["web-prod"]},
		"?limit=2":                 {id["api-staging"], id["web-prod"]},
		"?app=nope":                {},
	} {
		if diff := cmp.Diff(want, ids(query)); diff != "" {
			t.Errorf("GET /api/deployments%s (-want +got):\n%s", query, diff)
		}
	}
	for _, query := range []string{"?state=exploded", "?limit=0", "?limit=501", "?limit=ten"} {
		resp, body := w.get(t, "/api/deployments"+query)
		var e map[string]string
		if resp.StatusCode != http.StatusBadRequest || json.Unmarshal([]byte(body), &e) != nil || e["error"] == "" {
			t.Errorf("GET /api/deployments%s = %d %q, want 400 with an error", query, resp.StatusCode, body)
		}
	}
}

func TestAPIDeploymentWithEvents(t *testing.T) {
	w := newDashboardWorld(t, bot.DashboardConfig{Public: true})
	resp, body := w.get(t, "/api/deployments/"+itoa(w.ids["web-dev"]))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var d map[string]any
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatal(err)
	}
	wantKeys := append(append([]string{}, deploymentKeys...), "events")
	sort.Strings(wantKeys)
	if diff := cmp.Diff(wantKeys, keys(d)); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
	var got struct {
		ID     int64 `json:"id"`
		Events []struct {
			At      time.Time `json:"at"`
			Stage   string    `json:"stage"`
			Message string    `json:"message"`
		} `json:"events"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, e := range got.Events {
		if e.At.IsZero() {
			t.Errorf("event %q has no time", e.Message)
		}
		lines = append(lines, e.Stage+": "+e.Message)
	}
	want := []string{
		"queued: Queued", "waiting_for_ci: CI: ci/test success",
		"deploying: registered task definition web:42", "verifying_health: Succeeded: Deployed bbbbbbb to dev",
	}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}

	// No events yet is an empty list, not a missing key.
	_, body = w.get(t, "/api/deployments/"+itoa(w.ids["api-staging"]))
	if !strings.Contains(body, `"events":[]`) {
		t.Errorf("deployment without events: %s", body)
	}
}

// The page's script polls the API with the ETag the page was rendered
// with; this is the contract that lets a page notice a change.
func TestDashboardSelfUpdateContract(t *testing.T) {
	w := newDashboardWorld(t, bot.DashboardConfig{Public: true})
	etagOf := func(page string) (poll, etag string) {
		m := regexp.MustCompile(`<main id="live" data-poll="([^"]*)" data-etag="([^"]*)"`).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no live region on the page")
		}
		return strings.ReplaceAll(m[1], "&amp;", "&"), strings.ReplaceAll(m[2], "&#34;", `"`)
	}
	for _, path := range []string{"/", "/deployments/" + itoa(w.ids["web-prod"])} {
		_, page := w.get(t, path)
		poll, etag := etagOf(page)
		if !strings.Contains(page, `<script nonce=`) {
			t.Errorf("%s has no script to update itself", path)
		}
		resp, _ := w.get(t, poll, "If-None-Match", etag)
		if resp.StatusCode != http.StatusNotModified {
			t.Errorf("%s: poll %s with the page's ETag %s = %d, want 304 while nothing changed", path, poll, etag, resp.StatusCode)
		}
	}

	_, page := w.get(t, "/deployments/"+itoa(w.ids["web-prod"]))
	poll, etag := etagOf(page)
	if err := w.db.AddEvent(context.Background(), &bot.Event{DeploymentID: w.ids["web-prod"], Stage: bot.StateDeploying, Message: "service updated"}); err != nil {
		t.Fatal(err)
	}
	if resp, body := w.get(t, poll, "If-None-Match", etag); resp.StatusCode != http.StatusOK || !strings.Contains(body, "service updated") {
		t.Errorf("after a new event, poll = %d, want 200 with it", resp.StatusCode)
	}

	_, page = w.get(t, "/")
	poll, etag = etagOf(page)
	d, err := w.db.Deployment(context.Background(), w.ids["web-prod"])
	if err != nil {
		t.Fatal(err)
	}
	d.State = bot.StateSucceeded
	if err := w.db.UpdateDeployment(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	if resp, _ := w.get(t, poll, "If-None-Match", etag); resp.StatusCode != http.StatusOK {
		t.Errorf("after a deployment ended, the dashboard's poll = %d, want 200", resp.StatusCode)
	}
	_, page = w.get(t, "/")
	if !strings.Contains(cell(t, page, "web", "prod"), "ccccccc") {
		t.Error("the re-rendered page does not show web/prod's new sha")
	}
}

func TestDashboardAuth(t *testing.T) {
	const token, user, pass = "s3cret-token", "ops", "hunter2"
	type try struct {
		name   string
		header []string
		want   int
	}
	basic := func(u, p string) []string {
		req, _ := http.NewRequest(http.MethodGet, "/", nil)
		req.SetBasicAuth(u, p)
		return []string{"Authorization", req.Header.Get("Authorization")}
	}
	for _, tc := range []struct {
		name      string
		dash      bot.DashboardConfig
		tries     []try
		challenge []string
	}{
		// Closed by default: what the dashboard shows is not for strangers.
		{name: "none configured", tries: []try{
			{"anonymous", nil, http.StatusUnauthorized},
			{"any bearer", []string{"Authorization", "Bearer x"}, http.StatusUnauthorized},
		}},
		{name: "public", dash: bot.DashboardConfig{Public: true}, tries: []try{{"anonymous", nil, http.StatusOK}}},
		{name: "token", dash: bot.DashboardConfig{Token: token}, challenge: []string{`Bearer realm="deploybot"`}, tries: []try{
			{"anonymous", nil, http.StatusUnauthorized},
			{"bearer", []string{"Authorization", "Bearer " + token}, http.StatusOK},
			{"bearer, any case", []string{"Authorization", "bearer " + token}, http.StatusOK},
			{"wrong token", []string{"Authorization", "Bearer nope"}, http.StatusUnauthorized},
			{"token prefix", []string{"Authorization", "Bearer " + token[:5]}, http.StatusUnauthorized},
			{"token as basic password", basic("x", token), http.StatusUnauthorized},
		}},
		{name: "basic", dash: bot.DashboardConfig{Username: user, Password: pass}, challenge: []string{`Basic realm="deploybot"`}, tries: []try{
			{"anonymous", nil, http.StatusUnauthorized},
			{"basic", basic(user, pass), http.StatusOK},
			{"wrong password", basic(user, "hunter3"), http.StatusUnauthorized},
			{"wrong user", basic("root", pass), http.StatusUnauthorized},
			{"empty", basic("", ""), http.StatusUnauthorized},
			{"bearer", []string{"Authorization", "Bearer " + pass}, http.StatusUnauthorized},
		}},
		{name: "both", dash: bot.DashboardConfig{Token: token, Username: user, Password: pass},
			challenge: []string{`Basic realm="deploybot"`, `Bearer realm="deploybot"`}, tries: []try{
				{"anonymous", nil, http.StatusUnauthorized},
				{"bearer", []string{"Authorization", "Bearer " + token}, http.StatusOK},
				{"basic", basic(user, pass), http.StatusOK},
			}},
		// A half-configured pair (config validation refuses it) locks
		// everyone out rather than letting an empty password in.
		{name: "username only", dash: bot.DashboardConfig{Username: user}, tries: []try{
			{"anonymous", nil, http.StatusUnauthorized},
			{"empty password", basic(user, ""), http.StatusUnauthorized},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newDashboardWorld(t, tc.dash)
			for _, tr := range tc.tries {
				for _, path := range []string{"/", "/deployments/" + itoa(w.ids["web-dev"]), "/api/deployments", "/api/deployments/" + itoa(w.ids["web-dev"])} {
					resp, body := w.get(t, path, tr.header...)
					if resp.StatusCode != tr.want {
						t.Errorf("%s: GET %s = %d, want %d", tr.name, path, resp.StatusCode, tr.want)
						continue
					}
					if tr.want != http.StatusUnauthorized {
						continue
					}
					if tc.challenge != nil {
						if diff := cmp.Diff(tc.challenge, resp.Header.Values("WWW-Authenticate")); diff != "" {
							t.Errorf("%s: GET %s challenge (-want +got):\n%s", tr.name, path, diff)
						}
					}
					if strings.Contains(body, "octo-org") {
						t.Errorf("%s: GET %s leaked data in a 401: %s", tr.name, path, body)
					}
					if strings.HasPrefix(path, "/api/") && resp.Header.Get("Content-Type") != "application/json" {
						t.Errorf("%s: GET %s answered its 401 as %s", tr.name, path, resp.Header.Get("Content-Type"))
					}
				}
			}
			// Health checks stay open for the orchestrator, and the
			// webhook and Slack endpoints keep their own signatures.
			for _, path := range []string{"/healthz", "/readyz"} {
				if resp, _ := w.get(t, path); resp.StatusCode != http.StatusOK {
					t.Errorf("GET %s = %d, want 200 whatever the dashboard's auth", path, resp.StatusCode)
				}
			}
			for _, path := range []string{"/webhooks/github", "/slack/commands", "/slack/interactions"} {
				resp, err := http.Post(w.srv.URL+path, "application/json", strings.NewReader("{}"))
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.Header.Get("WWW-Authenticate") != "" {
					t.Errorf("POST %s is behind the dashboard's auth", path)
				}
			}
		})
	}
}

func TestGitHubWebURL(t *testing.T) {
	for api, want := range map[string]string{
		"https://api.github.com/":                "https://github.com",
		"https://API.github.com":                 "https://github.com",
		"":                                       "https://github.com",
		"https://ghe.example.com/api/v3/":        "https://ghe.example.com",
		"https://ghe.example.com/api/v3":         "https://ghe.example.com",
		"http://127.0.0.1:5555/api/v3/":          "http://127.0.0.1:5555",
		"https://example.com/github/api/v3/":     "https://example.com/github",
		"https://ghe.example.com:8443/api/v3/":   "https://ghe.example.com:8443",
		"::not a url":                            "https://github.com",
		"https://ghe.example.com/prefix/api/v3/": "https://ghe.example.com/prefix",
	} {
		if got := githubWebURL(api); got != want {
			t.Errorf("githubWebURL(%q) = %q, want %q", api, got, want)
		}
	}
}

func itoa(id int64) string { return strconv.FormatInt(id, 10) }

// The front page's history takes the API's filters, and polls the API
// answer it was rendered from.
func TestDashboardFilters(t *testing.T) {
	w := newDashboardWorld(t, bot.DashboardConfig{Public: true})
	resp, page := w.get(t, "/?app=web&state=failed&unrelated=1")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET filtered page = %d", resp.StatusCode)
	}
	history := page[strings.Index(page, "<h2>History"):]
	if !strings.Contains(history, `id="history-`+itoa(w.ids["web-prod-failed"])+`"`) {
		t.Error("the filtered history lacks the failed web deployment")
	}
	if n := strings.Count(history, `<tr id="history-`); n != 1 {
		t.Errorf("the filtered history has %d rows, want 1", n)
	}
	const poll = "/api/deployments?app=web&limit=50&state=failed"
	if !strings.Contains(page, `data-poll="`+strings.ReplaceAll(poll, "&", "&amp;")+`"`) {
		t.Errorf("the filtered page does not poll %s", poll)
	}
	m := regexp.MustCompile(`data-etag="([^"]*)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("the filtered page has no ETag")
	}
	if resp, _ := w.get(t, poll, "If-None-Match", strings.ReplaceAll(m[1], "&#34;", `"`)); resp.StatusCode != http.StatusNotModified {
		t.Errorf("poll %s with the page's ETag = %d, want 304: the page shows another answer than it polls", poll, resp.StatusCode)
	}
	// Each link keeps the other choices and sets its own.
	for _, want := range []string{`href="/?app=api&amp;state=failed"`, `href="/?app=web&amp;env=prod&amp;state=failed"`, `href="/?app=web"`, "<strong>failed</strong>", "<strong>web</strong>"} {
		if !strings.Contains(page, want) {
			t.Errorf("filter bar lacks %s", want)
		}
	}

	resp, page = w.get(t, "/?state=bogus")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, `unknown state &#34;bogus&#34;`) {
		t.Errorf("GET /?state=bogus = %d, want 400 naming the state:\n%s", resp.StatusCode, page)
	}
}
