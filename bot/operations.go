package bot

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// The operations behind the Slack subcommands other than deploy. Each
// returns a Message for the person who asked, or an *Error whose message
// is fit to show them.

// checkLock refuses requester when someone else holds app/env's lock.
func (s *Service) checkLock(ctx context.Context, app, env, requester string) error {
	l, err := s.Store.EnvLock(ctx, app, env, s.now())
	if IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read lock of %s %s: %w", app, env, err)
	}
	if l.Owner == requester {
		return nil
	}
	return Errorf(EFORBIDDEN, "%v", describeLock(l, "is locked"))
}

// describeLock says who holds l, until when and why. The reason is the
// owner's own words: an argument, quoted wherever it is shown, so that a
// <!channel> or an @team in it pings nobody.
func describeLock(l *EnvLock, verb string) Text {
	text := Textf("%s %s %s by %v", l.App, l.Env, verb, person(l.Owner))
	if !l.ExpiresAt.IsZero() {
		text = Textf("%v until %s", text, l.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC"))
	}
	if l.Reason != "" {
		text = Textf("%v: %s", text, l.Reason)
	}
	return text
}

// authorize checks requester against env's allow list, asking GitHub
// about github-team entries through the app's repository installation.
func (s *Service) authorize(ctx context.Context, app *App, env *Environment, requester string) error {
	var inTeam func(org, team, login string) (bool, error)
	if teams := s.teams(); teams != nil {
		inTeam = func(org, team, login string) (bool, error) {
			member, err := teams.TeamMember(ctx, Repo{FullName: app.Repo}, org, team, login)
			if err != nil {
				s.logger().Warn("team lookup failed; treating as not a member", "org", org, "team", team, "login", login, "err", err)
			}
			return member, err
		}
	}
	return env.Authorize(requester, inTeam)
}

func (s *Service) teams() Teams {
	if s.Teams != nil {
		return s.Teams
	}
	teams, _ := s.PullRequests.(Teams)
	return teams
}

// authorizeEnv resolves app/env and checks requester against its allow list.
func (s *Service) authorizeEnv(ctx context.Context, app, env, requester string) (*App, *Environment, error) {
	a, e, err := s.Config.Lookup(app, env)
	if err != nil {
		return nil, nil, err
	}
	if err := s.authorize(ctx, a, e, requester); err != nil {
		s.logger().Warn("command refused", "app", app, "env", env, "requester", requester)
		return nil, nil, err
	}
	return a, e, nil
}

// Lock holds app/env for requester, for d (0: until unlocked).
func (s *Service) Lock(ctx context.Context, app, env, requester, reason string, d time.Duration) (Message, error) {
	if _, _, err := s.authorizeEnv(ctx, app, env, requester); err != nil {
		return Message{}, err
	}
	l := &EnvLock{App: app, Env: env, Owner: requester, Reason: reason}
	if d > 0 {
		l.ExpiresAt = s.now().Add(d)
	}
	held, err := s.Store.Lock(ctx, l, s.now())
	if ErrorCode(err) == ECONFLICT && held != nil {
		return Message{}, Errorf(ECONFLICT, "%v", describeLock(held, "is already locked"))
	}
	if err != nil {
		return Message{}, err
	}
	s.logger().Info("environment locked", "app", app, "env", env, "owner", requester, "expires", l.ExpiresAt)
	return Message{Text: Textf(":lock: %v. Others are refused until it is unlocked.", describeLock(l, "locked")).Slack()}, nil
}

// Unlock lifts app/env's lock. Anyone allowed to deploy there may lift it,
// so a lock forgotten by someone away is no outage; the reply names whose
// lock it was.
func (s *Service) Unlock(ctx context.Context, app, env, requester string) (Message, error) {
	if _, _, err := s.authorizeEnv(ctx, app, env, requester); err != nil {
		return Message{}, err
	}
	l, err := s.Store.Unlock(ctx, app, env, s.now())
	if err != nil {
		return Message{}, err
	}
	s.logger().Info("environment unlocked", "app", app, "env", env, "by", requester, "owner", l.Owner)
	s.envEnded(app, env)
	text := fmt.Sprintf(":unlock: %s %s unlocked by %s", app, env, requesterMention(requester))
	if l.Owner != requester {
		text += fmt.Sprintf(" (it was locked by %s)", requesterMention(l.Owner))
	}
	return Message{Text: text}, nil
}

// cancellable are the states in which nothing has been changed in AWS yet.
var cancellable = []State{StateReceived, StateQueued, StateWaitingForCI, StateWaitingForApproval}

// Cancel ends a deployment that has not reached AWS yet and reports it.
func (s *Service) Cancel(ctx context.Context, id int64, requester string) (Message, error) {
	d, err := s.deploymentByID(ctx, id)
	if err != nil {
		return Message{}, err
	}
	if _, _, err := s.authorizeEnv(ctx, d.App, d.Env, requester); err != nil {
		return Message{}, err
	}
	d, err = s.Store.TransitionDeployment(ctx, id, cancellable, StateCancelled, "cancelled by "+requester)
	if ErrorCode(err) == ECONFLICT {
		return Message{}, Errorf(ECONFLICT, "deployment #%d is %s; only queued, CI-waiting or approval-waiting deployments can be cancelled", id, d.State)
	}
	if err != nil {
		return Message{}, err
	}
	s.deploymentLogger(d).Info("deployment cancelled", "by", requester)
	s.endedHere(ctx, d, Update{Deployment: d, Status: Textf("Cancelled by %v", person(requester)), GitHub: "error", GitHubDescription: Textf("Cancelled by %s", requester)})
	return Message{Text: fmt.Sprintf(":no_entry_sign: Deployment #%d (%s to %s) cancelled.", id, d.App, d.Env)}, nil
}

// Rollback deploys again the newest successful sha of app/env that is not
// the one running now (the last successful deployment).
func (s *Service) Rollback(ctx context.Context, req Request) (*Deployment, error) {
	if _, _, err := s.authorizeEnv(ctx, req.App, req.Env, req.Requester); err != nil {
		return nil, err
	}
	done, err := s.Store.ListDeployments(ctx, DeploymentFilter{App: req.App, Env: req.Env, States: []State{StateSucceeded}, Limit: 50})
	if err != nil {
		return nil, fmt.Errorf("read history of %s %s: %w", req.App, req.Env, err)
	}
	if len(done) == 0 {
		return nil, Errorf(ENOTFOUND, "%s %s has no successful deployment to roll back from", req.App, req.Env)
	}
	running := done[0].SHA
	for _, d := range done[1:] {
		if d.SHA != running {
			app, _, _ := s.Config.Lookup(req.App, req.Env)
			req.Ref, req.SHA = rollbackRef(app, d), d.SHA
			return s.Accept(ctx, req)
		}
	}
	return nil, Errorf(ENOTFOUND, "%s %s has only ever run %s; there is no earlier version to roll back to", req.App, req.Env, ShortSHA(running))
}

// RollbackFrom is the Roll back button: a rollback of the app and
// environment of deployment id, asked for by req.Requester.
func (s *Service) RollbackFrom(ctx context.Context, id int64, req Request) (*Deployment, error) {
	from, err := s.Store.Deployment(ctx, id)
	if err != nil {
		return nil, err
	}
	req.App, req.Env = from.App, from.Env
	return s.Rollback(ctx, req)
}

// Respond answers the person behind a Slack response_url privately.
func (s *Service) Respond(ctx context.Context, responseURL string, msg Message) {
	if s.Chat == nil || responseURL == "" {
		return
	}
	if err := s.Chat.Respond(ctx, responseURL, msg); err != nil {
		s.logger().Warn("slack respond", "err", err)
	}
}

// Status says what runs in each environment of app (or in env), what is in
// flight and which locks hold.
func (s *Service) Status(ctx context.Context, app, env string) (Message, error) {
	if err := s.lookupAppEnv(app, env); err != nil {
		return Message{}, err
	}
	envs := s.Config.Apps[app].EnvNames()
	if env != "" {
		envs = []string{env}
	}
	var fields []Field
	for _, e := range envs {
		value, err := s.envStatus(ctx, app, e)
		if err != nil {
			return Message{}, err
		}
		fields = append(fields, Field{Label: e, Value: value})
	}
	text := fmt.Sprintf("*%s*: %s", app, strings.Join(fieldLines(fields), "\n"))
	return Message{Text: text, Fields: fields}, nil
}

func (s *Service) envStatus(ctx context.Context, app, env string) (string, error) {
	var lines []string
	done, err := s.Store.ListDeployments(ctx, DeploymentFilter{App: app, Env: env, States: []State{StateSucceeded}, Limit: 1})
	if err != nil {
		return "", err
	}
	if len(done) == 0 {
		lines = append(lines, "nothing deployed by deploybot yet")
	} else {
		d := done[0]
		lines = append(lines, fmt.Sprintf("runs %s (#%d, %s, %s)", slackCode(d.ShortSHA()), d.ID, requesterMention(d.Requester), d.UpdatedAt.UTC().Format("2006-01-02 15:04 UTC")))
	}
	inFlight, err := s.Store.ListDeployments(ctx, DeploymentFilter{App: app, Env: env, States: activeStates, Limit: 10})
	if err != nil {
		return "", err
	}
	for _, d := range inFlight {
		line := fmt.Sprintf("#%d %s %s", d.ID, slackCode(orDash(d.ShortSHA(), d.Ref)), d.State)
		if why := d.Waiting(); why != "" {
			// What its wait told the requester, whose words (a lock's
			// reason, a check's name) may be anyone's.
			line += ": " + Textf("%s", why).Slack()
		}
		lines = append(lines, line)
	}
	if l, err := s.Store.EnvLock(ctx, app, env, s.now()); err == nil {
		lines = append(lines, ":lock: "+describeLock(l, "locked").Slack())
	} else if !IsNotFound(err) {
		return "", err
	}
	return strings.Join(lines, "\n"), nil
}

// activeStates are the states of a deployment still in flight.
var activeStates = []State{StateReceived, StateQueued, StateWaitingForCI, StateWaitingForApproval, StateVerifyingImage, StateDeploying, StateVerifyingHealth, StateRollingBack}

// historyRef is the ref as asked for and the commit it named: a branch or a
// tag says which release it was, the sha what actually ran.
func historyRef(d *Deployment) string {
	sha := d.ShortSHA()
	switch {
	case sha == "":
		return slackCode(d.Ref)
	case d.Ref == "" || d.Ref == d.SHA || strings.HasPrefix(d.SHA, d.Ref):
		return slackCode(sha)
	}
	return slackCode(d.Ref) + " (" + slackCode(sha) + ")"
}

func orDash(sha, ref string) string {
	if sha != "" {
		return sha
	}
	return ref
}

func fieldLines(fields []Field) []string {
	var out []string
	for _, f := range fields {
		out = append(out, fmt.Sprintf("%s — %s", f.Label, strings.ReplaceAll(f.Value, "\n", "; ")))
	}
	return out
}

// History lists app's (or app/env's) last deployments with outcome, who
// asked and how long they took.
func (s *Service) History(ctx context.Context, app, env string) (Message, error) {
	if err := s.lookupAppEnv(app, env); err != nil {
		return Message{}, err
	}
	ds, err := s.Store.ListDeployments(ctx, DeploymentFilter{App: app, Env: env, Limit: 10})
	if err != nil {
		return Message{}, err
	}
	if len(ds) == 0 {
		return Message{Text: fmt.Sprintf("No deployments of %s yet.", strings.TrimSpace(app+" "+env))}, nil
	}
	lines := []string{fmt.Sprintf("Last deployments of *%s*:", strings.TrimSpace(app+" "+env))}
	for _, d := range ds {
		line := fmt.Sprintf("%s #%d %s → %s, %s by %s, %s", stateEmoji(d.State), d.ID, historyRef(d), d.Env, d.State,
			requesterMention(d.Requester), d.CreatedAt.UTC().Format("2006-01-02 15:04 UTC"))
		if d.State.Terminal() {
			line += fmt.Sprintf(" (%s)", d.UpdatedAt.Sub(d.CreatedAt).Round(time.Second))
		}
		if d.Reason != "" {
			line += " — " + slackText(d.Reason)
		}
		lines = append(lines, line)
	}
	return Message{Text: strings.Join(lines, "\n")}, nil
}

// lookupAppEnv checks that app, and env unless empty, are configured.
func (s *Service) lookupAppEnv(app, env string) error {
	if env == "" {
		if _, ok := s.Config.Apps[app]; ok {
			return nil
		}
	}
	_, _, err := s.Config.Lookup(app, env)
	return err
}

// Apps lists the apps and environments this bot knows.
func (s *Service) Apps() Message {
	var fields []Field
	for _, name := range s.Config.AppNames() {
		a := s.Config.Apps[name]
		var envs []string
		for _, e := range a.EnvNames() {
			envs = append(envs, fmt.Sprintf("%s (%s)", e, a.Environments[e].TargetKind()))
		}
		fields = append(fields, Field{Label: name, Value: a.Repo + ": " + strings.Join(envs, ", ")})
	}
	return Message{Text: "Apps I deploy:\n" + strings.Join(fieldLines(fields), "\n"), Fields: fields}
}

// deploymentByID is deployment id for a command that names it; an unknown
// id is answered with where the ids are: the history of the one app, if
// there is one.
func (s *Service) deploymentByID(ctx context.Context, id int64) (*Deployment, error) {
	d, err := s.Store.Deployment(ctx, id)
	if IsNotFound(err) {
		app := "<app>"
		if names := s.Config.AppNames(); len(names) == 1 {
			app = names[0]
		}
		return nil, Errorf(ENOTFOUND, "no deployment #%d. Try %v to see the recent ones.", id, Name("/deploy history "+app))
	}
	return d, err
}
