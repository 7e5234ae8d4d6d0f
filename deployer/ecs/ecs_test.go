package ecs_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/google/go-cmp/cmp"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/deployer/awsenv"
	"github.com/deploybot/deploybot/deployer/ecs"
	"github.com/deploybot/deploybot/emulator/awsemu"
)

const (
	oldImage = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web@sha256:1111111111111111111111111111111111111111111111111111111111111111"
	newImage = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web@sha256:2222222222222222222222222222222222222222222222222222222222222222"
)

var webDef = awsemu.TaskDef{
	Family: "web",
	CPU:    "512",
	Memory: "1024",
	Containers: []awsemu.Container{
		{Name: "proxy", Image: "envoyproxy/envoy:v1.31", Memory: 128},
		{Name: "app", Image: oldImage, Memory: 768, Environment: map[string]string{"PORT": "8080", "LOG": "json"}},
	},
	Tags: map[string]string{"team": "platform", "cost-center": "42"},
}

type fixture struct {
	emu      *awsemu.Server
	client   *awsecs.Client
	deployer *ecs.Deployer
	oldARN   string
}

func setup(t *testing.T) *fixture {
	t.Helper()
	emu := awsemu.New()
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""), BaseEndpoint: aws.String(srv.URL)}
	return &fixture{
		emu:      emu,
		client:   awsecs.NewFromConfig(cfg),
		deployer: ecs.New(awsenv.Static(cfg), ecs.WithPollInterval(time.Millisecond, 4*time.Millisecond)),
		oldARN:   emu.AddService("prod", "web", webDef),
	}
}

func prodEnv() *bot.Environment {
	return &bot.Environment{
		Name:    "prod",
		App:     "web",
		ECS:     &bot.ECSTarget{Cluster: "prod", Service: "web", Container: "app"},
		Timeout: bot.Duration(time.Minute),
	}
}

func (f *fixture) deploy(t *testing.T, env *bot.Environment) (bot.Rollout, []string, error) {
	t.Helper()
	var lines []string
	r, err := f.deployer.Deploy(context.Background(), &bot.Deployment{ID: 7, App: "web", Env: env.Name}, env, newImage,
		bot.RolloutHooks{Progress: func(line string) { lines = append(lines, line) }})
	return r, lines, err
}

func (f *fixture) describe(t *testing.T, arn string) (*types.TaskDefinition, []types.Tag) {
	t.Helper()
	out, err := f.client.DescribeTaskDefinition(context.Background(), &awsecs.DescribeTaskDefinitionInput{
		TaskDefinition: aws.String(arn),
		Include:        []types.TaskDefinitionField{types.TaskDefinitionFieldTags},
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.TaskDefinition, out.Tags
}

// sdkTypes lets cmp compare SDK structs, which carry an unexported marker
// field.
var sdkTypes = cmp.FilterPath(func(p cmp.Path) bool {
	sf, ok := p.Last().(cmp.StructField)
	return ok && !unicode.IsUpper(rune(sf.Name()[0]))
}, cmp.Ignore())

func TestDeploySucceeds(t *testing.T) {
	f := setup(t)
	f.emu.SetRolloutPolls(3)

	rollout, lines, err := f.deploy(t, prodEnv())
	if err != nil {
		t.Fatalf("Deploy: %v", err)
	}
	if rollout.Detail != "task definition web:2" {
		t.Errorf("Detail = %q, want %q", rollout.Detail, "task definition web:2")
	}

	newARN, _ := f.emu.Service("prod", "web")
	if newARN == f.oldARN || !strings.HasSuffix(newARN, ":task-definition/web:2") {
		t.Fatalf("service runs %q, want web:2 (was %q)", newARN, f.oldARN)
	}
	if got := f.emu.TaskDefinitionImage(newARN, "app"); got != newImage {
		t.Errorf("app image = %q, want %q", got, newImage)
	}

	// Everything but the app image must survive the re-registration.
	oldTD, oldTags := f.describe(t, f.oldARN)
	newTD, newTags := f.describe(t, newARN)
	want := *oldTD
	want.ContainerDefinitions = slices.Clone(oldTD.ContainerDefinitions)
	want.ContainerDefinitions[1].Image = aws.String(newImage)
	want.TaskDefinitionArn, want.Revision, want.RegisteredAt = newTD.TaskDefinitionArn, newTD.Revision, newTD.RegisteredAt
	if diff := cmp.Diff(want, *newTD, sdkTypes); diff != "" {
		t.Errorf("new task definition (-want +got):\n%s", diff)
	}
	// The old tags survive, and the revision names its deployment.
	wantTags := append(slices.Clone(oldTags), types.Tag{Key: aws.String("deploybot-deployment"), Value: aws.String("7")})
	if diff := cmp.Diff(wantTags, newTags, sdkTypes); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}

	for _, want := range []string{"registered task definition web:2", "service updated, waiting for rollout", "rollout 0/2 tasks running", "rollout 1/2 tasks running"} {
		if !slices.Contains(lines, want) {
			t.Errorf("progress %q missing; got %q", want, lines)
		}
	}
	if n := f.emu.CallCount("RegisterTaskDefinition"); n != 1 {
		t.Errorf("RegisterTaskDefinition called %d times, want 1", n)
	}
	if n := f.emu.CallCount("UpdateService"); n != 1 {
		t.Errorf("UpdateService called %d times, want 1", n)
	}
}

func TestDeployCircuitBreakerRollback(t *testing.T) {
	for _, polls := range []int{1, 3} {
		f := setup(t)
		f.emu.SetRolloutPolls(polls)
		f.emu.FailRollouts("prod", "web", true)

		_, _, err := f.deploy(t, prodEnv())
		if err == nil {
			t.Fatalf("polls=%d: Deploy succeeded, want the circuit breaker's failure", polls)
		}
		// Not EINTERNAL: the pipeline hides internal messages, and this one
		// is for the person who deployed.
		if code := bot.ErrorCode(err); code != bot.ECONFLICT {
			t.Errorf("polls=%d: code %s, want %s (%v)", polls, code, bot.ECONFLICT, err)
		}
		msg := bot.ErrorMessage(err)
		for _, want := range []string{"ECS rollout of web:2 failed", "circuit breaker", "tasks failed to start", "runs web:1"} {
			if !strings.Contains(msg, want) {
				t.Errorf("polls=%d: message %q does not contain %q", polls, msg, want)
			}
		}
		if arn, _ := f.emu.Service("prod", "web"); arn != f.oldARN {
			t.Errorf("polls=%d: service runs %q, want the old %q", polls, arn, f.oldARN)
		}
	}
}

func TestDeployNotFound(t *testing.T) {
	for _, tc := range []struct {
		name, cluster, service, want string
	}{
		{"unknown service", "prod", "api", "ECS service api not found in cluster prod"},
		{"unknown cluster", "staging", "web", "ECS cluster staging not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t)
			env := prodEnv()
			env.ECS.Cluster, env.ECS.Service = tc.cluster, tc.service
			_, _, err := f.deploy(t, env)
			if bot.ErrorCode(err) != bot.ENOTFOUND || bot.ErrorMessage(err) != tc.want {
				t.Errorf("got %v, want %s: %s", err, bot.ENOTFOUND, tc.want)
			}
			if n := f.emu.CallCount("RegisterTaskDefinition"); n != 0 {
				t.Errorf("registered %d task definitions for a missing service", n)
			}
		})
	}
}

func TestDeployUnknownContainer(t *testing.T) {
	f := setup(t)
	env := prodEnv()
	env.ECS.Container = "worker"
	_, _, err := f.deploy(t, env)
	if bot.ErrorCode(err) != bot.EINVALID {
		t.Fatalf("got %v, want code %s", err, bot.EINVALID)
	}
	if want := "container worker is not in task definition web:1; its containers: proxy, app"; bot.ErrorMessage(err) != want {
		t.Errorf("message %q, want %q", bot.ErrorMessage(err), want)
	}
	if n := f.emu.CallCount("RegisterTaskDefinition") + f.emu.CallCount("UpdateService"); n != 0 {
		t.Errorf("%d register/update calls for a bad container", n)
	}
}

func TestDeployTimeout(t *testing.T) {
	f := setup(t)
	f.emu.SetRolloutPolls(1 << 30) // never finishes
	env := prodEnv()
	// Long enough for the rollout to start on a loaded machine; the poll
	// interval is milliseconds, so the wait is what runs out.
	env.Timeout = bot.Duration(time.Second)

	_, _, err := f.deploy(t, env)
	if bot.ErrorCode(err) != bot.ECONFLICT {
		t.Fatalf("got %v, want code %s", err, bot.ECONFLICT)
	}
	if msg := bot.ErrorMessage(err); !strings.Contains(msg, "did not finish within 1s") || !strings.Contains(msg, "tasks running") {
		t.Errorf("message %q should give the timeout and the last state", msg)
	}
}

func TestDeployCancelled(t *testing.T) {
	f := setup(t)
	f.emu.SetRolloutPolls(1 << 30)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := f.deployer.Deploy(ctx, &bot.Deployment{ID: 7}, prodEnv(), newImage, bot.RolloutHooks{Progress: func(line string) {
		if strings.HasPrefix(line, "rollout ") {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
}
