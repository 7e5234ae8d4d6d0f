package githubemu

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	jwt "github.com/golang-jwt/jwt/v4"
)

const docsURL = "https://docs.github.com/rest"

// response is what a handler decided while holding the lock; it is written
// after the lock is released.
type response struct {
	status int
	body   any
	link   string
	hook   *outgoing // webhook to send once the response is decided
}

func reply(status int, body any) response { return response{status: status, body: body} }

// apiError is GitHub's error body.
func apiError(status int, message string, errs ...map[string]any) response {
	body := map[string]any{"message": message, "documentation_url": docsURL}
	if len(errs) > 0 {
		body["errors"] = errs
	}
	return reply(status, body)
}

func notFound() response { return apiError(http.StatusNotFound, "Not Found") }

func validationFailed(resource, field, code string) response {
	return apiError(http.StatusUnprocessableEntity, "Validation Failed",
		map[string]any{"resource": resource, "field": field, "code": code})
}

// repoHandler serves an endpoint under /repos/{owner}/{repo}/ that needs a
// token able to act on that repo.
type repoHandler func(r *http.Request, rp *repo, cred credential) response

func (e *Emulator) routes() {
	e.mux = http.NewServeMux()
	e.mux.HandleFunc("GET "+Prefix+"/repos/{owner}/{repo}/installation", e.appHandler(e.getRepoInstallation))
	e.mux.HandleFunc("POST "+Prefix+"/app/installations/{id}/access_tokens", e.appHandler(e.createAccessToken))
	// A ref may contain slashes, so the endpoints below a commit are told
	// apart by their last path element.
	e.mux.HandleFunc("GET "+Prefix+"/repos/{owner}/{repo}/commits/{ref...}", e.withRepo(e.commitEndpoints))
	e.mux.HandleFunc("GET "+Prefix+"/repos/{owner}/{repo}/git/commits/{sha}", e.withRepo(e.getGitCommit))
	e.mux.HandleFunc("POST "+Prefix+"/repos/{owner}/{repo}/deployments", e.withRepo(e.createDeployment))
	e.mux.HandleFunc("GET "+Prefix+"/repos/{owner}/{repo}/deployments", e.withRepo(e.listDeployments))
	e.mux.HandleFunc("GET "+Prefix+"/repos/{owner}/{repo}/deployments/{id}", e.withRepo(e.getDeployment))
	e.mux.HandleFunc("POST "+Prefix+"/repos/{owner}/{repo}/deployments/{id}/statuses", e.withRepo(e.createDeploymentStatus))
	e.mux.HandleFunc("GET "+Prefix+"/repos/{owner}/{repo}/deployments/{id}/statuses", e.withRepo(e.listDeploymentStatuses))
	e.issueRoutes()
	e.gitRoutes()
	e.mux.HandleFunc("GET "+Prefix+"/repos/{owner}/{repo}/compare/{basehead...}", e.withRepo(e.compareCommits))
	e.oauthRoutes()
	e.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { e.write(w, r, notFound()) })
}

// ServeHTTP records the call and serves the API.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	e.calls = append(e.calls, Call{Method: r.Method, Path: strings.TrimPrefix(r.URL.Path, Prefix), At: time.Now()})
	e.origin = htmlBase(r)
	e.mu.Unlock()
	if e.faults.Apply(w, r) {
		return
	}
	e.mux.ServeHTTP(w, r)
}

func (e *Emulator) write(w http.ResponseWriter, r *http.Request, resp response) {
	if resp.hook != nil {
		e.sendAsync(resp.hook)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if resp.link != "" {
		w.Header().Set("Link", resp.link)
	}
	w.WriteHeader(resp.status)
	if resp.body != nil && r.Method != http.MethodHead {
		_ = json.NewEncoder(w).Encode(resp.body)
	}
}

func (e *Emulator) withRepo(h repoHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		resp := e.serveRepo(r, h)
		e.mu.Unlock()
		e.write(w, r, resp)
	}
}

func (e *Emulator) serveRepo(r *http.Request, h repoHandler) response {
	cred, ok := e.authenticate(r)
	if !ok {
		return apiError(http.StatusUnauthorized, "Bad credentials")
	}
	rp, ok := e.repos[strings.ToLower(r.PathValue("owner")+"/"+r.PathValue("repo"))]
	// GitHub answers 404, not 403, for a private repo the caller cannot see.
	if !ok || cred.installationID != 0 && cred.installationID != rp.installationID {
		return notFound()
	}
	return h(r, rp, cred)
}

// authenticate accepts "token X" and "Bearer X", as GitHub does, for an
// installation token it issued or a personal token from AddToken.
func (e *Emulator) authenticate(r *http.Request) (credential, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "token") && !strings.EqualFold(scheme, "bearer") {
		return credential{}, false
	}
	cred, ok := e.credentials[strings.TrimSpace(token)]
	if !ok || !cred.expires.IsZero() && time.Now().After(cred.expires) {
		return credential{}, false
	}
	return cred, true
}

// appHandler serves an endpoint that needs the App's own JWT.
func (e *Emulator) appHandler(h func(r *http.Request) response) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if msg := e.verifyJWT(r); msg != "" {
			e.write(w, r, apiError(http.StatusUnauthorized, msg))
			return
		}
		e.mu.Lock()
		resp := h(r)
		e.mu.Unlock()
		e.write(w, r, resp)
	}
}

// verifyJWT returns GitHub's message for a request without a valid App
// JWT, or "".
func (e *Emulator) verifyJWT(r *http.Request) string {
	const undecodable = "A JSON web token could not be decoded"
	scheme, raw, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") || e.appKey == nil {
		return undecodable
	}
	var claims jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(raw, &claims, func(*jwt.Token) (any, error) { return e.appKey, nil },
		jwt.WithValidMethods([]string{"RS256"}))
	if err != nil {
		return undecodable
	}
	if claims.Issuer != strconv.FormatInt(e.appID, 10) {
		return "Integration not found"
	}
	// GitHub refuses JWTs that live longer than ten minutes.
	if claims.ExpiresAt == nil || claims.ExpiresAt.After(time.Now().Add(10*time.Minute+time.Minute)) {
		return "'Expiration time' claim ('exp') is too far in the future"
	}
	return ""
}

func (e *Emulator) getRepoInstallation(r *http.Request) response {
	rp, ok := e.repos[strings.ToLower(r.PathValue("owner")+"/"+r.PathValue("repo"))]
	if !ok || rp.installationID == 0 {
		return notFound()
	}
	base := apiBase(r)
	return reply(http.StatusOK, map[string]any{
		"id":                   rp.installationID,
		"app_id":               e.appID,
		"account":              userJSON(base, r.PathValue("owner"), "Organization"),
		"target_type":          "Organization",
		"repository_selection": "selected",
		"access_tokens_url":    fmt.Sprintf("%s/app/installations/%d/access_tokens", base, rp.installationID),
		"permissions":          installationPermissions,
	})
}

func (e *Emulator) createAccessToken(r *http.Request) response {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || !e.installationExists(id) {
		return notFound()
	}
	token := "ghs_" + randomString(36)
	expires := e.now().Add(tokenLifetime).Truncate(time.Second)
	e.credentials[token] = credential{installationID: id, login: AppBotLogin, expires: expires}
	return reply(http.StatusCreated, map[string]any{
		"token":                token,
		"expires_at":           expires.Format(time.RFC3339),
		"repository_selection": "selected",
		"permissions":          installationPermissions,
	})
}

func (e *Emulator) installationExists(id int64) bool {
	for _, rp := range e.repos {
		if rp.installationID == id && id != 0 {
			return true
		}
	}
	return false
}

func (e *Emulator) commitEndpoints(r *http.Request, rp *repo, _ credential) response {
	ref := r.PathValue("ref")
	if ref, ok := strings.CutSuffix(ref, "/status"); ok {
		return e.combinedStatus(r, rp, ref)
	}
	if ref, ok := strings.CutSuffix(ref, "/check-runs"); ok {
		return e.listCheckRuns(r, rp, ref)
	}
	sha, ok := rp.resolve(ref)
	if !ok {
		return noCommit(ref)
	}
	c := rp.commits[sha]
	base := apiBase(r)
	return reply(http.StatusOK, map[string]any{
		"sha":      sha,
		"node_id":  nodeID("Commit", sha),
		"url":      fmt.Sprintf("%s/repos/%s/commits/%s", base, rp.fullName, sha),
		"html_url": fmt.Sprintf("%s/%s/commit/%s", htmlBase(r), rp.fullName, sha),
		"commit": map[string]any{
			"message":   c.message,
			"author":    map[string]any{"name": "Emulator", "email": "emulator@example.com", "date": c.at.Format(time.RFC3339)},
			"committer": map[string]any{"name": "Emulator", "email": "emulator@example.com", "date": c.at.Format(time.RFC3339)},
			"tree":      map[string]any{"sha": sha},
		},
		"parents": []any{},
		"files":   []any{},
	})
}

// getGitCommit is the Git database's view of a commit: by full sha only,
// and without the files and stats of /commits/{ref}.
func (e *Emulator) getGitCommit(r *http.Request, rp *repo, _ credential) response {
	sha := r.PathValue("sha")
	c := rp.commits[sha]
	if c == nil {
		return notFound()
	}
	base := apiBase(r)
	person := map[string]any{"name": "Emulator", "email": "emulator@example.com", "date": c.at.Format(time.RFC3339)}
	return reply(http.StatusOK, map[string]any{
		"sha":          sha,
		"node_id":      nodeID("Commit", sha),
		"url":          fmt.Sprintf("%s/repos/%s/git/commits/%s", base, rp.fullName, sha),
		"html_url":     fmt.Sprintf("%s/%s/commit/%s", htmlBase(r), rp.fullName, sha),
		"author":       person,
		"committer":    person,
		"message":      c.message,
		"tree":         map[string]any{"sha": sha, "url": fmt.Sprintf("%s/repos/%s/git/trees/%s", base, rp.fullName, sha)},
		"parents":      []any{},
		"verification": map[string]any{"verified": false, "reason": "unsigned", "signature": nil, "payload": nil},
	})
}

func noCommit(ref string) response {
	return apiError(http.StatusUnprocessableEntity, "No commit found for SHA: "+ref)
}

// resolve follows git's order: a full sha, then a branch or tag name
// (optionally spelled refs/heads/…, heads/…, refs/tags/…, tags/…), then an
// unambiguous abbreviated sha of at least 4 digits.
func (rp *repo) resolve(ref string) (string, bool) {
	if _, ok := rp.commits[ref]; ok {
		return ref, true
	}
	name := strings.TrimPrefix(ref, "refs/")
	for _, n := range []string{ref, name, strings.TrimPrefix(name, "heads/"), strings.TrimPrefix(name, "tags/")} {
		if sha, ok := rp.refs[n]; ok {
			return sha, true
		}
	}
	if len(ref) < 4 || !isHex(ref) {
		return "", false
	}
	var found string
	for sha := range rp.commits {
		if strings.HasPrefix(sha, ref) {
			if found != "" {
				return "", false
			}
			found = sha
		}
	}
	return found, found != ""
}

// latestStatuses returns the newest status of each context of sha, in the
// order the contexts first appeared.
func (rp *repo) latestStatuses(sha string) []*commitStatus {
	var out []*commitStatus
	index := map[string]int{}
	for _, st := range rp.statuses {
		if st.sha != sha {
			continue
		}
		if i, ok := index[st.context]; ok {
			out[i] = st
			continue
		}
		index[st.context] = len(out)
		out = append(out, st)
	}
	return out
}

// latestCheckRuns returns the newest run of each name for sha, which is
// what GitHub's default filter=latest gives.
func (rp *repo) latestCheckRuns(sha string) []*checkRun {
	var out []*checkRun
	index := map[string]int{}
	for _, run := range rp.checkRuns {
		if run.sha != sha {
			continue
		}
		if i, ok := index[run.name]; ok {
			out[i] = run
			continue
		}
		index[run.name] = len(out)
		out = append(out, run)
	}
	return out
}

func (e *Emulator) combinedStatus(r *http.Request, rp *repo, ref string) response {
	sha, ok := rp.resolve(ref)
	if !ok {
		return noCommit(ref)
	}
	statuses := rp.latestStatuses(sha)
	state := "success"
	if len(statuses) == 0 {
		state = "pending"
	}
	for _, st := range statuses {
		switch st.state {
		case "error", "failure":
			state = "failure"
		case "pending":
			if state != "failure" {
				state = "pending"
			}
		}
	}
	base := apiBase(r)
	lo, hi, link := paginate(r, len(statuses))
	page := []any{}
	for _, st := range statuses[lo:hi] {
		page = append(page, map[string]any{
			"id":          st.id,
			"node_id":     nodeID("StatusContext", strconv.FormatInt(st.id, 10)),
			"url":         fmt.Sprintf("%s/repos/%s/statuses/%s", base, rp.fullName, sha),
			"state":       st.state,
			"context":     st.context,
			"description": st.context + " is " + st.state,
			"target_url":  fmt.Sprintf("https://ci.example.com/%s/%d", url.PathEscape(st.context), st.id),
			"avatar_url":  "",
			"created_at":  st.at.Format(time.RFC3339),
			"updated_at":  st.at.Format(time.RFC3339),
		})
	}
	resp := reply(http.StatusOK, map[string]any{
		"state":       state,
		"sha":         sha,
		"total_count": len(statuses),
		"statuses":    page,
		"repository":  repoJSON(r, rp),
		"commit_url":  fmt.Sprintf("%s/repos/%s/commits/%s", base, rp.fullName, sha),
		"url":         fmt.Sprintf("%s/repos/%s/commits/%s/status", base, rp.fullName, sha),
	})
	resp.link = link
	return resp
}

func (e *Emulator) listCheckRuns(r *http.Request, rp *repo, ref string) response {
	sha, ok := rp.resolve(ref)
	if !ok {
		return noCommit(ref)
	}
	q := r.URL.Query()
	runs := rp.latestCheckRuns(sha)
	if q.Get("filter") == "all" {
		runs = nil
		for _, run := range rp.checkRuns {
			if run.sha == sha {
				runs = append(runs, run)
			}
		}
	}
	var kept []*checkRun
	for _, run := range runs {
		if name := q.Get("check_name"); name != "" && run.name != name {
			continue
		}
		if status := q.Get("status"); status != "" && run.status != status {
			continue
		}
		kept = append(kept, run)
	}
	base := apiBase(r)
	lo, hi, link := paginate(r, len(kept))
	page := []any{}
	for _, run := range kept[lo:hi] {
		var conclusion, completed any
		if run.status == "completed" {
			conclusion, completed = run.conclusion, run.completed.Format(time.RFC3339)
		}
		page = append(page, map[string]any{
			"id":           run.id,
			"node_id":      nodeID("CheckRun", strconv.FormatInt(run.id, 10)),
			"head_sha":     sha,
			"external_id":  "",
			"name":         run.name,
			"status":       run.status,
			"conclusion":   conclusion,
			"started_at":   run.started.Format(time.RFC3339),
			"completed_at": completed,
			"url":          fmt.Sprintf("%s/repos/%s/check-runs/%d", base, rp.fullName, run.id),
			"html_url":     fmt.Sprintf("%s/%s/runs/%d", htmlBase(r), rp.fullName, run.id),
			"details_url":  fmt.Sprintf("https://ci.example.com/runs/%d", run.id),
			"output":       map[string]any{"title": nil, "summary": nil, "text": nil, "annotations_count": 0},
			"check_suite":  map[string]any{"id": run.id},
			"app":          map[string]any{"id": 1, "slug": "ci", "name": "CI"},
		})
	}
	resp := reply(http.StatusOK, map[string]any{"total_count": len(kept), "check_runs": page})
	resp.link = link
	return resp
}

// paginate applies per_page (default 30, at most 100) and page (from 1)
// to n items and returns the slice bounds and the Link header.
func paginate(r *http.Request, n int) (lo, hi int, link string) {
	q := r.URL.Query()
	perPage, err := strconv.Atoi(q.Get("per_page"))
	if err != nil || perPage < 1 {
		perPage = 30
	}
	perPage = min(perPage, 100)
	page, err := strconv.Atoi(q.Get("page"))
	if err != nil || page < 1 {
		page = 1
	}
	last := max(1, (n+perPage-1)/perPage)
	lo = min(n, (page-1)*perPage)
	hi = min(n, lo+perPage)

	pageURL := func(p int) string {
		u := *r.URL
		u.Scheme, u.Host = scheme(r), r.Host
		v := u.Query()
		v.Set("page", strconv.Itoa(p))
		v.Set("per_page", strconv.Itoa(perPage))
		u.RawQuery = v.Encode()
		return u.String()
	}
	var rels []string
	if page < last {
		rels = append(rels, fmt.Sprintf(`<%s>; rel="next"`, pageURL(page+1)), fmt.Sprintf(`<%s>; rel="last"`, pageURL(last)))
	}
	if page > 1 {
		rels = append(rels, fmt.Sprintf(`<%s>; rel="prev"`, pageURL(min(page-1, last))), fmt.Sprintf(`<%s>; rel="first"`, pageURL(1)))
	}
	return lo, hi, strings.Join(rels, ", ")
}

var deploymentStates = map[string]bool{
	"error": true, "failure": true, "inactive": true, "in_progress": true,
	"queued": true, "pending": true, "success": true,
}

func (e *Emulator) createDeployment(r *http.Request, rp *repo, cred credential) response {
	var req struct {
		Ref                   *string         `json:"ref"`
		Task                  *string         `json:"task"`
		AutoMerge             *bool           `json:"auto_merge"`
		RequiredContexts      *[]string       `json:"required_contexts"`
		Payload               json.RawMessage `json:"payload"`
		Environment           *string         `json:"environment"`
		Description           *string         `json:"description"`
		TransientEnvironment  *bool           `json:"transient_environment"`
		ProductionEnvironment *bool           `json:"production_environment"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		return apiError(http.StatusBadRequest, "Problems parsing JSON")
	}
	if req.Ref == nil || *req.Ref == "" {
		return validationFailed("Deployment", "ref", "missing_field")
	}
	ref := *req.Ref
	sha, ok := rp.resolve(ref)
	if !ok {
		return apiError(http.StatusUnprocessableEntity, "No ref found for: "+ref)
	}
	payload, ok := normalizePayload(req.Payload)
	if !ok {
		return validationFailed("Deployment", "payload", "invalid")
	}
	if failing := rp.failingContexts(sha, req.RequiredContexts); len(failing) > 0 {
		return apiError(http.StatusConflict, fmt.Sprintf("Conflict: Commit status checks failed for %s.", ref),
			map[string]any{"contexts": failing, "resource": "Deployment", "field": "required_contexts", "code": "invalid"})
	}

	d := &deployment{Deployment: Deployment{
		ID:          e.newID(),
		SHA:         sha,
		Ref:         ref,
		Task:        orDefault(req.Task, "deploy"),
		Environment: orDefault(req.Environment, "production"),
		Description: orDefault(req.Description, ""),
		RawPayload:  payload,
		AutoMerge:   req.AutoMerge == nil || *req.AutoMerge,
		Creator:     cred.login,
		CreatedAt:   e.now(),
	}}
	if req.RequiredContexts != nil {
		d.RequiredContexts = append([]string{}, *req.RequiredContexts...)
	}
	d.TransientEnvironment = req.TransientEnvironment != nil && *req.TransientEnvironment
	d.ProductionEnvironment = d.Environment == "production"
	if req.ProductionEnvironment != nil {
		d.ProductionEnvironment = *req.ProductionEnvironment
	}
	rp.deployments = append(rp.deployments, d)

	body := deploymentJSON(r, rp, d)
	resp := reply(http.StatusCreated, body)
	if e.hookURL != "" {
		event := map[string]any{
			"action":     "created",
			"deployment": body,
			"repository": repoJSON(r, rp),
			"sender":     userJSON(apiBase(r), d.Creator, userType(d.Creator)),
		}
		if rp.installationID != 0 {
			event["installation"] = map[string]any{"id": rp.installationID, "node_id": nodeID("Installation", strconv.FormatInt(rp.installationID, 10))}
		}
		resp.hook = e.newOutgoing("deployment", event)
	}
	return resp
}

// failingContexts returns the contexts that stop a deployment of sha:
// GitHub checks every context when required_contexts is omitted, which is
// why deploybot must send an empty list.
func (rp *repo) failingContexts(sha string, required *[]string) []map[string]any {
	states := map[string]string{}
	var names []string
	for _, st := range rp.latestStatuses(sha) {
		states[st.context] = st.state
		names = append(names, st.context)
	}
	for _, run := range rp.latestCheckRuns(sha) {
		state := "pending"
		if run.status == "completed" {
			state = run.conclusion
			if state == "neutral" || state == "skipped" {
				state = "success"
			}
		}
		if _, ok := states[run.name]; !ok {
			names = append(names, run.name)
		}
		states[run.name] = state
	}
	if required != nil {
		names = *required
	}
	var failing []map[string]any
	for _, name := range names {
		if state := states[name]; state != "success" {
			if state == "" {
				state = "missing"
			}
			failing = append(failing, map[string]any{"context": name, "state": state})
		}
	}
	return failing
}

// normalizePayload accepts what GitHub accepts, an object or a string
// holding a JSON object, and returns the compact object.
func normalizePayload(raw json.RawMessage) (json.RawMessage, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return json.RawMessage("{}"), true
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, false
		}
		if s == "" {
			return json.RawMessage("{}"), true
		}
		raw = json.RawMessage(s)
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return nil, false
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, false
	}
	return buf.Bytes(), true
}

func (e *Emulator) getDeployment(r *http.Request, rp *repo, _ credential) response {
	d := deploymentByPath(r, rp)
	if d == nil {
		return notFound()
	}
	return reply(http.StatusOK, deploymentJSON(r, rp, d))
}

func deploymentByPath(r *http.Request, rp *repo) *deployment {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return nil
	}
	return rp.deployment(id)
}

func (e *Emulator) createDeploymentStatus(r *http.Request, rp *repo, cred credential) response {
	d := deploymentByPath(r, rp)
	if d == nil {
		return notFound()
	}
	var req struct {
		State          string  `json:"state"`
		LogURL         string  `json:"log_url"`
		TargetURL      string  `json:"target_url"` // the older name of log_url
		EnvironmentURL string  `json:"environment_url"`
		Description    string  `json:"description"`
		Environment    *string `json:"environment"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		return apiError(http.StatusBadRequest, "Problems parsing JSON")
	}
	if req.State == "" {
		return validationFailed("DeploymentStatus", "state", "missing_field")
	}
	if !deploymentStates[req.State] {
		return validationFailed("DeploymentStatus", "state", "invalid")
	}
	if utf8.RuneCountInString(req.Description) > 140 {
		return apiError(http.StatusUnprocessableEntity, "Validation Failed", map[string]any{
			"resource": "DeploymentStatus", "field": "description", "code": "custom",
			"message": "description is too long (maximum is 140 characters)",
		})
	}
	st := DeploymentStatus{
		ID:             e.newID(),
		State:          req.State,
		Description:    req.Description,
		LogURL:         req.LogURL,
		EnvironmentURL: req.EnvironmentURL,
		Environment:    orDefault(req.Environment, d.Environment),
		Creator:        cred.login,
		CreatedAt:      e.now(),
	}
	if st.LogURL == "" {
		st.LogURL = req.TargetURL
	}
	d.statuses = append(d.statuses, st)
	return reply(http.StatusCreated, deploymentStatusJSON(r, rp, d, st))
}

// listDeployments filters by sha, ref, environment and task as GitHub
// does, newest first.
func (e *Emulator) listDeployments(r *http.Request, rp *repo, _ credential) response {
	q := r.URL.Query()
	var kept []*deployment
	for i := len(rp.deployments) - 1; i >= 0; i-- {
		d := rp.deployments[i]
		switch {
		case q.Get("sha") != "" && q.Get("sha") != d.SHA,
			q.Get("ref") != "" && q.Get("ref") != d.Ref,
			q.Get("environment") != "" && q.Get("environment") != d.Environment,
			q.Get("task") != "" && q.Get("task") != d.Task:
			continue
		}
		kept = append(kept, d)
	}
	lo, hi, link := paginate(r, len(kept))
	page := []any{}
	for _, d := range kept[lo:hi] {
		page = append(page, deploymentJSON(r, rp, d))
	}
	resp := reply(http.StatusOK, page)
	resp.link = link
	return resp
}

func (e *Emulator) listDeploymentStatuses(r *http.Request, rp *repo, _ credential) response {
	d := deploymentByPath(r, rp)
	if d == nil {
		return notFound()
	}
	lo, hi, link := paginate(r, len(d.statuses))
	page := []any{}
	for i := lo; i < hi; i++ {
		page = append(page, deploymentStatusJSON(r, rp, d, d.statuses[len(d.statuses)-1-i])) // newest first
	}
	resp := reply(http.StatusOK, page)
	resp.link = link
	return resp
}

func deploymentJSON(r *http.Request, rp *repo, d *deployment) map[string]any {
	base := apiBase(r)
	u := fmt.Sprintf("%s/repos/%s/deployments/%d", base, rp.fullName, d.ID)
	var description any
	if d.Description != "" {
		description = d.Description
	}
	return map[string]any{
		"url":                    u,
		"id":                     d.ID,
		"node_id":                nodeID("Deployment", strconv.FormatInt(d.ID, 10)),
		"sha":                    d.SHA,
		"ref":                    d.Ref,
		"task":                   d.Task,
		"payload":                json.RawMessage(d.RawPayload),
		"original_environment":   d.Environment,
		"environment":            d.Environment,
		"description":            description,
		"creator":                userJSON(base, d.Creator, userType(d.Creator)),
		"created_at":             d.CreatedAt.Format(time.RFC3339),
		"updated_at":             d.CreatedAt.Format(time.RFC3339),
		"statuses_url":           u + "/statuses",
		"repository_url":         fmt.Sprintf("%s/repos/%s", base, rp.fullName),
		"transient_environment":  d.TransientEnvironment,
		"production_environment": d.ProductionEnvironment,
	}
}

func deploymentStatusJSON(r *http.Request, rp *repo, d *deployment, st DeploymentStatus) map[string]any {
	base := apiBase(r)
	du := fmt.Sprintf("%s/repos/%s/deployments/%d", base, rp.fullName, d.ID)
	return map[string]any{
		"url":             fmt.Sprintf("%s/statuses/%d", du, st.ID),
		"id":              st.ID,
		"node_id":         nodeID("DeploymentStatus", strconv.FormatInt(st.ID, 10)),
		"state":           st.State,
		"creator":         userJSON(base, st.Creator, userType(st.Creator)),
		"description":     st.Description,
		"environment":     st.Environment,
		"target_url":      st.LogURL,
		"log_url":         st.LogURL,
		"environment_url": st.EnvironmentURL,
		"created_at":      st.CreatedAt.Format(time.RFC3339),
		"updated_at":      st.CreatedAt.Format(time.RFC3339),
		"deployment_url":  du,
		"repository_url":  fmt.Sprintf("%s/repos/%s", base, rp.fullName),
	}
}

func repoJSON(r *http.Request, rp *repo) map[string]any { return repoJSONAt(htmlBase(r), rp) }

// repoJSONAt is repoJSON for an emulator seen at origin (scheme://host),
// for payloads built outside a request.
func repoJSONAt(origin string, rp *repo) map[string]any {
	base := origin + Prefix
	owner, name, _ := strings.Cut(rp.fullName, "/")
	return map[string]any{
		"id":              rp.id,
		"node_id":         nodeID("Repository", strconv.FormatInt(rp.id, 10)),
		"name":            name,
		"full_name":       rp.fullName,
		"private":         true,
		"owner":           userJSON(base, owner, "Organization"),
		"html_url":        origin + "/" + rp.fullName,
		"url":             base + "/repos/" + rp.fullName,
		"deployments_url": base + "/repos/" + rp.fullName + "/deployments",
		"default_branch":  "main",
	}
}

func userJSON(base, login, typ string) map[string]any {
	h := fnv.New32a()
	h.Write([]byte(login))
	id := int64(h.Sum32())
	return map[string]any{
		"login":      login,
		"id":         id,
		"node_id":    nodeID("User", strconv.FormatInt(id, 10)),
		"type":       typ,
		"site_admin": false,
		"url":        base + "/users/" + url.PathEscape(login),
	}
}

func userType(login string) string {
	if strings.HasSuffix(login, "[bot]") {
		return "Bot"
	}
	return "User"
}

func nodeID(kind, id string) string { return kind + "_" + id }

func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// apiBase is the API root URL as the caller sees it, for the URLs GitHub
// puts in its bodies.
func apiBase(r *http.Request) string { return scheme(r) + "://" + r.Host + Prefix }

func htmlBase(r *http.Request) string { return scheme(r) + "://" + r.Host }

func orDefault(s *string, def string) string {
	if s == nil {
		return def
	}
	return *s
}

func randomString(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// installationPermissions are what deploybot's App asks for: reading CI,
// writing deployments, replying on pull requests and reading org teams
// for github-team allow entries.
var installationPermissions = map[string]string{
	"metadata": "read", "contents": "read", "deployments": "write", "statuses": "read", "checks": "read",
	"pull_requests": "read", "issues": "write", "members": "read",
}
