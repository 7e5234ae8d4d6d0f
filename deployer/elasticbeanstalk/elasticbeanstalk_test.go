package elasticbeanstalk_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awseb "github.com/aws/aws-sdk-go-v2/service/elasticbeanstalk"
	"github.com/google/go-cmp/cmp"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/deployer/awsenv"
	"github.com/deploybot/deploybot/deployer/elasticbeanstalk"
	"github.com/deploybot/deploybot/emulator/awsemu"
)

const (
	newImage = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web@sha256:2222222222222222222222222222222222222222222222222222222222222222"
	sha      = "cf7edb2e8d2b4e7f9a1c3b5d7e9f0a1b2c3d4e5f"
	label    = "git_cf7edb2-deploybot-42"
	cname    = "web-prod.us-east-1.elasticbeanstalk.com"
)

type fixture struct {
	emu      *awsemu.Server
	cfg      aws.Config
	deployer *elasticbeanstalk.Deployer
}

// setup starts an emulator with application web, environment web-prod on
// version v1 and bucket eb-bucket. seed runs before the environment is
// added, to give v1 another Dockerrun.
func setup(t *testing.T, seed func(*awsemu.Server)) *fixture {
	t.Helper()
	emu := awsemu.New()
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""), BaseEndpoint: aws.String(srv.URL)}
	emu.AddBucket("eb-bucket")
	if seed != nil {
		seed(emu)
	}
	emu.AddEBEnvironment("web", "web-prod", cname, "v1")
	return &fixture{
		emu:      emu,
		cfg:      cfg,
		deployer: elasticbeanstalk.New(awsenv.Static(cfg), elasticbeanstalk.WithPollInterval(time.Millisecond, 4*time.Millisecond)),
	}
}

func prodEnv() *bot.Environment {
	return &bot.Environment{
		Name: "prod",
		App:  "web",
		ElasticBeanstalk: &bot.EBTarget{
			Application: "web", Environment: "web-prod", Bucket: "eb-bucket",
			Dockerrun: bot.DockerrunV1, Ports: []int{8080, 9090},
		},
		Timeout: bot.Duration(time.Minute),
	}
}

func deployment() *bot.Deployment { return &bot.Deployment{ID: 42, App: "web", Env: "prod", SHA: sha} }

func (f *fixture) deploy(t *testing.T, d *bot.Deployment, env *bot.Environment) (bot.Rollout, []string, error) {
	t.Helper()
	var lines []string
	r, err := f.deployer.Deploy(context.Background(), d, env, newImage, bot.RolloutHooks{Progress: func(line string) { lines = append(lines, line) }})
	return r, lines, err
}

// writes counts the calls that change S3 or Elastic Beanstalk.
func (f *fixture) writes() int {
	return f.emu.CallCount("PutObject") + f.emu.CallCount("CreateApplicationVersion") + f.emu.CallCount("UpdateEnvironment")
}

func (f *fixture) object(t *testing.T, key string) map[string]any {
	t.Helper()
	b, ok := f.emu.Object("eb-bucket", key)
	if !ok {
		t.Fatalf("no object s3://eb-bucket/%s", key)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("s3://eb-bucket/%s is not JSON: %v\n%s", key, err, b)
	}
	return doc
}

func TestDeployV1Succeeds(t *testing.T) {
	f := setup(t, nil)
	f.emu.SetEBUpdatePolls(3)
	f.emu.PutObject("eb-bucket", "auth/dockercfg", []byte(`{"auths":{}}`))
	env := prodEnv()
	env.ElasticBeanstalk.KeyPrefix = "deploybot/"
	env.ElasticBeanstalk.Authentication = &bot.EBAuthentication{Bucket: "eb-bucket", Key: "auth/dockercfg"}

	rollout, lines, err := f.deploy(t, deployment(), env)
	if err != nil {
		t.Fatalf("Deploy: %v", err)
	}
	if want := (bot.Rollout{EnvironmentURL: "http://" + cname, Detail: "version " + label}); rollout != want {
		t.Errorf("rollout = %+v, want %+v", rollout, want)
	}

	key := "deploybot/web/" + sha + "/deployment-42/Dockerrun.aws.json"
	want := map[string]any{
		"AWSEBDockerrunVersion": "1",
		"Authentication":        map[string]any{"Bucket": "eb-bucket", "Key": "auth/dockercfg"},
		"Image":                 map[string]any{"Name": newImage, "Update": "false"},
		"Ports":                 []any{map[string]any{"ContainerPort": "8080"}, map[string]any{"ContainerPort": "9090"}},
	}
	if diff := cmp.Diff(want, f.object(t, key)); diff != "" {
		t.Errorf("Dockerrun.aws.json (-want +got):\n%s", diff)
	}
	if bucket, k, ok := f.emu.EBVersion("web", label); !ok || bucket != "eb-bucket" || k != key {
		t.Errorf("version %s bundle = s3://%s/%s (%v), want s3://eb-bucket/%s", label, bucket, k, ok, key)
	}
	got, _ := f.emu.EBEnvironment("web-prod")
	if got.VersionLabel != label || got.Status != "Ready" || got.Health != "Green" {
		t.Errorf("environment ends %+v, want Ready Green on %s", got, label)
	}

	for _, want := range []string{
		"wrote s3://eb-bucket/" + key,
		"created version " + label,
		"updating environment web-prod to version " + label,
		"environment Updating, health Grey (Info)",
	} {
		if !slices.Contains(lines, want) {
			t.Errorf("progress %q missing; got %q", want, lines)
		}
	}
	for i := 1; i < len(lines); i++ {
		if lines[i] == lines[i-1] {
			t.Errorf("progress line %q repeated", lines[i])
		}
	}
	for op, want := range map[string]int{"PutObject": 1, "CreateApplicationVersion": 1, "UpdateEnvironment": 1} {
		if n := f.emu.CallCount(op); n != want {
			t.Errorf("%s called %d times, want %d", op, n, want)
		}
	}
}

const v2Dockerrun = `{
  "AWSEBDockerrunVersion": 2,
  "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
  "volumes": [{"name": "nginx-conf", "host": {"sourcePath": "/var/app/current/proxy/conf.d"}}],
  "containerDefinitions": [
    {
      "name": "proxy",
      "image": "nginx:1.27",
      "essential": true,
      "memory": 128,
      "portMappings": [{"hostPort": 80, "containerPort": 80}],
      "links": ["app"],
      "mountPoints": [{"sourceVolume": "nginx-conf", "containerPath": "/etc/nginx/conf.d", "readOnly": true}]
    },
    {
      "name": "app",
      "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/web@sha256:1111111111111111111111111111111111111111111111111111111111111111",
      "essential": true,
      "memoryReservation": 768,
      "environment": [{"name": "PORT", "value": "8080"}, {"name": "RATIO", "value": "0.25"}],
      "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/eb/web"}}
    }
  ]
}`

func v2Env() *bot.Environment {
	env := prodEnv()
	env.ElasticBeanstalk.Dockerrun = bot.DockerrunV2
	env.ElasticBeanstalk.Container = "app"
	env.ElasticBeanstalk.Ports = nil
	return env
}

func TestDeployV2Succeeds(t *testing.T) {
	f := setup(t, func(emu *awsemu.Server) { emu.AddEBVersion("web", "v1", []byte(v2Dockerrun)) })

	rollout, _, err := f.deploy(t, deployment(), v2Env())
	if err != nil {
		t.Fatalf("Deploy: %v", err)
	}
	if rollout.Detail != "version "+label {
		t.Errorf("Detail = %q", rollout.Detail)
	}
	var want map[string]any
	if err := json.Unmarshal([]byte(v2Dockerrun), &want); err != nil {
		t.Fatal(err)
	}
	want["containerDefinitions"].([]any)[1].(map[string]any)["image"] = newImage
	got := f.object(t, "web/"+sha+"/deployment-42/Dockerrun.aws.json")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Dockerrun.aws.json: only the app image may change (-want +got):\n%s", diff)
	}
	if env, _ := f.emu.EBEnvironment("web-prod"); env.VersionLabel != label {
		t.Errorf("environment runs %s, want %s", env.VersionLabel, label)
	}
}

func TestDeployV2UnknownContainer(t *testing.T) {
	f := setup(t, func(emu *awsemu.Server) { emu.AddEBVersion("web", "v1", []byte(v2Dockerrun)) })
	env := v2Env()
	env.ElasticBeanstalk.Container = "worker"
	_, _, err := f.deploy(t, deployment(), env)
	if bot.ErrorCode(err) != bot.EINVALID {
		t.Fatalf("got %v, want code %s", err, bot.EINVALID)
	}
	if want := "pre-flight: container worker is not in the Dockerrun.aws.json of version v1; its containers: proxy, app"; bot.ErrorMessage(err) != want {
		t.Errorf("message %q, want %q", bot.ErrorMessage(err), want)
	}
	if n := f.writes(); n != 0 {
		t.Errorf("%d writes for a bad container", n)
	}
}

func TestDeployV2NeedsV2File(t *testing.T) {
	f := setup(t, nil) // v1 runs DefaultDockerrun, a version 1 file
	_, _, err := f.deploy(t, deployment(), v2Env())
	if bot.ErrorCode(err) != bot.EINVALID || !strings.Contains(bot.ErrorMessage(err), "AWSEBDockerrunVersion 1") {
		t.Errorf("got %v, want EINVALID naming the file's version", err)
	}
	if n := f.writes(); n != 0 {
		t.Errorf("%d writes", n)
	}
}

func TestDeployRolledBackByElasticBeanstalk(t *testing.T) {
	for _, polls := range []int{1, 3} {
		f := setup(t, nil)
		f.emu.SetEBUpdatePolls(polls)
		f.emu.FailEBUpdates("web-prod", true)

		_, lines, err := f.deploy(t, deployment(), prodEnv())
		if err == nil {
			t.Fatalf("polls=%d: Deploy succeeded on an update EB reverted", polls)
		}
		// The error quotes one event; the timeline gets every one.
		for _, want := range []string{awsemu.EBEventInstanceFailed, awsemu.EBEventDeployFailed} {
			if !slices.Contains(lines, "Elastic Beanstalk event: ERROR "+want) {
				t.Errorf("polls=%d: no progress line for the event %q in %q", polls, want, lines)
			}
		}
		// Not EINTERNAL: the pipeline hides internal messages, and this one
		// is for the person who deployed.
		if code := bot.ErrorCode(err); code != bot.ECONFLICT {
			t.Errorf("polls=%d: code %s, want %s (%v)", polls, code, bot.ECONFLICT, err)
		}
		msg := bot.ErrorMessage(err)
		for _, want := range []string{
			"rolled back by Elastic Beanstalk",
			"version " + label,
			"runs version v1",
			awsemu.EBEventInstanceFailed,
		} {
			if !strings.Contains(msg, want) {
				t.Errorf("polls=%d: message %q does not contain %q", polls, msg, want)
			}
		}
		if env, _ := f.emu.EBEnvironment("web-prod"); env.VersionLabel != "v1" {
			t.Errorf("polls=%d: environment runs %s, want v1", polls, env.VersionLabel)
		}
	}
}

func TestPreflight(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*fixture, *bot.Environment)
		code   string
		want   string
	}{
		{"missing environment", func(_ *fixture, env *bot.Environment) { env.ElasticBeanstalk.Environment = "web-staging" },
			bot.ENOTFOUND, `pre-flight: Elastic Beanstalk environment "web-staging" not found in application "web"`},
		{"missing application", func(_ *fixture, env *bot.Environment) { env.ElasticBeanstalk.Application = "api" },
			bot.ENOTFOUND, `pre-flight: Elastic Beanstalk application "api" not found`},
		{"missing bucket", func(_ *fixture, env *bot.Environment) { env.ElasticBeanstalk.Bucket = "no-such-bucket" },
			bot.ENOTFOUND, `pre-flight: S3 bucket "no-such-bucket" not found`},
		{"terminated environment", func(f *fixture, _ *bot.Environment) { f.emu.TerminateEBEnvironment("web-prod") },
			bot.ENOTFOUND, `pre-flight: Elastic Beanstalk environment "web-prod" in application "web" is terminated`},
		{"environment busy", func(f *fixture, _ *bot.Environment) {
			f.emu.SetEBUpdatePolls(1 << 30)
			_, err := awseb.NewFromConfig(f.cfg).UpdateEnvironment(context.Background(), &awseb.UpdateEnvironmentInput{EnvironmentName: aws.String("web-prod"), VersionLabel: aws.String("v1")})
			if err != nil {
				t.Fatal(err)
			}
		}, bot.ECONFLICT, `pre-flight: Elastic Beanstalk environment "web-prod" is Updating, not Ready; another operation is in progress`},
		{"missing registry credentials", func(_ *fixture, env *bot.Environment) {
			env.ElasticBeanstalk.Authentication = &bot.EBAuthentication{Bucket: "eb-bucket", Key: "auth/none"}
		}, bot.EINVALID, "pre-flight: registry credentials s3://eb-bucket/auth/none not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t, nil)
			env := prodEnv()
			tc.change(f, env)
			before := f.writes()
			_, _, err := f.deploy(t, deployment(), env)
			if bot.ErrorCode(err) != tc.code || bot.ErrorMessage(err) != tc.want {
				t.Errorf("got %v, want %s: %s", err, tc.code, tc.want)
			}
			if n := f.writes() - before; n != 0 {
				t.Errorf("%d PutObject/CreateApplicationVersion/UpdateEnvironment calls after a failed pre-flight", n)
			}
		})
	}
}

func TestDeployLabelTaken(t *testing.T) {
	// A label from an earlier deploybot with the same deployment id.
	f := setup(t, func(emu *awsemu.Server) { emu.AddEBVersion("web", label, []byte(awsemu.DefaultDockerrun)) })
	rollout, _, err := f.deploy(t, deployment(), prodEnv())
	if err != nil {
		t.Fatalf("Deploy: %v", err)
	}
	ours := strings.TrimPrefix(rollout.Detail, "version ")
	if !strings.HasPrefix(ours, label+"-") || len(ours) > 100 {
		t.Fatalf("Detail = %q, want a label made unique from %s", rollout.Detail, label)
	}
	if env, _ := f.emu.EBEnvironment("web-prod"); env.VersionLabel != ours {
		t.Errorf("environment runs %s, want %s", env.VersionLabel, ours)
	}
	if _, key, _ := f.emu.EBVersion("web", label); key == "web/"+sha+"/deployment-42/Dockerrun.aws.json" {
		t.Error("the existing version was changed")
	}
}

func TestDeployResumedUsesItsVersion(t *testing.T) {
	f := setup(t, nil)
	if _, _, err := f.deploy(t, deployment(), prodEnv()); err != nil {
		t.Fatal(err)
	}
	// A restarted bot runs the same deployment again.
	rollout, lines, err := f.deploy(t, deployment(), prodEnv())
	if err != nil {
		t.Fatalf("second Deploy: %v", err)
	}
	if rollout.Detail != "version "+label {
		t.Errorf("Detail = %q, want version %s", rollout.Detail, label)
	}
	if !slices.Contains(lines, "version "+label+" already exists for this deployment, using it") {
		t.Errorf("progress %q", lines)
	}
}

func TestDeployTimeout(t *testing.T) {
	f := setup(t, nil)
	f.emu.SetEBUpdatePolls(1 << 30) // never finishes
	env := prodEnv()
	// Long enough that even a loaded -race run reaches the update before
	// the deadline: the message under test is the one after it.
	env.Timeout = bot.Duration(time.Second)

	_, _, err := f.deploy(t, deployment(), env)
	if bot.ErrorCode(err) != bot.ECONFLICT {
		t.Fatalf("got %v, want code %s", err, bot.ECONFLICT)
	}
	msg := bot.ErrorMessage(err)
	for _, want := range []string{"did not finish within 1s", "last seen: environment Updating, health Grey", label} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not contain %q", msg, want)
		}
	}
}

func TestDeployCancelled(t *testing.T) {
	f := setup(t, nil)
	f.emu.SetEBUpdatePolls(1 << 30)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := f.deployer.Deploy(ctx, deployment(), prodEnv(), newImage, bot.RolloutHooks{Progress: func(line string) {
		if strings.HasPrefix(line, "environment Updating") {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
}

func TestLabelLength(t *testing.T) {
	d := &bot.Deployment{ID: math.MaxInt64, App: strings.Repeat("very-long-application-name-", 10), SHA: sha}
	got := elasticbeanstalk.VersionLabel(d)
	if len(got) > 100 || !strings.HasPrefix(got, "git_cf7edb2-") {
		t.Errorf("VersionLabel = %q (%d chars)", got, len(got))
	}

	f := setup(t, nil)
	env := prodEnv()
	env.App = d.App
	rollout, _, err := f.deploy(t, d, env)
	if err != nil {
		t.Fatalf("Deploy with a long app name: %v", err)
	}
	if rollout.Detail != "version "+got {
		t.Errorf("Detail = %q, want version %s", rollout.Detail, got)
	}
}

func TestNoTarget(t *testing.T) {
	f := setup(t, nil)
	env := prodEnv()
	env.ElasticBeanstalk = nil
	env.ECS = &bot.ECSTarget{Cluster: "prod", Service: "web", Container: "app"}
	if _, _, err := f.deploy(t, deployment(), env); bot.ErrorCode(err) != bot.EINVALID {
		t.Errorf("got %v, want %s", err, bot.EINVALID)
	}
	if n := len(f.emu.Calls()); n != 0 {
		t.Errorf("%d AWS calls for an environment without elasticbeanstalk", n)
	}
}
