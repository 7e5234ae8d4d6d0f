package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/emulator/awsemu"
	"github.com/deploybot/deploybot/emulator/faults"
)

// End-to-end tests of deployment strategies (#16): ECS's own verdict and
// its native blue/green, and Elastic Beanstalk blue/green by CNAME swap,
// through the real bot, the real SDK clients and the emulators.

func timeline(t *testing.T, sb *sandbox, id int64) []string {
	t.Helper()
	events, err := sb.bot.store.Events(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, e := range events {
		lines = append(lines, e.Message)
	}
	return lines
}

func containsLine(lines []string, part string) int {
	n := 0
	for _, l := range lines {
		if strings.Contains(l, part) {
			n++
		}
	}
	return n
}

// waitBakePolls returns once the bot has read the service deployment n
// times during its bake time: the signal that it looked, and went on
// waiting.
func waitBakePolls(t *testing.T, sb *sandbox, cluster string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for sb.aws.BakePolls(cluster, sandboxService) < n {
		if time.Now().After(deadline) {
			t.Fatalf("the bot did not poll the service deployment %d times in bake time", n)
		}
		<-time.After(2 * time.Millisecond)
	}
}

func TestECSBlueGreenSucceedsOnlyAfterBakeTime(t *testing.T) {
	sb := newTestSandbox(t)
	ctx := context.Background()
	sb.aws.SetStrategy(sandboxCluster, sandboxService, awsemu.Strategy{Kind: "BLUE_GREEN", BakeTime: 5 * time.Minute})
	sha := sb.commit("blue/green good", "main", "success", true)
	id, err := sb.slashAccepted(ctx, "takumi-server "+sha[:7]+" dev")
	if err != nil {
		t.Fatal(err)
	}
	waitBakePolls(t, sb, sandboxCluster, 3)
	select {
	case <-sb.done(id):
		d, _ := sb.bot.store.Deployment(ctx, id)
		t.Fatalf("deployment ended %s during the bake time: %s", d.State, d.Reason)
	default:
	}
	for _, st := range sb.github.Statuses(sandboxRepo, mustDeployment(t, sb, id).GitHubDeploymentID) {
		if st.State == "success" {
			t.Fatal("success reported during the bake time")
		}
	}

	sb.aws.AdvanceClock(5 * time.Minute)
	d, err := sb.wait(ctx, id)
	if err != nil || d.State != bot.StateSucceeded {
		t.Fatalf("after the bake time: %v, %s %s", err, d.State, d.Reason)
	}
	lines := timeline(t, sb, id)
	for _, want := range []string{"green scaling up", "test traffic shifted", "production traffic 100 %", "bake time 5 min, ends ", "scaling down the old revision"} {
		if containsLine(lines, want) == 0 {
			t.Errorf("timeline has no %q: %q", want, lines)
		}
	}
}

func TestECSAlarmRollbackIsFailureNamingTheAlarm(t *testing.T) {
	sb := newTestSandbox(t)
	ctx := context.Background()
	sb.aws.SetStrategy(sandboxCluster, sandboxService, awsemu.Strategy{Kind: "BLUE_GREEN", BakeTime: 5 * time.Minute, Alarms: []string{"takumi-api-5xx"}})
	before, _ := sb.aws.Service(sandboxCluster, sandboxService)
	sha := sb.commit("blue/green alarm", "main", "success", true)
	id, err := sb.slashAccepted(ctx, "takumi-server "+sha[:7]+" dev")
	if err != nil {
		t.Fatal(err)
	}
	waitBakePolls(t, sb, sandboxCluster, 1)
	if now, _ := sb.aws.Service(sandboxCluster, sandboxService); now == before {
		t.Fatal("in bake time the new revision is not PRIMARY")
	}
	sb.aws.TriggerAlarm(sandboxCluster, sandboxService, "takumi-api-5xx")
	d, err := sb.wait(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if d.State != bot.StateFailed || !strings.Contains(d.Reason, "CloudWatch alarm takumi-api-5xx went off") {
		t.Fatalf("deployment %s: %q, want failed naming the alarm", d.State, d.Reason)
	}
	if now, _ := sb.aws.Service(sandboxCluster, sandboxService); now != before {
		t.Errorf("the service runs %s after the rollback, want %s", now, before)
	}
	for _, st := range sb.github.Statuses(sandboxRepo, d.GitHubDeploymentID) {
		if st.State == "success" {
			t.Error("success reported for a rolled-back deployment")
		}
	}
}

// A role without the service deployments API still deploys, and still
// tells a failed rollout from a good one, from DescribeServices.
func TestECSServiceDeploymentsRefusedFallsBack(t *testing.T) {
	for _, failing := range []bool{false, true} {
		sb := newTestSandbox(t)
		sb.aws.Inject(faults.Rule{Match: awsemu.Op("ecs.ListServiceDeployments"), Respond: awsemu.AccessDenied})
		sb.aws.FailRollouts(sandboxCluster, sandboxService, failing)
		sha := sb.commit("refused API", "main", "success", true)
		d := slashDeploy(t, sb, "takumi-server "+sha[:7]+" dev")
		switch {
		case failing && (d.State != bot.StateFailed || !strings.Contains(d.Reason, "circuit breaker")):
			t.Errorf("failing rollout: %s %q, want failed by the circuit breaker", d.State, d.Reason)
		case !failing && d.State != bot.StateSucceeded:
			t.Errorf("good rollout: %s %q", d.State, d.Reason)
		}
		if n := containsLine(timeline(t, sb, d.ID), "ECS service deployments API refused (AccessDeniedException); judging the rollout from DescribeServices"); n != 1 {
			t.Errorf("failing=%v: the fallback is in the timeline %d times, want once", failing, n)
		}
	}
}

// rolloutPolls counts the reads that move the emulator's ECS rollouts on:
// DescribeServiceDeployments since the bot follows ECS's own verdict, and
// DescribeServices, its fallback and confirmation.
func rolloutPolls(aws *awsemu.Server) int {
	return aws.CallCount("DescribeServices") + aws.CallCount("DescribeServiceDeployments")
}

func mustDeployment(t *testing.T, sb *sandbox, id int64) *bot.Deployment {
	t.Helper()
	d, err := sb.bot.store.Deployment(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

const (
	blueEnv   = "takumi-blue"
	greenEnv  = "takumi-green"
	liveCNAME = "takumi.us-east-1.elasticbeanstalk.com"
)

// newBlueGreenSandbox is the sandbox with environment "live" of
// takumi-server: Elastic Beanstalk blue/green over takumi-blue (live) and
// takumi-green.
func newBlueGreenSandbox(t *testing.T) *sandbox {
	t.Helper()
	sb, err := newSandbox(context.Background(), "127.0.0.1:0", io.Discard, func(o *options) {
		o.sandboxConfig = func(c *bot.Config) {
			c.Apps[sandboxApp].Environments["live"] = &bot.Environment{
				Name: "live", App: sandboxApp, Timeout: bot.Duration(time.Minute),
				ElasticBeanstalk: &bot.EBTarget{
					Application: sandboxApp, Bucket: sandboxBucket, Dockerrun: bot.DockerrunV1, Ports: []int{8080},
					BlueGreen: &bot.EBBlueGreen{Environments: []string{blueEnv, greenEnv}, CNAMEPrefix: "takumi"},
				},
			}
		}
	})
	if err != nil {
		t.Fatalf("sandbox: %v", err)
	}
	t.Cleanup(sb.Close)
	sb.aws.AddEBEnvironment(sandboxApp, blueEnv, liveCNAME, "initial")
	sb.aws.AddEBEnvironment(sandboxApp, greenEnv, "takumi-green.us-east-1.elasticbeanstalk.com", "initial")
	return sb
}

func TestElasticBeanstalkBlueGreenSwapsAfterTheUpdate(t *testing.T) {
	sb := newBlueGreenSandbox(t)
	sha := sb.commit("eb blue/green good", "main", "success", true)
	d := slashDeploy(t, sb, "takumi-server "+sha[:7]+" live")
	if d.State != bot.StateSucceeded {
		t.Fatalf("deployment %s: %s", d.State, d.Reason)
	}
	green, _ := sb.aws.EBEnvironment(greenEnv)
	blue, _ := sb.aws.EBEnvironment(blueEnv)
	if green.CNAME != liveCNAME || !strings.Contains(green.VersionLabel, sha[:7]) || blue.VersionLabel != "initial" {
		t.Errorf("after the deploy green is %+v, blue %+v; want green live on %s, blue untouched", green, blue, sha[:7])
	}
	if n := sb.aws.CallCount("SwapEnvironmentCNAMEs"); n != 1 {
		t.Errorf("%d swaps, want 1", n)
	}
	st := sb.github.Statuses(sandboxRepo, d.GitHubDeploymentID)
	if last := st[len(st)-1]; last.State != "success" || last.EnvironmentURL != "http://"+liveCNAME {
		t.Errorf("final status %+v, want success on the live CNAME", last)
	}
	lines := timeline(t, sb, d.ID)
	for _, want := range []string{"takumi-blue is live, deploying to takumi-green", "swapping CNAMEs", "takumi-green is live on version"} {
		if containsLine(lines, want) == 0 {
			t.Errorf("timeline has no %q: %q", want, lines)
		}
	}
}

func TestElasticBeanstalkBlueGreenFailureDoesNotSwap(t *testing.T) {
	sb := newBlueGreenSandbox(t)
	sb.aws.FailEBUpdates(greenEnv, true)
	sha := sb.commit("eb blue/green broken", "main", "success", true)
	d := slashDeploy(t, sb, "takumi-server "+sha[:7]+" live")
	if d.State != bot.StateFailed || !strings.Contains(d.Reason, "no CNAME swap") {
		t.Fatalf("deployment %s: %q, want failed with no swap", d.State, d.Reason)
	}
	if n := sb.aws.CallCount("SwapEnvironmentCNAMEs"); n != 0 {
		t.Errorf("%d swaps after a failed update", n)
	}
	if blue, _ := sb.aws.EBEnvironment(blueEnv); blue.CNAME != liveCNAME || blue.VersionLabel != "initial" {
		t.Errorf("blue is %+v, want live and untouched", blue)
	}
}

func TestElasticBeanstalkBlueGreenRollbackSwapsBack(t *testing.T) {
	sb := newBlueGreenSandbox(t)
	first := sb.commit("eb blue/green one", "main", "success", true)
	second := sb.commit("eb blue/green two", "release", "success", true)
	for _, sha := range []string{first, second} {
		if d := slashDeploy(t, sb, "takumi-server "+sha[:7]+" live"); d.State != bot.StateSucceeded {
			t.Fatalf("deploy of %s: %s %s", sha[:7], d.State, d.Reason)
		}
	}
	updates := sb.aws.CallCount("UpdateEnvironment")
	d := slashDeploy(t, sb, "rollback takumi-server live")
	if d.State != bot.StateSucceeded || d.SHA != first {
		t.Fatalf("rollback %s on %s: %s", d.State, d.ShortSHA(), d.Reason)
	}
	if n := sb.aws.CallCount("UpdateEnvironment"); n != updates {
		t.Errorf("the rollback updated an environment %d times; want a swap only", n-updates)
	}
	if green, _ := sb.aws.EBEnvironment(greenEnv); green.CNAME != liveCNAME || !strings.Contains(green.VersionLabel, first[:7]) {
		t.Errorf("after the rollback green is %+v, want live on %s", green, first[:7])
	}
	if containsLine(timeline(t, sb, d.ID), "swapping back, no redeploy") != 1 {
		t.Errorf("the timeline does not say it swapped back: %q", timeline(t, sb, d.ID))
	}
}
