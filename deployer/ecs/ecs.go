// Package ecs deploys to Amazon ECS services: a new task definition
// revision with one container's image replaced, UpdateService, then a wait
// until that revision really runs.
package ecs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/deployer/awsenv"
)

// Deployer implements bot.Deployer for environments with an ecs target.
type Deployer struct {
	configs     awsenv.Source
	pollInitial time.Duration
	pollMax     time.Duration
}

var _ bot.Deployer = (*Deployer)(nil)

// Option configures a Deployer.
type Option func(*Deployer)

// WithPollInterval sets how long to wait between DescribeServices polls:
// initial at first, doubling up to maxInterval. The default is 5s up to
// 30s.
func WithPollInterval(initial, maxInterval time.Duration) Option {
	return func(d *Deployer) {
		// A zero interval would never back off and hammer the API.
		initial = max(initial, time.Millisecond)
		d.pollInitial, d.pollMax = initial, max(initial, maxInterval)
	}
}

// New returns a Deployer whose ECS clients use the configuration configs
// gives each environment.
func New(configs awsenv.Source, opts ...Option) *Deployer {
	d := &Deployer{configs: configs, pollInitial: 5 * time.Second, pollMax: 30 * time.Second}
	for _, o := range opts {
		o(d)
	}
	return d
}

var errTimeout = errors.New("ECS deploy timeout")

const beforeRollout = "it ran out of time before the service was updated"

// Deploy registers a revision of the service's current task definition with
// env.ECS.Container running image, points the service at it and waits until
// ECS has replaced every task. The whole of it is bounded by env.Timeout.
//
// With d.RolloutRef set (a resumed deploy) it first looks at what the
// revision named there already did: see resume.
func (dp *Deployer) Deploy(ctx context.Context, d *bot.Deployment, env *bot.Environment, image string, hooks bot.RolloutHooks) (bot.Rollout, error) {
	if env.ECS == nil {
		return bot.Rollout{}, bot.Errorf(bot.EINVALID, "environment %s has no ecs target", env.Name)
	}
	progress := hooks.Progress
	if progress == nil {
		progress = func(string) {}
	}
	checkpoint := hooks.Checkpoint
	if checkpoint == nil {
		checkpoint = func(string) error { return nil }
	}
	timeout := time.Duration(env.Timeout)
	if timeout <= 0 {
		timeout = bot.DefaultDeployTimeout
	}
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, errTimeout)
	defer cancel()

	t := env.ECS
	client := ecs.NewFromConfig(awsenv.RecordAnswers(dp.configs.For(env)))
	svc, err := dp.describeService(ctx, client, t)
	if err != nil {
		return bot.Rollout{}, dp.timedOut(ctx, timeout, beforeRollout, err)
	}
	if c := svc.DeploymentController; c != nil && c.Type != types.DeploymentControllerTypeEcs {
		return bot.Rollout{}, bot.Errorf(bot.EINVALID, "ECS service %s uses the %s deployment controller; deploybot only does ECS rolling updates", t.Service, c.Type)
	}

	next, w := stepRegister, (*watch)(nil)
	if d.RolloutRef != "" {
		next, w, err = dp.resume(ctx, client, t, svc, d.RolloutRef, image)
		if err != nil {
			return bot.Rollout{}, dp.timedOut(ctx, timeout, beforeRollout, err)
		}
	}
	ours := d.RolloutRef
	if next == stepRegister {
		if ours, err = dp.register(ctx, client, t, svc, image, d.ID, env.EnvVars); err != nil {
			return bot.Rollout{}, dp.timedOut(ctx, timeout, beforeRollout, err)
		}
		line := "registered task definition " + shortTaskDef(ours)
		if len(env.EnvVars) > 0 {
			line += ", setting " + strings.Join(bot.EnvVarNames(env.EnvVars), ", ") + " on " + t.Container
		}
		progress(line)
		// The revision must be on record before the service runs it: a
		// process that dies after UpdateService but before the record
		// would leave its successor to register and deploy again.
		if err := checkpoint(ours); err != nil {
			return bot.Rollout{}, fmt.Errorf("checkpoint task definition %s: %w", shortTaskDef(ours), err)
		}
	}
	if next == stepWait {
		progress("resuming the wait for the rollout of " + shortTaskDef(ours))
	} else {
		if w, err = dp.update(ctx, client, t, ours); err != nil {
			return bot.Rollout{}, dp.timedOut(ctx, timeout, beforeRollout, err)
		}
		progress("service updated, waiting for rollout")
	}

	if err := dp.follow(ctx, client, t, w, progress); err != nil {
		return bot.Rollout{}, dp.timedOut(ctx, timeout, "last seen: "+orDefault(w.last, "rollout not started")+"; the service may still be rolling out", err)
	}
	return bot.Rollout{Detail: "task definition " + shortTaskDef(ours)}, nil
}

// step is what a deploy still has to do.
type step int

const (
	stepRegister step = iota // register a revision, then update the service
	stepUpdate               // point the service at a revision registered before
	stepWait                 // the rollout began before: only the wait is left
)

// resume decides what a resumed deploy of ref, the revision an earlier
// attempt registered, still has to do:
//
//   - the service runs ref, or lists a deployment of it (in progress,
//     completed or failed): the rollout began, so only the wait is left,
//     and the wait tells success from failure;
//   - ref is gone, inactive or runs another image than image: it is not a
//     revision of this deploy, so register anew;
//   - the service changed deployments after ref was registered, though no
//     deployment of ref is left (ECS drains a failed one after the circuit
//     breaker's rollback): the rollout happened while nobody watched, so
//     wait, which reports it failed from the service events; updating the
//     service again would deploy a version ECS already refused;
//   - otherwise the earlier attempt stopped between its checkpoint and
//     UpdateService: update the service to ref, without a new revision.
func (dp *Deployer) resume(ctx context.Context, client *ecs.Client, t *bot.ECSTarget, svc *types.Service, ref, image string) (step, *watch, error) {
	w := &watch{taskDef: ref}
	began := aws.ToString(svc.TaskDefinition) == ref
	for _, dep := range svc.Deployments {
		// ECS lists the PRIMARY deployment first, and ours is the newest
		// of those running ref.
		if aws.ToString(dep.TaskDefinition) == ref && w.deploymentID == "" {
			w.deploymentID = aws.ToString(dep.Id)
			began = true
		}
	}
	if began {
		return stepWait, w, nil
	}

	out, err := client.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(ref)})
	var missing *types.ClientException
	if errors.As(err, &missing) {
		return stepRegister, nil, nil
	}
	if err != nil {
		return 0, nil, fmt.Errorf("ECS DescribeTaskDefinition %s: %w", ref, err)
	}
	td := out.TaskDefinition
	if td == nil || td.Status != types.TaskDefinitionStatusActive || containerImage(td, t.Container) != image {
		return stepRegister, nil, nil
	}
	if id, changed := changedSince(svc, aws.ToTime(td.RegisteredAt)); changed {
		w.deploymentID = id
		return stepWait, w, nil
	}
	return stepUpdate, w, nil
}

// changedSince reports whether the service started a deployment at or
// after since, and the id of the first one the service events name. Both
// times are ECS's, so no clock skew comes in. Deployment events carry a
// "(deployment ID)" marker; steady-state and task events do not.
func changedSince(svc *types.Service, since time.Time) (deploymentID string, changed bool) {
	for i := len(svc.Events) - 1; i >= 0; i-- { // oldest first
		e := svc.Events[i]
		if aws.ToTime(e.CreatedAt).Before(since) {
			continue
		}
		if _, after, ok := strings.Cut(aws.ToString(e.Message), "(deployment "); ok {
			if id, _, ok := strings.Cut(after, ")"); ok {
				return id, true
			}
		}
	}
	for _, dep := range svc.Deployments {
		// Strictly after: the deployment running when ref was registered
		// may share its millisecond.
		if aws.ToString(dep.Status) == "PRIMARY" && aws.ToTime(dep.CreatedAt).After(since) {
			return "", true
		}
	}
	return "", false
}

func containerImage(td *types.TaskDefinition, container string) string {
	if td == nil {
		return ""
	}
	for _, c := range td.ContainerDefinitions {
		if aws.ToString(c.Name) == container {
			return aws.ToString(c.Image)
		}
	}
	return ""
}

// deploymentTag marks each revision deploybot registers with the id of the
// deployment it is for.
const deploymentTag = "deploybot-deployment"

// register registers a revision of the service's current task definition
// running image, tagged with the deployment id, and returns its ARN. If
// the family's latest revision is already this deployment's — registered
// by a process that died before it could record it — that one is used,
// so a deployment never registers twice.
func (dp *Deployer) register(ctx context.Context, client *ecs.Client, t *bot.ECSTarget, svc *types.Service, image string, deploymentID int64, vars map[string]string) (string, error) {
	current := aws.ToString(svc.TaskDefinition)
	described, err := client.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{
		TaskDefinition: aws.String(current),
		Include:        []types.TaskDefinitionField{types.TaskDefinitionFieldTags},
	})
	if err != nil {
		return "", fmt.Errorf("ECS DescribeTaskDefinition %s: %w", current, err)
	}
	ourTag := strconv.FormatInt(deploymentID, 10)
	if family := aws.ToString(described.TaskDefinition.Family); family != "" && deploymentID != 0 {
		latest, err := client.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{
			TaskDefinition: aws.String(family),
			Include:        []types.TaskDefinitionField{types.TaskDefinitionFieldTags},
		})
		if err == nil && tagValue(latest.Tags, deploymentTag) == ourTag && containerImage(latest.TaskDefinition, t.Container) == image {
			return aws.ToString(latest.TaskDefinition.TaskDefinitionArn), nil
		}
	}
	var tags []types.Tag
	for _, tag := range described.Tags {
		if aws.ToString(tag.Key) != deploymentTag {
			tags = append(tags, tag)
		}
	}
	tags = append(tags, types.Tag{Key: aws.String(deploymentTag), Value: aws.String(ourTag)})
	in, err := registerInput(described.TaskDefinition, tags, t.Container, image)
	if err != nil {
		return "", err
	}
	mergeEnvironment(in, t.Container, vars)
	registered, err := client.RegisterTaskDefinition(ctx, in)
	if err != nil {
		// ClientException is ECS refusing the revision itself, as built
		// from the config (its env_vars): the config must change, and
		// ECS's words say how. A value it quotes is hidden by the pipeline.
		var api smithy.APIError
		if errors.As(err, &api) && api.ErrorCode() == "ClientException" {
			return "", bot.Errorf(bot.EINVALID, "ECS RegisterTaskDefinition %s refused the new revision: %s", aws.ToString(in.Family), api.ErrorMessage())
		}
		return "", fmt.Errorf("ECS RegisterTaskDefinition %s: %w", aws.ToString(in.Family), err)
	}
	if registered.TaskDefinition == nil {
		return "", errors.New("ECS RegisterTaskDefinition returned no task definition")
	}
	return aws.ToString(registered.TaskDefinition.TaskDefinitionArn), nil
}

// update points the service at ours and returns the watch of that rollout.
func (dp *Deployer) update(ctx context.Context, client *ecs.Client, t *bot.ECSTarget, ours string) (*watch, error) {
	updated, err := client.UpdateService(ctx, &ecs.UpdateServiceInput{
		Cluster:        aws.String(t.Cluster),
		Service:        aws.String(t.Service),
		TaskDefinition: aws.String(ours),
	})
	if err != nil {
		return nil, dp.notFound(t, fmt.Errorf("ECS UpdateService %s: %w", t.Service, err))
	}
	w := &watch{taskDef: ours}
	if updated.Service != nil {
		// Knowing our deployment's id lets the wait find its failure reason
		// in the service events after ECS has already drained it.
		for _, dep := range updated.Service.Deployments {
			if aws.ToString(dep.Status) == "PRIMARY" && aws.ToString(dep.TaskDefinition) == ours {
				w.deploymentID = aws.ToString(dep.Id)
			}
		}
	}
	return w, nil
}

// wait polls DescribeServices until the rollout of w.taskDef ends.
//
// The SDK's ServicesStableWaiter is not used: it declares a service stable
// once it has one deployment with runningCount == desiredCount, which is
// also true after the deployment circuit breaker rolled our revision back,
// and it knows nothing of rolloutState FAILED. Only a poll that knows which
// task definition is ours can tell a finished rollout from a reverted one.
func (dp *Deployer) wait(ctx context.Context, client *ecs.Client, t *bot.ECSTarget, w *watch, progress func(string)) error {
	interval := dp.pollInitial
	for {
		svc, err := dp.describeService(ctx, client, t)
		// A poll cut off by the deadline is the timeout, not AWS failing:
		// the last state seen stays the one reported.
		if err != nil && (ctx.Err() != nil || !awsenv.Transient(err)) {
			return err
		}
		// The rollout goes on whether or not AWS answers this poll, so an
		// unanswered poll is no verdict: poll again until the timeout.
		done, line := false, ""
		if err != nil {
			line = awsenv.UnansweredPoll(err)
		}
		if err == nil {
			if done, line, err = w.assess(svc); err != nil || done {
				return err
			}
		}
		if line != w.last {
			w.last = line
			progress(line)
		}
		timer := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			timer.Stop()
			return context.Cause(ctx)
		case <-timer.C:
		}
		interval = min(interval*2, dp.pollMax)
	}
}

// watch is what the wait knows about our rollout.
type watch struct {
	taskDef      string // ARN of our revision
	deploymentID string // ECS deployment UpdateService started, if seen
	last         string // last progress line
}

// assess decides from one DescribeServices result whether the rollout is
// done (nil error), failed (a *bot.Error) or still going (a progress line).
// A failure is ECONFLICT: ECS refused the new version, and its reason is
// for the person who deployed, which EINTERNAL would hide.
func (w *watch) assess(svc *types.Service) (done bool, line string, err error) {
	var primary, ours *types.Deployment
	for i := range svc.Deployments {
		dep := &svc.Deployments[i]
		if aws.ToString(dep.Status) == "PRIMARY" && primary == nil {
			primary = dep
		}
		if ours == nil && w.isOurs(dep) {
			ours = dep
		}
	}
	failed := ours != nil && ours.RolloutState == types.DeploymentRolloutStateFailed
	rolledBackTo := ""
	if primary != nil && aws.ToString(primary.TaskDefinition) != w.taskDef {
		rolledBackTo = shortTaskDef(aws.ToString(primary.TaskDefinition))
	}
	if failed || rolledBackTo != "" {
		var cause string
		if failed {
			cause = aws.ToString(ours.RolloutStateReason)
		}
		if cause == "" {
			// ECS drains a failed deployment soon after the rollback; its
			// reason then survives only in the service events.
			cause = w.failureEvent(svc.Events)
		}
		msg := "ECS rollout of " + shortTaskDef(w.taskDef) + " failed"
		switch {
		case cause == "" && rolledBackTo != "":
			msg += ": the service went back to " + rolledBackTo + " (a circuit breaker rollback, or another deploy replaced ours)"
		case cause == "":
			msg += " (ECS gave no reason)"
		case rolledBackTo != "":
			msg += ": " + cause + " The service was rolled back to " + rolledBackTo + "."
		default:
			msg += ": " + cause
		}
		return false, "", bot.Errorf(bot.ECONFLICT, "%s", msg)
	}
	if primary == nil {
		return false, "waiting for ECS to start the deployment", nil
	}

	running, desired := primary.RunningCount, primary.DesiredCount
	// ECS leaves rolloutState empty for services it does not track it for
	// (for example behind a Classic Load Balancer); there one deployment
	// with every task running is the best signal there is.
	completed := primary.RolloutState == types.DeploymentRolloutStateCompleted || primary.RolloutState == ""
	if completed && len(svc.Deployments) == 1 && running == desired {
		return true, "", nil
	}
	line = fmt.Sprintf("rollout %d/%d tasks running", running, desired)
	if primary.FailedTasks > 0 {
		line += fmt.Sprintf(", %d failed to start", primary.FailedTasks)
	}
	if len(svc.Deployments) > 1 && running == desired {
		line += ", old tasks draining"
	}
	return false, line, nil
}

func (w *watch) isOurs(dep *types.Deployment) bool {
	if w.deploymentID != "" {
		return aws.ToString(dep.Id) == w.deploymentID
	}
	return aws.ToString(dep.TaskDefinition) == w.taskDef
}

// failureEvent returns why our deployment failed according to the service
// events, which outlive the deployment itself, or "".
func (w *watch) failureEvent(events []types.ServiceEvent) string {
	if w.deploymentID == "" {
		return ""
	}
	marker := "(deployment " + w.deploymentID + ") "
	for _, e := range events {
		msg := aws.ToString(e.Message)
		if _, after, ok := strings.Cut(msg, marker); ok && strings.Contains(after, "failed") {
			return after
		}
	}
	return ""
}

func (dp *Deployer) describeService(ctx context.Context, client *ecs.Client, t *bot.ECSTarget) (*types.Service, error) {
	out, err := client.DescribeServices(ctx, &ecs.DescribeServicesInput{
		Cluster:  aws.String(t.Cluster),
		Services: []string{t.Service},
	})
	if err != nil {
		return nil, dp.notFound(t, fmt.Errorf("ECS DescribeServices %s: %w", t.Service, err))
	}
	for i := range out.Services {
		s := &out.Services[i]
		if aws.ToString(s.ServiceName) == t.Service || aws.ToString(s.ServiceArn) == t.Service {
			// Deleted services linger as INACTIVE for a while.
			if st := aws.ToString(s.Status); st != "ACTIVE" {
				return nil, bot.Errorf(bot.ENOTFOUND, "ECS service %s in cluster %s is %s", t.Service, t.Cluster, st)
			}
			return s, nil
		}
	}
	return nil, bot.Errorf(bot.ENOTFOUND, "ECS service %s not found in cluster %s", t.Service, t.Cluster)
}

// notFound turns AWS's not-found errors into user-safe ones naming what is
// missing; other errors pass through.
func (dp *Deployer) notFound(t *bot.ECSTarget, err error) error {
	var noCluster *types.ClusterNotFoundException
	var noService *types.ServiceNotFoundException
	switch {
	case errors.As(err, &noCluster):
		return bot.Errorf(bot.ENOTFOUND, "ECS cluster %s not found", t.Cluster)
	case errors.As(err, &noService):
		return bot.Errorf(bot.ENOTFOUND, "ECS service %s not found in cluster %s", t.Service, t.Cluster)
	}
	return err
}

// timedOut replaces err with a user-safe timeout error when the deadline
// of env.Timeout is what ended the call. It is ECONFLICT, not EINTERNAL,
// because the pipeline hides internal messages and this one is for the
// person who deployed.
func (dp *Deployer) timedOut(ctx context.Context, timeout time.Duration, detail string, err error) error {
	if !errors.Is(context.Cause(ctx), errTimeout) {
		return awsenv.Unavailable(err)
	}
	return bot.Errorf(bot.ECONFLICT, "ECS deploy did not finish within %s; %s", timeout, detail)
}

// registerInput copies every registrable field of td and points container
// at image. The copy is explicit, not reflective, so an SDK upgrade that
// adds a field fails TestRegisterInputCopiesEveryField instead of silently
// dropping the field.
func registerInput(td *types.TaskDefinition, tags []types.Tag, container, image string) (*ecs.RegisterTaskDefinitionInput, error) {
	if td == nil {
		return nil, errors.New("DescribeTaskDefinition returned no task definition")
	}
	containers := slices.Clone(td.ContainerDefinitions)
	found := false
	var names []string
	for i := range containers {
		names = append(names, aws.ToString(containers[i].Name))
		if aws.ToString(containers[i].Name) == container {
			containers[i].Image = aws.String(image)
			found = true
		}
	}
	if !found {
		return nil, bot.Errorf(bot.EINVALID, "container %s is not in task definition %s; its containers: %s",
			container, shortTaskDef(aws.ToString(td.TaskDefinitionArn)), strings.Join(names, ", "))
	}
	in := &ecs.RegisterTaskDefinitionInput{
		ContainerDefinitions:    containers,
		Family:                  td.Family,
		Cpu:                     td.Cpu,
		EnableFaultInjection:    td.EnableFaultInjection,
		EphemeralStorage:        td.EphemeralStorage,
		ExecutionRoleArn:        td.ExecutionRoleArn,
		InferenceAccelerators:   td.InferenceAccelerators,
		IpcMode:                 td.IpcMode,
		Memory:                  td.Memory,
		NetworkMode:             td.NetworkMode,
		PidMode:                 td.PidMode,
		PlacementConstraints:    td.PlacementConstraints,
		ProxyConfiguration:      td.ProxyConfiguration,
		RequiresCompatibilities: td.RequiresCompatibilities,
		RuntimePlatform:         td.RuntimePlatform,
		TaskRoleArn:             td.TaskRoleArn,
		Volumes:                 td.Volumes,
	}
	if len(tags) > 0 {
		in.Tags = tags
	}
	return in, nil
}

func tagValue(tags []types.Tag, key string) string {
	for _, tag := range tags {
		if aws.ToString(tag.Key) == key {
			return aws.ToString(tag.Value)
		}
	}
	return ""
}

// shortTaskDef turns arn:aws:ecs:…:task-definition/web:42 into web:42.
func shortTaskDef(arn string) string {
	if i := strings.LastIndex(arn, "/"); i >= 0 {
		return arn[i+1:]
	}
	return arn
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
