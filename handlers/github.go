package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/deploybot/deploybot/bot"
	"github.com/google/go-github/v60/github"
)

// githubWebhook takes GitHub's deliveries. Only SHA-256 signatures are
// accepted: go-github's ValidatePayload would also take the weaker SHA-1
// X-Hub-Signature, so the header is checked here and only the HMAC
// comparison is left to go-github.
func (s *Server) githubWebhook(w http.ResponseWriter, r *http.Request) {
	// Everything that can be decided from the headers is decided before a
	// byte of the body is read: the body is what costs memory.
	unread(w)
	event := r.Header.Get("X-GitHub-Event")
	delivery := r.Header.Get("X-GitHub-Delivery")
	signature := r.Header.Get("X-Hub-Signature-256")
	if event == "" || delivery == "" {
		http.Error(w, "missing X-GitHub-Event or X-GitHub-Delivery", http.StatusBadRequest)
		return
	}
	if !hasContentType(r, "application/json") {
		http.Error(w, "Content-Type must be application/json: set the webhook's content type to application/json", http.StatusUnsupportedMediaType)
		return
	}
	secrets := s.Config.GitHub.WebhookSecrets()
	if len(secrets) == 0 {
		// Without a secret anyone could sign; refuse rather than trust.
		http.Error(w, "webhooks are not configured on this deploybot (github.webhook_secret)", http.StatusServiceUnavailable)
		return
	}
	if !strings.HasPrefix(signature, "sha256=") {
		s.logger().Warn("github webhook refused", "reason", "no X-Hub-Signature-256", "event", event, "delivery", delivery)
		http.Error(w, "X-Hub-Signature-256 required", http.StatusUnauthorized)
		return
	}
	if !actsOn(event) {
		// Not parsed, nor even kept: floods of events deploybot ignores
		// must cost next to nothing, and some real payloads do not even
		// parse. The signature is still checked, so that an answer never
		// tells a stranger more than a refusal would.
		valid, ok := discardVerified(w, r, signature, secrets)
		switch {
		case !ok:
		case !valid:
			s.logger().Warn("github webhook refused", "reason", "bad signature", "event", event, "delivery", delivery)
			http.Error(w, "invalid X-Hub-Signature-256", http.StatusUnauthorized)
		default:
			writeJSON(w, http.StatusAccepted, map[string]string{"msg": clip("ignored event " + event)})
		}
		return
	}
	body, release, ok := s.readBody(w, r, githubBodyLimit(event))
	if !ok {
		return
	}
	defer release()
	if !validSignature(signature, body, secrets) {
		s.logger().Warn("github webhook refused", "reason", "bad signature", "event", event, "delivery", delivery)
		http.Error(w, "invalid X-Hub-Signature-256", http.StatusUnauthorized)
		return
	}

	switch event {
	case "ping":
		writeJSON(w, http.StatusOK, map[string]string{"msg": "pong"})
	case "deployment":
		s.deploymentEvent(w, r, delivery, body)
	case "issue_comment":
		s.issueCommentEvent(w, r, delivery, body)
	case "pull_request":
		s.pullRequestEvent(w, r, body)
	case "push":
		s.pushEvent(w, r, delivery, body)
	case "status", "check_run", "check_suite":
		s.ciEvent(w, event, body)
	}
}

// actsOn reports whether deploybot reads the payload of a GitHub event;
// the others are only acknowledged.
func actsOn(event string) bool {
	switch event {
	case "ping", "deployment", "issue_comment", "pull_request", "push", "status", "check_run", "check_suite":
		return true
	}
	return false
}

// deploymentEvent runs a GitHub deployment created by someone else. The
// GitHub deployment id is unique in the store, which is what makes a
// redelivery (same delivery id) or a repeated event (new delivery id) do
// nothing twice; the delivery is recorded once handled, so a delivery that
// failed here can be redelivered and tried again.
func (s *Server) deploymentEvent(w http.ResponseWriter, r *http.Request, delivery string, body []byte) {
	ctx := r.Context()
	log := s.logger().With("event", "deployment", "delivery", delivery)
	sw := &statusWriter{ResponseWriter: w}
	w = sw
	defer func() {
		if sw.status >= 500 {
			return
		}
		if _, err := s.Deployments.FirstDelivery(context.WithoutCancel(ctx), bot.WebhookDelivery(delivery, "deployment")); err != nil {
			log.Warn("record delivery", "err", err)
		}
	}()
	var ev struct {
		github.DeploymentEvent
		Action string `json:"action"` // not in go-github v60's type
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		http.Error(w, "not a deployment event: "+err.Error(), http.StatusBadRequest)
		return
	}
	if ev.Deployment == nil || ev.Repo == nil {
		http.Error(w, "not a deployment event: no deployment or repository", http.StatusBadRequest)
		return
	}
	if ev.Action != "" && ev.Action != "created" {
		writeJSON(w, http.StatusAccepted, map[string]string{"msg": "ignored: deployment " + ev.Action})
		return
	}
	dep := ev.Deployment
	if !bot.IsFullSHA(dep.GetSHA()) {
		// GitHub resolves the ref itself and always sends the full sha;
		// anything else would be deployed as whatever it resolves to now.
		http.Error(w, "not a deployment event: deployment.sha is not a full commit sha (40 lower-case hex digits)", http.StatusBadRequest)
		return
	}
	repo := bot.Repo{FullName: ev.Repo.GetFullName(), InstallationID: ev.GetInstallation().GetID()}
	payload := decodeDeploymentPayload(dep.Payload)

	if existing, err := s.Deployments.GitHubDeploymentOf(ctx, dep.GetID()); err == nil {
		writeJSON(w, http.StatusOK, map[string]string{"msg": fmt.Sprintf("already deployment #%d", existing.ID)})
		return
	} else if !bot.IsNotFound(err) {
		log.Error("look up deployment", "err", err)
		http.Error(w, "store unavailable", http.StatusInternalServerError)
		return
	}

	if len(s.Config.AppsForRepo(repo.FullName)) == 0 {
		// An App installed on a whole organisation hears every tool's
		// deployments (GitHub Pages, other deployers); one in a repository
		// deploybot does not serve is none of its business, and marking it
		// failed would break that tool's view of it.
		writeJSON(w, http.StatusAccepted, map[string]string{"msg": clip("ignored: deploybot serves no app in " + repo.FullName)})
		return
	}
	if payload.DeploybotID != 0 {
		own, err := s.Deployments.CreatedByUs(ctx, payload.DeploybotID, repo, dep.GetID(), dep.GetSHA(), dep.GetEnvironment())
		if err != nil {
			log.Error("look up deployment", "err", err)
			http.Error(w, "store unavailable", http.StatusInternalServerError)
			return
		}
		if own {
			// deploybot created this one itself and is already running it.
			writeJSON(w, http.StatusOK, map[string]string{"msg": fmt.Sprintf("deployment #%d is deploybot's own", payload.DeploybotID)})
			return
		}
		// Any tool can write deploybot_id into a payload; running the
		// deployment as another requester's would be wrong, and ignoring
		// it would leave it pending in GitHub forever.
		log.Warn("deployment with a foreign deploybot_id", "deploybot_id", payload.DeploybotID, "github_deployment", dep.GetID())
		err = bot.Errorf(bot.EFORBIDDEN, "not created by deploybot (payload.deploybot_id %d is none of its deployments of %s to %s)", payload.DeploybotID, bot.ShortSHA(dep.GetSHA()), dep.GetEnvironment())
		s.Deployments.Reject(ctx, repo, dep.GetID(), err)
		writeJSON(w, http.StatusAccepted, map[string]string{"msg": clip(bot.ErrorMessage(err))})
		return
	}
	app, err := s.Config.AppFor(repo.FullName, payload.App, bot.SourceGitHubAPI)
	if err != nil {
		s.Deployments.Reject(ctx, repo, dep.GetID(), err)
		writeJSON(w, http.StatusAccepted, map[string]string{"msg": clip(bot.ErrorMessage(err))})
		return
	}
	d, err := s.Deployments.Accept(ctx, bot.Request{
		App: app, Env: dep.GetEnvironment(), Ref: dep.GetRef(), SHA: dep.GetSHA(),
		Requester: bot.GitHubRequester(dep.GetCreator().GetLogin()), Source: bot.SourceGitHubAPI,
		InstallationID: repo.InstallationID, GitHubDeploymentID: dep.GetID(),
	})
	switch code := bot.ErrorCode(err); {
	case err == nil:
	case code == bot.ECONFLICT:
		writeJSON(w, http.StatusOK, map[string]string{"msg": "deployment already recorded"})
		return
	case code == bot.EINTERNAL:
		log.Error("accept github deployment", "err", err)
		http.Error(w, "could not accept deployment", http.StatusInternalServerError)
		return
	default:
		s.Deployments.Reject(ctx, repo, dep.GetID(), err)
		writeJSON(w, http.StatusAccepted, map[string]string{"msg": clip(bot.ErrorMessage(err))})
		return
	}
	s.Deployments.Kick()
	writeJSON(w, http.StatusAccepted, map[string]any{"msg": "deployment accepted", "deployment": d.ID})
}

// decodeDeploymentPayload reads the payload as an object, or as a string
// holding one (the API accepts both); anything else is an empty payload.
func decodeDeploymentPayload(raw json.RawMessage) bot.DeploymentPayload {
	var p bot.DeploymentPayload
	if json.Unmarshal(raw, &p) == nil {
		return p
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		_ = json.Unmarshal([]byte(s), &p)
	}
	return p
}

// issueCommentEvent runs the PR-comment trigger for new comments on pull
// requests. Edits never deploy (an edit must not re-run an old request),
// nor do comments on plain issues or by bots, deploybot's own included.
//
// Nearly every comment is plain discussion, or in a repository deploybot
// does not serve: those are told from the signed bytes alone (see
// ignoredComment), decoded no further and written nowhere. Only a
// possible command is decoded in full and recorded.
func (s *Server) issueCommentEvent(w http.ResponseWriter, r *http.Request, delivery string, body []byte) {
	ctx := r.Context()
	if why := s.ignoredComment(body); why != "" {
		writeJSON(w, http.StatusAccepted, map[string]string{"msg": clip(why)})
		return
	}
	var ev github.IssueCommentEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		http.Error(w, "not an issue_comment event: "+err.Error(), http.StatusBadRequest)
		return
	}
	if ev.Comment == nil || ev.Issue == nil || ev.Repo == nil {
		http.Error(w, "not an issue_comment event: no comment, issue or repository", http.StatusBadRequest)
		return
	}
	author := ev.GetComment().GetUser()
	if why := s.commentVerdict(ev.GetAction(), ev.GetIssue().IsPullRequest(), ev.GetRepo().GetFullName(), ev.GetComment().GetBody()); why != "" {
		writeJSON(w, http.StatusAccepted, map[string]string{"msg": clip(why)})
		return
	}
	if author.GetType() == "Bot" || strings.HasSuffix(author.GetLogin(), "[bot]") {
		writeJSON(w, http.StatusAccepted, map[string]string{"msg": "ignored: comment by a bot"})
		return
	}
	if ev.GetComment().GetCreatedAt().IsZero() {
		// The head it may deploy is the one seen when it was written.
		http.Error(w, "not an issue_comment event: no comment.created_at", http.StatusBadRequest)
		return
	}
	key := bot.CommentDelivery(ev.GetRepo().GetFullName(), ev.GetComment().GetID())
	first, err := s.Deployments.FirstDelivery(ctx, key)
	if err != nil {
		s.logger().Error("record delivery", "err", err, "delivery", delivery)
		http.Error(w, "could not record delivery", http.StatusInternalServerError)
		return
	}
	if !first {
		writeJSON(w, http.StatusOK, map[string]string{"msg": "comment already handled"})
		return
	}
	// Handling a comment makes several GitHub calls, each retried while
	// GitHub is unwell; it is cut off in time to answer the webhook.
	timeout := s.CommentTimeout
	if timeout <= 0 {
		timeout = DefaultCommentTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d, err := s.Deployments.HandleComment(ctx, bot.Comment{
		Repo:   bot.Repo{FullName: ev.GetRepo().GetFullName(), InstallationID: ev.GetInstallation().GetID()},
		Number: ev.GetIssue().GetNumber(), CommentID: ev.GetComment().GetID(),
		Author: author.GetLogin(), Body: ev.GetComment().GetBody(),
		CreatedAt: ev.GetComment().GetCreatedAt().Time,
	})
	if err != nil {
		s.logger().Error("pull request comment", "err", err, "delivery", delivery)
		// Nothing was deployed: let a redelivery try again.
		if ferr := s.Deployments.ForgetDelivery(context.WithoutCancel(ctx), key); ferr != nil {
			s.logger().Error("forget delivery", "err", ferr, "delivery", delivery)
		}
		if bot.ErrorCode(err) == bot.EUNAVAILABLE {
			// GitHub's own failure: it may redeliver once it is back.
			http.Error(w, "could not handle the comment: "+bot.ErrorMessage(err), http.StatusServiceUnavailable)
			return
		}
		http.Error(w, "could not handle the comment", http.StatusInternalServerError)
		return
	}
	if d == nil {
		writeJSON(w, http.StatusAccepted, map[string]string{"msg": "no deployment"})
		return
	}
	s.Deployments.Kick()
	writeJSON(w, http.StatusAccepted, map[string]any{"msg": "deployment accepted", "deployment": d.ID})
}

// commentVerdict says why a comment is ignored, or "" when it may be a
// command for deploybot: a new comment whose first line parses as one
// (bot.ParseComment), on a pull request of a served repository.
func (s *Server) commentVerdict(action string, onPullRequest bool, repo, text string) string {
	switch {
	case action != "created":
		return "ignored: comment " + action
	case bot.ParseComment(text).Kind == bot.CommentIgnore:
		return "ignored: not a command"
	case !onPullRequest:
		return "ignored: not a pull request"
	case len(s.Config.AppsForRepo(repo)) == 0:
		// An App installed on a whole organisation hears every
		// repository's comments; it answers in none it does not serve.
		return "ignored: deploybot serves no app in " + repo
	}
	return ""
}

// ignoredComment is commentVerdict read straight from the signed bytes,
// without decoding them: it finds the few members it needs (members) and
// decodes only those, and only the first lines of the comment. The
// check_run path does the same for the same reason: a full decode of a
// 15 kB payload costs many times its HMAC. Most comments are no command,
// which the members before the repository (GitHub sends action, issue,
// comment, then repository) tell; only a possible command pays for the
// rest of the scan.
//
// It returns "" when the comment may be a command, and also when the
// bytes are not what it expects: the full decode then judges, and says
// what is wrong.
func (s *Server) ignoredComment(body []byte) string {
	top, ok := members(body, "action", "issue", "comment")
	if !ok || top[0] == nil || top[1] == nil || top[2] == nil {
		return ""
	}
	action, ok := jsonString(top[0])
	if !ok {
		return ""
	}
	comment, ok := members(top[2], "body")
	if !ok || comment[0] == nil {
		return ""
	}
	text, ok := firstLines(comment[0])
	if !ok {
		return ""
	}
	if action != "created" || bot.ParseComment(text).Kind == bot.CommentIgnore {
		return s.commentVerdict(action, false, "", text)
	}
	issue, ok := members(top[1], "pull_request")
	if !ok {
		return ""
	}
	// go-github's IsPullRequest: the member is there and not null.
	onPullRequest := issue[0] != nil && string(issue[0]) != "null"
	rest, ok := members(body, "repository")
	if !ok || rest[0] == nil {
		return ""
	}
	repo, ok := members(rest[0], "full_name")
	if !ok || repo[0] == nil {
		return ""
	}
	name, ok := jsonString(repo[0])
	if !ok {
		return ""
	}
	return s.commentVerdict(action, onPullRequest, name, text)
}

// firstLines decodes raw, a JSON string, up to the end of its first line
// that is not blank: all that bot.ParseComment reads. The rest of a long
// comment is never decoded. Lines end at \r or \n, which JSON always
// escapes; a cut there never splits an escape, and the text before it
// parses as the whole would, since its first non-blank line is whole.
func firstLines(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	in := raw[1 : len(raw)-1]
	for i := 0; ; {
		b := bytes.IndexByte(in[i:], '\\')
		if b < 0 || i+b+1 >= len(in) {
			return jsonString(raw)
		}
		i += b
		esc := 2
		cut := in[i+1] == 'n' || in[i+1] == 'r'
		if in[i+1] == 'u' {
			esc = 6
			if i+esc <= len(in) {
				switch strings.ToLower(string(in[i+2 : i+6])) {
				case "000a", "000d":
					cut = true
				}
			}
		}
		if cut {
			quoted := make([]byte, 0, i+2)
			quoted = append(append(append(quoted, '"'), in[:i]...), '"')
			text, ok := jsonString(quoted)
			if !ok {
				return "", false
			}
			if strings.TrimSpace(strings.TrimPrefix(text, "\ufeff")) != "" {
				return text, true
			}
		}
		i += esc
	}
}

// jsonString decodes raw, a JSON string with its quotes; one without
// escapes, as most are, costs no decoding.
func jsonString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]), true
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err == nil
}

// pullRequestEvent records when a pull request got its head, so that a
// comment written before that (and handled late: GitHub was down, or it
// was redelivered) is not run on a head its author never saw. Most
// pull_request events (labels, reviews, other repositories) are told
// from the signed bytes and cost no decode and no store write; for the
// rest only the few fields needed are decoded.
//
// The time recorded is the payload's pull_request.updated_at, which
// GitHub sets when the push lands: the same clock as the comment's
// created_at, and the same value when the event is delivered late or
// again, where the time of delivery would be later than the push and on
// deploybot's own, possibly skewed, clock. Only when it is missing is the
// time of delivery used.
func (s *Server) pullRequestEvent(w http.ResponseWriter, r *http.Request, body []byte) {
	if top, ok := members(body, "action", "repository"); ok && top[0] != nil && top[1] != nil {
		action, ok := jsonString(top[0])
		repo, found := members(top[1], "full_name")
		if ok && found && repo[0] != nil {
			if name, ok := jsonString(repo[0]); ok {
				if why := s.pullRequestVerdict(action, name); why != "" {
					writeJSON(w, http.StatusAccepted, map[string]string{"msg": clip(why)})
					return
				}
			}
		}
	}
	var ev struct {
		Action      string `json:"action"`
		PullRequest struct {
			Number    int    `json:"number"`
			UpdatedAt string `json:"updated_at"`
			Head      struct {
				SHA string `json:"sha"`
			} `json:"head"`
		} `json:"pull_request"`
		Repo struct {
			FullName string `json:"full_name"`
		} `json:"repository"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		http.Error(w, "not a pull_request event: "+err.Error(), http.StatusBadRequest)
		return
	}
	if why := s.pullRequestVerdict(ev.Action, ev.Repo.FullName); why != "" {
		writeJSON(w, http.StatusAccepted, map[string]string{"msg": clip(why)})
		return
	}
	pr := ev.PullRequest
	if pr.Number < 1 || !bot.IsFullSHA(pr.Head.SHA) {
		http.Error(w, "not a pull_request event: no pull_request.number or full pull_request.head.sha", http.StatusBadRequest)
		return
	}
	at, err := time.Parse(time.RFC3339, pr.UpdatedAt)
	if err != nil {
		at = s.now()
	}
	change := bot.HeadChange{Repo: ev.Repo.FullName, Number: pr.Number, SHA: pr.Head.SHA, At: at}
	if err := s.Deployments.HeadChanged(r.Context(), change); err != nil {
		s.logger().Error("record pull request head", "err", err, "repo", change.Repo, "pr", change.Number)
		http.Error(w, "could not record the pull request's head", http.StatusInternalServerError)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"msg": fmt.Sprintf("head of #%d noted", pr.Number)})
}

// pullRequestVerdict says why a pull_request event is ignored, or "" when
// it moved the head of a pull request in a served repository.
func (s *Server) pullRequestVerdict(action, repo string) string {
	switch action {
	case "opened", "synchronize", "reopened":
	default:
		return "ignored: pull_request " + action
	}
	if len(s.Config.AppsForRepo(repo)) == 0 {
		return "ignored: deploybot serves no app in " + repo
	}
	return ""
}

// ciEvent wakes the deployments waiting for CI on the event's commit.
// These events come in floods and the budget for them is 50 µs, which a
// full JSON decode of a 15 KB check_run payload alone exceeds; and some
// real payloads carry timestamps go-github cannot parse. The wake is only
// a hint — the waiting deployment reads CI results from the API itself —
// so the commit is picked out of the raw bytes: the first "head_sha"
// (check_run, check_suite) or "sha" (status) holding 40 hex digits.
func (s *Server) ciEvent(w http.ResponseWriter, event string, body []byte) {
	key := `"head_sha"`
	if event == "status" {
		key = `"sha"`
	}
	if sha, ok := findSHA(body, key); ok {
		s.Deployments.NotifyCI(sha)
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"msg": event + " noted"})
}

// clip bounds a refusal echoed to the caller: the names in it come from
// the event and may be as long as the body.
func clip(msg string) string {
	const max = 500
	if utf8.RuneCountInString(msg) <= max {
		return msg
	}
	return string([]rune(msg)[:max]) + "…"
}

func findSHA(body []byte, key string) (string, bool) {
	i := bytes.Index(body, []byte(key))
	if i < 0 {
		return "", false
	}
	// GitHub sends compact JSON, but nothing promises it: allow the
	// whitespace JSON allows around the colon.
	rest := bytes.TrimLeft(body[i+len(key):], " \t\r\n")
	rest, ok := bytes.CutPrefix(rest, []byte(":"))
	if !ok {
		return "", false
	}
	rest, ok = bytes.CutPrefix(bytes.TrimLeft(rest, " \t\r\n"), []byte(`"`))
	if !ok || len(rest) < 41 || rest[40] != '"' {
		return "", false
	}
	for _, c := range rest[:40] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return "", false
		}
	}
	return string(rest[:40]), true
}

// statusWriter remembers the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// validSignature accepts a signature made with any of secrets, so that a
// secret can be rotated without refusing deliveries signed with the old
// one meanwhile.
func validSignature(signature string, body []byte, secrets []string) bool {
	for _, secret := range secrets {
		if github.ValidateSignature(signature, body, []byte(secret)) == nil {
			return true
		}
	}
	return false
}

// pushEvent is continuous delivery: a push to a branch that environments
// deploy on their own (auto_deploy) becomes a deployment for each. What
// decides whether the push matters — the ref, the repository — is read
// from the signed bytes first: pushes to every other branch and repository
// cost no decode and no store write. A redelivered push (same delivery
// id) creates nothing.
func (s *Server) pushEvent(w http.ResponseWriter, r *http.Request, delivery string, body []byte) {
	ctx := r.Context()
	ignored := func(why string) {
		writeJSON(w, http.StatusAccepted, map[string]string{"msg": clip("ignored: " + why)})
	}
	top, ok := members(body, "ref", "repository")
	var ref, repo string
	if ok && top[0] != nil && top[1] != nil {
		if v, found := members(top[1], "full_name"); found && v[0] != nil {
			_ = json.Unmarshal(v[0], &repo)
		}
		_ = json.Unmarshal(top[0], &ref)
	}
	if repo == "" || ref == "" {
		http.Error(w, "not a push event: no ref or repository.full_name", http.StatusBadRequest)
		return
	}
	branch, isBranch := strings.CutPrefix(ref, "refs/heads/")
	switch {
	case !isBranch:
		ignored("push to " + ref + ", not a branch")
		return
	case len(s.Config.AutoDeployEnvs(repo, branch)) == 0:
		ignored("no environment deploys pushes to " + branch + " of " + repo)
		return
	}

	var ev struct {
		After      string `json:"after"`
		Deleted    bool   `json:"deleted"`
		Repository struct {
			PushedAt json.RawMessage `json:"pushed_at"`
		} `json:"repository"`
		Pusher struct {
			Name string `json:"name"`
		} `json:"pusher"`
		Sender struct {
			Login string `json:"login"`
		} `json:"sender"`
		Installation struct {
			ID int64 `json:"id"`
		} `json:"installation"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		http.Error(w, "not a push event: "+err.Error(), http.StatusBadRequest)
		return
	}
	switch {
	case ev.Deleted || strings.Trim(ev.After, "0") == "":
		ignored("branch " + branch + " deleted")
		return
	case !bot.IsFullSHA(ev.After):
		http.Error(w, "not a push event: after is not a full commit sha (40 lower-case hex digits)", http.StatusBadRequest)
		return
	}
	pusher := ev.Pusher.Name
	if pusher == "" {
		pusher = ev.Sender.Login
	}
	key := bot.WebhookDelivery(delivery, "push")
	first, err := s.Deployments.FirstDelivery(ctx, key)
	if err != nil {
		s.logger().Error("record delivery", "err", err, "delivery", delivery)
		http.Error(w, "could not record delivery", http.StatusServiceUnavailable)
		return
	}
	if !first {
		writeJSON(w, http.StatusOK, map[string]string{"msg": "push already handled"})
		return
	}
	// Not cut short if GitHub stops waiting for the answer (10 s): the
	// delivery is recorded as handled, so a redelivery would create
	// nothing, and the environments not reached yet would miss the push.
	ds, err := s.Deployments.AutoDeploy(context.WithoutCancel(ctx), bot.Push{
		Repo:   bot.Repo{FullName: repo, InstallationID: ev.Installation.ID},
		Branch: branch, SHA: ev.After, Pusher: pusher, At: pushTime(ev.Repository.PushedAt, s.now()),
	})
	if len(ds) > 0 {
		s.Deployments.Kick()
	}
	if err != nil {
		s.logger().Error("auto deploy", "err", err, "delivery", delivery, "created", len(ds))
		if len(ds) == 0 {
			// Nothing was created: let a redelivery try again.
			if ferr := s.Deployments.ForgetDelivery(context.WithoutCancel(ctx), key); ferr != nil {
				s.logger().Error("forget delivery", "err", ferr, "delivery", delivery)
			}
			http.Error(w, "could not create the deployments of this push", http.StatusServiceUnavailable)
			return
		}
	}
	ids := make([]int64, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"msg": fmt.Sprintf("%d deployment(s) of %s", len(ds), bot.ShortSHA(ev.After)), "deployments": ids})
}

// pushTime reads repository.pushed_at, which push events give in unix
// seconds (other events as a timestamp); GitHub's time of the push is what
// orders pushes whatever order their webhooks arrive in. Without it, the
// time the webhook arrived stands in.
func pushTime(raw json.RawMessage, arrived time.Time) time.Time {
	var secs int64
	if json.Unmarshal(raw, &secs) == nil && secs > 0 {
		return time.Unix(secs, 0).UTC()
	}
	var t time.Time
	if json.Unmarshal(raw, &t) == nil && !t.IsZero() {
		return t.UTC()
	}
	return arrived.UTC()
}
