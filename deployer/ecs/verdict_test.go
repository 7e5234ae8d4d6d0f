package ecs_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/emulator/awsemu"
	"github.com/deploybot/deploybot/emulator/faults"
)

type result struct {
	rollout bot.Rollout
	err     error
}

// deployAsync runs a deploy whose progress lines arrive on lines, and
// whose end arrives on done.
func (f *fixture) deployAsync(t *testing.T) (lines <-chan string, done <-chan result) {
	t.Helper()
	l, d := make(chan string, 100), make(chan result, 1)
	go func() {
		r, err := f.deployer.Deploy(context.Background(), &bot.Deployment{ID: 7, App: "web", Env: "prod"}, prodEnv(), newImage,
			bot.RolloutHooks{Progress: func(line string) { l <- line }})
		close(l)
		d <- result{r, err}
	}()
	return l, d
}

// waitLine returns the lines up to and including the first containing
// want.
func waitLine(t *testing.T, lines <-chan string, want string) []string {
	t.Helper()
	var seen []string
	for line := range lines {
		seen = append(seen, line)
		if strings.Contains(line, want) {
			return seen
		}
	}
	t.Fatalf("no progress line contains %q; lines: %q", want, seen)
	return nil
}

func TestBlueGreenSucceedsOnlyAfterBakeTime(t *testing.T) {
	f := setup(t)
	f.emu.SetStrategy("prod", "web", awsemu.Strategy{Kind: "BLUE_GREEN", BakeTime: 5 * time.Minute})
	lines, done := f.deployAsync(t)

	seen := waitLine(t, lines, "bake time 5 min, ends ")
	for _, want := range []string{"green scaling up: 2/2 tasks running", "test traffic shifted", "production traffic 100 %", "production traffic shifted"} {
		if !slices.Contains(seen, want) {
			t.Errorf("no progress line %q before the bake time; lines: %q", want, seen)
		}
	}
	// Polls after the bake line was reported are the deployer looking
	// again and not calling it done.
	for deadline := time.Now().Add(30 * time.Second); f.emu.BakePolls("prod", "web") < 3; {
		if time.Now().After(deadline) {
			t.Fatalf("the deployer polled the service deployment %d times in bake time, want 3", f.emu.BakePolls("prod", "web"))
		}
		<-time.After(time.Millisecond)
	}
	select {
	case r := <-done:
		t.Fatalf("Deploy ended during the bake time: %+v", r)
	default:
	}
	f.emu.AdvanceClock(5 * time.Minute)
	for range lines {
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("Deploy after the bake time: %v", r.err)
	}
	if cur, _ := f.emu.Service("prod", "web"); cur == f.oldARN {
		t.Errorf("the service still runs %s", cur)
	}
}

func TestCanaryReportsEachShift(t *testing.T) {
	f := setup(t)
	f.emu.SetStrategy("prod", "web", awsemu.Strategy{Kind: "CANARY", CanaryPercent: 10, CanaryBakeTime: 10 * time.Minute})
	lines, done := f.deployAsync(t)
	waitLine(t, lines, "production traffic 10 %")
	f.emu.AdvanceClock(10 * time.Minute)
	waitLine(t, lines, "production traffic 100 %")
	for range lines {
	}
	if r := <-done; r.err != nil {
		t.Fatalf("Deploy: %v", r.err)
	}
}

func TestAlarmRollbackNamesTheAlarm(t *testing.T) {
	f := setup(t)
	f.emu.SetStrategy("prod", "web", awsemu.Strategy{Kind: "BLUE_GREEN", BakeTime: 5 * time.Minute, Alarms: []string{"web-5xx-rate"}})
	lines, done := f.deployAsync(t)
	waitLine(t, lines, "bake time")
	if cur, _ := f.emu.Service("prod", "web"); cur == f.oldARN {
		t.Fatal("in bake time the new revision is not PRIMARY")
	}
	f.emu.TriggerAlarm("prod", "web", "web-5xx-rate")
	for range lines {
	}
	r := <-done
	if bot.ErrorCode(r.err) != bot.ECONFLICT {
		t.Fatalf("Deploy: %v, want an ECONFLICT failure", r.err)
	}
	msg := bot.ErrorMessage(r.err)
	for _, want := range []string{"web:2 failed", "CloudWatch alarm web-5xx-rate went off", "rolled it back", "runs web:1"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not contain %q", msg, want)
		}
	}
}

func TestStoppedDeploymentIsAFailure(t *testing.T) {
	f := setup(t)
	f.emu.SetStrategy("prod", "web", awsemu.Strategy{NoRollback: true})
	f.emu.FailRollouts("prod", "web", true)
	_, lines, err := f.deploy(t, prodEnv())
	msg := bot.ErrorMessage(err)
	if bot.ErrorCode(err) != bot.ECONFLICT || !strings.Contains(msg, "ECS rollout of web:2 was stopped: the deployment circuit breaker tripped") || !strings.Contains(msg, "did not roll it back") {
		t.Fatalf("Deploy: %v, want a failure saying the circuit breaker stopped it", err)
	}
	if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, "ECS is stopping the deployment of web:2") }) {
		t.Errorf("no progress line for STOP_REQUESTED: %q", lines)
	}
}

// A person stopping the deployment with a rollback is a failure too.
func TestManualRollbackIsAFailure(t *testing.T) {
	f := setup(t)
	f.emu.SetRolloutPolls(1000)
	lines, done := f.deployAsync(t)
	waitLine(t, lines, "tasks running")
	list, err := f.client.ListServiceDeployments(context.Background(), &awsecs.ListServiceDeploymentsInput{
		Cluster: aws.String("prod"), Service: aws.String("web"), Status: []types.ServiceDeploymentStatus{types.ServiceDeploymentStatusInProgress},
	})
	if err != nil || len(list.ServiceDeployments) != 1 {
		t.Fatalf("ListServiceDeployments IN_PROGRESS: %+v, %v", list, err)
	}
	if _, err := f.client.StopServiceDeployment(context.Background(), &awsecs.StopServiceDeploymentInput{
		ServiceDeploymentArn: list.ServiceDeployments[0].ServiceDeploymentArn, StopType: types.StopServiceDeploymentStopTypeRollback,
	}); err != nil {
		t.Fatal(err)
	}
	for range lines {
	}
	r := <-done
	if msg := bot.ErrorMessage(r.err); bot.ErrorCode(r.err) != bot.ECONFLICT || !strings.Contains(msg, "ECS rollout of web:2 failed") || !strings.Contains(msg, "StopServiceDeployment") {
		t.Fatalf("Deploy: %v, want a failure naming the stop", r.err)
	}
	if cur, _ := f.emu.Service("prod", "web"); cur != f.oldARN {
		t.Errorf("the service runs %s, want %s back", cur, f.oldARN)
	}
}

// Without the service deployments API (a role that predates it), the
// deployer says so once and still tells success from failure.
func TestServiceDeploymentsRefusedFallsBack(t *testing.T) {
	for _, failing := range []bool{false, true} {
		f := setup(t)
		f.emu.SetRolloutPolls(3)
		f.emu.FailRollouts("prod", "web", failing)
		f.emu.Inject(faults.Rule{Match: awsemu.Op("ecs.ListServiceDeployments"), Respond: awsemu.AccessDenied})
		_, lines, err := f.deploy(t, prodEnv())
		if failing {
			if bot.ErrorCode(err) != bot.ECONFLICT || !strings.Contains(bot.ErrorMessage(err), "ECS rollout of web:2 failed") {
				t.Errorf("failing rollout: %v, want its failure", err)
			}
		} else if err != nil {
			t.Errorf("good rollout: %v", err)
		}
		n := 0
		for _, l := range lines {
			if strings.Contains(l, "ECS service deployments API refused (AccessDeniedException); judging the rollout from DescribeServices") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("failing=%v: %d fallback lines, want 1; lines %q", failing, n, lines)
		}
	}
}

// ListServiceDeployments failing to answer once is no verdict and no
// reason to give up ECS's own: the deployer asks again.
func TestUnansweredListIsAskedAgain(t *testing.T) {
	f := setup(t)
	f.emu.SetStrategy("prod", "web", awsemu.Strategy{Kind: "BLUE_GREEN"})
	f.emu.Inject(faults.Rule{Match: awsemu.Op("ecs.ListServiceDeployments"), Times: 3, Respond: awsemu.Unavailable})
	_, lines, err := f.deploy(t, prodEnv())
	if err != nil {
		t.Fatalf("Deploy: %v", err)
	}
	if slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, "judging the rollout from DescribeServices") }) {
		t.Errorf("fell back after one unanswered list: %q", lines)
	}
	if !slices.Contains(lines, "test traffic shifted") {
		t.Errorf("no blue/green stages followed: %q", lines)
	}
}

// The DescribeServices that confirms a SUCCESSFUL service deployment may
// go unanswered; it is asked again, not taken as a failure.
func TestUnansweredConfirmationIsAskedAgain(t *testing.T) {
	f := setup(t)
	f.emu.SetRolloutPolls(1)
	describe := awsemu.Op("ecs.DescribeServices")
	f.emu.Inject(faults.Rule{Match: func(r *http.Request) bool {
		return describe(r) && f.emu.CallCount("ecs.UpdateService") > 0
	}, Times: 4, Respond: awsemu.Unavailable})
	_, lines, err := f.deploy(t, prodEnv())
	if err != nil {
		t.Fatalf("Deploy: %v", err)
	}
	if !slices.ContainsFunc(lines, func(l string) bool {
		return strings.HasPrefix(l, "AWS did not answer the last poll (AWS ECS DescribeServices failed")
	}) {
		t.Errorf("no line about the unanswered read: %q", lines)
	}
}
