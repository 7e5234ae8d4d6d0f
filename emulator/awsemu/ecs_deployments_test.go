package awsemu_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/deploybot/deploybot/emulator/awsemu"
)

// newestServiceDeployment lists the service's deployments through the SDK
// and describes the newest, as a client following its own would.
func newestServiceDeployment(t *testing.T, ecsc *ecs.Client) ecstypes.ServiceDeployment {
	t.Helper()
	ctx := context.Background()
	list, err := ecsc.ListServiceDeployments(ctx, &ecs.ListServiceDeploymentsInput{Cluster: aws.String("prod"), Service: aws.String("web")})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.ServiceDeployments) == 0 {
		t.Fatal("ListServiceDeployments: none")
	}
	newest := slices.MaxFunc(list.ServiceDeployments, func(a, b ecstypes.ServiceDeploymentBrief) int {
		return aws.ToTime(a.CreatedAt).Compare(aws.ToTime(b.CreatedAt))
	})
	out, err := ecsc.DescribeServiceDeployments(ctx, &ecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{aws.ToString(newest.ServiceDeploymentArn)}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.ServiceDeployments) != 1 {
		t.Fatalf("DescribeServiceDeployments: %d, failures %+v", len(out.ServiceDeployments), out.Failures)
	}
	return out.ServiceDeployments[0]
}

func statusSequence(t *testing.T, ecsc *ecs.Client, n int) []string {
	t.Helper()
	var seen []string
	for range n {
		sd := newestServiceDeployment(t, ecsc)
		seen = append(seen, string(sd.Status))
	}
	return seen
}

func TestServiceDeploymentOfRollingUpdate(t *testing.T) {
	emu, _, ecsc := start(t, static)
	emu.AddService("prod", "web", webDef)
	emu.SetRolloutPolls(2)

	created := newestServiceDeployment(t, ecsc)
	if created.Status != ecstypes.ServiceDeploymentStatusSuccessful {
		t.Errorf("the service's creation: %s, want SUCCESSFUL", created.Status)
	}
	arn := deployTo(t, emu, ecsc, "example/web:new")
	list, err := ecsc.ListServiceDeployments(context.Background(), &ecs.ListServiceDeploymentsInput{
		Cluster: aws.String("prod"), Service: aws.String("web"), Status: []ecstypes.ServiceDeploymentStatus{ecstypes.ServiceDeploymentStatusPending},
	})
	if err != nil || len(list.ServiceDeployments) != 1 {
		t.Errorf("right after UpdateService, PENDING service deployments: %+v, %v; want the new one", list, err)
	}
	got := statusSequence(t, ecsc, 4)
	want := []string{"IN_PROGRESS", "SUCCESSFUL", "SUCCESSFUL", "SUCCESSFUL"}
	if !slices.Equal(got, want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
	sd := newestServiceDeployment(t, ecsc)
	revs, err := ecsc.DescribeServiceRevisions(context.Background(), &ecs.DescribeServiceRevisionsInput{
		ServiceRevisionArns: []string{aws.ToString(sd.TargetServiceRevision.Arn)},
	})
	if err != nil || len(revs.ServiceRevisions) != 1 || aws.ToString(revs.ServiceRevisions[0].TaskDefinition) != arn {
		t.Errorf("target revision: %+v, %v; want task definition %s", revs, err, arn)
	}
	svc := poll(t, ecsc)
	if aws.ToString(svc.CurrentServiceDeployment) != aws.ToString(sd.ServiceDeploymentArn) {
		t.Errorf("currentServiceDeployment %q, want %q", aws.ToString(svc.CurrentServiceDeployment), aws.ToString(sd.ServiceDeploymentArn))
	}
	if svc.DeploymentConfiguration.Strategy != ecstypes.DeploymentStrategyRolling {
		t.Errorf("strategy %q, want ROLLING", svc.DeploymentConfiguration.Strategy)
	}
}

func TestServiceDeploymentCircuitBreakerRollback(t *testing.T) {
	for _, rollbackFails := range []bool{false, true} {
		t.Run(fmt.Sprint("rollbackFails=", rollbackFails), func(t *testing.T) {
			emu, _, ecsc := start(t, static)
			emu.AddService("prod", "web", webDef)
			emu.SetRolloutPolls(2)
			emu.FailRollouts("prod", "web", true)
			emu.FailRollbacks("prod", "web", rollbackFails)
			deployTo(t, emu, ecsc, "example/web:broken")
			last := "ROLLBACK_SUCCESSFUL"
			if rollbackFails {
				last = "ROLLBACK_FAILED"
			}
			got := statusSequence(t, ecsc, 3)
			if want := []string{"IN_PROGRESS", "ROLLBACK_IN_PROGRESS", last}; !slices.Equal(got, want) {
				t.Errorf("statuses %v, want %v", got, want)
			}
			sd := newestServiceDeployment(t, ecsc)
			if sd.DeploymentCircuitBreaker == nil || sd.DeploymentCircuitBreaker.Status != ecstypes.ServiceDeploymentRollbackMonitorsStatusTriggered {
				t.Errorf("circuit breaker %+v, want TRIGGERED", sd.DeploymentCircuitBreaker)
			}
			if sd.Rollback == nil || aws.ToString(sd.Rollback.Reason) == "" || sd.FinishedAt == nil {
				t.Errorf("rollback %+v, finishedAt %v: want a reason and an end", sd.Rollback, sd.FinishedAt)
			}
		})
	}
}

func TestStopServiceDeploymentRollsBack(t *testing.T) {
	emu, _, ecsc := start(t, static)
	old := emu.AddService("prod", "web", webDef)
	emu.SetRolloutPolls(10)
	deployTo(t, emu, ecsc, "example/web:new")
	sd := newestServiceDeployment(t, ecsc)
	ctx := context.Background()
	_, err := ecsc.StopServiceDeployment(ctx, &ecs.StopServiceDeploymentInput{ServiceDeploymentArn: sd.ServiceDeploymentArn, StopType: "ABORT"})
	if apiCode(err) != "InvalidParameterException" {
		t.Errorf("stop type ABORT: %v, want InvalidParameterException (ROLLBACK is the only one documented)", err)
	}
	if _, err := ecsc.StopServiceDeployment(ctx, &ecs.StopServiceDeploymentInput{
		ServiceDeploymentArn: sd.ServiceDeploymentArn, StopType: ecstypes.StopServiceDeploymentStopTypeRollback,
	}); err != nil {
		t.Fatal(err)
	}
	// Listing does not move the rollout, so it shows the request.
	list, err := ecsc.ListServiceDeployments(ctx, &ecs.ListServiceDeploymentsInput{Cluster: aws.String("prod"), Service: aws.String("web")})
	if err != nil {
		t.Fatal(err)
	}
	got := append([]string{string(list.ServiceDeployments[0].Status)}, statusSequence(t, ecsc, 2)...)
	if want := []string{"ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS", "ROLLBACK_SUCCESSFUL"}; !slices.Equal(got, want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
	if cur, _ := emu.Service("prod", "web"); cur != old {
		t.Errorf("after the rollback the service runs %s, want %s", cur, old)
	}
	if _, err := ecsc.StopServiceDeployment(ctx, &ecs.StopServiceDeploymentInput{ServiceDeploymentArn: sd.ServiceDeploymentArn}); apiCode(err) != "InvalidParameterException" {
		t.Errorf("stopping a finished deployment: %v", err)
	}
}

// Without the rollback option a failure the circuit breaker detects
// stops the service deployment and leaves the new revision in place.
func TestCircuitBreakerWithoutRollbackStops(t *testing.T) {
	emu, _, ecsc := start(t, static)
	emu.AddService("prod", "web", webDef)
	emu.SetStrategy("prod", "web", awsemu.Strategy{NoRollback: true})
	emu.SetRolloutPolls(2)
	emu.FailRollouts("prod", "web", true)
	arn := deployTo(t, emu, ecsc, "example/web:broken")
	got := statusSequence(t, ecsc, 3)
	if want := []string{"IN_PROGRESS", "STOP_REQUESTED", "STOPPED"}; !slices.Equal(got, want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
	sd := newestServiceDeployment(t, ecsc)
	if sd.StoppedAt == nil || sd.Rollback != nil || sd.DeploymentCircuitBreaker.Status != ecstypes.ServiceDeploymentRollbackMonitorsStatusTriggered {
		t.Errorf("stopped deployment %+v: want stoppedAt, no rollback, circuit breaker TRIGGERED", sd)
	}
	if cur, _ := emu.Service("prod", "web"); cur != arn {
		t.Errorf("the service runs %s, want the new %s left in place", cur, arn)
	}
}

func TestBlueGreenStagesAndBakeTime(t *testing.T) {
	emu, _, ecsc := start(t, static)
	emu.AddService("prod", "web", webDef)
	emu.SetStrategy("prod", "web", awsemu.Strategy{Kind: "BLUE_GREEN", BakeTime: 5 * time.Minute})
	deployTo(t, emu, ecsc, "example/web:new")

	var stages []string
	for range 20 {
		sd := newestServiceDeployment(t, ecsc)
		if sd.Status != ecstypes.ServiceDeploymentStatusInProgress {
			t.Fatalf("status %s in stage %s, want IN_PROGRESS until the bake time passed", sd.Status, sd.LifecycleStage)
		}
		if s := string(sd.LifecycleStage); len(stages) == 0 || stages[len(stages)-1] != s {
			stages = append(stages, s)
		}
		if sd.LifecycleStage == ecstypes.ServiceDeploymentLifecycleStageBakeTime {
			if w := sd.TargetServiceRevision.RequestedProductionTrafficWeight; w == nil || *w != 100 {
				t.Errorf("production weight in bake time %v, want 100", w)
			}
			if b := sd.DeploymentConfiguration.BakeTimeInMinutes; b == nil || *b != 5 {
				t.Errorf("bakeTimeInMinutes %v, want 5", b)
			}
		}
	}
	want := []string{"PRE_SCALE_UP", "SCALE_UP", "POST_SCALE_UP", "TEST_TRAFFIC_SHIFT", "POST_TEST_TRAFFIC_SHIFT",
		"PRE_PRODUCTION_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT", "BAKE_TIME"}
	if !slices.Equal(stages, want) {
		t.Errorf("stages %v, want %v", stages, want)
	}
	if n := emu.BakePolls("prod", "web"); n < 10 {
		t.Errorf("BakePolls = %d, want the polls made in bake time", n)
	}
	emu.AdvanceClock(5 * time.Minute)
	if got := statusSequence(t, ecsc, 3); !slices.Equal(got, []string{"IN_PROGRESS", "SUCCESSFUL", "SUCCESSFUL"}) {
		t.Errorf("after the bake time: %v, want clean-up then SUCCESSFUL", got)
	}
	// The SDK's own waiter agrees: one deployment left, every task running.
	w := ecs.NewServicesStableWaiter(ecsc, func(o *ecs.ServicesStableWaiterOptions) {
		o.MinDelay, o.MaxDelay = time.Millisecond, 2*time.Millisecond
	})
	if err := w.Wait(context.Background(), &ecs.DescribeServicesInput{Cluster: aws.String("prod"), Services: []string{"web"}}, 5*time.Second); err != nil {
		t.Errorf("ServicesStableWaiter after SUCCESSFUL: %v", err)
	}
}

func TestLinearShiftsInSteps(t *testing.T) {
	emu, _, ecsc := start(t, static)
	emu.AddService("prod", "web", webDef)
	emu.SetStrategy("prod", "web", awsemu.Strategy{Kind: "LINEAR", StepPercent: 25, StepBakeTime: time.Minute})
	deployTo(t, emu, ecsc, "example/web:new")
	var weights []float64
	for range 40 {
		sd := newestServiceDeployment(t, ecsc)
		if sd.Status == ecstypes.ServiceDeploymentStatusSuccessful {
			break
		}
		if sd.LifecycleStage == ecstypes.ServiceDeploymentLifecycleStageProductionTrafficShift {
			w := aws.ToFloat64(sd.TargetServiceRevision.RequestedProductionTrafficWeight)
			if len(weights) == 0 || weights[len(weights)-1] != w {
				weights = append(weights, w)
				emu.AdvanceClock(time.Minute)
			}
		}
	}
	if want := []float64{25, 50, 75, 100}; !slices.Equal(weights, want) {
		t.Errorf("production weights %v, want %v", weights, want)
	}
}

func TestAlarmRollsBackBlueGreen(t *testing.T) {
	emu, _, ecsc := start(t, static)
	old := emu.AddService("prod", "web", webDef)
	emu.SetStrategy("prod", "web", awsemu.Strategy{Kind: "BLUE_GREEN", BakeTime: 5 * time.Minute, Alarms: []string{"web-5xx"}})
	arn := deployTo(t, emu, ecsc, "example/web:new")
	for newestServiceDeployment(t, ecsc).LifecycleStage != ecstypes.ServiceDeploymentLifecycleStageBakeTime {
	}
	if svc := poll(t, ecsc); aws.ToString(svc.TaskDefinition) != arn {
		t.Fatalf("in bake time the service runs %s, want %s", aws.ToString(svc.TaskDefinition), arn)
	}
	emu.TriggerAlarm("prod", "web", "web-5xx")
	if got := statusSequence(t, ecsc, 2); !slices.Equal(got, []string{"ROLLBACK_IN_PROGRESS", "ROLLBACK_SUCCESSFUL"}) {
		t.Errorf("after the alarm: %v", got)
	}
	sd := newestServiceDeployment(t, ecsc)
	if sd.Alarms == nil || sd.Alarms.Status != ecstypes.ServiceDeploymentRollbackMonitorsStatusTriggered || !slices.Equal(sd.Alarms.TriggeredAlarmNames, []string{"web-5xx"}) {
		t.Errorf("alarms %+v, want web-5xx TRIGGERED", sd.Alarms)
	}
	if cur, _ := emu.Service("prod", "web"); cur != old {
		t.Errorf("after the rollback the service runs %s, want %s", cur, old)
	}
}

// A blue/green deployment started while another still runs its revision
// begins by reconciling the service's revisions.
func TestBlueGreenReconcilesFirstWithTwoRevisionsRunning(t *testing.T) {
	emu, _, ecsc := start(t, static)
	emu.AddService("prod", "web", webDef)
	emu.SetStrategy("prod", "web", awsemu.Strategy{Kind: "BLUE_GREEN", BakeTime: time.Minute})
	deployTo(t, emu, ecsc, "example/web:one")
	if sd := newestServiceDeployment(t, ecsc); sd.LifecycleStage != ecstypes.ServiceDeploymentLifecycleStagePreScaleUp {
		t.Errorf("first deployment starts in %s, want PRE_SCALE_UP", sd.LifecycleStage)
	}
	td, err := ecsc.DescribeTaskDefinition(context.Background(), &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("web")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ecsc.UpdateService(context.Background(), &ecs.UpdateServiceInput{
		Cluster: aws.String("prod"), Service: aws.String("web"), TaskDefinition: td.TaskDefinition.TaskDefinitionArn, ForceNewDeployment: true,
	}); err != nil {
		t.Fatal(err)
	}
	var stages []ecstypes.ServiceDeploymentLifecycleStage
	for range 2 {
		stages = append(stages, newestServiceDeployment(t, ecsc).LifecycleStage)
	}
	if want := []ecstypes.ServiceDeploymentLifecycleStage{"RECONCILE_SERVICE", "PRE_SCALE_UP"}; !slices.Equal(stages, want) {
		t.Errorf("second deployment's stages %v, want %v", stages, want)
	}
}
