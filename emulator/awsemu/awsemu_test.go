package awsemu_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/deploybot/deploybot/emulator/awsemu"
)

func start(t *testing.T, creds aws.CredentialsProvider) (*awsemu.Server, *ecr.Client, *ecs.Client) {
	t.Helper()
	emu := awsemu.New()
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	cfg := aws.Config{Region: "us-east-1", Credentials: creds}
	ecrc := ecr.NewFromConfig(cfg, func(o *ecr.Options) { o.BaseEndpoint = aws.String(srv.URL) })
	ecsc := ecs.NewFromConfig(cfg, func(o *ecs.Options) { o.BaseEndpoint = aws.String(srv.URL) })
	return emu, ecrc, ecsc
}

var static = credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")

const (
	digest1 = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	digest2 = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
)

func TestUnsignedRequestRefused(t *testing.T) {
	emu := awsemu.New()
	srv := httptest.NewServer(emu)
	defer srv.Close()

	req, _ := http.NewRequest("POST", srv.URL+"/", strings.NewReader(`{"cluster":"prod","services":["web"]}`))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.DescribeServices")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Type string `json:"__type"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusForbidden || body.Type != "UnrecognizedClientException" {
		t.Errorf("unsigned request: got %d %q, want 403 UnrecognizedClientException", resp.StatusCode, body.Type)
	}
	if n := len(emu.Calls()); n != 0 {
		t.Errorf("refused request was logged as a call (%d calls)", n)
	}

	// The SDK skips signing with anonymous credentials; it must see the
	// refusal as an API error with AWS's code.
	_, _, ecsc := start(t, aws.AnonymousCredentials{})
	_, err = ecsc.DescribeServices(context.Background(), &ecs.DescribeServicesInput{Cluster: aws.String("prod"), Services: []string{"web"}})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "UnrecognizedClientException" {
		t.Errorf("anonymous SDK call: got %v, want UnrecognizedClientException", err)
	}
}

func TestECRDescribeImages(t *testing.T) {
	emu, ecrc, _ := start(t, static)
	ctx := context.Background()
	emu.PutImage("web", "git_aaaaaaa", digest1)
	emu.PutImage("web", "git_bbbbbbb", digest2)
	emu.PutImage("web", "latest", digest1)
	emu.PutImage("web", "latest", digest2) // moves the tag

	out, err := ecrc.DescribeImages(ctx, &ecr.DescribeImagesInput{
		RepositoryName: aws.String("web"),
		ImageIds:       []ecrtypes.ImageIdentifier{{ImageTag: aws.String("git_bbbbbbb")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.ImageDetails) != 1 || aws.ToString(out.ImageDetails[0].ImageDigest) != digest2 {
		t.Fatalf("got %+v, want one image with %s", out.ImageDetails, digest2)
	}
	if diff := cmp.Diff([]string{"git_bbbbbbb", "latest"}, out.ImageDetails[0].ImageTags); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	if out.ImageDetails[0].ImagePushedAt == nil || out.ImageDetails[0].ImagePushedAt.IsZero() {
		t.Error("imagePushedAt not decoded")
	}

	_, err = ecrc.DescribeImages(ctx, &ecr.DescribeImagesInput{
		RepositoryName: aws.String("web"),
		ImageIds:       []ecrtypes.ImageIdentifier{{ImageTag: aws.String("git_ccccccc")}},
	})
	var notFound *ecrtypes.ImageNotFoundException
	if !errors.As(err, &notFound) || !strings.Contains(notFound.ErrorMessage(), "git_ccccccc") {
		t.Errorf("missing tag: got %v, want ImageNotFoundException naming the tag", err)
	}

	_, err = ecrc.DescribeImages(ctx, &ecr.DescribeImagesInput{
		RepositoryName: aws.String("api"),
		ImageIds:       []ecrtypes.ImageIdentifier{{ImageTag: aws.String("git_aaaaaaa")}},
	})
	var noRepo *ecrtypes.RepositoryNotFoundException
	if !errors.As(err, &noRepo) {
		t.Errorf("missing repository: got %v, want RepositoryNotFoundException", err)
	}
	if got := emu.CallCount("ecr.DescribeImages"); got != 3 {
		t.Errorf("CallCount(ecr.DescribeImages) = %d, want 3", got)
	}
}

var webDef = awsemu.TaskDef{
	Family: "web",
	CPU:    "512",
	Memory: "1024",
	Containers: []awsemu.Container{
		{Name: "app", Image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/web@" + digest1, Memory: 768, Environment: map[string]string{"PORT": "8080"}},
		{Name: "proxy", Image: "envoyproxy/envoy:v1.31"},
	},
	Tags: map[string]string{"team": "platform"},
}

func TestECSTaskDefinitionRoundTrip(t *testing.T) {
	emu, _, ecsc := start(t, static)
	ctx := context.Background()
	arn := emu.AddService("prod", "web", webDef)
	if arn != "arn:aws:ecs:us-east-1:123456789012:task-definition/web:1" {
		t.Errorf("AddService returned %q", arn)
	}

	got, err := ecsc.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{
		TaskDefinition: aws.String("web"),
		Include:        []ecstypes.TaskDefinitionField{ecstypes.TaskDefinitionFieldTags},
	})
	if err != nil {
		t.Fatal(err)
	}
	td := got.TaskDefinition
	if aws.ToString(td.Memory) != "1024" || aws.ToString(td.Cpu) != "512" || len(td.ContainerDefinitions) != 2 || td.Revision != 1 {
		t.Fatalf("described definition lost seeded fields: %+v", td)
	}
	if diff := cmp.Diff([]ecstypes.Tag{{Key: aws.String("team"), Value: aws.String("platform")}}, got.Tags, sdkTypes); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}

	// Re-register with a field the seed never set; it must come back.
	reg, err := ecsc.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family:               td.Family,
		ContainerDefinitions: td.ContainerDefinitions,
		Memory:               td.Memory,
		TaskRoleArn:          aws.String("arn:aws:iam::123456789012:role/web"),
		PidMode:              ecstypes.PidModeTask,
	})
	if err != nil {
		t.Fatal(err)
	}
	if reg.TaskDefinition.Revision != 2 || aws.ToString(reg.TaskDefinition.TaskRoleArn) != "arn:aws:iam::123456789012:role/web" || reg.TaskDefinition.PidMode != ecstypes.PidModeTask {
		t.Errorf("registered definition: %+v", reg.TaskDefinition)
	}
	if img := emu.TaskDefinitionImage("web:2", "proxy"); img != "envoyproxy/envoy:v1.31" {
		t.Errorf("TaskDefinitionImage(web:2, proxy) = %q", img)
	}

	_, err = ecsc.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("web:9")})
	var clientErr *ecstypes.ClientException
	if !errors.As(err, &clientErr) {
		t.Errorf("unknown revision: got %v, want ClientException", err)
	}
	_, err = ecsc.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family:               aws.String("web"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("app")}},
	})
	if !errors.As(err, &clientErr) {
		t.Errorf("container without image: got %v, want ClientException", err)
	}
}

// sdkTypes lets cmp compare SDK structs, which carry an unexported marker
// field.
var sdkTypes = cmp.FilterPath(func(p cmp.Path) bool {
	sf, ok := p.Last().(cmp.StructField)
	return ok && !unicode.IsUpper(rune(sf.Name()[0]))
}, cmp.Ignore())

func deployTo(t *testing.T, emu *awsemu.Server, ecsc *ecs.Client, image string) string {
	t.Helper()
	ctx := context.Background()
	cur, _ := emu.Service("prod", "web")
	td, err := ecsc.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(cur)})
	if err != nil {
		t.Fatal(err)
	}
	containers := td.TaskDefinition.ContainerDefinitions
	containers[0].Image = aws.String(image)
	reg, err := ecsc.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("web"), ContainerDefinitions: containers})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(reg.TaskDefinition.TaskDefinitionArn)
	up, err := ecsc.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String("web"), TaskDefinition: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	deps := up.Service.Deployments
	if len(deps) != 2 || aws.ToString(deps[0].Status) != "PRIMARY" || aws.ToString(deps[0].TaskDefinition) != arn ||
		deps[0].RolloutState != ecstypes.DeploymentRolloutStateInProgress || aws.ToString(deps[1].Status) != "ACTIVE" {
		t.Fatalf("after UpdateService: %s", describe(deps))
	}
	return arn
}

func poll(t *testing.T, ecsc *ecs.Client) ecstypes.Service {
	t.Helper()
	out, err := ecsc.DescribeServices(context.Background(), &ecs.DescribeServicesInput{Cluster: aws.String("prod"), Services: []string{"web"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Services) != 1 {
		t.Fatalf("DescribeServices: %d services, failures %+v", len(out.Services), out.Failures)
	}
	return out.Services[0]
}

func describe(deps []ecstypes.Deployment) string {
	var b strings.Builder
	for _, d := range deps {
		b.WriteString(aws.ToString(d.Status) + " " + aws.ToString(d.TaskDefinition) + " " + string(d.RolloutState) + "; ")
	}
	return b.String()
}

func TestECSRolloutCompletesAfterPolls(t *testing.T) {
	emu, _, ecsc := start(t, static)
	old := emu.AddService("prod", "web", webDef)
	emu.SetRolloutPolls(2)
	arn := deployTo(t, emu, ecsc, "example/web:new")

	svc := poll(t, ecsc)
	if p := svc.Deployments[0]; len(svc.Deployments) != 2 || p.RolloutState != ecstypes.DeploymentRolloutStateInProgress || p.RunningCount != 1 || p.DesiredCount != 2 {
		t.Fatalf("poll 1: want half-way rollout, got %s running %d", describe(svc.Deployments), p.RunningCount)
	}
	svc = poll(t, ecsc)
	p := svc.Deployments[0]
	if len(svc.Deployments) != 1 || aws.ToString(p.TaskDefinition) != arn || p.RolloutState != ecstypes.DeploymentRolloutStateCompleted || p.RunningCount != p.DesiredCount {
		t.Fatalf("poll 2: want completed rollout, got %s", describe(svc.Deployments))
	}
	if got, _ := emu.Service("prod", "web"); got != arn || got == old {
		t.Errorf("Service() = %q, want %q", got, arn)
	}
	if img := emu.TaskDefinitionImage(arn, "app"); img != "example/web:new" {
		t.Errorf("image of new definition = %q", img)
	}
}

// A failed rollout ends, after the circuit breaker's rollback, in a state
// that a waiter looking only for "one deployment, all tasks running" takes
// for success; only the task definition tells.
func TestECSFailedRolloutRollsBack(t *testing.T) {
	emu, _, ecsc := start(t, static)
	old := emu.AddService("prod", "web", webDef)
	emu.FailRollouts("prod", "web", true)
	emu.SetRolloutPolls(1)
	arn := deployTo(t, emu, ecsc, "example/web:broken")

	svc := poll(t, ecsc)
	if len(svc.Deployments) != 2 {
		t.Fatalf("failing poll: %s", describe(svc.Deployments))
	}
	rb, failed := svc.Deployments[0], svc.Deployments[1]
	if aws.ToString(rb.Status) != "PRIMARY" || aws.ToString(rb.TaskDefinition) != old {
		t.Errorf("PRIMARY after failure = %s, want the old definition", describe(svc.Deployments))
	}
	if aws.ToString(failed.TaskDefinition) != arn || failed.RolloutState != ecstypes.DeploymentRolloutStateFailed ||
		aws.ToString(failed.RolloutStateReason) != "ECS deployment circuit breaker: tasks failed to start." {
		t.Errorf("failed deployment = %+v", failed)
	}

	for range 2 {
		svc = poll(t, ecsc)
	}
	if len(svc.Deployments) != 1 || svc.Deployments[0].RunningCount != svc.Deployments[0].DesiredCount || aws.ToString(svc.Deployments[0].TaskDefinition) != old {
		t.Errorf("after drain: %s", describe(svc.Deployments))
	}
	found := false
	for _, e := range svc.Events {
		found = found || strings.Contains(aws.ToString(e.Message), "deployment failed: tasks failed to start")
	}
	if !found {
		t.Error("no service event records the failure")
	}
	if got, _ := emu.Service("prod", "web"); got != old {
		t.Errorf("Service() = %q, want old %q", got, old)
	}
}

func TestECSNotFound(t *testing.T) {
	emu, _, ecsc := start(t, static)
	ctx := context.Background()
	emu.AddService("prod", "web", webDef)

	out, err := ecsc.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("prod"), Services: []string{"nope"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Services) != 0 || len(out.Failures) != 1 || aws.ToString(out.Failures[0].Reason) != "MISSING" {
		t.Errorf("unknown service: services %d, failures %+v; want one MISSING failure", len(out.Services), out.Failures)
	}

	_, err = ecsc.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("staging"), Services: []string{"web"}})
	var noCluster *ecstypes.ClusterNotFoundException
	if !errors.As(err, &noCluster) {
		t.Errorf("unknown cluster: got %v, want ClusterNotFoundException", err)
	}

	_, err = ecsc.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String("nope"), TaskDefinition: aws.String("web:1")})
	var noService *ecstypes.ServiceNotFoundException
	if !errors.As(err, &noService) {
		t.Errorf("UpdateService of unknown service: got %v, want ServiceNotFoundException", err)
	}

	eleven := strings.Split("a b c d e f g h i j k", " ")
	_, err = ecsc.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("prod"), Services: eleven})
	var invalid *ecstypes.InvalidParameterException
	if !errors.As(err, &invalid) {
		t.Errorf("11 services named: got %v, want InvalidParameterException", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	emu, ecrc, ecsc := start(t, static)
	emu.AddService("prod", "web", webDef)
	emu.PutImage("web", "latest", digest1)
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 5 {
				ecsc.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("prod"), Services: []string{"web"}})
				ecrc.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("web")})
				emu.Service("prod", "web")
				emu.Calls()
			}
		})
	}
	wg.Wait()
	if got := emu.CallCount("DescribeServices"); got != 40 {
		t.Errorf("CallCount(DescribeServices) = %d, want 40", got)
	}
}

// The sandbox and cmd build clients with config.LoadDefaultConfig; the
// SDK's AWS_ENDPOINT_URL must be enough to reach the emulator.
func TestEndpointFromEnvironment(t *testing.T) {
	emu := awsemu.New()
	srv := httptest.NewServer(emu)
	defer srv.Close()
	emu.PutImage("web", "latest", digest1)
	t.Setenv("AWS_ENDPOINT_URL", srv.URL)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")

	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out, err := ecr.NewFromConfig(cfg).DescribeImages(context.Background(), &ecr.DescribeImagesInput{RepositoryName: aws.String("web")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.ImageDetails) != 1 || aws.ToString(out.ImageDetails[0].ImageDigest) != digest1 {
		t.Errorf("DescribeImages = %+v", out.ImageDetails)
	}
}
