package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/deployer/elasticbeanstalk"
)

func TestSlackDeployToElasticBeanstalk(t *testing.T) {
	sb := newTestSandbox(t)
	sha := sb.commit("eb good", "main", "success", true)
	d := slashDeploy(t, sb, "takumi-server main staging")
	if d.State != bot.StateSucceeded {
		t.Fatalf("deployment %s: %s", d.State, d.Reason)
	}
	_, env, _ := sb.cfg.Lookup(sandboxApp, "staging")
	raw, ok := sb.aws.Object(sandboxBucket, elasticbeanstalk.ObjectKey(env.ElasticBeanstalk, d))
	if !ok {
		t.Fatalf("no Dockerrun.aws.json at s3://%s/%s", sandboxBucket, elasticbeanstalk.ObjectKey(env.ElasticBeanstalk, d))
	}
	var dockerrun struct {
		Version string `json:"AWSEBDockerrunVersion"`
		Image   struct{ Name string }
		Ports   []struct{ ContainerPort string }
	}
	if err := json.Unmarshal(raw, &dockerrun); err != nil {
		t.Fatalf("Dockerrun: %v\n%s", err, raw)
	}
	if dockerrun.Image.Name != d.Image || !strings.Contains(d.Image, "@sha256:") || len(dockerrun.Ports) != 1 || dockerrun.Ports[0].ContainerPort != "8080" {
		t.Errorf("Dockerrun = %s, want image %s and port 8080", raw, d.Image)
	}
	ebEnv, _ := sb.aws.EBEnvironment(sandboxEBEnv)
	if ebEnv.VersionLabel != elasticbeanstalk.VersionLabel(d) || ebEnv.Status != "Ready" {
		t.Errorf("EB environment = %+v, want Ready on %s", ebEnv, elasticbeanstalk.VersionLabel(d))
	}
	if !strings.Contains(ebEnv.VersionLabel, sha[:7]) {
		t.Errorf("label %q does not trace back to %s", ebEnv.VersionLabel, sha[:7])
	}
	st := sb.github.Statuses(sandboxRepo, d.GitHubDeploymentID)
	last := st[len(st)-1]
	if last.State != "success" || last.EnvironmentURL != "http://"+ebEnv.CNAME {
		t.Errorf("final status %+v, want success with the environment URL", last)
	}
}

func TestElasticBeanstalkRollbackIsFailure(t *testing.T) {
	sb := newTestSandbox(t)
	sb.commit("eb broken", "main", "success", true)
	sb.aws.FailEBUpdates(sandboxEBEnv, true)
	d := slashDeploy(t, sb, "takumi-server main staging")
	if d.State != bot.StateFailed || !strings.Contains(d.Reason, "rolled back by Elastic Beanstalk") {
		t.Fatalf("deployment %s: %q, want failed, rolled back by Elastic Beanstalk", d.State, d.Reason)
	}
	st := sb.github.Statuses(sandboxRepo, d.GitHubDeploymentID)
	for _, s := range st {
		if s.State == "success" {
			t.Error("success was reported for a rolled-back deploy")
		}
	}
	if last := st[len(st)-1]; last.State != "failure" {
		t.Errorf("final status %s, want failure", last.State)
	}
	msgs := sb.slack.Messages(sandboxChannel)
	if len(msgs) != 1 || !strings.Contains(msgs[0].Text, "rolled back by Elastic Beanstalk") {
		t.Errorf("Slack says %+v", msgs)
	}
}

func TestElasticBeanstalkPreflightTouchesNothing(t *testing.T) {
	sb := newTestSandbox(t)
	sb.commit("eb preflight", "main", "success", true)
	sb.aws.TerminateEBEnvironment(sandboxEBEnv)
	d := slashDeploy(t, sb, "takumi-server main staging")
	if d.State != bot.StateFailed || !strings.Contains(d.Reason, "pre-flight") || !strings.Contains(d.Reason, sandboxEBEnv) {
		t.Fatalf("deployment %s: %q, want a pre-flight failure naming %s", d.State, d.Reason, sandboxEBEnv)
	}
	for _, op := range []string{"PutObject", "CreateApplicationVersion", "UpdateEnvironment"} {
		if n := sb.aws.CallCount(op); n != 0 {
			t.Errorf("%s called %d times after a failed pre-flight", op, n)
		}
	}
}
