package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Backoff is the schedule of a poll: Initial, growing by half each time up
// to Max.
type Backoff struct {
	Initial time.Duration
	Max     time.Duration
}

func (b Backoff) next(d time.Duration) time.Duration {
	if d <= 0 {
		return b.Initial
	}
	d += d / 2
	if d > b.Max {
		return b.Max
	}
	return d
}

// DefaultCIPoll is how often commit statuses are read while CI runs.
var DefaultCIPoll = Backoff{Initial: 10 * time.Second, Max: time.Minute}

// DefaultFinalStatusPatience is how long a final GitHub deployment status
// is tried while GitHub is unavailable.
const DefaultFinalStatusPatience = 2 * time.Minute

// Service accepts deployment requests and runs the pipeline of DESIGN.md
// for each, reporting to GitHub and Slack as it goes.
type Service struct {
	Config *Config
	Store  Store
	GitHub GitHub
	Chat   Chat // nil: no Slack reporting
	// PullRequests serves the PR-comment trigger and github-team allow
	// entries; nil turns both off.
	PullRequests PullRequests
	Images       Images
	Deployers    map[string]Deployer // by Environment.TargetKind
	Logger       *slog.Logger
	CIPoll       Backoff
	// FinalStatusPatience bounds the tries of a final GitHub status while
	// GitHub is unavailable; zero means DefaultFinalStatusPatience.
	FinalStatusPatience time.Duration
	Now                 func() time.Time
	// Finished, when set, is called after a started pipeline has stopped
	// and reported; the sandbox and the tests wait on it.
	Finished func(d *Deployment)
	// Progress, when set, hears every stage entered and every line a
	// deployer reports; `deploybot deploy` prints them.
	Progress func(d *Deployment, line string)
	// FailOnInterrupt reports a pipeline stopped by its context as failed.
	// The server leaves such a deployment in its stage to be resumed; a
	// one-shot CLI run has nobody to resume it, so it must not stay pending.
	FailOnInterrupt bool

	// Observer, when set, hears stage and end-of-deployment measurements.
	Observer Observer

	// Owner names this replica in deployment leases (its Scheduler's
	// claims must use the same); Lease is how long a lease lasts unless
	// renewed (a crashed replica's deployments are taken over that long
	// after its last renewal).
	Owner string
	Lease time.Duration
	// Scheduler runs the accepted deployments; nil: only Run runs them.
	Scheduler Scheduler

	mu      sync.Mutex
	running sync.WaitGroup           // reports sent in the background
	waiters map[string]chan struct{} // by Wait.On: closed when it comes
}

// errEnded stops a pipeline whose deployment was ended elsewhere (cancelled
// by someone, on this replica or another); errLeaseLost one that another
// replica took over; errShutdown the pipelines of a replica going away.
// errParked ends a run whose deployment now waits in the store.
var (
	errEnded     = errors.New("deployment ended elsewhere")
	errLeaseLost = errors.New("lease lost to another replica")
	errShutdown  = errors.New("deploybot is shutting down")
	errParked    = errors.New("deployment parked until woken")
)

// Request is a resolved and authorized ask to deploy, before it is stored.
type Request struct {
	App, Env  string
	Ref       string
	SHA       string // known already for GitHub-created deployments
	Requester string
	Source    Source

	InstallationID     int64
	GitHubDeploymentID int64 // set when GitHub's deployment exists already

	SlackChannel     string // where the command was typed
	SlackResponseURL string

	PRNumber int // the pull request a comment asked from
}

// Accept checks req against the config and the env's allow list and stores
// it as a new deployment in state received. A refused request creates
// nothing; the error says why in words fit for the requester.
func (s *Service) Accept(ctx context.Context, req Request) (*Deployment, error) {
	app, env, err := s.Config.Lookup(req.App, req.Env)
	if err != nil {
		return nil, err
	}
	// Whoever runs `deploybot deploy` holds the AWS credentials and the
	// GitHub token already; the allow list guards the shared triggers.
	// Only a refusal is logged as one: a store or GitHub failure on the
	// way is the caller's to report, and once read as "refused: locked"
	// thousands of times under load.
	if err := s.authorize(ctx, app, env, req.Requester); err != nil && req.Source != SourceCLI {
		if ErrorCode(err) == EFORBIDDEN {
			s.logger().Warn("deploy refused", "app", req.App, "env", req.Env, "requester", req.Requester, "source", req.Source)
		}
		return nil, err
	}
	if err := s.checkLock(ctx, app.Name, env.Name, req.Requester); err != nil {
		if ErrorCode(err) == EFORBIDDEN {
			s.logger().Warn("deploy refused: locked", "app", req.App, "env", req.Env, "requester", req.Requester, "source", req.Source)
		}
		return nil, err
	}
	d := &Deployment{
		App: app.Name, Env: env.Name, Repo: app.Repo,
		Ref: req.Ref, SHA: req.SHA,
		Requester: req.Requester, Source: req.Source, State: StateReceived,
		InstallationID: req.InstallationID, GitHubDeploymentID: req.GitHubDeploymentID,
		SlackChannel: req.SlackChannel, SlackResponseURL: req.SlackResponseURL,
		PRNumber: req.PRNumber,
	}
	if err := s.Store.CreateDeployment(ctx, d); err != nil {
		return nil, fmt.Errorf("store deployment of %s to %s: %w", req.App, req.Env, err)
	}
	return d, nil
}

// Run takes d through every stage to succeeded or failed and returns the
// error that failed it.
func (s *Service) Run(ctx context.Context, d *Deployment) error { return s.run(ctx, d, false) }

// run is Run; with parks, a wait ends the run with errParked and leaves
// the deployment parked in the store, to be claimed again when woken.
func (s *Service) run(ctx context.Context, d *Deployment, parks bool) error {
	log := s.logger().With("deployment", d.ID, "app", d.App, "env", d.Env)
	if d.SHA != "" {
		log = log.With("sha", d.SHA)
	}
	r := &run{s: s, d: d, log: log, stageStart: s.now(), parks: parks}
	err := r.pipeline(ctx)
	if errors.Is(err, errParked) {
		return err
	}
	defer r.observeEnd()
	if errors.Is(err, errEnded) || errors.Is(context.Cause(ctx), errEnded) {
		r.log.Info("pipeline stopped: the deployment was ended elsewhere")
		r.closeUnrecorded(context.WithoutCancel(ctx))
		return err
	}
	if errors.Is(err, errLeaseLost) || errors.Is(context.Cause(ctx), errLeaseLost) {
		r.log.Warn("pipeline stopped: its lease was lost; another replica took the deployment over, or will")
		return err
	}
	if err != nil && ctx.Err() != nil {
		if s.FailOnInterrupt {
			stage := d.State
			// No heartbeat renews the lease any more: the failure has as
			// long as the lease to be recorded, or is left to be resumed.
			failCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.lease())
			defer cancel()
			r.fail(failCtx, Errorf(EINVALID, "deploybot was interrupted while %s; whatever it started in AWS may still be running", stage))
			return err
		}
		// Shutting down: the deployment stays in its stage, to be resumed
		// from there, rather than reported failed for a reason that is
		// ours, not its.
		r.log.Warn("pipeline interrupted; it will be resumed", "state", d.State)
		return err
	}
	if err != nil {
		r.fail(ctx, err)
	}
	return err
}

func (s *Service) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

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

func (r *run) observeEnd() {
	if r.s.Observer != nil && r.d.State.Terminal() {
		r.s.Observer.Ended(r.d)
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
		if err := r.enter(ctx, StateVerifyingImage, "in_progress", "CI passed; checking the image"); err != nil {
			return err
		}
	}
	if d.State == StateVerifyingImage || d.Image == "" {
		tag, err := app.ImageTag(d.SHA)
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
			Payload:     DeploymentPayload{App: d.App, RequestedBy: d.Requester, Source: d.Source, DeploybotID: d.ID},
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
	r.setStatus(ctx, state, "Ended: "+stored.Reason)
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
			r.progress("Waiting for CI")
			r.announce(ctx, Textf("Waiting for CI"))
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
			why = Textf("Queued behind deployment #%d (%s, %s)", gate.Behind.ID, orDash(gate.Behind.ShortSHA(), gate.Behind.Ref), gate.Behind.State)
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
			r.progress(note)
			r.setStatus(ctx, "queued", note)
			r.announce(ctx, why)
		}
		if err := r.wait(ctx, on, woken, checked, until, note); err != nil {
			return err
		}
	}
}

// gateRecheck is how long a deployment next in line waits at the gate
// before it looks again unwoken; gateRecheckBehind is the same for one
// with others ahead of it in the queue.
const (
	gateRecheck       = time.Minute
	gateRecheckBehind = 10 * time.Minute
)

// wait leaves d waiting on on until until, or until woken sooner; note is
// what it has told people about the wait. A run that parks records the
// wait in the store, gives its lease back and ends with errParked: the
// deployment costs a row while it waits, and is claimed again by whichever
// replica sees it woken. Any other run (deploybot deploy holds its lease
// throughout) waits here.
func (r *run) wait(ctx context.Context, on string, woken <-chan struct{}, checked, until time.Time, note string) error {
	d := r.d
	now := r.s.now()
	d.Wait.Checked = checked
	if d.Wait.On != on || d.Wait.Since.IsZero() {
		d.Wait.On, d.Wait.Since = on, now
	}
	d.Wait.Note, d.Wait.Until = note, until
	if r.parks {
		select {
		case <-woken:
			// Woken while this run was reading: parked now, the wake
			// would be lost until the timer.
			d.Wait.Until = now
		default:
		}
		err := r.s.Store.Park(ctx, d.ID, r.s.Owner, d.Wait)
		switch {
		case err == nil:
			r.log.Debug("parked", "on", on, "until", d.Wait.Until)
			select {
			case <-woken:
				// Woken while parking, by a wake this replica may not
				// have written yet: the store's record of it is coming,
				// and then the wake reaches the parked row.
				r.s.wakeUp(on)
			default:
			}
			return errParked
		case ErrorCode(err) == ECONFLICT:
			return fmt.Errorf("%w: %v", errEnded, err)
		case ctx.Err() != nil:
			return context.Cause(ctx)
		}
		// The store did not take the park: wait here instead, holding the
		// lease, rather than fail a deployment for a wait.
		r.log.Warn("park deployment; waiting in place", "err", err)
	}
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-woken:
	case <-time.After(until.Sub(now)):
	}
	return nil
}

// deploy runs the environment's deployer, resuming from d.RolloutRef when
// an earlier attempt got that far.
func (r *run) deploy(ctx context.Context, env *Environment) error {
	d := r.d
	deployer, ok := r.s.Deployers[env.TargetKind()]
	if !ok {
		return Errorf(EINVALID, "this deploybot cannot deploy to %s targets", env.TargetKind())
	}
	rollout, err := deployer.Deploy(ctx, d, env, d.Image, RolloutHooks{
		Progress: func(line string) {
			r.log.Info("rollout progress", "detail", line)
			r.progress(line)
			r.announce(ctx, Textf("Deploying: %s", line))
		},
		Checkpoint: func(ref string) error {
			d.RolloutRef = ref
			return r.save(ctx)
		},
	})
	if err != nil {
		return err
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
		desc += " (" + rollout.Detail + ")"
	}
	r.setStatus(ctx, "success", desc)
	r.announce(ctx, Textf("Succeeded: %s", desc))
	r.progress("Succeeded: " + desc)
	r.log.Info("deployment succeeded", "image", d.Image)
	if d.RollbackOf != 0 {
		r.s.rolledBack(ctx, d)
	}
	return nil
}

// enter persists the new stage before telling anyone about it, so what
// GitHub and Slack show is never ahead of the store.
func (r *run) enter(ctx context.Context, state State, githubState, text string) error {
	from := r.d.State
	r.d.State = state
	if err := r.save(ctx); err != nil {
		r.d.State = from
		return err
	}
	r.log.Info("stage", "state", state)
	r.observeStage(from)
	r.progress(text)
	if githubState != "" {
		r.setStatus(ctx, githubState, text)
	}
	r.announce(ctx, Textf("%s", text))
	return nil
}

// progress records line on the deployment's timeline and tells the CLI.
func (r *run) progress(line string) {
	if r.s.Progress != nil {
		r.s.Progress(r.d, line)
	}
	// The timeline is for people reading it later; losing a line of it
	// must not stop a deployment, and the deployment's own context may be
	// ending (a failure is recorded then too).
	e := &Event{DeploymentID: r.d.ID, Stage: r.d.State, Message: line}
	if err := r.s.Store.AddEvent(context.Background(), e); err != nil {
		r.log.Warn("record timeline event", "err", err)
	}
}

// save records d. Every stage is recorded before its side effects, and a
// resumed run goes by the record, so a run cannot go on without it: a
// store that fails (down, or refusing writes) is tried again until it
// takes the record or ctx ends, which the heartbeat sees to once the
// lease is lost. The deployment then stays in its recorded stage, for
// whichever replica claims it next.
func (r *run) save(ctx context.Context) error {
	var wait time.Duration
	for {
		err := r.s.Store.UpdateDeployment(ctx, r.d)
		switch code := ErrorCode(err); {
		case err == nil:
			return nil
		case code == ECONFLICT:
			return fmt.Errorf("%w: %v", errEnded, err)
		case code != EINTERNAL:
			return fmt.Errorf("store deployment %d: %w", r.d.ID, err)
		}
		wait = storeRetryBackoff.next(wait)
		r.log.Warn("store deployment; trying again", "state", r.d.State, "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return fmt.Errorf("store deployment %d: %w (the store said: %v)", r.d.ID, context.Cause(ctx), err)
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
	if d.GitHubDeploymentID != 0 {
		// "error" is GitHub's state for a deployment that broke down for
		// reasons of its own, not the version's: ours, or a service's.
		state := "failure"
		if code := ErrorCode(err); code == EINTERNAL || code == EUNAVAILABLE {
			state = "error"
		}
		r.setStatus(ctx, state, d.Reason)
	}
	r.announce(ctx, Textf("Failed: %v", why))
	r.progress("Failed: " + d.Reason)
	if d.SlackTS == "" && d.SlackResponseURL != "" && r.s.Chat != nil {
		// The channel never got the deployment's message (Slack refused
		// or was down when the failure was announced), so the requester
		// hears it privately, as the command's reply.
		msg := Message{Text: Textf("Deployment #%d of %s %s to %s failed: %v", d.ID, d.App, d.Ref, d.Env, why).Slack()}
		if err := r.s.Chat.Respond(ctx, d.SlackResponseURL, msg); err != nil {
			r.log.Warn("slack respond", "err", err)
		}
	}
	if stage == StateDeploying || stage == StateVerifyingHealth {
		r.s.autoRollback(ctx, d)
	}
}

// setStatus reports to GitHub; a failure to report never fails the deploy.
// A final status (success, failure, error) is what GitHub keeps showing,
// so while GitHub is unavailable it is tried again for a while; a lost
// intermediate one is made good by the next.
func (r *run) setStatus(ctx context.Context, state, description string) {
	d := r.d
	st := DeploymentStatus{State: state, Description: description, EnvironmentURL: d.EnvironmentURL, LogURL: r.logURL()}
	repo := Repo{FullName: d.Repo, InstallationID: d.InstallationID}
	final := state == "success" || state == "failure" || state == "error" || state == "inactive"
	giveUp := r.s.now().Add(r.s.finalStatusPatience())
	var wait time.Duration
	for {
		err := r.s.GitHub.CreateDeploymentStatus(ctx, repo, d.GitHubDeploymentID, st)
		if err == nil {
			return
		}
		wait = finalStatusBackoff.next(wait)
		if !final || ErrorCode(err) != EUNAVAILABLE || r.s.now().Add(wait).After(giveUp) {
			r.log.Warn("github deployment status", "state", state, "err", err)
			return
		}
		r.log.Warn("github deployment status; trying again", "state", state, "err", err, "in", wait)
		select {
		case <-ctx.Done():
			r.log.Warn("github deployment status lost: shutting down", "state", state)
			return
		case <-time.After(wait):
		}
	}
}

// finalStatusBackoff spaces the tries of a final GitHub status.
var finalStatusBackoff = Backoff{Initial: time.Second, Max: 30 * time.Second}

func (s *Service) finalStatusPatience() time.Duration {
	if s.FinalStatusPatience > 0 {
		return s.FinalStatusPatience
	}
	return DefaultFinalStatusPatience
}

func (r *run) logURL() string {
	if r.s.Config.PublicURL == "" {
		return ""
	}
	return fmt.Sprintf("%s/deployments/%d", strings.TrimSuffix(r.s.Config.PublicURL, "/"), r.d.ID)
}

// announce tells Slack and, for PR-comment deploys, the pull request;
// each renders status for itself.
func (r *run) announce(ctx context.Context, status Text) {
	r.updateChat(ctx, status)
	r.updatePR(ctx, status)
}

// updateChat posts the deployment's Slack message the first time and edits
// it in place afterwards.
func (r *run) updateChat(ctx context.Context, status Text) {
	if r.s.Chat == nil {
		return
	}
	d := r.d
	msg := r.message(status)
	if d.SlackTS != "" {
		if err := r.s.Chat.Update(ctx, d.SlackChannel, d.SlackTS, msg); err != nil {
			r.log.Warn("slack update", "err", err)
		}
		return
	}
	channel := r.channel()
	if channel == "" {
		return
	}
	channelID, ts, err := r.s.Chat.Post(ctx, channel, msg)
	if err != nil {
		r.log.Warn("slack post", "channel", channel, "err", err)
		return
	}
	d.SlackChannel, d.SlackTS = channelID, ts
	if err := r.save(ctx); err != nil {
		r.log.Warn("store slack message", "err", err)
	}
}

// channel is the env's channel, else the bot's, else where it was asked.
func (r *run) channel() string {
	if _, env, err := r.s.Config.Lookup(r.d.App, r.d.Env); err == nil && env.Channel != "" {
		return env.Channel
	}
	if r.s.Config.Slack.Channel != "" {
		return r.s.Config.Slack.Channel
	}
	return r.d.SlackChannel
}

func (r *run) message(status Text) Message {
	d := r.d
	// A ref comes from whoever asked (a branch may be named <!channel>),
	// and the message is mrkdwn.
	ref := slackText(d.Ref)
	if d.SHA != "" {
		ref = d.ShortSHA()
		if d.Ref != "" && !strings.HasPrefix(d.SHA, d.Ref) {
			ref = fmt.Sprintf("%s (%s)", slackText(d.Ref), d.ShortSHA())
		}
	}
	text := fmt.Sprintf("%s %s: %s %s to %s — %s", stateEmoji(d.State), deploymentLabel(d), d.App, ref, d.Env, status.Slack())
	fields := []Field{
		{Label: "App", Value: d.App},
		{Label: "Environment", Value: d.Env},
		{Label: "Ref", Value: ref},
		{Label: "Requested by", Value: requesterMention(d.Requester)},
		{Label: "Stage", Value: string(d.State)},
	}
	if u := r.logURL(); u != "" {
		fields = append(fields, Field{Label: "Details", Value: u})
	}
	msg := Message{Text: text, Fields: fields, Key: fmt.Sprintf("deployment/%d", d.ID)}
	if d.State == StateSucceeded || d.State == StateFailed {
		msg.Actions = []Action{{ID: ActionRollback, Label: "Roll back", Value: strconv.FormatInt(d.ID, 10), Style: "danger"}}
	}
	return msg
}

func deploymentLabel(d *Deployment) string { return fmt.Sprintf("Deployment #%d", d.ID) }

// requesterMention names a requester in Slack mrkdwn: a Slack user as a
// mention, anyone else as text.
func requesterMention(requester string) string {
	if id, ok := strings.CutPrefix(requester, "slack:"); ok {
		return "<@" + slackText(id) + ">"
	}
	return slackText(requester)
}

func stateEmoji(s State) string {
	switch s {
	case StateSucceeded:
		return ":white_check_mark:"
	case StateFailed:
		return ":x:"
	case StateCancelled:
		return ":no_entry_sign:"
	case StateRolledBack:
		return ":leftwards_arrow_with_hook:"
	}
	return ":hourglass_flowing_sand:"
}

// waitForCI reads the sha's statuses and check runs until they pass, one
// fails, or the app's ci_timeout passes; between reads it waits, woken
// by a CI webhook for the sha or by its poll's backoff.
func (r *run) waitForCI(ctx context.Context, app *App) error {
	repo := Repo{FullName: r.d.Repo, InstallationID: r.d.InstallationID}
	on := WaitForCI(r.d.SHA)
	deadline := r.ciStarted(ctx).Add(time.Duration(app.CITimeout))
	poll := r.s.CIPoll
	if poll.Initial == 0 {
		poll = DefaultCIPoll
	}
	for {
		// Listen before reading: news arriving between the read and the
		// wait would otherwise wake nobody, leaving the wait to the poll.
		woken := r.s.waiter(on)
		checked := r.s.now()
		seen := r.d.Wait.Note
		if r.d.Wait.On != on {
			seen = ""
		}
		checks, err := r.s.GitHub.Checks(ctx, repo, r.d.SHA)
		if ErrorCode(err) == EUNAVAILABLE {
			// Reading CI results is safe to repeat, and GitHub failing to
			// answer is no verdict on the commit: keep asking until the
			// CI deadline.
			if !r.s.now().Before(deadline) {
				return Errorf(EUNAVAILABLE, "CI results could not be read within %s: %s", time.Duration(app.CITimeout), ErrorMessage(err))
			}
			if note := "could not read CI results: " + ErrorMessage(err) + "; trying again"; note != seen {
				seen = note
				r.progress(note)
			}
		} else if err != nil {
			return fmt.Errorf("read CI results: %w", err)
		} else {
			verdict := EvaluateCI(app, checks)
			if note := "CI: " + describeChecks(checks); note != seen {
				seen = note
				r.progress(note)
			}
			switch {
			case verdict.NoneReported:
				return Errorf(EINVALID, "CI failed for %s: no CI status or check run reported for this commit", r.d.ShortSHA())
			case verdict.Failed != nil:
				return Errorf(EINVALID, "CI failed for %s: %v", r.d.ShortSHA(), failedChecks(verdict.Failed))
			case verdict.Passed:
				return nil
			case !r.s.now().Before(deadline):
				return Errorf(EINVALID, "CI did not finish within %s; still pending: %v", time.Duration(app.CITimeout), pendingChecks(verdict.Pending))
			}
			r.log.Info("waiting for CI", "pending", verdict.Pending)
		}
		until := r.s.now().Add(r.ciBackoff(poll, on))
		if deadline.Before(until) {
			until = deadline
		}
		if err := r.wait(ctx, on, woken, checked, until, seen); err != nil {
			return err
		}
	}
}

// ciBackoff is the wait before the next read of CI results: from
// poll.Initial, growing with the time already waited (half of it) up to
// poll.Max. It is computed from the wait's start, which the store keeps,
// so a parked deployment backs off as one that waits in place does.
func (r *run) ciBackoff(poll Backoff, on string) time.Duration {
	var waited time.Duration
	if r.d.Wait.On == on && !r.d.Wait.Since.IsZero() {
		waited = r.s.now().Sub(r.d.Wait.Since)
	}
	return min(max(waited/2, poll.Initial), poll.Max)
}

// ciStarted is when d began to wait for CI: now, or for a resumed
// deployment the time its timeline says, so that ci_timeout counts from
// the first wait and not from each resumption.
func (r *run) ciStarted(ctx context.Context) time.Time {
	if w := r.d.Wait; w.On == WaitForCI(r.d.SHA) && !w.Since.IsZero() {
		return w.Since
	}
	if r.d.Attempts > 1 {
		events, err := r.s.Store.Events(ctx, r.d.ID)
		if err != nil {
			r.log.Warn("read timeline for the CI deadline", "err", err)
		}
		for _, e := range events {
			if e.Stage == StateWaitingForCI {
				return e.At
			}
		}
	}
	return r.s.now()
}

// describeChecks lists the checks as "name state, …" for the timeline.
func describeChecks(checks []Check) string {
	if len(checks) == 0 {
		return "nothing reported"
	}
	parts := make([]string, len(checks))
	for i, c := range checks {
		parts[i] = c.Name + " " + string(c.State)
	}
	return strings.Join(parts, ", ")
}

// CIVerdict is the reading of a sha's CI results.
type CIVerdict struct {
	Passed bool
	Failed []Check // what failed; nil if nothing did
	// NoneReported: without `checks`, nothing was reported, which fails.
	NoneReported bool
	Pending      []string
}

// failedChecks names the failed checks, each with its state: "a (failure),
// b (neutral)". Names are whatever CI called its checks, so they are
// Names, quoted wherever the reason is shown.
func failedChecks(failed []Check) Text {
	parts := make([]Text, len(failed))
	for i, c := range failed {
		parts[i] = Textf("%v (%s)", Name(c.Name), c.State)
	}
	return joinText(parts, ", ")
}

// pendingChecks lists the names of the checks CI still runs, as Names.
func pendingChecks(names []string) Text {
	parts := make([]Text, len(names))
	for i, n := range names {
		parts[i] = Textf("%v", Name(n))
	}
	return joinText(parts, ", ")
}

// EvaluateCI applies the app's CI rule: with `checks`, each named one must
// exist and pass; without, every reported one must pass and at least one
// must be reported. Neutral and skipped pass only if ci_pass_states says so.
func EvaluateCI(app *App, checks []Check) CIVerdict {
	passes := func(s CheckState) bool {
		if s == CheckSuccess {
			return true
		}
		for _, ok := range app.CIPassStates {
			if s == ok {
				return true
			}
		}
		return false
	}
	byName := make(map[string]Check, len(checks))
	for _, c := range checks {
		byName[c.Name] = c
	}
	var v CIVerdict
	judge := func(c Check) {
		switch {
		case c.State == CheckPending:
			v.Pending = append(v.Pending, c.Name)
		case !passes(c.State):
			v.Failed = append(v.Failed, c)
		}
	}
	if len(app.Checks) > 0 {
		var missing []string
		for _, name := range app.Checks {
			c, ok := byName[name]
			if !ok {
				missing = append(missing, name)
				continue
			}
			judge(c)
		}
		if len(missing) > 0 && v.Failed == nil {
			// A required check that has not reported yet may still start.
			v.Pending = append(v.Pending, missing...)
		}
	} else {
		if len(checks) == 0 {
			return CIVerdict{NoneReported: true}
		}
		names := make([]string, 0, len(byName))
		for n := range byName {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			judge(byName[n])
		}
	}
	v.Passed = v.Failed == nil && len(v.Pending) == 0
	return v
}

// IsNotFound reports whether err is an ENOTFOUND *Error.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == ENOTFOUND
}

// Reject closes a GitHub deployment that someone else created and that
// deploybot will not run (unknown app or env, requester not allowed), with
// an `error` status that says why.
func (s *Service) Reject(ctx context.Context, repo Repo, githubID int64, reason error) {
	s.logger().Warn("github deployment rejected", "repo", repo.FullName, "github_deployment", githubID, "reason", ErrorMessage(reason))
	st := DeploymentStatus{State: "error", Description: "deploybot: " + ErrorMessage(reason)}
	if err := s.GitHub.CreateDeploymentStatus(ctx, repo, githubID, st); err != nil {
		s.logger().Warn("github deployment status", "state", "error", "err", err)
	}
}
