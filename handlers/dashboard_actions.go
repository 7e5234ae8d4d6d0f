package handlers

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/deploybot/deploybot/bot"
)

// The dashboard's buttons: Deploy, Roll back, Lock and Unlock, for a
// person signed in with GitHub, under the same allow lists and locks as
// Slack (the domain decides; the requester is github:<login>), and
// Approve and Reject on a deployment waiting for approval. Every POST
// carries the session's CSRF token. Preview is Deploy's dry run: the
// domain's plan, and a Deploy of exactly the sha it planned.

// envContent is the environment page.
type envContent struct {
	App, Env string
	Repo     string
	Running  *deploymentView
	Lock     *lockView
	Recent   []deploymentView
	User     *session
	Login    bool // a GitHub login is configured
	LockFor  []lockChoice
	// Plan is a dry run's lines, plain text, when the page answers
	// Preview; PlanSHA is the sha it planned.
	Plan    []string
	PlanSHA string
}

type lockChoice struct {
	Value, Label string
}

// lockChoices are the lock durations offered; a fixed list, so the form
// cannot carry anything else.
var lockChoices = []struct {
	lockChoice
	d time.Duration
}{
	{lockChoice{"1h", "1 hour"}, time.Hour},
	{lockChoice{"2h", "2 hours"}, 2 * time.Hour},
	{lockChoice{"8h", "8 hours"}, 8 * time.Hour},
	{lockChoice{"24h", "1 day"}, 24 * time.Hour},
	{lockChoice{"0", "until unlocked"}, 0},
}

const envRecent = 10

// maxFormBytes caps a button's form: a ref, a reason and a token.
const maxFormBytes = 16 << 10

func (s *Server) envPage(w http.ResponseWriter, r *http.Request) { s.renderEnv(w, r, nil) }

// previewAction is Preview: the dry run of a deploy of the form's ref,
// shown on the environment's page. It changes nothing, but it is a POST
// with the session's token like every button, since it acts as a person.
func (s *Server) previewAction(w http.ResponseWriter, r *http.Request) {
	req, ok := s.refAction(w, r)
	if !ok {
		return
	}
	p, err := s.Deployments.Plan(r.Context(), req)
	if err != nil {
		s.refused(w, r, err)
		return
	}
	s.renderEnv(w, r, p)
}

// refAction is action for Deploy and Preview: the request of the
// form's ref by whoever pressed it, or a 400 page for a bad ref.
func (s *Server) refAction(w http.ResponseWriter, r *http.Request) (bot.Request, bool) {
	requester, ok := s.action(w, r)
	if !ok {
		return bot.Request{}, false
	}
	ref := r.PostFormValue("ref")
	if len(ref) > 255 || !bot.ValidRef(ref) {
		s.errorPage(w, http.StatusBadRequest, "Nothing done", fmt.Sprintf("%q is not a ref I can deploy: give a sha, a short sha, a branch or a tag.", ref))
		return bot.Request{}, false
	}
	return bot.Request{App: r.PathValue("app"), Env: r.PathValue("env"), Ref: ref, Requester: requester, Source: bot.SourceDashboard}, true
}

// renderEnv renders the environment page, with plan's lines if any.
func (s *Server) renderEnv(w http.ResponseWriter, r *http.Request, plan *bot.Plan) {
	app, env := r.PathValue("app"), r.PathValue("env")
	if s.Config == nil {
		s.errorPage(w, http.StatusNotFound, "No such environment", "No apps are configured.")
		return
	}
	a, e, err := s.Config.Lookup(app, env)
	if err != nil {
		s.errorPage(w, http.StatusNotFound, "No such environment", bot.ErrorText(err).Plain())
		return
	}
	now := s.now()
	c := envContent{App: a.Name, Env: e.Name, Repo: a.Repo, User: s.signedIn(r), Login: s.loginEnabled()}
	for _, l := range lockChoices {
		c.LockFor = append(c.LockFor, l.lockChoice)
	}
	if c.Running, err = s.running(r, a.Name, e.Name, now); err != nil {
		s.pageError(w, r, err)
		return
	}
	if c.Lock, err = s.envLock(r.Context(), a.Name, e.Name, now); err != nil {
		s.pageError(w, r, err)
		return
	}
	recent, err := s.Store.ListDeployments(r.Context(), bot.DeploymentFilter{App: a.Name, Env: e.Name, Limit: envRecent})
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	for _, d := range recent {
		c.Recent = append(c.Recent, s.view(r.Context(), d, now))
	}
	if plan != nil {
		for _, l := range plan.Lines() {
			c.Plan = append(c.Plan, l.Plain())
		}
		c.PlanSHA = plan.SHA
	}
	s.render(w, http.StatusOK, "env.html", page{Title: a.Name + " · " + e.Name, Now: now, User: c.User, Login: c.Login, Content: c})
}

// action checks a button's POST and returns who pressed it; otherwise it
// has answered already.
func (s *Server) action(w http.ResponseWriter, r *http.Request) (requester string, ok bool) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	sess := s.signedIn(r)
	if sess == nil {
		s.errorPage(w, http.StatusUnauthorized, "Sign in first", "The dashboard's buttons are for people signed in with GitHub.")
		return "", false
	}
	if !checkCSRF(r, sess) {
		s.errorPage(w, http.StatusForbidden, "Nothing done", "That request did not come from this dashboard's page (its CSRF token is missing or wrong). Reload the page and try again.")
		return "", false
	}
	return bot.GitHubRequester(sess.Login), true
}

// refused answers an action the domain refused, in its own words.
func (s *Server) refused(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	switch bot.ErrorCode(err) {
	case bot.EFORBIDDEN:
		status = http.StatusForbidden
	case bot.ENOTFOUND:
		status = http.StatusNotFound
	case bot.EINVALID:
		status = http.StatusBadRequest
	case bot.ECONFLICT:
		status = http.StatusConflict
	default:
		s.logger().Error("dashboard action", "path", r.URL.Path, "err", err)
		s.errorPage(w, status, "Nothing done", "Something went wrong inside deploybot; nothing was changed. The details are in its log.")
		return
	}
	s.errorPage(w, status, "Nothing done", bot.ErrorText(err).Plain())
}

func envPath(app, env string) string {
	return "/apps/" + url.PathEscape(app) + "/envs/" + url.PathEscape(env)
}

func (s *Server) deployAction(w http.ResponseWriter, r *http.Request) {
	req, ok := s.refAction(w, r)
	if !ok {
		return
	}
	d, err := s.Deployments.Accept(r.Context(), req)
	s.started(w, r, d, err)
}

func (s *Server) rollbackAction(w http.ResponseWriter, r *http.Request) {
	requester, ok := s.action(w, r)
	if !ok {
		return
	}
	req := bot.Request{App: r.PathValue("app"), Env: r.PathValue("env"), Requester: requester, Source: bot.SourceDashboard}
	d, err := s.Deployments.Rollback(r.Context(), req)
	s.started(w, r, d, err)
}

// rollbackFromAction is the deployment page's Roll back: to what ran
// before that deployment.
func (s *Server) rollbackFromAction(w http.ResponseWriter, r *http.Request) {
	requester, id, ok := s.deploymentAction(w, r)
	if !ok {
		return
	}
	d, err := s.Deployments.RollbackFrom(r.Context(), id, bot.Request{Requester: requester, Source: bot.SourceDashboard})
	s.started(w, r, d, err)
}

// deploymentAction is action for a button of deployment {id}'s page.
func (s *Server) deploymentAction(w http.ResponseWriter, r *http.Request) (requester string, id int64, ok bool) {
	if requester, ok = s.action(w, r); !ok {
		return "", 0, false
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		s.notFoundPage(w, r.PathValue("id"))
		return "", 0, false
	}
	return requester, id, true
}

// decideAction is the deployment page's Approve or Reject; the domain
// refuses self-approval and people not allowed on the environment.
func (s *Server) decideAction(kind bot.CommandKind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		requester, id, ok := s.deploymentAction(w, r)
		if !ok {
			return
		}
		if _, err := s.decide(r.Context(), kind, id, requester, r.PostFormValue("reason")); err != nil {
			s.refused(w, r, err)
			return
		}
		http.Redirect(w, r, fmt.Sprintf("/deployments/%d", id), http.StatusSeeOther)
	}
}

// started starts an accepted deployment and shows it.
func (s *Server) started(w http.ResponseWriter, r *http.Request, d *bot.Deployment, err error) {
	if err != nil {
		s.refused(w, r, err)
		return
	}
	s.Deployments.Kick()
	http.Redirect(w, r, fmt.Sprintf("/deployments/%d", d.ID), http.StatusSeeOther)
}

func (s *Server) lockAction(w http.ResponseWriter, r *http.Request) {
	requester, ok := s.action(w, r)
	if !ok {
		return
	}
	var (
		d     time.Duration
		known bool
	)
	for _, l := range lockChoices {
		if l.Value == r.PostFormValue("for") {
			d, known = l.d, true
		}
	}
	if !known {
		s.errorPage(w, http.StatusBadRequest, "Nothing done", "Choose how long to lock for from the list.")
		return
	}
	app, env := r.PathValue("app"), r.PathValue("env")
	if _, err := s.Deployments.Lock(r.Context(), app, env, requester, r.PostFormValue("reason"), d); err != nil {
		s.refused(w, r, err)
		return
	}
	http.Redirect(w, r, envPath(app, env), http.StatusSeeOther)
}

func (s *Server) unlockAction(w http.ResponseWriter, r *http.Request) {
	requester, ok := s.action(w, r)
	if !ok {
		return
	}
	app, env := r.PathValue("app"), r.PathValue("env")
	if _, err := s.Deployments.Unlock(r.Context(), app, env, requester); err != nil {
		s.refused(w, r, err)
		return
	}
	http.Redirect(w, r, envPath(app, env), http.StatusSeeOther)
}

func (s *Server) errorPage(w http.ResponseWriter, status int, heading, message string) {
	s.render(w, status, "error.html", page{
		Title: heading, Now: s.now(),
		Content: errorContent{Status: status, Heading: heading, Message: message},
	})
}
