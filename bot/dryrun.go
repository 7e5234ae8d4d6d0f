package bot

import (
	"context"
	"fmt"
	"strings"
)

// Running is what an environment runs now, as AWS says.
type Running struct {
	// Image is the container image the target names: repo@sha256:… when
	// deploybot put it there, anything else when someone else did; empty
	// when the target runs nothing yet.
	Image string
	// Revision names what runs in AWS's own words: "task definition
	// web:42", "version git_cf7edb2-deploybot-7".
	Revision string
}

// Inspector reads what an environment runs without changing anything.
// Deployers implement it; the service asks the deployer of the env's
// target kind.
type Inspector interface {
	Running(ctx context.Context, env *Environment) (Running, error)
}

// Commit is one commit of a comparison.
type Commit struct {
	SHA     string
	Author  string // GitHub login, or the git author name without one
	Message string // first line
}

// Comparison is what GitHub's compare of two commits says.
type Comparison struct {
	// Status is "ahead", "behind", "diverged" or "identical": from base to
	// head.
	Status string
	// Total counts the commits in head but not in base; Commits lists the
	// newest of them, at most MaxPlanCommits.
	Total   int
	Commits []Commit
}

// Commits compares two commits of a repository; the GitHub client
// implements it.
type Commits interface {
	Compare(ctx context.Context, repo Repo, base, head string) (Comparison, error)
}

// MaxPlanCommits is how many commits a plan lists.
const MaxPlanCommits = 10

// Plan is what a deploy would do, found without doing any of it.
type Plan struct {
	App, Env  string
	Ref, SHA  string
	Requester string

	// Image is the digest-pinned image the deploy would run; empty with
	// ImageProblem saying why.
	Image        string
	ImageProblem Text

	// Current is what the environment runs now; CurrentProblem says why
	// it could not be read. CurrentDeployment is deploybot's successful
	// deployment of Current.Image there, nil if there is none.
	Current           Running
	CurrentProblem    Text
	CurrentDeployment *Deployment

	Checks []Check
	CI     CIVerdict

	// Lock is the environment's lock, if any; Refused says whether it
	// holds the requester.
	Lock    *EnvLock
	Refused bool
	// InFlight are the deployments the new one would queue behind.
	InFlight []*Deployment

	// Comparison holds the commits between the running sha and SHA;
	// CommitsProblem says why there are none to show.
	Comparison     *Comparison
	CommitsProblem Text
}

// Plan resolves, authorizes and reads everything a deploy of req would
// depend on — CI (without waiting), the image digest, what runs now, the
// lock and the queue, the commits that would ship — and creates and
// changes nothing. Refusals (unknown app or env, not allowed, a ref that
// does not exist) are errors as for a deploy; everything else that would
// stop the deploy is told in the plan.
func (s *Service) Plan(ctx context.Context, req Request) (*Plan, error) {
	app, env, err := s.Config.Lookup(req.App, req.Env)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, app, env, req.Requester); err != nil && req.Source != SourceCLI {
		return nil, err
	}
	p := &Plan{App: app.Name, Env: env.Name, Ref: req.Ref, SHA: req.SHA, Requester: req.Requester}
	repo := Repo{FullName: app.Repo, InstallationID: req.InstallationID}
	// A deploy of it would be refused in Accept: so is its dry run.
	if err := s.checkGitTag(ctx, app, env.Name, repo, req.Ref, req.SHA, req.Image); err != nil {
		return nil, err
	}
	if p.SHA == "" {
		if p.SHA, err = s.GitHub.ResolveRef(ctx, repo, req.Ref); err != nil {
			return nil, fmt.Errorf("resolve %s in %s: %w", req.Ref, app.Repo, err)
		}
	}
	if p.Checks, err = s.GitHub.Checks(ctx, repo, p.SHA); err != nil {
		return nil, fmt.Errorf("read CI results: %w", err)
	}
	p.CI = EvaluateCI(app, p.Checks)

	if req.Image != "" {
		p.Image = req.Image
	} else if tag, err := app.ImageTag(p.SHA, req.Ref); err != nil {
		p.ImageProblem = ErrorText(err)
	} else if digest, err := s.Images.Resolve(ctx, app.Image, tag, env); err != nil {
		p.ImageProblem = Textf("%v: %v", Name(app.Image+":"+tag), ErrorText(err))
	} else {
		p.Image = app.Image + "@" + digest
	}

	if err := s.readCurrent(ctx, p, env); err != nil {
		return nil, err
	}
	if p.CurrentDeployment != nil {
		s.compare(ctx, p, repo)
	}

	if l, err := s.Store.EnvLock(ctx, p.App, p.Env, s.now()); err == nil {
		p.Lock, p.Refused = l, l.Owner != req.Requester
	} else if !IsNotFound(err) {
		return nil, fmt.Errorf("read lock of %s %s: %w", p.App, p.Env, err)
	}
	if p.InFlight, err = s.Store.ListDeployments(ctx, DeploymentFilter{App: p.App, Env: p.Env, States: activeStates, Limit: 10}); err != nil {
		return nil, fmt.Errorf("read queue of %s %s: %w", p.App, p.Env, err)
	}
	return p, nil
}

// readCurrent asks the target what it runs, and the store which of its
// successful deployments put that there.
func (s *Service) readCurrent(ctx context.Context, p *Plan, env *Environment) error {
	running, err := s.runsNow(ctx, env)
	if err != nil {
		if ErrorCode(err) == EINTERNAL {
			s.logger().Warn("dry run: read what runs now", "app", p.App, "env", p.Env, "err", err)
			p.CurrentProblem = Textf("could not read what %s runs now (details in deploybot's log)", p.Env)
		} else {
			p.CurrentProblem = Textf("could not read what %s runs now: %v", p.Env, ErrorText(err))
		}
		return nil
	}
	p.Current = running
	if running.Image == "" {
		return nil
	}
	d, err := s.deployedImage(ctx, p.App, p.Env, running.Image)
	if err != nil && !IsNotFound(err) {
		return err
	}
	p.CurrentDeployment = d
	return nil
}

// runsNow asks the deployer of env's target what env runs now.
func (s *Service) runsNow(ctx context.Context, env *Environment) (Running, error) {
	in, ok := s.Deployers[env.TargetKind()].(Inspector)
	if !ok {
		return Running{}, Errorf(EINVALID, "this deploybot cannot read what %s targets run", env.TargetKind())
	}
	return in.Running(ctx, env)
}

// deployedImage returns the newest successful deployment of app/env that
// ran exactly image; ENOTFOUND if deploybot never put it there.
func (s *Service) deployedImage(ctx context.Context, app, env, image string) (*Deployment, error) {
	done, err := s.Store.ListDeployments(ctx, DeploymentFilter{App: app, Env: env, States: []State{StateSucceeded}, Limit: 50})
	if err != nil {
		return nil, fmt.Errorf("read history of %s %s: %w", app, env, err)
	}
	for _, d := range done {
		if d.Image == image {
			return d, nil
		}
	}
	return nil, Errorf(ENOTFOUND, "%s %s runs %v, which deploybot did not deploy there", app, env, Name(image))
}

// compare lists the commits between the running deployment's sha and
// p.SHA; a GitHub that cannot tell leaves a note, not a failed plan.
func (s *Service) compare(ctx context.Context, p *Plan, repo Repo) {
	commits, ok := s.GitHub.(Commits)
	if !ok {
		p.CommitsProblem = Textf("this deploybot cannot compare commits")
		return
	}
	c, err := commits.Compare(ctx, repo, p.CurrentDeployment.SHA, p.SHA)
	if err != nil {
		s.logger().Warn("dry run: compare commits", "app", p.App, "base", p.CurrentDeployment.SHA, "head", p.SHA, "err", err)
		p.CommitsProblem = Textf("could not compare %s with %s: %v", ShortSHA(p.CurrentDeployment.SHA), ShortSHA(p.SHA), ErrorText(err))
		return
	}
	if len(c.Commits) > MaxPlanCommits {
		c.Commits = c.Commits[len(c.Commits)-MaxPlanCommits:]
	}
	p.Comparison = &c
}

// Lines are the plan as people read it, one fact a line; each medium
// joins them (a Text is one line in every medium).
func (p *Plan) Lines() []Text {
	lines := []Text{Textf("Dry run: %s %v → %s (nothing was created or changed)", p.App, Name(orDash(ShortSHA(p.SHA), p.Ref)), p.Env)}
	switch {
	case p.CurrentProblem.format != "":
		lines = append(lines, Textf("Now: %v", p.CurrentProblem))
	case p.Current.Image == "":
		lines = append(lines, Textf("Now: %s runs nothing yet (%s)", p.Env, orDash(p.Current.Revision, "no revision")))
	case p.CurrentDeployment != nil:
		lines = append(lines, Textf("Now: %v (%s), deployed by deploybot as #%d (%s)", imageText(p.Current.Image), p.Current.Revision, p.CurrentDeployment.ID, p.CurrentDeployment.ShortSHA()))
	default:
		lines = append(lines, Textf("Now: %v (%s), not deployed by deploybot", imageText(p.Current.Image), p.Current.Revision))
	}
	if p.Image != "" {
		change := "new"
		if p.Image == p.Current.Image {
			change = "the same image, deployed again"
		}
		lines = append(lines, Textf("New: %v (%s)", imageText(p.Image), change))
	} else {
		lines = append(lines, Textf("New: no image: %v (the deploy would fail)", p.ImageProblem))
	}
	lines = append(lines, p.ciLine())
	lines = append(lines, p.queueLine())
	return append(lines, p.commitLines()...)
}

// imageText shows a digest-pinned image with its whole digest as code,
// which a quoted whole image reference would be too long to keep.
func imageText(image string) Text {
	if repo, digest, ok := strings.Cut(image, "@"); ok {
		return Textf("%s@%v", repo, Name(digest))
	}
	return Textf("%v", Name(image))
}

// Plain is the plan as plain text, for the terminal.
func (p *Plan) Plain() string { return p.render(Text.Plain) }

// GitHub is the plan as GitHub Markdown, for a pull request comment.
func (p *Plan) GitHub() string { return p.render(Text.GitHub) }

func (p *Plan) render(in func(Text) string) string {
	lines := p.Lines()
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = in(l)
	}
	return strings.Join(out, "\n")
}

func (p *Plan) ciLine() Text {
	checks := make([]Text, len(p.Checks))
	for i, c := range p.Checks {
		checks[i] = Textf("%v %s", Name(c.Name), c.State)
	}
	var verdict string
	switch {
	case p.CI.NoneReported:
		return Textf("CI: nothing reported for %s (the deploy would fail)", ShortSHA(p.SHA))
	case p.CI.Failed != nil:
		verdict = "failed (the deploy would fail)"
	case p.CI.Passed:
		verdict = "passed"
	default:
		verdict = "pending (the deploy would wait for it)"
	}
	if len(p.CI.Pending) > 0 && len(p.CI.Failed) == 0 {
		return Textf("CI: %s: %v; waiting for %v", verdict, joinText(checks, ", "), pendingChecks(p.CI.Pending))
	}
	return Textf("CI: %s: %v", verdict, joinText(checks, ", "))
}

func (p *Plan) queueLine() Text {
	var parts []Text
	switch {
	case p.Lock != nil && p.Refused:
		parts = append(parts, Textf("%v (the deploy would be refused)", describeLock(p.Lock, "is locked")))
	case p.Lock != nil:
		parts = append(parts, Textf("%v (yours)", describeLock(p.Lock, "is locked")))
	default:
		parts = append(parts, Textf("not locked"))
	}
	if len(p.InFlight) == 0 {
		parts = append(parts, Textf("nothing in flight"))
	} else {
		ahead := make([]Text, len(p.InFlight))
		for i, d := range p.InFlight {
			ahead[i] = Textf("#%d %s %s", d.ID, orDash(d.ShortSHA(), d.Ref), d.State)
		}
		parts = append(parts, Textf("would queue behind %v", joinText(ahead, ", ")))
	}
	return Textf("Queue: %v", joinText(parts, "; "))
}

func (p *Plan) commitLines() []Text {
	switch {
	case p.CommitsProblem.format != "":
		return []Text{Textf("Commits: %v", p.CommitsProblem)}
	case p.Comparison == nil:
		return []Text{Textf("Commits: unknown, as deploybot did not deploy what runs now")}
	case p.Comparison.Status == "identical":
		return []Text{Textf("Commits: none, %s runs %s already", p.Env, ShortSHA(p.SHA))}
	case p.Comparison.Status == "behind":
		return []Text{Textf("Commits: none new; %s is behind what runs now (a step back)", ShortSHA(p.SHA))}
	}
	c := p.Comparison
	head := Textf("Commits that would ship: %d", c.Total)
	if c.Total > len(c.Commits) {
		head = Textf("%v (the newest %d below)", head, len(c.Commits))
	}
	if c.Status == "diverged" {
		head = Textf("%v; diverged: what runs now has commits %s lacks", head, ShortSHA(p.SHA))
	}
	lines := []Text{head}
	for i := len(c.Commits) - 1; i >= 0; i-- {
		cm := c.Commits[i]
		lines = append(lines, Textf("• %v %s (%s)", Name(ShortSHA(cm.SHA)), oneLine(firstLineOf(cm.Message)), cm.Author))
	}
	return lines
}

func firstLineOf(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return clip(line, 100)
}

// Message is the plan for Slack.
func (p *Plan) Message() Message { return Message{Text: p.render(Text.Slack)} }

// planOnPR answers `deploy to <env> --dry-run` on the pull request with
// the plan of deploying its head.
func (s *Service) planOnPR(ctx context.Context, c Comment, app, env, head string) error {
	p, err := s.Plan(ctx, Request{
		App: app, Env: env, Ref: fmt.Sprintf("PR #%d", c.Number), SHA: head,
		Requester: GitHubRequester(c.Author), Source: SourcePRComment,
		InstallationID: c.Repo.InstallationID, PRNumber: c.Number,
	})
	if err != nil {
		if ErrorCode(err) == EINTERNAL {
			return err
		}
		return s.replyOnPR(ctx, c, ErrorText(err).GitHub())
	}
	return s.replyOnPR(ctx, c, "here is the plan:\n\n"+p.GitHub())
}
