package handlers

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/deploybot/deploybot/bot"
)

// JSON API.

// deploymentJSON is the API's shape of a deployment. Every field is always
// present (null or empty when unknown), so clients can rely on the keys.
type deploymentJSON struct {
	ID        int64      `json:"id"`
	App       string     `json:"app"`
	Env       string     `json:"env"`
	Repo      string     `json:"repo"`
	Ref       string     `json:"ref"`
	SHA       string     `json:"sha"`
	CommitURL string     `json:"commit_url"`
	Image     string     `json:"image"`
	Requester string     `json:"requester"`
	Source    bot.Source `json:"source"`
	State     bot.State  `json:"state"`
	Ended     bool       `json:"ended"`
	Reason    string     `json:"reason"`
	// Waiting is why it has not started, while it waits ("" otherwise).
	Waiting            string         `json:"waiting"`
	GitHubDeploymentID int64          `json:"github_deployment_id"`
	PRNumber           int            `json:"pr_number"`
	EnvironmentURL     string         `json:"environment_url"`
	RollbackOf         int64          `json:"rollback_of"`
	PromotedFrom       *promotionJSON `json:"promoted_from,omitempty"`
	Attempts           int            `json:"attempts"`
	CreatedAt          time.Time      `json:"created_at"`
	UpdatedAt          time.Time      `json:"updated_at"`
	// DurationSeconds is null while the deployment is in flight, so the
	// answer does not change with the clock (and its ETag stays put).
	DurationSeconds *float64 `json:"duration_seconds"`
	DashboardURL    string   `json:"dashboard_url"`
}

// promotionJSON is bot.Promotion with the words every view uses.
type promotionJSON struct {
	bot.Promotion
	Text string `json:"text"` // promoted from dev (#12, sha256:ab12cd34…)
}

type eventJSON struct {
	At      time.Time `json:"at"`
	Stage   bot.State `json:"stage"`
	Message string    `json:"message"`
}

type deploymentDetailJSON struct {
	deploymentJSON
	Events []eventJSON `json:"events"`
}

type deploymentListJSON struct {
	Deployments []deploymentJSON `json:"deployments"`
}

type errorJSON struct {
	Error string `json:"error"`
}

func (s *Server) toJSON(d *bot.Deployment) deploymentJSON {
	j := deploymentJSON{
		ID: d.ID, App: d.App, Env: d.Env, Repo: d.Repo, Ref: d.Ref, SHA: d.SHA,
		CommitURL: s.commitURL(d.Repo, d.SHA), Image: d.Image,
		Requester: d.Requester, Source: d.Source, State: d.State, Ended: d.State.Terminal(), Reason: d.Reason, Waiting: d.Waiting(),
		GitHubDeploymentID: d.GitHubDeploymentID, PRNumber: d.PRNumber, EnvironmentURL: d.EnvironmentURL,
		RollbackOf: d.RollbackOf, Attempts: d.Attempts,
		CreatedAt: d.CreatedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC(),
		DashboardURL: s.dashboardURL(d.ID),
	}
	if p := d.PromotedFrom; p != nil {
		j.PromotedFrom = &promotionJSON{Promotion: *p, Text: p.Text().Plain()}
	}
	if j.Ended {
		secs := d.UpdatedAt.Sub(d.CreatedAt).Seconds()
		j.DurationSeconds = &secs
	}
	return j
}

// dashboardURL is the deployment's page, absolute when public_url is set
// (as in GitHub's log_url), else relative to this server.
func (s *Server) dashboardURL(id int64) string {
	path := fmt.Sprintf("/deployments/%d", id)
	if s.Config != nil && s.Config.PublicURL != "" {
		return strings.TrimSuffix(s.Config.PublicURL, "/") + path
	}
	return path
}

func (s *Server) listJSON(ds []*bot.Deployment) deploymentListJSON {
	l := deploymentListJSON{Deployments: make([]deploymentJSON, 0, len(ds))}
	for _, d := range ds {
		l.Deployments = append(l.Deployments, s.toJSON(d))
	}
	return l
}

func (s *Server) detailJSON(d *bot.Deployment, events []bot.Event) deploymentDetailJSON {
	j := deploymentDetailJSON{deploymentJSON: s.toJSON(d), Events: make([]eventJSON, 0, len(events))}
	for _, e := range events {
		j.Events = append(j.Events, eventJSON{At: e.At.UTC(), Stage: e.Stage, Message: e.Message})
	}
	return j
}

func (s *Server) apiDeployments(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilter(r.URL.Query())
	if err != nil {
		writeJSON(w, http.StatusBadRequest, errorJSON{Error: err.Error()})
		return
	}
	ds, err := s.Store.ListDeployments(r.Context(), f)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeVersioned(w, r, s.listJSON(ds))
}

func (s *Server) apiDeployment(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		writeJSON(w, http.StatusNotFound, errorJSON{Error: fmt.Sprintf("no deployment %q", r.PathValue("id"))})
		return
	}
	d, events, err := s.deploymentWithEvents(r, id)
	if bot.ErrorCode(err) == bot.ENOTFOUND {
		writeJSON(w, http.StatusNotFound, errorJSON{Error: fmt.Sprintf("no deployment %d", id)})
		return
	}
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	writeVersioned(w, r, s.detailJSON(d, events))
}

func (s *Server) apiError(w http.ResponseWriter, r *http.Request, err error) {
	s.logger().Error("dashboard api", "path", r.URL.Path, "err", err)
	writeJSON(w, http.StatusInternalServerError, errorJSON{Error: "deploybot could not read its store"})
}

// parseFilter reads app, env, state (comma-separated states, or in_flight
// for every unfinished one) and limit (1 to 500, default 50).
func parseFilter(q url.Values) (bot.DeploymentFilter, error) {
	f := bot.DeploymentFilter{App: q.Get("app"), Env: q.Get("env"), Limit: historyLimit}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxAPILimit {
			return f, fmt.Errorf("limit must be a number from 1 to %d, got %q", maxAPILimit, v)
		}
		f.Limit = n
	}
	if v := q.Get("state"); v != "" {
		for _, name := range strings.Split(v, ",") {
			name = strings.TrimSpace(name)
			if name == "in_flight" {
				f.States = append(f.States, inFlightStates()...)
				continue
			}
			if !knownState(bot.State(name)) {
				names := []string{"in_flight"}
				for _, st := range pipelineStates {
					names = append(names, string(st))
				}
				return f, fmt.Errorf("unknown state %q; known: %s", name, strings.Join(names, ", "))
			}
			f.States = append(f.States, bot.State(name))
		}
	}
	return f, nil
}

func knownState(st bot.State) bool {
	for _, k := range pipelineStates {
		if k == st {
			return true
		}
	}
	return false
}

// encodeVersioned returns v as JSON and its ETag, a digest of the bytes:
// the same data always gives the same tag, whichever handler computed it.
func encodeVersioned(v any) ([]byte, string) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only plain structs of strings, numbers and times reach here.
		panic(err)
	}
	body = append(body, '\n')
	sum := sha256.Sum256(body)
	return body, `"` + hex.EncodeToString(sum[:12]) + `"`
}

func writeVersioned(w http.ResponseWriter, r *http.Request, v any) {
	body, etag := encodeVersioned(v)
	h := w.Header()
	h.Set("ETag", etag)
	h.Set("Cache-Control", "no-cache")
	if etagMatches(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}
