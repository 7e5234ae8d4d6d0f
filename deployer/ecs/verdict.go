package ecs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/deployer/awsenv"
)

// follow waits for the end of our rollout taking ECS's own verdict: the
// status of the service deployment UpdateService started. Where the
// service deployments API is refused (a role that predates it, an
// endpoint that does not implement it) or has no record of ours, it says
// so once and judges from DescribeServices instead (wait).
func (dp *Deployer) follow(ctx context.Context, client *ecs.Client, t *bot.ECSTarget, w *watch, progress func(string)) error {
	arn, err := dp.findServiceDeployment(ctx, client, t, w)
	// ECS may list a service deployment a moment after UpdateService, and
	// may fail to answer: neither is a verdict.
	for try := 0; (err == nil && arn == "" || awsenv.Transient(err)) && try < 3; try++ {
		if serr := awsenv.Sleep(ctx, dp.pollInitial); serr != nil {
			return serr
		}
		arn, err = dp.findServiceDeployment(ctx, client, t, w)
	}
	switch {
	case err == nil && arn == "":
		progress("ECS has no service deployment of " + shortTaskDef(w.taskDef) + " on record; judging the rollout from DescribeServices")
		return dp.wait(ctx, client, t, w, progress)
	case awsenv.Transient(err) && ctx.Err() == nil:
		progress("ECS did not answer ListServiceDeployments (" + bot.ErrorMessage(awsenv.Unavailable(err)) + "); judging the rollout from DescribeServices")
		return dp.wait(ctx, client, t, w, progress)
	case refused(err):
		progress(refusedLine(err))
		return dp.wait(ctx, client, t, w, progress)
	case err != nil:
		return err
	}
	interval := dp.pollInitial
	for {
		sd, err := describeServiceDeployment(ctx, client, arn)
		switch {
		case refused(err):
			progress(refusedLine(err))
			return dp.wait(ctx, client, t, w, progress)
		case bot.ErrorCode(err) == bot.ENOTFOUND:
			progress(bot.ErrorMessage(err) + "; judging the rollout from DescribeServices")
			return dp.wait(ctx, client, t, w, progress)
		}
		if err != nil && (ctx.Err() != nil || !awsenv.Transient(err)) {
			return err
		}
		line := ""
		if err != nil {
			line = awsenv.UnansweredPoll(err)
		} else {
			var done bool
			if done, line, err = w.judge(sd); err != nil {
				return dp.failure(ctx, client, t, err)
			}
			if done {
				return dp.confirm(ctx, client, t, w, progress)
			}
		}
		if line != w.last {
			w.last = line
			progress(line)
		}
		if err := awsenv.Sleep(ctx, interval); err != nil {
			return err
		}
		interval = min(interval*2, dp.pollMax)
	}
}

// findServiceDeployment returns the ARN of the newest service deployment
// whose target revision runs w.taskDef. The service's
// currentServiceDeployment is not trusted for it: read before ECS started
// ours, it names the previous one, already SUCCESSFUL. "" with no error
// means ECS lists none of ours.
func (dp *Deployer) findServiceDeployment(ctx context.Context, client *ecs.Client, t *bot.ECSTarget, w *watch) (string, error) {
	list, err := client.ListServiceDeployments(ctx, &ecs.ListServiceDeploymentsInput{
		Cluster: aws.String(t.Cluster),
		Service: aws.String(t.Service),
	})
	if err != nil {
		return "", dp.notFound(t, fmt.Errorf("ECS ListServiceDeployments %s: %w", t.Service, err))
	}
	briefs := slices.SortedFunc(slices.Values(list.ServiceDeployments), func(a, b types.ServiceDeploymentBrief) int {
		return aws.ToTime(b.CreatedAt).Compare(aws.ToTime(a.CreatedAt)) // newest first
	})
	briefs = briefs[:min(len(briefs), 20)] // DescribeServiceRevisions takes 20
	var revisions []string
	for _, b := range briefs {
		if r := aws.ToString(b.TargetServiceRevisionArn); r != "" {
			revisions = append(revisions, r)
		}
	}
	if len(revisions) == 0 {
		return "", nil
	}
	out, err := client.DescribeServiceRevisions(ctx, &ecs.DescribeServiceRevisionsInput{ServiceRevisionArns: revisions})
	if err != nil {
		return "", fmt.Errorf("ECS DescribeServiceRevisions %s: %w", t.Service, err)
	}
	ours := map[string]bool{}
	for _, r := range out.ServiceRevisions {
		if aws.ToString(r.TaskDefinition) == w.taskDef {
			ours[aws.ToString(r.ServiceRevisionArn)] = true
		}
	}
	for _, b := range briefs {
		if ours[aws.ToString(b.TargetServiceRevisionArn)] {
			return aws.ToString(b.ServiceDeploymentArn), nil
		}
	}
	return "", nil
}

func describeServiceDeployment(ctx context.Context, client *ecs.Client, arn string) (*types.ServiceDeployment, error) {
	out, err := client.DescribeServiceDeployments(ctx, &ecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{arn}})
	if err != nil {
		return nil, fmt.Errorf("ECS DescribeServiceDeployments: %w", err)
	}
	for i := range out.ServiceDeployments {
		if aws.ToString(out.ServiceDeployments[i].ServiceDeploymentArn) == arn {
			return &out.ServiceDeployments[i], nil
		}
	}
	return nil, bot.Errorf(bot.ENOTFOUND, "ECS did not describe service deployment %s", arn)
}

// refused reports whether AWS refused the service deployments API itself,
// as opposed to failing to answer or finding nothing.
func refused(err error) bool {
	var api smithy.APIError
	if !errors.As(err, &api) {
		return false
	}
	switch api.ErrorCode() {
	case "AccessDeniedException", "AccessDenied", "UnknownOperationException", "UnsupportedOperation", "InvalidAction":
		return true
	}
	return false
}

func refusedLine(err error) string {
	code := "refused"
	var api smithy.APIError
	if errors.As(err, &api) {
		code = api.ErrorCode()
	}
	return "ECS service deployments API refused (" + code + "); judging the rollout from DescribeServices"
}

// judge decides from one service deployment whether the rollout is done
// (SUCCESSFUL), failed (a *bot.Error naming why) or still going (a
// progress line). Only SUCCESSFUL is success: for the native strategies
// ECS sets it after the bake time, so a deployment in bake time is not
// done however healthy it looks.
func (w *watch) judge(sd *types.ServiceDeployment) (done bool, line string, err error) {
	ours := shortTaskDef(w.taskDef)
	switch sd.Status {
	case types.ServiceDeploymentStatusSuccessful:
		return true, "", nil
	case types.ServiceDeploymentStatusRollbackSuccessful:
		return false, "", bot.Errorf(bot.ECONFLICT, "ECS rollout of %s failed: %s; ECS rolled it back", ours, failureCause(sd))
	case types.ServiceDeploymentStatusRollbackFailed:
		return false, "", bot.Errorf(bot.ECONFLICT, "ECS rollout of %s failed: %s; its rollback failed too, the service needs a look", ours, failureCause(sd))
	case types.ServiceDeploymentStatusStopped:
		// Stopped by someone, or a failure detected with rollback off: the
		// service may still run ours, half deployed.
		return false, "", bot.Errorf(bot.ECONFLICT, "ECS rollout of %s was stopped: %s; ECS did not roll it back", ours, failureCause(sd))
	case types.ServiceDeploymentStatusPending:
		return false, "waiting for ECS to start the service deployment", nil
	case types.ServiceDeploymentStatusRollbackRequested, types.ServiceDeploymentStatusRollbackInProgress:
		return false, "ECS is rolling back " + ours + ": " + failureCause(sd), nil
	case types.ServiceDeploymentStatusStopRequested:
		return false, "ECS is stopping the deployment of " + ours + ": " + failureCause(sd), nil
	case types.ServiceDeploymentStatusInProgress:
		return false, w.stageLine(sd), nil
	}
	return false, "ECS service deployment " + string(sd.Status), nil
}

// stageLine describes a service deployment in progress: its lifecycle
// stage for the native strategies, its tasks for rolling updates.
func (w *watch) stageLine(sd *types.ServiceDeployment) string {
	target := sd.TargetServiceRevision
	var running, requested int32
	prod := ""
	if target != nil {
		running, requested = target.RunningTaskCount, target.RequestedTaskCount
		if p := target.RequestedProductionTrafficWeight; p != nil {
			prod = fmt.Sprintf("production traffic %g %%", *p)
		}
	}
	switch sd.LifecycleStage {
	case "":
		return fmt.Sprintf("rollout %d/%d tasks running", running, requested)
	case types.ServiceDeploymentLifecycleStageReconcileService:
		return "ECS is reconciling the service's revisions"
	case types.ServiceDeploymentLifecycleStagePreScaleUp:
		return "preparing the new revision (green)"
	case types.ServiceDeploymentLifecycleStageScaleUp:
		return fmt.Sprintf("green scaling up: %d/%d tasks running", running, requested)
	case types.ServiceDeploymentLifecycleStagePostScaleUp:
		return "green running, no traffic yet"
	case types.ServiceDeploymentLifecycleStageTestTrafficShift:
		return "shifting test traffic to green"
	case types.ServiceDeploymentLifecycleStagePostTestTrafficShift:
		return "test traffic shifted"
	case "PRE_PRODUCTION_TRAFFIC_SHIFT":
		return "about to shift production traffic"
	case types.ServiceDeploymentLifecycleStageProductionTrafficShift:
		return orDefault(prod, "shifting production traffic")
	case types.ServiceDeploymentLifecycleStagePostProductionTrafficShift:
		return "production traffic shifted"
	case types.ServiceDeploymentLifecycleStageBakeTime:
		return bakeLine(sd)
	case types.ServiceDeploymentLifecycleStageCleanUp:
		return "bake time over, scaling down the old revision (blue)"
	}
	return "ECS deployment stage " + string(sd.LifecycleStage)
}

// bakeLine names the bake time and when it ends. ECS does not say when
// the stage began; the service deployment's updatedAt is the stage change.
func bakeLine(sd *types.ServiceDeployment) string {
	var minutes int32
	if c := sd.DeploymentConfiguration; c != nil && c.BakeTimeInMinutes != nil {
		minutes = *c.BakeTimeInMinutes
	}
	line := fmt.Sprintf("bake time %d min", minutes)
	if at := sd.UpdatedAt; at != nil {
		line += ", ends " + at.Add(time.Duration(minutes)*time.Minute).UTC().Format("15:04 UTC")
	}
	return line
}

// failureCause names why ECS rolled back or is rolling back: the alarm
// that went off, the circuit breaker, or ECS's own reason.
func failureCause(sd *types.ServiceDeployment) string {
	if a := sd.Alarms; a != nil && a.Status == types.ServiceDeploymentRollbackMonitorsStatusTriggered {
		if len(a.TriggeredAlarmNames) > 0 {
			return "CloudWatch alarm " + strings.Join(a.TriggeredAlarmNames, ", ") + " went off"
		}
		return "a CloudWatch alarm went off"
	}
	if cb := sd.DeploymentCircuitBreaker; cb != nil && cb.Status == types.ServiceDeploymentRollbackMonitorsStatusTriggered {
		return fmt.Sprintf("the deployment circuit breaker tripped (%d tasks failed to start)", cb.FailureCount)
	}
	reason := aws.ToString(sd.StatusReason)
	if r := sd.Rollback; r != nil && aws.ToString(r.Reason) != "" {
		reason = aws.ToString(r.Reason)
	}
	// The reason is quoted inside a sentence of ours.
	return orDefault(strings.TrimRight(reason, ". "), "ECS gave no reason")
}

// failure adds to a rollback what the service runs now.
func (dp *Deployer) failure(ctx context.Context, client *ecs.Client, t *bot.ECSTarget, err error) error {
	svc, derr := dp.describeService(ctx, client, t)
	if derr != nil {
		return err
	}
	var be *bot.Error
	if errors.As(err, &be) {
		return bot.Errorf(be.Code, "%s. The service runs %s.", be.Message, shortTaskDef(aws.ToString(svc.TaskDefinition)))
	}
	return err
}

// confirm checks, after ECS called the service deployment SUCCESSFUL,
// that the service still runs our revision: a later deploy by someone
// else makes ours history, not what runs. An unanswered read is asked
// again: the verdict is in, only its confirmation is missing.
func (dp *Deployer) confirm(ctx context.Context, client *ecs.Client, t *bot.ECSTarget, w *watch, progress func(string)) error {
	interval := dp.pollInitial
	for {
		svc, err := dp.describeService(ctx, client, t)
		if err == nil {
			if now := aws.ToString(svc.TaskDefinition); now != w.taskDef {
				return bot.Errorf(bot.ECONFLICT, "ECS finished the deployment of %s, but the service now runs %s (another deploy replaced ours)", shortTaskDef(w.taskDef), shortTaskDef(now))
			}
			return nil
		}
		if ctx.Err() != nil || !awsenv.Transient(err) {
			return err
		}
		if line := awsenv.UnansweredPoll(err); line != w.last {
			w.last = line
			progress(line)
		}
		if err := awsenv.Sleep(ctx, interval); err != nil {
			return err
		}
		interval = min(interval*2, dp.pollMax)
	}
}
