package bot

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// Service accepts deployment requests and runs the pipeline of DESIGN.md
// for each, reporting to GitHub and Slack as it goes.
type Service struct {
	Config *Config
	Store  Store
	GitHub GitHub
	Chat   Chat // nil: no Slack reporting
	// PullRequests serves the PR-comment trigger; nil turns it off.
	PullRequests PullRequests
	// Teams answers github-team allow entries; when nil, PullRequests
	// does if it can (ghclient's client does both). Without either, no
	// one is in a team.
	Teams     Teams
	Images    Images
	Deployers map[string]Deployer // by Environment.TargetKind
	Logger    *slog.Logger
	CIPoll    Backoff
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
	// Reporters hear every update of every deployment after the media
	// the ports above stand for (the timeline, GitHub, Slack, the pull
	// request).
	Reporters []Reporter

	// Owner names this replica in deployment leases (its Scheduler's
	// claims must use the same); Lease is how long a lease lasts unless
	// renewed (a crashed replica's deployments are taken over that long
	// after its last renewal).
	Owner string
	Lease time.Duration
	// Scheduler runs the accepted deployments; nil: only Run runs them.
	Scheduler Scheduler

	running sync.WaitGroup // reports sent in the background
	edits   editTurns      // one edit of a deployment's messages at a time
	waiters waitBoard      // runs waiting in place here
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
