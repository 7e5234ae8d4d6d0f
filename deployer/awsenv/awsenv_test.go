package awsenv_test

import (
	"context"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	awseb "github.com/aws/aws-sdk-go-v2/service/elasticbeanstalk"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/deployer/awsenv"
	"github.com/deploybot/deploybot/deployer/elasticbeanstalk"
	"github.com/deploybot/deploybot/emulator/awsemu"
)

const (
	baseKey  = "AKIDEXAMPLE"
	prodRole = "arn:aws:iam::210987654321:role/deploybot"
)

func start(t *testing.T) (*awsemu.Server, aws.Config) {
	t.Helper()
	emu := awsemu.New()
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	emu.AddService("prod", "web", awsemu.TaskDef{Family: "web", Containers: []awsemu.Container{{Name: "app", Image: "nginx:1.27"}}})
	emu.AddBucket("eb-bucket")
	emu.AddEBEnvironment("web", "web-prod", "web-prod.example.com", "v1")
	return emu, aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider(baseKey, "secret", ""),
		BaseEndpoint: aws.String(srv.URL),
	}
}

// signers returns the access keys that signed the calls of service.
func signers(emu *awsemu.Server, service string) []string {
	var keys []string
	for _, c := range emu.Calls() {
		if c.Service == service {
			keys = append(keys, c.AccessKeyID)
		}
	}
	return keys
}

func TestRolesSignWithTheAssumedRole(t *testing.T) {
	emu, base := start(t)
	ctx := context.Background()
	roles := awsenv.NewRoles(base)
	prod := &bot.Environment{Name: "prod", RoleARN: prodRole}
	dev := &bot.Environment{Name: "dev"}

	if _, err := awsecs.NewFromConfig(roles.For(prod)).DescribeServices(ctx, &awsecs.DescribeServicesInput{Cluster: aws.String("prod"), Services: []string{"web"}}); err != nil {
		t.Fatalf("ECS with the prod role: %v", err)
	}
	// A second client from a second For call: the credentials are cached
	// per role, not per client.
	if _, err := awseb.NewFromConfig(roles.For(prod)).DescribeEnvironments(ctx, &awseb.DescribeEnvironmentsInput{EnvironmentNames: []string{"web-prod"}}); err != nil {
		t.Fatalf("Elastic Beanstalk with the prod role: %v", err)
	}
	if n := emu.CallCount("sts.AssumeRole"); n != 1 {
		t.Errorf("AssumeRole called %d times for two calls, want 1 (cached)", n)
	}

	ecsKeys, ebKeys := signers(emu, "ecs"), signers(emu, "elasticbeanstalk")
	if len(ecsKeys) != 1 || len(ebKeys) != 1 {
		t.Fatalf("signers: ecs %q, elasticbeanstalk %q", ecsKeys, ebKeys)
	}
	for _, key := range []string{ecsKeys[0], ebKeys[0]} {
		if !strings.HasPrefix(key, "ASIA") {
			t.Errorf("call signed with %q, want the assumed role's ASIA… key", key)
		}
		if role, ok := emu.AssumedRole(key); !ok || role != prodRole {
			t.Errorf("key %s belongs to role %q (%v), want %s", key, role, ok, prodRole)
		}
	}
	for _, c := range emu.Calls() {
		if c.Op != "AssumeRole" {
			continue
		}
		form, _ := url.ParseQuery(string(c.Body))
		if c.AccessKeyID != baseKey || form.Get("RoleArn") != prodRole || form.Get("RoleSessionName") != awsenv.SessionName {
			t.Errorf("AssumeRole signed by %s for %s as %q; want %s for %s as %q",
				c.AccessKeyID, form.Get("RoleArn"), form.Get("RoleSessionName"), baseKey, prodRole, awsenv.SessionName)
		}
	}

	if _, err := awsecs.NewFromConfig(roles.For(dev)).DescribeServices(ctx, &awsecs.DescribeServicesInput{Cluster: aws.String("prod"), Services: []string{"web"}}); err != nil {
		t.Fatalf("ECS without a role: %v", err)
	}
	if keys := signers(emu, "ecs"); keys[len(keys)-1] != baseKey {
		t.Errorf("environment without role_arn signed with %q, want the base key %s", keys[len(keys)-1], baseKey)
	}
	if n := emu.CallCount("sts.AssumeRole"); n != 1 {
		t.Errorf("AssumeRole called %d times, want 1", n)
	}
}

func TestDeniedRoleFailsTheDeploy(t *testing.T) {
	emu, base := start(t)
	emu.DenyRole(prodRole)
	env := &bot.Environment{
		Name:             "prod",
		App:              "web",
		RoleARN:          prodRole,
		ElasticBeanstalk: &bot.EBTarget{Application: "web", Environment: "web-prod", Bucket: "eb-bucket", Dockerrun: bot.DockerrunV1},
		Timeout:          bot.Duration(time.Minute),
	}
	deployer := elasticbeanstalk.New(awsenv.NewRoles(base), elasticbeanstalk.WithPollInterval(time.Millisecond, time.Millisecond))
	_, err := deployer.Deploy(context.Background(), &bot.Deployment{ID: 1, App: "web", SHA: strings.Repeat("a", 40)}, env, "nginx@sha256:00", bot.RolloutHooks{})
	if err == nil {
		t.Fatal("Deploy succeeded with a role STS refuses")
	}
	for _, want := range []string{"AssumeRole", "AccessDenied", prodRole} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if code := bot.ErrorCode(err); code != bot.EFORBIDDEN {
		t.Errorf("code %s, want %s", code, bot.EFORBIDDEN)
	}
	if keys := signers(emu, "elasticbeanstalk"); len(keys) != 0 {
		t.Errorf("Elastic Beanstalk was called (signed by %q) without the role's credentials", keys)
	}
}
