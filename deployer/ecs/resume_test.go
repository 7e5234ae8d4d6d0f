package ecs_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/deploybot/deploybot/bot"
)

const otherImage = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web@sha256:3333333333333333333333333333333333333333333333333333333333333333"

// attempt is one Deploy call and what its hooks heard.
type attempt struct {
	checkpoints []string
	lines       []string
	rollout     bot.Rollout
	err         error
	calls       []string // service.Op of every AWS call it made
}

// run deploys image for d with hooks that record what they hear. stop, if
// set, is asked after each progress line and each checkpoint whether the
// process dies there: the context is cancelled and a checkpoint returns an
// error, as it would with a store that went away with the process.
func (f *fixture) run(t *testing.T, d *bot.Deployment, image string, stop func(event string) bool) *attempt {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if stop == nil {
		stop = func(string) bool { return false }
	}
	a := &attempt{}
	before := len(f.emu.Calls())
	a.rollout, a.err = f.deployer.Deploy(ctx, d, prodEnv(), image, bot.RolloutHooks{
		Progress: func(line string) {
			a.lines = append(a.lines, line)
			if stop("progress " + line) {
				cancel()
			}
		},
		Checkpoint: func(ref string) error {
			a.checkpoints = append(a.checkpoints, ref)
			if stop("checkpoint " + ref) {
				cancel()
				return errors.New("process killed")
			}
			return nil
		},
	})
	for _, c := range f.emu.Calls()[before:] {
		a.calls = append(a.calls, c.Service+"."+c.Op)
	}
	return a
}

// onlyReads fails the test if a made a call that changes anything.
func onlyReads(t *testing.T, a *attempt) {
	t.Helper()
	for _, c := range a.calls {
		if _, op, _ := strings.Cut(c, "."); !strings.HasPrefix(op, "Describe") && !strings.HasPrefix(op, "List") {
			t.Errorf("resumed deploy called %s; want only Describe and List calls, got %q", c, a.calls)
		}
	}
}

// pollUntil advances the emulator, whose clock is DescribeServices, until
// done holds for the service; a bounded number of polls keeps a broken
// emulator from hanging the test.
func (f *fixture) pollUntil(t *testing.T, what string, done func(types.Service) bool) {
	t.Helper()
	for range 50 {
		out, err := f.client.DescribeServices(context.Background(), &awsecs.DescribeServicesInput{
			Cluster: aws.String("prod"), Services: []string{"web"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if done(out.Services[0]) {
			return
		}
	}
	t.Fatalf("the service never reached %s", what)
}

func deploymentsOf(svc types.Service, taskDef string) []types.Deployment {
	var out []types.Deployment
	for _, dep := range svc.Deployments {
		if aws.ToString(dep.TaskDefinition) == taskDef {
			out = append(out, dep)
		}
	}
	return out
}

func stopAt(prefix string) func(string) bool {
	return func(event string) bool { return strings.HasPrefix(event, prefix) }
}

// A process killed during the wait leaves the rollout running; its
// successor, whatever the rollout did meanwhile, waits for it to end and
// never registers or updates again.
func TestResumeAfterUpdate(t *testing.T) {
	for _, tc := range []struct {
		name     string
		meantime func(*testing.T, *fixture, string)
	}{
		{"mid-rollout", func(*testing.T, *fixture, string) {}},
		{"rollout completed unwatched", func(t *testing.T, f *fixture, ours string) {
			f.pollUntil(t, "a completed rollout", func(svc types.Service) bool {
				return len(svc.Deployments) == 1 && aws.ToString(svc.Deployments[0].TaskDefinition) == ours &&
					svc.Deployments[0].RolloutState == types.DeploymentRolloutStateCompleted
			})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t)
			f.emu.SetRolloutPolls(5)
			d := &bot.Deployment{ID: 7, App: "web", Env: "prod"}

			first := f.run(t, d, newImage, stopAt("progress rollout "))
			if !errors.Is(first.err, context.Canceled) {
				t.Fatalf("first attempt: %v, want it cancelled during the wait", first.err)
			}
			if len(first.checkpoints) != 1 {
				t.Fatalf("first attempt checkpointed %q, want one task definition", first.checkpoints)
			}
			ours := first.checkpoints[0]
			if arn, _ := f.emu.Service("prod", "web"); arn != ours {
				t.Fatalf("service runs %s after the first attempt, want %s", arn, ours)
			}
			tc.meantime(t, f, ours)

			d.RolloutRef, d.Attempts = ours, 2
			second := f.run(t, d, newImage, nil)
			if second.err != nil {
				t.Fatalf("resumed Deploy: %v", second.err)
			}
			if want := "task definition " + ours[strings.LastIndex(ours, "/")+1:]; second.rollout.Detail != want {
				t.Errorf("Detail = %q, want %q", second.rollout.Detail, want)
			}
			if len(second.checkpoints) != 0 {
				t.Errorf("resumed deploy checkpointed %q", second.checkpoints)
			}
			onlyReads(t, second)
			if slices.Contains(second.calls, "ecs.DescribeTaskDefinition") {
				t.Errorf("resumed deploy described a task definition though the service runs ours: %q", second.calls)
			}
			for op, want := range map[string]int{"RegisterTaskDefinition": 1, "UpdateService": 1} {
				if n := f.emu.CallCount(op); n != want {
					t.Errorf("%s called %d times overall, want %d", op, n, want)
				}
			}
			f.pollUntil(t, "our rollout completed", func(svc types.Service) bool {
				return len(svc.Deployments) == 1 && aws.ToString(svc.TaskDefinition) == ours &&
					svc.Deployments[0].RolloutState == types.DeploymentRolloutStateCompleted
			})
		})
	}
}

// A process killed right after its checkpoint was written, before
// UpdateService: its successor updates the service to the recorded
// revision instead of registering another.
func TestResumeAfterRegister(t *testing.T) {
	f := setup(t)
	d := &bot.Deployment{ID: 7, App: "web", Env: "prod"}

	first := f.run(t, d, newImage, stopAt("checkpoint "))
	if first.err == nil || len(first.checkpoints) != 1 {
		t.Fatalf("first attempt: err %v, checkpoints %q; want it killed at its one checkpoint", first.err, first.checkpoints)
	}
	if n := f.emu.CallCount("UpdateService"); n != 0 {
		t.Fatalf("UpdateService called %d times by an attempt killed at its checkpoint", n)
	}
	ours := first.checkpoints[0]

	d.RolloutRef, d.Attempts = ours, 2
	second := f.run(t, d, newImage, nil)
	if second.err != nil {
		t.Fatalf("resumed Deploy: %v", second.err)
	}
	if len(second.checkpoints) != 0 {
		t.Errorf("resumed deploy checkpointed %q", second.checkpoints)
	}
	if arn, _ := f.emu.Service("prod", "web"); arn != ours {
		t.Errorf("service runs %s, want the recorded %s", arn, ours)
	}
	for op, want := range map[string]int{"RegisterTaskDefinition": 1, "UpdateService": 1} {
		if n := f.emu.CallCount(op); n != want {
			t.Errorf("%s called %d times overall, want %d", op, n, want)
		}
	}
}

// A recorded revision that runs another image is not this deploy's: the
// resumed deploy registers its own and records that instead.
func TestResumeWithForeignRevision(t *testing.T) {
	f := setup(t)
	d := &bot.Deployment{ID: 7, App: "web", Env: "prod"}
	first := f.run(t, d, otherImage, stopAt("checkpoint "))
	if len(first.checkpoints) != 1 {
		t.Fatalf("first attempt checkpointed %q", first.checkpoints)
	}

	d.RolloutRef = first.checkpoints[0]
	second := f.run(t, d, newImage, nil)
	if second.err != nil {
		t.Fatalf("resumed Deploy: %v", second.err)
	}
	if len(second.checkpoints) != 1 || second.checkpoints[0] == d.RolloutRef {
		t.Fatalf("resumed deploy checkpointed %q, want one new revision", second.checkpoints)
	}
	arn, _ := f.emu.Service("prod", "web")
	if arn != second.checkpoints[0] || f.emu.TaskDefinitionImage(arn, "app") != newImage {
		t.Errorf("service runs %s (image %s), want %s with %s", arn, f.emu.TaskDefinitionImage(arn, "app"), second.checkpoints[0], newImage)
	}
	if n := f.emu.CallCount("UpdateService"); n != 1 {
		t.Errorf("UpdateService called %d times, want 1", n)
	}
}

// A rollout the circuit breaker rolled back while no process watched is a
// failure for the resumed deploy, which must not update the service to the
// refused revision again.
func TestResumeAfterUnwatchedFailure(t *testing.T) {
	for _, tc := range []struct {
		name string
		done func(ours string) func(types.Service) bool
	}{
		{"failed deployment still listed", func(ours string) func(types.Service) bool {
			return func(svc types.Service) bool {
				deps := deploymentsOf(svc, ours)
				return len(deps) == 1 && deps[0].RolloutState == types.DeploymentRolloutStateFailed
			}
		}},
		{"failed deployment drained", func(ours string) func(types.Service) bool {
			return func(svc types.Service) bool {
				return len(svc.Deployments) == 1 && len(deploymentsOf(svc, ours)) == 0
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t)
			f.emu.SetRolloutPolls(3)
			f.emu.FailRollouts("prod", "web", true)
			d := &bot.Deployment{ID: 7, App: "web", Env: "prod"}

			first := f.run(t, d, newImage, stopAt("progress rollout "))
			if !errors.Is(first.err, context.Canceled) || len(first.checkpoints) != 1 {
				t.Fatalf("first attempt: err %v, checkpoints %q; want it cancelled during the wait", first.err, first.checkpoints)
			}
			ours := first.checkpoints[0]
			f.pollUntil(t, tc.name, tc.done(ours))

			d.RolloutRef, d.Attempts = ours, 2
			second := f.run(t, d, newImage, nil)
			if bot.ErrorCode(second.err) != bot.ECONFLICT {
				t.Fatalf("resumed Deploy: %v, want an ECONFLICT failure", second.err)
			}
			msg := bot.ErrorMessage(second.err)
			for _, want := range []string{"ECS rollout of web:2 failed", "tasks failed to start", "web:1"} {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q does not contain %q", msg, want)
				}
			}
			onlyReads(t, second)
			if len(second.checkpoints) != 0 {
				t.Errorf("resumed deploy checkpointed %q", second.checkpoints)
			}
			if arn, _ := f.emu.Service("prod", "web"); arn != f.oldARN {
				t.Errorf("service runs %s, want the old %s", arn, f.oldARN)
			}
		})
	}
}

func TestCheckpointErrorStopsBeforeUpdate(t *testing.T) {
	f := setup(t)
	stored := errors.New("store unavailable")
	_, err := f.deployer.Deploy(context.Background(), &bot.Deployment{ID: 7}, prodEnv(), newImage, bot.RolloutHooks{
		Checkpoint: func(string) error { return stored },
	})
	if !errors.Is(err, stored) {
		t.Errorf("got %v, want the checkpoint's error", err)
	}
	if n := f.emu.CallCount("UpdateService"); n != 0 {
		t.Errorf("UpdateService called %d times after a failed checkpoint", n)
	}
	if arn, _ := f.emu.Service("prod", "web"); arn != f.oldARN {
		t.Errorf("service runs %s, want the old %s", arn, f.oldARN)
	}
}

// Without hooks a deploy still works: a nil Checkpoint records nothing.
func TestNoHooks(t *testing.T) {
	f := setup(t)
	if _, err := f.deployer.Deploy(context.Background(), &bot.Deployment{ID: 7}, prodEnv(), newImage, bot.RolloutHooks{}); err != nil {
		t.Fatalf("Deploy: %v", err)
	}
}

// A process that registered a revision but died before recording it (its
// checkpoint failed) leaves a revision tagged with the deployment; the next
// attempt, knowing nothing of it, deploys that revision instead of
// registering another.
func TestLostCheckpointReusesTaggedRevision(t *testing.T) {
	f := setup(t)
	d := &bot.Deployment{ID: 7}
	_, err := f.deployer.Deploy(context.Background(), d, prodEnv(), newImage, bot.RolloutHooks{
		Checkpoint: func(string) error { return errors.New("lease lost") },
	})
	if err == nil {
		t.Fatal("the first attempt went on without its checkpoint")
	}
	var recorded string
	if _, err := f.deployer.Deploy(context.Background(), d, prodEnv(), newImage, bot.RolloutHooks{
		Checkpoint: func(ref string) error { recorded = ref; return nil },
	}); err != nil {
		t.Fatalf("second attempt: %v", err)
	}
	if n := f.emu.CallCount("RegisterTaskDefinition"); n != 1 {
		t.Errorf("RegisterTaskDefinition called %d times, want 1", n)
	}
	if arn, _ := f.emu.Service("prod", "web"); arn != recorded || f.emu.TaskDefinitionImage(arn, "app") != newImage {
		t.Errorf("service on %s (image %s), recorded %s", arn, f.emu.TaskDefinitionImage(arn, "app"), recorded)
	}

	// Another deployment of the same image gets a revision of its own.
	if _, err := f.deployer.Deploy(context.Background(), &bot.Deployment{ID: 8}, prodEnv(), newImage, bot.RolloutHooks{}); err != nil {
		t.Fatal(err)
	}
	if n := f.emu.CallCount("RegisterTaskDefinition"); n != 2 {
		t.Errorf("RegisterTaskDefinition called %d times after a second deployment, want 2", n)
	}
}
