package githubemu

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Comment is an issue or pull request comment as the emulator stored it.
type Comment struct {
	ID      int64
	Body    string
	Author  string // login
	Edits   int
	History []string // the bodies before each edit, oldest first
	// CreatedAt and UpdatedAt are what the API reports.
	CreatedAt time.Time
	UpdatedAt time.Time
}

// issue is an issue or, with pull set, a pull request: GitHub numbers both
// from one sequence and keeps a pull request's comments on its issue.
type issue struct {
	id        int64
	number    int
	title     string
	author    string
	createdAt time.Time
	pull      *pullRequest
	comments  []*issueComment // oldest first
}

type pullRequest struct {
	id        int64
	headSHA   string
	headRef   string
	updatedAt time.Time // when the head last moved
}

type issueComment struct {
	id        int64
	issue     *issue
	author    string
	body      string
	history   []string
	createdAt time.Time
	updatedAt time.Time
	reactions []reaction // oldest first
}

type reaction struct {
	id      int64
	user    string
	content string
	at      time.Time
}

// reactionContents are the reactions GitHub accepts.
var reactionContents = []string{"+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"}

// roles maps each repository role to the legacy base permission GitHub
// still reports in the "permission" field.
var roles = map[string]string{
	"admin":    "admin",
	"maintain": "write",
	"write":    "write",
	"triage":   "read",
	"read":     "read",
}

// maxCommentBody is GitHub's limit for a comment body, in characters.
const maxCommentBody = 65536

// AddUser makes login a GitHub user; the permission API tells a user who
// is no collaborator ("none") from a login that does not exist (404).
// Every other seeding method taking a login adds it too.
func (e *Emulator) AddUser(login string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.addUser(login)
}

func (e *Emulator) addUser(login string) {
	if login == "" {
		panic("githubemu: empty login")
	}
	e.users[strings.ToLower(login)] = login
}

// AddIssue adds the plain issue number, opened by author.
func (e *Emulator) AddIssue(repo string, number int, author string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.addIssue(repo, number, author, nil)
}

// AddPullRequest adds the open pull request number, opened by author from
// branch headRef at headSHA. The head commit is added to repo if needed,
// and headRef and pull/{number}/head resolve to it, as on GitHub.
func (e *Emulator) AddPullRequest(repo string, number int, headSHA, headRef, author string) {
	if !isFullSHA(headSHA) {
		panic(fmt.Sprintf("githubemu: AddPullRequest(%q, %d): head %q: want a 40-digit lower-case hex sha", repo, number, headSHA))
	}
	if headRef == "" {
		panic(fmt.Sprintf("githubemu: AddPullRequest(%q, %d): empty head ref", repo, number))
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	is := e.addIssue(repo, number, author, &pullRequest{id: e.newID(), headRef: headRef})
	e.moveHead(e.mustRepo(repo), is, headSHA)
}

// SetPullRequestHead moves the head of pull request number to sha, as a
// push to its branch does; sha is added to repo if needed.
func (e *Emulator) SetPullRequestHead(repo string, number int, sha string) {
	if !isFullSHA(sha) {
		panic(fmt.Sprintf("githubemu: SetPullRequestHead(%q, %d, %q): want a 40-digit lower-case hex sha", repo, number, sha))
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	rp := e.mustRepo(repo)
	is := rp.issues[number]
	if is == nil || is.pull == nil {
		panic(fmt.Sprintf("githubemu: SetPullRequestHead(%q, %d): no such pull request; call AddPullRequest first", repo, number))
	}
	e.moveHead(rp, is, sha)
}

// PushToPullRequest moves the head of pull request number to sha, as a
// push to its branch on github.com does, and delivers the pull_request
// webhook (action synchronize) before returning. sha is added to repo if
// needed. The head stays moved even when the delivery fails; the error
// then says why.
func (e *Emulator) PushToPullRequest(repo string, number int, sha string) error {
	if !isFullSHA(sha) {
		panic(fmt.Sprintf("githubemu: PushToPullRequest(%q, %d, %q): want a 40-digit lower-case hex sha", repo, number, sha))
	}
	e.mu.Lock()
	rp := e.mustRepo(repo)
	is := rp.issues[number]
	if is == nil || is.pull == nil {
		e.mu.Unlock()
		panic(fmt.Sprintf("githubemu: PushToPullRequest(%q, %d): no such pull request; call AddPullRequest first", repo, number))
	}
	before := is.pull.headSHA
	e.moveHead(rp, is, sha)
	event := map[string]any{
		"action":       "synchronize",
		"number":       is.number,
		"before":       before,
		"after":        sha,
		"pull_request": pullRequestJSON(e.origin, rp, is),
		"repository":   repoJSONAt(e.origin, rp),
		"sender":       userJSON(e.origin+Prefix, is.author, userType(is.author)),
	}
	if rp.installationID != 0 {
		event["installation"] = map[string]any{"id": rp.installationID, "node_id": nodeID("Installation", strconv.FormatInt(rp.installationID, 10))}
	}
	e.mu.Unlock()
	return e.sendEvent("pull_request", event)
}

func (e *Emulator) moveHead(rp *repo, is *issue, sha string) {
	if _, ok := rp.commits[sha]; !ok {
		rp.commits[sha] = &commit{sha: sha, message: "Commit " + sha[:7], at: e.now()}
	}
	is.pull.headSHA = sha
	is.pull.updatedAt = e.now()
	rp.refs[is.pull.headRef] = sha
	rp.refs[fmt.Sprintf("pull/%d/head", is.number)] = sha
}

func (e *Emulator) addIssue(repo string, number int, author string, pull *pullRequest) *issue {
	rp := e.mustRepo(repo)
	if number < 1 {
		panic(fmt.Sprintf("githubemu: issue number %d in %s: want 1 or more", number, repo))
	}
	if _, ok := rp.issues[number]; ok {
		panic(fmt.Sprintf("githubemu: issue or pull request #%d already in %s", number, repo))
	}
	e.addUser(author)
	title := fmt.Sprintf("Issue #%d", number)
	if pull != nil {
		title = fmt.Sprintf("Pull request #%d", number)
	}
	is := &issue{id: e.newID(), number: number, title: title, author: author, createdAt: e.now(), pull: pull}
	rp.issues[number] = is
	return is
}

// SetPermission makes login a collaborator of repo with permission, one of
// admin, maintain, write, triage and read; "none" removes the collaborator.
func (e *Emulator) SetPermission(repo, login, permission string) {
	if _, ok := roles[permission]; !ok && permission != "none" {
		panic(fmt.Sprintf("githubemu: SetPermission: bad permission %q", permission))
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	rp := e.mustRepo(repo)
	e.addUser(login)
	if permission == "none" {
		delete(rp.permissions, strings.ToLower(login))
		return
	}
	rp.permissions[strings.ToLower(login)] = permission
}

// AddTeamMember makes login an active member of the team teamSlug of org.
func (e *Emulator) AddTeamMember(org, teamSlug, login string) {
	if org == "" || teamSlug == "" {
		panic(fmt.Sprintf("githubemu: AddTeamMember(%q, %q): empty org or team", org, teamSlug))
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.addUser(login)
	key := strings.ToLower(org + "/" + teamSlug)
	if e.teams[key] == nil {
		e.teams[key] = map[string]bool{}
	}
	e.teams[key][strings.ToLower(login)] = true
}

// Comments returns the comments on issue or pull request number of repo,
// oldest first; nil if there is no such issue.
func (e *Emulator) Comments(repo string, number int) []Comment {
	e.mu.Lock()
	defer e.mu.Unlock()
	is := e.mustRepo(repo).issues[number]
	if is == nil {
		return nil
	}
	out := make([]Comment, 0, len(is.comments))
	for _, c := range is.comments {
		out = append(out, Comment{
			ID: c.id, Body: c.body, Author: c.author,
			Edits: len(c.history), History: append([]string(nil), c.history...),
			CreatedAt: c.createdAt, UpdatedAt: c.updatedAt,
		})
	}
	return out
}

// Reactions returns the contents of the reactions to comment commentID of
// repo, oldest first; nil if there is no such comment.
func (e *Emulator) Reactions(repo string, commentID int64) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.mustRepo(repo).comments[commentID]
	if c == nil {
		return nil
	}
	var out []string
	for _, r := range c.reactions {
		out = append(out, r.content)
	}
	return out
}

// UserComment stores a comment by author on issue or pull request number
// of repo, as if made on github.com, and delivers its issue_comment
// webhook before returning. The comment stays stored even when the
// delivery fails; the error then says why.
func (e *Emulator) UserComment(repo string, number int, author, body string) (int64, error) {
	e.mu.Lock()
	rp := e.mustRepo(repo)
	is := rp.issues[number]
	if is == nil {
		e.mu.Unlock()
		panic(fmt.Sprintf("githubemu: UserComment(%q, %d): no such issue or pull request; call AddIssue or AddPullRequest first", repo, number))
	}
	e.addUser(author)
	c := e.addComment(rp, is, author, body)
	event := e.commentEvent(e.origin, rp, c, "created", nil)
	e.mu.Unlock()
	return c.id, e.sendEvent("issue_comment", event)
}

// UserEditedComment changes the body of comment commentID of repo, as
// editor on github.com would, and delivers the issue_comment webhook
// (action edited) before returning.
func (e *Emulator) UserEditedComment(repo string, commentID int64, editor, body string) error {
	e.mu.Lock()
	rp := e.mustRepo(repo)
	c := rp.comments[commentID]
	if c == nil {
		e.mu.Unlock()
		panic(fmt.Sprintf("githubemu: UserEditedComment(%q, %d): no such comment", repo, commentID))
	}
	e.addUser(editor)
	from := c.edit(body, e.now())
	event := e.commentEvent(e.origin, rp, c, "edited", map[string]any{"body": map[string]any{"from": from}})
	// GitHub names the editor as the sender, not the comment's author.
	event["sender"] = userJSON(e.origin+Prefix, editor, userType(editor))
	e.mu.Unlock()
	return e.sendEvent("issue_comment", event)
}

func (e *Emulator) sendEvent(event string, payload map[string]any) error {
	body, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("githubemu: marshal %s webhook: %w", event, err)
	}
	return e.SendWebhook(event, body)
}

func (e *Emulator) addComment(rp *repo, is *issue, author, body string) *issueComment {
	at := e.now()
	c := &issueComment{id: e.newID(), issue: is, author: author, body: body, createdAt: at, updatedAt: at}
	is.comments = append(is.comments, c)
	rp.comments[c.id] = c
	return c
}

// edit sets the body and returns the previous one.
func (c *issueComment) edit(body string, at time.Time) string {
	from := c.body
	c.history = append(c.history, from)
	c.body = body
	c.updatedAt = at
	return from
}

// commentEvent is the issue_comment webhook payload; it is a map so that
// callers can adjust it before it is marshalled.
func (e *Emulator) commentEvent(origin string, rp *repo, c *issueComment, action string, changes map[string]any) map[string]any {
	event := map[string]any{
		"action":     action,
		"issue":      issueJSON(origin, rp, c.issue),
		"comment":    commentJSON(origin, rp, c),
		"repository": repoJSONAt(origin, rp),
		"sender":     userJSON(origin+Prefix, c.author, userType(c.author)),
	}
	if changes != nil {
		event["changes"] = changes
	}
	if rp.installationID != 0 {
		event["installation"] = map[string]any{"id": rp.installationID, "node_id": nodeID("Installation", strconv.FormatInt(rp.installationID, 10))}
	}
	owner, _, _ := strings.Cut(rp.fullName, "/")
	event["organization"] = map[string]any{"login": owner, "url": origin + Prefix + "/orgs/" + owner}
	return event
}

func (e *Emulator) issueRoutes() {
	// issues/{number}/comments and issues/comments/{id} overlap as
	// patterns, so one handler tells them apart.
	e.mux.HandleFunc("GET "+Prefix+"/repos/{owner}/{repo}/issues/{a}/{b}", e.withRepo(e.issuePairEndpoints))
	e.mux.HandleFunc("POST "+Prefix+"/repos/{owner}/{repo}/issues/{a}/{b}", e.withRepo(e.issuePairEndpoints))
	e.mux.HandleFunc("GET "+Prefix+"/repos/{owner}/{repo}/issues/{number}", e.withRepo(e.getIssue))
	e.mux.HandleFunc("PATCH "+Prefix+"/repos/{owner}/{repo}/issues/comments/{id}", e.withRepo(e.editComment))
	e.mux.HandleFunc("POST "+Prefix+"/repos/{owner}/{repo}/issues/comments/{id}/reactions", e.withRepo(e.createReaction))
	e.mux.HandleFunc("GET "+Prefix+"/repos/{owner}/{repo}/pulls/{number}", e.withRepo(e.getPullRequest))
	e.mux.HandleFunc("GET "+Prefix+"/repos/{owner}/{repo}/collaborators/{username}/permission", e.withRepo(e.getPermission))
	e.mux.HandleFunc("GET "+Prefix+"/orgs/{org}/teams/{team}/memberships/{username}", e.getTeamMembership)
}

func (e *Emulator) issuePairEndpoints(r *http.Request, rp *repo, cred credential) response {
	a, b := r.PathValue("a"), r.PathValue("b")
	switch {
	case a == "comments" && r.Method != http.MethodPost:
		c := commentByID(rp, b)
		if c == nil {
			return notFound()
		}
		return reply(http.StatusOK, commentJSON(htmlBase(r), rp, c))
	case b == "comments":
		is := issueByNumber(rp, a)
		if is == nil {
			return notFound()
		}
		if r.Method == http.MethodPost {
			return e.createComment(r, rp, is, cred)
		}
		lo, hi, link := paginate(r, len(is.comments))
		page := []any{}
		for _, c := range is.comments[lo:hi] {
			page = append(page, commentJSON(htmlBase(r), rp, c))
		}
		resp := reply(http.StatusOK, page)
		resp.link = link
		return resp
	}
	return notFound()
}

func issueByNumber(rp *repo, s string) *issue {
	n, err := strconv.Atoi(s)
	if err != nil {
		return nil
	}
	return rp.issues[n]
}

func commentByID(rp *repo, s string) *issueComment {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return nil
	}
	return rp.comments[id]
}

// commentBody decodes a request's body field and checks it as GitHub does.
func commentBody(r *http.Request) (string, *response) {
	var req struct {
		Body *string `json:"body"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		resp := apiError(http.StatusBadRequest, "Problems parsing JSON")
		return "", &resp
	}
	if req.Body == nil || strings.TrimSpace(*req.Body) == "" {
		resp := validationFailed("IssueComment", "body", "missing_field")
		return "", &resp
	}
	if utf8.RuneCountInString(*req.Body) > maxCommentBody {
		resp := apiError(http.StatusUnprocessableEntity, "Validation Failed", map[string]any{
			"resource": "IssueComment", "field": "body", "code": "custom",
			"message": fmt.Sprintf("body is too long (maximum is %d characters)", maxCommentBody),
		})
		return "", &resp
	}
	return *req.Body, nil
}

func (e *Emulator) createComment(r *http.Request, rp *repo, is *issue, cred credential) response {
	body, bad := commentBody(r)
	if bad != nil {
		return *bad
	}
	c := e.addComment(rp, is, cred.login, body)
	resp := reply(http.StatusCreated, commentJSON(htmlBase(r), rp, c))
	// GitHub also tells the App about its own comments; a bot must not
	// take its own replies for commands.
	if e.hookURL != "" {
		resp.hook = e.newOutgoing("issue_comment", e.commentEvent(htmlBase(r), rp, c, "created", nil))
	}
	return resp
}

func (e *Emulator) editComment(r *http.Request, rp *repo, cred credential) response {
	c := commentByID(rp, r.PathValue("id"))
	if c == nil {
		return notFound()
	}
	body, bad := commentBody(r)
	if bad != nil {
		return *bad
	}
	from := c.edit(body, e.now())
	resp := reply(http.StatusOK, commentJSON(htmlBase(r), rp, c))
	if e.hookURL != "" {
		event := e.commentEvent(htmlBase(r), rp, c, "edited", map[string]any{"body": map[string]any{"from": from}})
		event["sender"] = userJSON(apiBase(r), cred.login, userType(cred.login))
		resp.hook = e.newOutgoing("issue_comment", event)
	}
	return resp
}

func (e *Emulator) createReaction(r *http.Request, rp *repo, cred credential) response {
	c := commentByID(rp, r.PathValue("id"))
	if c == nil {
		return notFound()
	}
	var req struct {
		Content string `json:"content"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		return apiError(http.StatusBadRequest, "Problems parsing JSON")
	}
	valid := false
	for _, content := range reactionContents {
		valid = valid || req.Content == content
	}
	if !valid {
		return validationFailed("Reaction", "content", "invalid")
	}
	// One reaction per user and content: a repeat answers 200 with the
	// existing one instead of adding another.
	for _, re := range c.reactions {
		if re.content == req.Content && strings.EqualFold(re.user, cred.login) {
			return reply(http.StatusOK, reactionJSON(apiBase(r), re))
		}
	}
	re := reaction{id: e.newID(), user: cred.login, content: req.Content, at: e.now()}
	c.reactions = append(c.reactions, re)
	return reply(http.StatusCreated, reactionJSON(apiBase(r), re))
}

func (e *Emulator) getIssue(r *http.Request, rp *repo, _ credential) response {
	is := issueByNumber(rp, r.PathValue("number"))
	if is == nil {
		return notFound()
	}
	return reply(http.StatusOK, issueJSON(htmlBase(r), rp, is))
}

func (e *Emulator) getPullRequest(r *http.Request, rp *repo, _ credential) response {
	is := issueByNumber(rp, r.PathValue("number"))
	if is == nil || is.pull == nil {
		return notFound()
	}
	return reply(http.StatusOK, pullRequestJSON(htmlBase(r), rp, is))
}

func (e *Emulator) getPermission(r *http.Request, rp *repo, _ credential) response {
	username := r.PathValue("username")
	login, ok := e.users[strings.ToLower(username)]
	if !ok {
		return apiError(http.StatusNotFound, username+" is not a user")
	}
	// Every emulated repo is private, where a non-collaborator has no
	// access at all; on a public one GitHub would answer read.
	role, permission := "none", "none"
	if seeded, ok := rp.permissions[strings.ToLower(login)]; ok {
		role, permission = seeded, roles[seeded]
	}
	user := userJSON(apiBase(r), login, userType(login))
	user["role_name"] = role
	return reply(http.StatusOK, map[string]any{"permission": permission, "role_name": role, "user": user})
}

func (e *Emulator) getTeamMembership(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	resp := e.teamMembership(r)
	e.mu.Unlock()
	e.write(w, r, resp)
}

func (e *Emulator) teamMembership(r *http.Request) response {
	cred, ok := e.authenticate(r)
	if !ok {
		return apiError(http.StatusUnauthorized, "Bad credentials")
	}
	org, team, username := r.PathValue("org"), r.PathValue("team"), r.PathValue("username")
	// An installation sees the teams of the accounts it is installed on.
	if cred.installationID != 0 && !e.installedOn(cred.installationID, org) {
		return notFound()
	}
	if !e.teams[strings.ToLower(org+"/"+team)][strings.ToLower(username)] {
		return notFound()
	}
	return reply(http.StatusOK, map[string]any{
		"url":   fmt.Sprintf("%s/orgs/%s/teams/%s/memberships/%s", apiBase(r), url.PathEscape(org), url.PathEscape(team), url.PathEscape(username)),
		"role":  "member",
		"state": "active",
	})
}

func (e *Emulator) installedOn(installationID int64, account string) bool {
	for _, rp := range e.repos {
		owner, _, _ := strings.Cut(rp.fullName, "/")
		if rp.installationID == installationID && strings.EqualFold(owner, account) {
			return true
		}
	}
	return false
}

// association is the author_association GitHub shows for login on rp.
func (rp *repo) association(login string) string {
	owner, _, _ := strings.Cut(rp.fullName, "/")
	switch {
	case strings.EqualFold(owner, login):
		return "OWNER"
	case rp.permissions[strings.ToLower(login)] != "":
		return "COLLABORATOR"
	}
	return "NONE"
}

func issueJSON(origin string, rp *repo, is *issue) map[string]any {
	base := origin + Prefix
	u := fmt.Sprintf("%s/repos/%s/issues/%d", base, rp.fullName, is.number)
	at := is.createdAt.Format(time.RFC3339)
	out := map[string]any{
		"url":                      u,
		"repository_url":           base + "/repos/" + rp.fullName,
		"labels_url":               u + "/labels{/name}",
		"comments_url":             u + "/comments",
		"events_url":               u + "/events",
		"html_url":                 issueHTMLURL(origin, rp, is),
		"id":                       is.id,
		"node_id":                  nodeID("Issue", strconv.FormatInt(is.id, 10)),
		"number":                   is.number,
		"title":                    is.title,
		"user":                     userJSON(base, is.author, userType(is.author)),
		"labels":                   []any{},
		"state":                    "open",
		"locked":                   false,
		"assignee":                 nil,
		"assignees":                []any{},
		"milestone":                nil,
		"comments":                 len(is.comments),
		"created_at":               at,
		"updated_at":               at,
		"closed_at":                nil,
		"author_association":       rp.association(is.author),
		"active_lock_reason":       nil,
		"body":                     nil,
		"reactions":                reactionsSummary(u+"/reactions", nil),
		"performed_via_github_app": nil,
		"state_reason":             nil,
		"draft":                    false,
	}
	// The only way to tell a pull request's issue from a plain issue.
	if is.pull != nil {
		pu := fmt.Sprintf("%s/%s/pull/%d", origin, rp.fullName, is.number)
		out["pull_request"] = map[string]any{
			"url":       fmt.Sprintf("%s/repos/%s/pulls/%d", base, rp.fullName, is.number),
			"html_url":  pu,
			"diff_url":  pu + ".diff",
			"patch_url": pu + ".patch",
			"merged_at": nil,
		}
	}
	return out
}

func issueHTMLURL(origin string, rp *repo, is *issue) string {
	kind := "issues"
	if is.pull != nil {
		kind = "pull"
	}
	return fmt.Sprintf("%s/%s/%s/%d", origin, rp.fullName, kind, is.number)
}

func commentJSON(origin string, rp *repo, c *issueComment) map[string]any {
	base := origin + Prefix
	u := fmt.Sprintf("%s/repos/%s/issues/comments/%d", base, rp.fullName, c.id)
	return map[string]any{
		"url":                      u,
		"html_url":                 fmt.Sprintf("%s#issuecomment-%d", issueHTMLURL(origin, rp, c.issue), c.id),
		"issue_url":                fmt.Sprintf("%s/repos/%s/issues/%d", base, rp.fullName, c.issue.number),
		"id":                       c.id,
		"node_id":                  nodeID("IssueComment", strconv.FormatInt(c.id, 10)),
		"user":                     userJSON(base, c.author, userType(c.author)),
		"created_at":               c.createdAt.Format(time.RFC3339),
		"updated_at":               c.updatedAt.Format(time.RFC3339),
		"author_association":       rp.association(c.author),
		"body":                     c.body,
		"reactions":                reactionsSummary(u+"/reactions", c.reactions),
		"performed_via_github_app": nil,
	}
}

func reactionsSummary(u string, rs []reaction) map[string]any {
	out := map[string]any{"url": u, "total_count": len(rs)}
	for _, content := range reactionContents {
		out[content] = 0
	}
	for _, r := range rs {
		out[r.content] = out[r.content].(int) + 1
	}
	return out
}

func reactionJSON(base string, r reaction) map[string]any {
	return map[string]any{
		"id":         r.id,
		"node_id":    nodeID("Reaction", strconv.FormatInt(r.id, 10)),
		"user":       userJSON(base, r.user, userType(r.user)),
		"content":    r.content,
		"created_at": r.at.Format(time.RFC3339),
	}
}

func pullRequestJSON(origin string, rp *repo, is *issue) map[string]any {
	base := origin + Prefix
	owner, _, _ := strings.Cut(rp.fullName, "/")
	repo := repoJSONAt(origin, rp)
	htmlURL := issueHTMLURL(origin, rp, is)
	u := fmt.Sprintf("%s/repos/%s/pulls/%d", base, rp.fullName, is.number)
	at := is.createdAt.Format(time.RFC3339)
	updated := at
	if is.pull.updatedAt.After(is.createdAt) {
		updated = is.pull.updatedAt.Format(time.RFC3339)
	}
	branch := func(ref, sha string) map[string]any {
		return map[string]any{
			"label": owner + ":" + ref,
			"ref":   ref,
			"sha":   sha,
			"user":  userJSON(base, owner, "Organization"),
			"repo":  repo,
		}
	}
	return map[string]any{
		"url":                 u,
		"id":                  is.pull.id,
		"node_id":             nodeID("PullRequest", strconv.FormatInt(is.pull.id, 10)),
		"html_url":            htmlURL,
		"diff_url":            htmlURL + ".diff",
		"patch_url":           htmlURL + ".patch",
		"issue_url":           fmt.Sprintf("%s/repos/%s/issues/%d", base, rp.fullName, is.number),
		"commits_url":         u + "/commits",
		"review_comments_url": u + "/comments",
		"comments_url":        fmt.Sprintf("%s/repos/%s/issues/%d/comments", base, rp.fullName, is.number),
		"statuses_url":        fmt.Sprintf("%s/repos/%s/statuses/%s", base, rp.fullName, is.pull.headSHA),
		"number":              is.number,
		"state":               "open",
		"locked":              false,
		"title":               is.title,
		"user":                userJSON(base, is.author, userType(is.author)),
		"body":                nil,
		"labels":              []any{},
		"milestone":           nil,
		"created_at":          at,
		"updated_at":          updated,
		"closed_at":           nil,
		"merged_at":           nil,
		"merge_commit_sha":    nil,
		"assignee":            nil,
		"assignees":           []any{},
		"requested_reviewers": []any{},
		"draft":               false,
		"head":                branch(is.pull.headRef, is.pull.headSHA),
		"base":                branch("main", rp.refs["main"]),
		"author_association":  rp.association(is.author),
		"merged":              false,
		"mergeable":           nil,
		"mergeable_state":     "unknown",
		"comments":            len(is.comments),
		"commits":             1,
	}
}

// Push moves branch of repo to sha (a force-push as much as a fast
// forward) as pusher and sends the push webhook, shaped as GitHub's:
// ref, before, after, the repository with pushed_at in unix seconds, the
// pusher, the head commit. It returns the delivery id.
func (e *Emulator) Push(repo, branch, sha, pusher string) (string, error) {
	if !isFullSHA(sha) {
		panic(fmt.Sprintf("githubemu: Push(%q, %q, %q): want a 40-digit lower-case hex sha", repo, branch, sha))
	}
	e.mu.Lock()
	rp := e.mustRepo(repo)
	before := rp.refs[branch]
	if before == "" {
		before = strings.Repeat("0", 40)
	}
	if _, ok := rp.commits[sha]; !ok {
		rp.commits[sha] = &commit{sha: sha, message: "Commit " + sha[:7], at: e.now()}
	}
	rp.refs[branch] = sha
	e.addUser(pusher)
	now := e.now()
	repository := repoJSONAt(e.origin, rp)
	repository["pushed_at"] = now.Unix()
	head := map[string]any{
		"id": sha, "tree_id": sha, "distinct": true, "message": rp.commits[sha].message,
		"timestamp": rp.commits[sha].at.Format(time.RFC3339),
		"url":       fmt.Sprintf("%s/%s/commit/%s", e.origin, rp.fullName, sha),
		"author":    map[string]any{"name": pusher, "email": pusher + "@users.noreply.github.com", "username": pusher},
		"committer": map[string]any{"name": pusher, "email": pusher + "@users.noreply.github.com", "username": pusher},
		"added":     []string{}, "removed": []string{}, "modified": []string{"README.md"},
	}
	event := map[string]any{
		"ref": "refs/heads/" + branch, "before": before, "after": sha,
		"repository": repository,
		"pusher":     map[string]any{"name": pusher, "email": pusher + "@users.noreply.github.com"},
		"sender":     userJSON(e.origin+Prefix, pusher, "User"),
		"created":    before == strings.Repeat("0", 40), "deleted": false, "forced": false,
		"base_ref": nil, "compare": fmt.Sprintf("%s/%s/compare/%s...%s", e.origin, rp.fullName, before[:12], sha[:12]),
		"commits":     []any{head},
		"head_commit": head,
	}
	if rp.installationID != 0 {
		event["installation"] = map[string]any{"id": rp.installationID, "node_id": nodeID("Installation", strconv.FormatInt(rp.installationID, 10))}
	}
	e.mu.Unlock()
	body, err := json.Marshal(event)
	if err != nil {
		return "", fmt.Errorf("githubemu: marshal push webhook: %w", err)
	}
	d, err := e.sendWebhook("push", body)
	return d.ID, err
}
