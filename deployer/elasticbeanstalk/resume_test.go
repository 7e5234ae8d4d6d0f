package elasticbeanstalk_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awseb "github.com/aws/aws-sdk-go-v2/service/elasticbeanstalk"
	"github.com/aws/aws-sdk-go-v2/service/elasticbeanstalk/types"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/emulator/awsemu"
)

// attempt is one Deploy call and what its hooks heard.
type attempt struct {
	checkpoints []string
	lines       []string
	rollout     bot.Rollout
	err         error
	calls       []string // service.Op of every AWS call it made
}

// run deploys newImage for d with hooks that record what they hear. stop,
// if set, is asked after each progress line and each checkpoint whether the
// process dies there: the context is cancelled and a checkpoint returns an
// error, as it would with a store that went away with the process.
func (f *fixture) run(t *testing.T, d *bot.Deployment, env *bot.Environment, stop func(event string) bool) *attempt {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if stop == nil {
		stop = func(string) bool { return false }
	}
	a := &attempt{}
	before := len(f.emu.Calls())
	a.rollout, a.err = f.deployer.Deploy(ctx, d, env, newImage, bot.RolloutHooks{
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

func stopAt(prefix string) func(string) bool {
	return func(event string) bool { return strings.HasPrefix(event, prefix) }
}

// onlyReads fails the test if a wrote to S3 or changed Elastic Beanstalk.
func onlyReads(t *testing.T, a *attempt) {
	t.Helper()
	for _, c := range a.calls {
		switch c {
		case "s3.PutObject", "elasticbeanstalk.CreateApplicationVersion", "elasticbeanstalk.UpdateEnvironment":
			t.Errorf("resumed deploy called %s; got %q", c, a.calls)
		}
	}
}

func (f *fixture) counts(t *testing.T, want map[string]int) {
	t.Helper()
	for op, n := range want {
		if got := f.emu.CallCount(op); got != n {
			t.Errorf("%s called %d times overall, want %d", op, got, n)
		}
	}
}

// pollUntilReady advances the emulator, whose clock is
// DescribeEnvironments, until the environment is Ready; a bounded number
// of polls keeps a broken emulator from hanging the test.
func (f *fixture) pollUntilReady(t *testing.T) types.EnvironmentDescription {
	t.Helper()
	client := awseb.NewFromConfig(f.cfg)
	for range 50 {
		out, err := client.DescribeEnvironments(context.Background(), &awseb.DescribeEnvironmentsInput{
			EnvironmentNames: []string{"web-prod"}, IncludeDeleted: aws.Bool(false),
		})
		if err != nil {
			t.Fatal(err)
		}
		if env := out.Environments[0]; env.Status == types.EnvironmentStatusReady {
			return env
		}
	}
	t.Fatal("the environment never became Ready")
	return types.EnvironmentDescription{}
}

func resumable() *bot.Deployment {
	d := deployment()
	// What the store sets; the resumed wait reads EB's events from then.
	d.CreatedAt = time.Now()
	d.UpdatedAt = d.CreatedAt
	return d
}

// A process killed during the wait leaves the update running; its
// successor waits for it to end and writes nothing.
func TestResumeMidUpdate(t *testing.T) {
	f := setup(t, nil)
	f.emu.SetEBUpdatePolls(5)
	d := resumable()

	first := f.run(t, d, prodEnv(), stopAt("progress environment Updating"))
	if !errors.Is(first.err, context.Canceled) {
		t.Fatalf("first attempt: %v, want it cancelled during the wait", first.err)
	}
	if len(first.checkpoints) != 1 || first.checkpoints[0] != label {
		t.Fatalf("first attempt checkpointed %q, want [%s]", first.checkpoints, label)
	}
	if env, _ := f.emu.EBEnvironment("web-prod"); env.Status != "Updating" {
		t.Fatalf("environment %s after the first attempt, want Updating", env.Status)
	}

	d.RolloutRef, d.Attempts = label, 2
	second := f.run(t, d, prodEnv(), nil)
	if second.err != nil {
		t.Fatalf("resumed Deploy: %v", second.err)
	}
	if want := (bot.Rollout{EnvironmentURL: "http://" + cname, Detail: "version " + label}); second.rollout != want {
		t.Errorf("rollout = %+v, want %+v", second.rollout, want)
	}
	if len(second.checkpoints) != 0 {
		t.Errorf("resumed deploy checkpointed %q", second.checkpoints)
	}
	onlyReads(t, second)
	f.counts(t, map[string]int{"PutObject": 1, "CreateApplicationVersion": 1, "UpdateEnvironment": 1})
	if env, _ := f.emu.EBEnvironment("web-prod"); env.VersionLabel != label || env.Status != "Ready" || env.Health != "Green" {
		t.Errorf("environment ends %+v, want Ready Green on %s", env, label)
	}
}

// A process killed right after its checkpoint was written, before
// UpdateEnvironment: its successor updates the environment to the
// recorded version, creating nothing.
func TestResumeAfterVersionCreated(t *testing.T) {
	f := setup(t, nil)
	d := resumable()

	first := f.run(t, d, prodEnv(), stopAt("checkpoint "))
	if first.err == nil || len(first.checkpoints) != 1 {
		t.Fatalf("first attempt: err %v, checkpoints %q; want it killed at its one checkpoint", first.err, first.checkpoints)
	}
	if n := f.emu.CallCount("UpdateEnvironment"); n != 0 {
		t.Fatalf("UpdateEnvironment called %d times by an attempt killed at its checkpoint", n)
	}

	d.RolloutRef, d.Attempts = first.checkpoints[0], 2
	second := f.run(t, d, prodEnv(), nil)
	if second.err != nil {
		t.Fatalf("resumed Deploy: %v", second.err)
	}
	if second.rollout.Detail != "version "+label {
		t.Errorf("Detail = %q, want version %s", second.rollout.Detail, label)
	}
	if len(second.checkpoints) != 0 {
		t.Errorf("resumed deploy checkpointed %q", second.checkpoints)
	}
	f.counts(t, map[string]int{"PutObject": 1, "CreateApplicationVersion": 1, "UpdateEnvironment": 1})
	if env, _ := f.emu.EBEnvironment("web-prod"); env.VersionLabel != label || env.Status != "Ready" {
		t.Errorf("environment ends %+v, want Ready on %s", env, label)
	}
}

// An update EB rolled back while no process watched is a failure for the
// resumed deploy, named with EB's errors, and the environment is not
// updated to the refused version again.
func TestResumeAfterUnwatchedFailure(t *testing.T) {
	f := setup(t, nil)
	f.emu.SetEBUpdatePolls(3)
	f.emu.FailEBUpdates("web-prod", true)
	d := resumable()

	first := f.run(t, d, prodEnv(), stopAt("progress environment Updating"))
	if !errors.Is(first.err, context.Canceled) || len(first.checkpoints) != 1 {
		t.Fatalf("first attempt: err %v, checkpoints %q; want it cancelled during the wait", first.err, first.checkpoints)
	}
	if env := f.pollUntilReady(t); aws.ToString(env.VersionLabel) != "v1" {
		t.Fatalf("environment Ready on %s, want EB's rollback to v1", aws.ToString(env.VersionLabel))
	}

	d.RolloutRef, d.Attempts = first.checkpoints[0], 2
	second := f.run(t, d, prodEnv(), nil)
	if bot.ErrorCode(second.err) != bot.ECONFLICT {
		t.Fatalf("resumed Deploy: %v, want an ECONFLICT failure", second.err)
	}
	msg := bot.ErrorMessage(second.err)
	for _, want := range []string{"rolled back by Elastic Beanstalk", "version " + label, "runs version v1", awsemu.EBEventInstanceFailed} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not contain %q", msg, want)
		}
	}
	onlyReads(t, second)
	f.counts(t, map[string]int{"UpdateEnvironment": 1})
	if env, _ := f.emu.EBEnvironment("web-prod"); env.VersionLabel != "v1" {
		t.Errorf("environment runs %s, want v1", env.VersionLabel)
	}
}

// Errors of another update in the resumed window are not ours: the
// request id of our update is found from the events naming our version.
func TestResumeIgnoresEarlierUpdatesErrors(t *testing.T) {
	f := setup(t, nil)
	f.emu.SetEBUpdatePolls(1)
	d := resumable()

	// Another deployment's update fails after d was created, while d waits
	// in the queue.
	f.emu.FailEBUpdates("web-prod", true)
	client := awseb.NewFromConfig(f.cfg)
	if _, err := client.UpdateEnvironment(context.Background(), &awseb.UpdateEnvironmentInput{EnvironmentName: aws.String("web-prod"), VersionLabel: aws.String("v1")}); err != nil {
		t.Fatal(err)
	}
	f.pollUntilReady(t)
	f.emu.FailEBUpdates("web-prod", false)
	f.emu.SetEBUpdatePolls(5)

	first := f.run(t, d, prodEnv(), stopAt("progress environment Updating"))
	if !errors.Is(first.err, context.Canceled) || len(first.checkpoints) != 1 {
		t.Fatalf("first attempt: err %v, checkpoints %q; want it cancelled during the wait", first.err, first.checkpoints)
	}
	d.RolloutRef = first.checkpoints[0]
	second := f.run(t, d, prodEnv(), nil)
	if second.err != nil {
		t.Fatalf("resumed Deploy: %v", second.err)
	}
	onlyReads(t, second)
}

func TestCheckpointErrorStopsBeforeUpdate(t *testing.T) {
	f := setup(t, nil)
	stored := errors.New("store unavailable")
	_, err := f.deployer.Deploy(context.Background(), deployment(), prodEnv(), newImage, bot.RolloutHooks{
		Checkpoint: func(string) error { return stored },
	})
	if !errors.Is(err, stored) {
		t.Errorf("got %v, want the checkpoint's error", err)
	}
	f.counts(t, map[string]int{"UpdateEnvironment": 0})
	if env, _ := f.emu.EBEnvironment("web-prod"); env.VersionLabel != "v1" {
		t.Errorf("environment runs %s, want v1", env.VersionLabel)
	}
}
