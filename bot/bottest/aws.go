package bottest

import (
	"context"
	"sync"
	"time"

	"github.com/deploybot/deploybot/bot"
)

// Images is a fake registry: an image:tag resolves only once pushed.
type Images struct {
	mu       sync.Mutex
	digests  map[string]string // image:tag → digest
	resolved []string          // image:tag asked for
}

// NewImages returns an empty registry.
func NewImages() *Images { return &Images{digests: map[string]string{}} }

// Push makes image:tag resolve to digest.
func (i *Images) Push(image, tag, digest string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.digests[image+":"+tag] = digest
}

// Resolved returns every image:tag asked for, in order.
func (i *Images) Resolved() []string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return append([]string(nil), i.resolved...)
}

func (i *Images) Resolve(ctx context.Context, image, tag string, env *bot.Environment) (string, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.resolved = append(i.resolved, image+":"+tag)
	digest, ok := i.digests[image+":"+tag]
	if !ok {
		return "", bot.Errorf(bot.ENOTFOUND, "image %s:%s not found", image, tag)
	}
	return digest, nil
}

var _ bot.Images = (*Images)(nil)

// Deployer is a fake bot.Deployer. By default a deploy checkpoints a ref,
// reports one progress line and succeeds; Script replaces that.
type Deployer struct {
	mu     sync.Mutex
	script func(ctx context.Context, d *bot.Deployment, env *bot.Environment, image string, hooks bot.RolloutHooks) (bot.Rollout, error)
	calls  []DeployCall
}

// DeployCall is one call of Deploy, as the deployer saw it.
type DeployCall struct {
	Deployment int64
	Env        string
	Image      string
	// RolloutRef is the checkpoint the deploy started from: not empty
	// for a deploy resumed after a change was made.
	RolloutRef string
}

// NewDeployer returns a deployer whose rollouts succeed.
func NewDeployer() *Deployer { return &Deployer{} }

// Script makes f the behaviour of every later Deploy.
func (f *Deployer) Script(s func(ctx context.Context, d *bot.Deployment, env *bot.Environment, image string, hooks bot.RolloutHooks) (bot.Rollout, error)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script = s
}

// Fail makes every later Deploy fail with err after its change was made
// (a checkpoint saved), as a rollout that went wrong does.
func (f *Deployer) Fail(err error) {
	f.Script(func(ctx context.Context, d *bot.Deployment, env *bot.Environment, image string, hooks bot.RolloutHooks) (bot.Rollout, error) {
		if err := hooks.Checkpoint("rollout-of-" + image); err != nil {
			return bot.Rollout{}, err
		}
		return bot.Rollout{}, err
	})
}

// Calls returns the deploys asked for, in order.
func (f *Deployer) Calls() []DeployCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]DeployCall(nil), f.calls...)
}

func (f *Deployer) Deploy(ctx context.Context, d *bot.Deployment, env *bot.Environment, image string, hooks bot.RolloutHooks) (bot.Rollout, error) {
	f.mu.Lock()
	f.calls = append(f.calls, DeployCall{Deployment: d.ID, Env: env.Name, Image: image, RolloutRef: d.RolloutRef})
	script := f.script
	f.mu.Unlock()
	if script != nil {
		return script(ctx, d, env, image, hooks)
	}
	if d.RolloutRef == "" {
		if err := hooks.Checkpoint("rollout-of-" + image); err != nil {
			return bot.Rollout{}, err
		}
	}
	hooks.Progress("rolled out " + image)
	return bot.Rollout{EnvironmentURL: "https://" + env.Name + ".example.com", Detail: "revision 2"}, nil
}

var _ bot.Deployer = (*Deployer)(nil)

// Observer records what the pipeline measures.
type Observer struct {
	mu     sync.Mutex
	stages []Stage
	ended  []int64
	ci     []Stage
}

// Stage is a stage observed done, with the time it took.
type Stage struct {
	Deployment int64
	Stage      bot.State
	Took       time.Duration
}

func (o *Observer) StageDone(d *bot.Deployment, stage bot.State, took time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.stages = append(o.stages, Stage{Deployment: d.ID, Stage: stage, Took: took})
}

func (o *Observer) CIWaited(d *bot.Deployment, took time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ci = append(o.ci, Stage{Deployment: d.ID, Stage: bot.StateWaitingForCI, Took: took})
}

func (o *Observer) Ended(d *bot.Deployment) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ended = append(o.ended, d.ID)
}

// Stages returns the stages observed done, in order.
func (o *Observer) Stages() []Stage {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]Stage(nil), o.stages...)
}

// CIWaits returns the CI gates observed, with the time each took.
func (o *Observer) CIWaits() []Stage {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]Stage(nil), o.ci...)
}

// EndedIDs returns the ids of the deployments observed ending, in order.
func (o *Observer) EndedIDs() []int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]int64(nil), o.ended...)
}

var _ bot.Observer = (*Observer)(nil)

// Reporter records the updates the pipeline reports, as they read when
// reported (the deployment changes afterwards).
type Reporter struct {
	mu      sync.Mutex
	updates []Reported
}

// Reported is an update as a Reporter heard it, in plain text.
type Reported struct {
	Deployment int64
	State      bot.State
	Status     string
	Line       string
	GitHub     string
	Failure    string
}

func (r *Reporter) Report(ctx context.Context, u bot.Update) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.updates = append(r.updates, Reported{
		Deployment: u.Deployment.ID, State: u.Deployment.State,
		Status: u.Status.Plain(), Line: u.Line.Plain(), GitHub: u.GitHub, Failure: u.Failure.Plain(),
	})
}

// Updates returns the updates reported, in order.
func (r *Reporter) Updates() []Reported {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Reported(nil), r.updates...)
}

var _ bot.Reporter = (*Reporter)(nil)
