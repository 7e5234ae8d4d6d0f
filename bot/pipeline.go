package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// run is one pipeline execution.
type run struct {
	s   *Service
	d   *Deployment
	log *slog.Logger

	stageStart time.Time // when this run saw d enter its current stage
	// parks: a wait parks the deployment in the store and ends the run,
	// rather than holding the lease and a goroutine while it waits.
	parks bool
}

// observeStage reports the stage d leaves now, then starts timing the next.
// A resumed run times the stage it found from when it found it.
func (r *run) observeStage(from State) {
	now := r.s.now()
	if r.s.Observer != nil && !r.stageStart.IsZero() {
		r.s.Observer.StageDone(r.d, from, now.Sub(r.stageStart))
	}
	r.stageStart = now
}

func (r *run) observeEnd() { r.s.observeEnd(r.d) }

func (s *Service) observeEnd(d *Deployment) {
	if s.Observer != nil && d.State.Terminal() {
		s.Observer.Ended(d)
	}
}

// pipeline takes the deployment from its stored stage to the end. Each
// stage is stored before its side effects, and each side effect is safe to
// repeat or checked before it is repeated, so a deployment resumed after a
// crash continues where it stood.
func (r *run) pipeline(ctx context.Context) error {
	d := r.d
	app, env, err := r.s.Config.Lookup(d.App, d.Env)
	if err != nil {
		return err
	}
	if d.State == StateReceived {
		if err := r.open(ctx); err != nil {
			return err
		}
	}
	if d.State == StateQueued {
		if err := r.waitTurn(ctx); err != nil {
			return err
		}
	}
	if d.State == StateWaitingForCI {
		err := r.waitForCI(ctx, app)
		if errors.Is(err, errParked) {
			return err
		}
		if r.s.Observer != nil && ctx.Err() == nil {
			r.s.Observer.CIWaited(d, r.s.now().Sub(r.ciStarted(ctx)))
		}
		if err != nil {
			return err
		}
		if needsApproval(env, d) {
			err = r.enter(ctx, StateWaitingForApproval, "queued", fmt.Sprintf("CI passed; waiting for approval (0 of %d)", env.Approvals))
		} else {
			err = r.enter(ctx, StateVerifyingImage, "in_progress", "CI passed; checking the image")
		}
		if err != nil {
			return err
		}
	}
	if d.State == StateWaitingForApproval {
		given, err := r.waitForApproval(ctx, env)
		if err != nil {
			return err
		}
		if err := r.enterText(ctx, StateVerifyingImage, "in_progress", Textf("Approved by %v; checking the image", approvers(given, ""))); err != nil {
			return err
		}
	}
	if d.PromotedFrom != nil && d.State == StateVerifyingImage {
		// The very image the other environment runs, not whatever the
		// tag names now.
		if err := r.enter(ctx, StateDeploying, "", fmt.Sprintf("Deploying %s, %s", d.Image, d.PromotedFrom.Text().Plain())); err != nil {
			return err
		}
	}
	if d.State == StateVerifyingImage || d.Image == "" {
		tag, err := app.ImageTag(d.SHA, d.Ref)
		if err != nil {
			return err
		}
		digest, err := r.s.Images.Resolve(ctx, app.Image, tag, env)
		if err != nil {
			return fmt.Errorf("find image %s:%s: %w", app.Image, tag, err)
		}
		d.Image = app.Image + "@" + digest
		if d.State == StateVerifyingImage {
			if err := r.enter(ctx, StateDeploying, "", fmt.Sprintf("Deploying %s:%s", app.Image, tag)); err != nil {
				return err
			}
		}
	}
	return r.deploy(ctx, env)
}

// open resolves the ref, creates the GitHub Deployment and queues d.
func (r *run) open(ctx context.Context) error {
	d := r.d
	repo := Repo{FullName: d.Repo, InstallationID: d.InstallationID}
	if d.SHA == "" {
		sha, err := r.s.GitHub.ResolveRef(ctx, repo, d.Ref)
		if err != nil {
			return fmt.Errorf("resolve %s in %s: %w", d.Ref, d.Repo, err)
		}
		d.SHA = sha
		r.log = r.log.With("sha", sha)
		if err := r.save(ctx); err != nil {
			return err
		}
		// What was deployed in words people recognise, on the timeline,
		// from the answer that resolved the ref.
		if cd, ok := r.s.GitHub.(CommitDescriber); ok {
			if author, subject, ok := cd.DescribeCommit(repo, sha); ok {
				r.progress(ctx, fmt.Sprintf("Commit %s by %s: %s", ShortSHA(sha), author, subject))
			}
		}
	}
	if err := r.checkGitTag(ctx); err != nil {
		return err
	}
	if d.CommittedAt.IsZero() && d.RollbackOf == 0 && r.s.PullRequests != nil {
		// The lead time's start; a deployment goes on without it.
		if at, err := r.s.PullRequests.CommitTime(ctx, repo, d.SHA); err == nil {
			d.CommittedAt = at
		} else {
			r.log.Warn("commit time unknown", "err", err)
		}
	}
	if d.GitHubDeploymentID == 0 && d.Attempts > 1 {
		// An earlier attempt may have created it and died before saving
		// the id; a second one would stay pending forever.
		id, err := r.s.GitHub.FindDeployment(ctx, repo, d.SHA, d.Env, d.ID)
		if err != nil {
			return fmt.Errorf("look for an earlier GitHub deployment: %w", err)
		}
		d.GitHubDeploymentID = id
	}
	if d.GitHubDeploymentID == 0 {
		// Not cut short when the deployment is ended meanwhile (cancelled,
		// superseded): a creation GitHub finished but this run never heard
		// of would stay pending there forever; once its id is known, the
		// run closes it (closeUnrecorded).
		createCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		id, err := r.s.GitHub.CreateDeployment(createCtx, repo, GitHubDeploymentRequest{
			SHA:         d.SHA,
			Environment: d.Env,
			Description: fmt.Sprintf("%s %s to %s, requested by %s via deploybot", d.App, d.ShortSHA(), d.Env, d.Requester),
			Payload:     DeploymentPayload{App: d.App, RequestedBy: d.Requester, Source: d.Source, DeploybotID: d.ID, PromotedFrom: d.PromotedFrom},
		})
		if err != nil {
			return fmt.Errorf("create GitHub deployment: %w", err)
		}
		d.GitHubDeploymentID = id
	}
	queued := "Queued"
	if d.Source == SourceAuto {
		queued = "Queued: waiting for CI"
	}
	return r.enter(ctx, StateQueued, "queued", queued)
}

// closeUnrecorded answers the GitHub deployment this run created when the
// deployment was ended elsewhere (cancelled, superseded) before its id
// could be stored: whoever ended it could not know of it, and it would
// stay pending on GitHub forever.
func (r *run) closeUnrecorded(ctx context.Context) {
	if r.d.GitHubDeploymentID == 0 {
		return
	}
	stored, err := r.s.Store.Deployment(ctx, r.d.ID)
	if err != nil || stored.GitHubDeploymentID != 0 || !stored.State.Terminal() {
		return
	}
	state := "error"
	if stored.State == StateSuperseded {
		state = "inactive"
	}
	r.s.report(ctx, Update{Deployment: r.d, GitHub: state, GitHubDescription: Textf("Ended: %s", stored.Reason)})
}

// waitTurn holds d until it is the oldest unfinished deployment of its
// environment and no one else's lock holds it, saying what it waits
// behind whenever that changes.
func (r *run) waitTurn(ctx context.Context) error {
	d := r.d
	on := WaitForGate(d.App, d.Env)
	for {
		woken := r.s.waiter(on)
		checked := r.s.now()
		gate, err := r.s.Store.EnterGate(ctx, d.ID, StateQueued, StateWaitingForCI, r.s.now())
		if ErrorCode(err) == ECONFLICT {
			return fmt.Errorf("%w: %v", errEnded, err)
		}
		if err != nil {
			return fmt.Errorf("queue of %s %s: %w", d.App, d.Env, err)
		}
		if gate.Entered {
			r.observeStage(d.State)
			d.State = StateWaitingForCI
			r.log.Info("stage", "state", d.State)
			u := Update{Deployment: d, Status: Textf("Waiting for CI"), Line: Textf("Waiting for CI")}
			if d.Wait.On == on {
				// GitHub still shows why it waited in the queue; that is
				// over. One that never waited there costs no extra call.
				u.GitHub = "queued"
			}
			r.s.report(ctx, u)
			return nil
		}
		var why Text
		// Ending deployments and unlocks wake the gate; the timer is for
		// a wake that never came (its replica died first).
		until := r.s.now().Add(gateRecheck)
		switch {
		case gate.Lock != nil:
			why = Textf("Held: %v", describeLock(gate.Lock, "is locked"))
			if exp := gate.Lock.ExpiresAt; !exp.IsZero() && exp.Before(until) {
				until = exp
			}
		case gate.Behind != nil:
			// Only what stays true while it is ahead: not its state, nor the
			// sha it resolves to, which change without waking this one (it
			// opens, waits for CI), so that a note naming them went stale and
			// the next recheck, a minute or ten later, posted a correction to
			// GitHub and Slack with nothing changed here (docs/benchmarks.md,
			// BenchmarkWaitingDeployments' idle minute). Who is ahead changes
			// only when it ends, which wakes this one.
			why = Textf("Queued behind deployment #%d (%s)", gate.Behind.ID, asked(gate.Behind))
			if !gate.Next {
				// Others wait ahead of it, the next of them rechecking each
				// minute; it cannot pass before one of them ends, and that
				// wakes the gate. Its own timer is for a wake lost twice.
				// A minute each cost 4,900 queued deployments some 80 runs a
				// second while nothing happened (docs/benchmarks.md).
				until = r.s.now().Add(gateRecheckBehind)
			}
		}
		note := why.Plain()
		if note != d.Wait.Note || d.Wait.On != on {
			r.log.Info("waiting in queue", "why", note)
			// Saved first: one cancelled since the gate was read must
			// not be shown queued after its end was told.
			if err := r.save(ctx); err != nil {
				return err
			}
			r.s.report(ctx, Update{Deployment: d, Status: why, Line: why, GitHub: "queued"})
		}
		if err := r.wait(ctx, on, woken, checked, until, note); err != nil {
			return err
		}
	}
}

// deploy runs the environment's deployer, resuming from d.RolloutRef when
// an earlier attempt got that far.
func (r *run) deploy(ctx context.Context, env *Environment) error {
	d := r.d
	deployer, ok := r.s.Deployers[env.TargetKind()]
	if !ok {
		return Errorf(EINVALID, "this deploybot cannot deploy to %s targets", env.TargetKind())
	}
	// AWS may quote an option value back in an error or an event.
	hide := envValueHider(env.EnvVars)
	rollout, err := deployer.Deploy(ctx, d, env, d.Image, RolloutHooks{
		Progress: func(line string) {
			line = hide(line)
			r.log.Info("rollout progress", "detail", line)
			r.s.report(ctx, Update{Deployment: d, Status: Textf("Deploying: %s", line), Line: plain(line)})
		},
		Checkpoint: func(ref string) error {
			d.RolloutRef = ref
			return r.save(ctx)
		},
	})
	if err != nil {
		return hideEnvValues(err, hide)
	}

	// The success is recorded before anyone hears of it. A store that
	// cannot take the record is tried until the lease runs out; then this
	// run stops, telling no one, and the run that resumes the deployment
	// asks AWS again and reports what it finds, once. Reported before the
	// record, the success would be reported again by that resumption, or
	// contradicted by it if the service had failed meanwhile.
	from := d.State
	d.EnvironmentURL = rollout.EnvironmentURL
	d.State, d.Reason = StateSucceeded, ""
	if err := r.save(ctx); err != nil {
		d.State = from
		return err
	}
	r.observeStage(from)
	desc := fmt.Sprintf("Deployed %s to %s", d.ShortSHA(), d.Env)
	if rollout.Detail != "" {
		desc += " (" + hide(rollout.Detail) + ")"
	}
	succeeded := Textf("Succeeded: %s", desc)
	r.s.report(ctx, Update{Deployment: d, Status: succeeded, Line: succeeded, GitHub: "success", GitHubDescription: plain(desc)})
	r.log.Info("deployment succeeded", "image", d.Image)
	if d.RollbackOf != 0 {
		r.s.rolledBack(ctx, d)
	}
	return nil
}

// enter persists the new stage before telling anyone about it, so what
// GitHub and Slack show is never ahead of the store.
func (r *run) enter(ctx context.Context, state State, githubState, text string) error {
	return r.enterText(ctx, state, githubState, plain(text))
}

// enterText is enter with words that name people or code, which each
// medium shows its own way (a Slack mention, a GitHub login).
func (r *run) enterText(ctx context.Context, state State, githubState string, text Text) error {
	from := r.d.State
	r.d.State = state
	if err := r.save(ctx); err != nil {
		r.d.State = from
		return err
	}
	r.log.Info("stage", "state", state)
	r.observeStage(from)
	r.s.report(ctx, Update{Deployment: r.d, Status: text, Line: text, GitHub: githubState})
	return nil
}

// plain is s as Text: words of deploybot's own, or a line a deployer
// wrote, quoted as a whole wherever it is shown.
func plain(s string) Text { return Textf("%s", s) }

// progress records line on the deployment's timeline.
func (r *run) progress(ctx context.Context, line string) {
	r.s.report(ctx, Update{Deployment: r.d, Line: plain(line)})
}

// save records d. Every stage is recorded before its side effects, and a
// resumed run goes by the record, so a run cannot go on without it: a
// store that fails (down, or refusing writes) is tried again until it
// takes the record or ctx ends, which the heartbeat sees to once the
// lease is lost. The deployment then stays in its recorded stage, for
// whichever replica claims it next.
func (r *run) save(ctx context.Context) error { return r.s.save(ctx, r.d, r.log) }

func (s *Service) save(ctx context.Context, d *Deployment, log *slog.Logger) error {
	var wait time.Duration
	for {
		err := s.Store.UpdateDeployment(ctx, d)
		switch code := ErrorCode(err); {
		case err == nil:
			return nil
		case code == ECONFLICT:
			return fmt.Errorf("%w: %v", errEnded, err)
		case code != EINTERNAL:
			return fmt.Errorf("store deployment %d: %w", d.ID, err)
		}
		wait = storeRetryBackoff.next(wait)
		log.Warn("store deployment; trying again", "state", d.State, "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return fmt.Errorf("store deployment %d: %w (the store said: %v)", d.ID, context.Cause(ctx), err)
		case <-time.After(wait):
		}
	}
}

// storeRetryBackoff spaces the tries of a record the store failed to take.
var storeRetryBackoff = Backoff{Initial: 200 * time.Millisecond, Max: 5 * time.Second}

func (r *run) fail(ctx context.Context, err error) {
	d := r.d
	stage, reason := d.State, d.Reason
	d.State = StateFailed
	why := ErrorText(err)
	if ErrorCode(err) == EINTERNAL {
		r.log.Error("deployment failed", "err", err)
		why = Textf("internal error in deploybot (details in its log)")
	}
	d.Reason = why.Plain()
	if ErrorCode(err) != EINTERNAL {
		r.log.Warn("deployment failed", "reason", d.Reason)
	}
	// A failure nobody could record is told to nobody: the deployment
	// stays in its stage and is resumed, and a failure reported now would
	// stand beside whatever the resumption then finds, a success included.
	if serr := r.save(ctx); errors.Is(serr, errEnded) {
		d.State, d.Reason = stage, reason
		// Cancelled, or taken over by another replica: theirs to report.
		r.log.Info("failure not recorded: the deployment ended or moved elsewhere", "err", serr)
		return
	} else if serr != nil {
		d.State, d.Reason = stage, reason
		r.log.Warn("failure not recorded; the deployment is left to be resumed", "state", stage, "err", serr)
		return
	}
	// "error" is GitHub's state for a deployment that broke down for
	// reasons of its own, not the version's: ours, or a service's.
	state := "failure"
	if code := ErrorCode(err); code == EINTERNAL || code == EUNAVAILABLE {
		state = "error"
	}
	failed := Textf("Failed: %v", why)
	var rb *Deployment
	if stage == StateDeploying || stage == StateVerifyingHealth {
		// Decided before the failure is reported, so that it is reported
		// once: a second report of it, saying what came next, was a second
		// "failed" row on the timeline and a second failure on GitHub.
		var next Text
		if rb, next = r.s.planAutoRollback(ctx, d, why); next.format != "" {
			failed = next
		}
	}
	r.s.report(ctx, Update{Deployment: d, Status: failed, Line: failed, GitHub: state, GitHubDescription: why, Failure: why})
	if rb != nil {
		r.s.Kick()
	}
}

// asked names what d was asked to deploy, as given (a full commit sha
// shortened), which never changes.
func asked(d *Deployment) string {
	ref := d.Ref
	if ref == "" {
		ref = d.SHA
	}
	if len(ref) == 40 && strings.Trim(ref, "0123456789abcdef") == "" {
		return ShortSHA(ref)
	}
	return ref
}
