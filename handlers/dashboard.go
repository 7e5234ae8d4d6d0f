package handlers

import (
	"bytes"
	"context"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/deploybot/deploybot/bot"
)

// The dashboard is three views of the store: what runs where (apps ×
// environments), what is in flight, and the history, plus one page per
// deployment with its timeline. The JSON API returns the same data.
//
// Self-update: each page carries the ETag of the API answer it was rendered
// from and the API URL to poll. Its inline script polls that URL every 2 s
// with If-None-Match; a 304 costs one store read and no rendering. When the
// answer changed, the script fetches the page again and swaps its <main>,
// so the server's template is the only renderer and the script stays small.

//go:embed templates/*.html
var templateFS embed.FS

var pageTemplates = parsePageTemplates()

func parsePageTemplates() map[string]*template.Template {
	funcs := template.FuncMap{
		"ago":        ago,
		"clock":      clock,
		"timeOfDay":  func(t time.Time) string { return t.UTC().Format("15:04:05.000") },
		"rfc3339":    func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"duration":   formatDuration,
		"since":      func(from, to time.Time) string { return formatOffset(to.Sub(from)) },
		"stateClass": stateClass,
		"stateLabel": stateLabel,
		"who":        splitRequester,
	}
	layout := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html"))
	pages := map[string]*template.Template{}
	for _, name := range []string{"index.html", "deployment.html", "env.html", "error.html"} {
		pages[name] = template.Must(template.Must(layout.Clone()).ParseFS(templateFS, "templates/"+name))
	}
	return pages
}

// Polling intervals, in milliseconds for the page's script. An ended
// deployment is still polled, slowly: a failed one may yet become
// rolled_back when its automatic rollback succeeds.
const (
	pollLive  = 2000
	pollEnded = 15000

	historyLimit  = 50
	inFlightLimit = 100
	maxAPILimit   = 500
)

// pipelineStates is every state in the order of the pipeline.
var pipelineStates = []bot.State{
	bot.StateReceived, bot.StateQueued, bot.StateWaitingForCI, bot.StateWaitingForApproval, bot.StateVerifyingImage,
	bot.StateDeploying, bot.StateVerifyingHealth, bot.StateSucceeded, bot.StateFailed,
	bot.StateCancelled, bot.StateRollingBack, bot.StateRolledBack,
}

func inFlightStates() []bot.State {
	var states []bot.State
	for _, st := range pipelineStates {
		if !st.Terminal() {
			states = append(states, st)
		}
	}
	return states
}

// page is what the layout needs; Content is the page's own data.
type page struct {
	Title    string
	Nonce    string
	Poll     string // API URL whose answer this page shows; "" for none
	ETag     string // of that answer when the page was rendered
	Interval int    // ms between polls
	Now      time.Time
	Content  any
	User     *session // signed in with GitHub; nil when not
	Login    bool     // a GitHub login is configured
}

type indexContent struct {
	Envs     []string
	Rows     []matrixRow
	InFlight []deploymentView
	History  []deploymentView
	Filters  []filterGroup
	Filtered bool
	Figures  []figuresPanel
}

type matrixRow struct {
	App   string
	Repo  string
	Cells []matrixCell
}

type matrixCell struct {
	Env        string
	Configured bool
	Running    *deploymentView
	InFlight   []deploymentView
	Lock       *lockView
}

// lockView is a lock with its owner named as people know them, as
// requesters are; "" in OwnerName shows Owner.
type lockView struct {
	*bot.EnvLock
	OwnerName string
}

// envLock is the unexpired lock of app/env as a page shows it; nil if none.
func (s *Server) envLock(ctx context.Context, app, env string, now time.Time) (*lockView, error) {
	l, err := s.Store.EnvLock(ctx, app, env, now)
	if bot.ErrorCode(err) == bot.ENOTFOUND {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &lockView{EnvLock: l, OwnerName: s.requesterName(ctx, l.Owner)}, nil
}

// deploymentView is a deployment with the links and times a page shows.
type deploymentView struct {
	*bot.Deployment
	CommitURL string
	PRURL     string
	Ended     bool
	Duration  time.Duration // creation to end; creation to now while in flight
	Links     links
	// RequesterName is who asked, as people know them; "" shows Requester.
	RequesterName string
}

type deploymentContent struct {
	D      deploymentView
	Events []bot.Event
	// Approvals are who approved it and when, named as people know them.
	Approvals []approvalView
}

type approvalView struct {
	bot.Approval
	Name string // "" shows Approver
}

// ApprovalRecords is the part of a store that keeps approvals; a store
// without it leaves the deployment page without its "Approved by" row.
type ApprovalRecords interface {
	Approvals(ctx context.Context, deploymentID int64) ([]bot.Approval, error)
}

// approvals is who approved deployment id, for its page; a store that
// cannot say leaves the row out rather than fail the page.
func (s *Server) approvals(ctx context.Context, id int64) []approvalView {
	store, ok := s.Store.(ApprovalRecords)
	if !ok {
		return nil
	}
	given, err := store.Approvals(ctx, id)
	if err != nil {
		s.logger().Warn("dashboard: approvals", "deployment", id, "err", err)
		return nil
	}
	views := make([]approvalView, len(given))
	for i, a := range given {
		views[i] = approvalView{Approval: a, Name: s.requesterName(ctx, a.Approver)}
	}
	return views
}

type errorContent struct {
	Status  int
	Heading string
	Message string
}

func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	now := s.now()
	query := historyQuery(r.URL.Query(), historyLimit)
	filter, err := parseFilter(query)
	if err != nil {
		s.render(w, http.StatusBadRequest, "error.html", page{Title: "Bad filter", Now: now,
			Content: errorContent{Status: http.StatusBadRequest, Heading: "Bad filter", Message: err.Error()}})
		return
	}
	history, err := s.Store.ListDeployments(ctx, filter)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	inFlight, err := s.Store.ListDeployments(ctx, bot.DeploymentFilter{States: inFlightStates(), Limit: inFlightLimit})
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	c := indexContent{Filtered: filtered(query)}
	for _, d := range inFlight {
		c.InFlight = append(c.InFlight, s.view(ctx, d, now))
	}
	for _, d := range history {
		c.History = append(c.History, s.view(ctx, d, now))
	}

	var apps []string
	if s.Config != nil {
		apps = s.Config.AppNames()
	}
	envSet := map[string]bool{}
	for _, name := range apps {
		for _, env := range s.Config.Apps[name].EnvNames() {
			envSet[env] = true
		}
	}
	for env := range envSet {
		c.Envs = append(c.Envs, env)
	}
	sortEnvs(c.Envs)
	c.Filters = filterBar(query, apps, c.Envs)
	for _, name := range apps {
		app := s.Config.Apps[name]
		row := matrixRow{App: name, Repo: app.Repo}
		for _, env := range c.Envs {
			cell := matrixCell{Env: env}
			if _, ok := app.Environments[env]; ok {
				cell.Configured = true
				if cell.Running, err = s.running(r, name, env, now); err != nil {
					s.pageError(w, r, err)
					return
				}
				if cell.Lock, err = s.envLock(ctx, name, env, now); err != nil {
					s.pageError(w, r, err)
					return
				}
				for _, v := range c.InFlight {
					if v.App == name && v.Env == env {
						cell.InFlight = append(cell.InFlight, v)
					}
				}
			}
			row.Cells = append(row.Cells, cell)
		}
		c.Rows = append(c.Rows, row)
	}
	if c.Figures, err = s.figures(ctx, now); err != nil {
		s.pageError(w, r, err)
		return
	}

	// The poll URL must answer exactly what the history was rendered
	// from, so that an unchanged store gives an unchanged ETag.
	_, etag := encodeVersioned(s.listJSON(history))
	s.render(w, http.StatusOK, "index.html", page{
		Title: "Deployments", Poll: "/api/deployments?" + query.Encode(), ETag: etag,
		Interval: pollLive, Now: now, Content: c, User: s.signedIn(r), Login: s.loginEnabled(),
	})
}

// running returns the deployment app/env runs now: its newest success.
func (s *Server) running(r *http.Request, app, env string, now time.Time) (*deploymentView, error) {
	ds, err := s.Store.ListDeployments(r.Context(), bot.DeploymentFilter{App: app, Env: env, States: []bot.State{bot.StateSucceeded}, Limit: 1})
	if err != nil || len(ds) == 0 {
		return nil, err
	}
	v := s.view(r.Context(), ds[0], now)
	return &v, nil
}

func (s *Server) deploymentPage(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		s.notFoundPage(w, r.PathValue("id"))
		return
	}
	d, events, err := s.deploymentWithEvents(r, id)
	if bot.ErrorCode(err) == bot.ENOTFOUND {
		s.notFoundPage(w, r.PathValue("id"))
		return
	}
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	now := s.now()
	_, etag := encodeVersioned(s.detailJSON(d, events))
	interval := pollLive
	if d.State.Terminal() {
		interval = pollEnded
	}
	s.render(w, http.StatusOK, "deployment.html", page{
		Title: fmt.Sprintf("#%d %s → %s", d.ID, d.App, d.Env), Poll: fmt.Sprintf("/api/deployments/%d", d.ID),
		ETag: etag, Interval: interval, Now: now,
		Content: deploymentContent{D: s.view(r.Context(), d, now), Events: events, Approvals: s.approvals(r.Context(), d.ID)},
		User:    s.signedIn(r), Login: s.loginEnabled(),
	})
}

func (s *Server) deploymentWithEvents(r *http.Request, id int64) (*bot.Deployment, []bot.Event, error) {
	d, err := s.Store.Deployment(r.Context(), id)
	if err != nil {
		return nil, nil, err
	}
	events, err := s.Store.Events(r.Context(), id)
	if err != nil {
		return nil, nil, err
	}
	return d, events, nil
}

func (s *Server) notFoundPage(w http.ResponseWriter, id string) {
	s.render(w, http.StatusNotFound, "error.html", page{
		Title: "Not found", Now: s.now(),
		Content: errorContent{Status: http.StatusNotFound, Heading: "No such deployment",
			Message: fmt.Sprintf("There is no deployment %q.", id)},
	})
}

// pageError answers a store failure; its detail goes to the log only.
func (s *Server) pageError(w http.ResponseWriter, r *http.Request, err error) {
	s.logger().Error("dashboard", "path", r.URL.Path, "err", err)
	s.render(w, http.StatusInternalServerError, "error.html", page{
		Title: "Error", Now: s.now(),
		Content: errorContent{Status: http.StatusInternalServerError, Heading: "Something went wrong",
			Message: "deploybot could not read its store; the details are in its log."},
	})
}

func (s *Server) render(w http.ResponseWriter, status int, name string, p page) {
	p.Nonce = newNonce()
	var buf bytes.Buffer
	// Rendered in full before anything is sent, so a template error is a
	// clean 500 rather than half a page.
	if err := pageTemplates[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		s.logger().Error("dashboard template", "template", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	// Only this response's own inline script and style may run, so text
	// that slipped past escaping still could not execute or load anything.
	h.Set("Content-Security-Policy", fmt.Sprintf(
		"default-src 'none'; script-src 'nonce-%[1]s'; style-src 'nonce-%[1]s'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'", p.Nonce))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func newNonce() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *Server) view(ctx context.Context, d *bot.Deployment, now time.Time) deploymentView {
	v := deploymentView{Deployment: d, Ended: d.State.Terminal(), CommitURL: s.commitURL(d.Repo, d.SHA), Links: s.links(d),
		RequesterName: s.requesterName(ctx, d.Requester)}
	if d.PRNumber != 0 && d.Repo != "" {
		v.PRURL = fmt.Sprintf("%s/%s/pull/%d", s.githubWebURL(), d.Repo, d.PRNumber)
	}
	if v.Ended {
		v.Duration = d.UpdatedAt.Sub(d.CreatedAt)
	} else {
		v.Duration = now.Sub(d.CreatedAt)
	}
	return v
}

func (s *Server) commitURL(repo, sha string) string {
	if repo == "" || len(sha) != 40 {
		return ""
	}
	return s.githubWebURL() + "/" + repo + "/commit/" + sha
}

// githubWebURL derives the web host from the API URL: api.github.com
// serves github.com, and GitHub Enterprise serves its API under /api/v3/
// of the web host.
func (s *Server) githubWebURL() string {
	if s.Config == nil {
		return "https://github.com"
	}
	return githubWebURL(s.Config.GitHub.APIURL)
}

func githubWebURL(apiURL string) string {
	u, err := url.Parse(apiURL)
	if err != nil || u.Host == "" || strings.EqualFold(u.Host, "api.github.com") {
		return "https://github.com"
	}
	path := strings.TrimSuffix(u.Path, "/")
	path = strings.TrimSuffix(path, "/api/v3")
	return u.Scheme + "://" + u.Host + path
}

// envRank orders the matrix's columns the way code travels, so dev,
// staging and prod read left to right; other names sit in the middle.
func envRank(env string) int {
	switch strings.ToLower(env) {
	case "dev", "development", "local":
		return 0
	case "test", "testing", "qa", "ci":
		return 1
	case "staging", "stage", "stg", "uat":
		return 3
	case "preprod", "pre-prod", "canary":
		return 4
	case "prod", "production", "live":
		return 5
	}
	return 2
}

func sortEnvs(envs []string) {
	sort.Slice(envs, func(i, j int) bool {
		ri, rj := envRank(envs[i]), envRank(envs[j])
		if ri != rj {
			return ri < rj
		}
		return envs[i] < envs[j]
	})
}

// Template helpers.

func ago(now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := now.Sub(t)
	switch {
	case d < 5*time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

func clock(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func formatDuration(d time.Duration) string {
	switch {
	case d < 0:
		return ""
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm %02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh %02dm", int(d.Hours()), int(d.Minutes())%60)
}

func formatOffset(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	return "+" + formatDuration(d)
}

func stateClass(st bot.State) string {
	switch st {
	case bot.StateSucceeded:
		return "ok"
	case bot.StateFailed:
		return "bad"
	case bot.StateRolledBack, bot.StateRollingBack:
		return "warn"
	case bot.StateCancelled:
		return "off"
	}
	return "run"
}

func stateLabel(st bot.State) string {
	if st == bot.StateWaitingForCI {
		return "waiting for CI"
	}
	return strings.ReplaceAll(string(st), "_", " ")
}

type requester struct{ Kind, Name string }

// splitRequester turns "slack:U123" or "github:login" into its parts.
func splitRequester(s string) requester {
	if kind, name, ok := strings.Cut(s, ":"); ok {
		return requester{Kind: kind, Name: name}
	}
	return requester{Name: s}
}
