package bot_test

import (
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
)

// Each rule of the config names the key it is about.
func TestConfigValidate(t *testing.T) {
	web := func(c *bot.Config) *bot.App { return c.Apps["web"] }
	dev := func(c *bot.Config) *bot.Environment { return c.Apps["web"].Environments["dev"] }
	staging := func(c *bot.Config) *bot.EBTarget { return c.Apps["web"].Environments["staging"].ElasticBeanstalk }
	tests := []struct {
		name    string
		spoil   func(c *bot.Config)
		key     string
		message string
	}{
		{"store scheme", func(c *bot.Config) { c.Store = "mysql://root:hunter2@db/x" }, "store", "must start with sqlite: or postgres://"},
		{"public url", func(c *bot.Config) { c.PublicURL = "deploybot.example.com" }, "public_url", "must be an http(s) URL"},
		{"token and app", func(c *bot.Config) { c.GitHub.AppID = 1; c.GitHub.PrivateKey = "pem" }, "github.token", "set either token or app_id"},
		{"app without key", func(c *bot.Config) { c.GitHub = bot.GitHubConfig{AppID: 1} }, "github.private_key", "required with app_id"},
		{"key without app", func(c *bot.Config) { c.GitHub = bot.GitHubConfig{PrivateKey: "pem"} }, "github.app_id", "required with private_key"},
		{"two keys", func(c *bot.Config) { c.GitHub = bot.GitHubConfig{AppID: 1, PrivateKey: "pem", PrivateKeyFile: "k.pem"} }, "github.private_key_file", "not both"},
		{"no GitHub auth", func(c *bot.Config) { c.GitHub = bot.GitHubConfig{} }, "github", "set app_id with private_key, or token"},
		{"region", func(c *bot.Config) { c.AWS.Region = "" }, "aws.region", "required"},
		{"half basic auth", func(c *bot.Config) { c.Dashboard.Username = "admin" }, "dashboard.password", "set username and password together"},
		{"public with credentials", func(c *bot.Config) { c.Dashboard = bot.DashboardConfig{Public: true, Token: "t"} }, "dashboard.public", "remove it or the credentials"},
		{"short lease", func(c *bot.Config) { c.Timing.Lease = bot.Duration(time.Millisecond) }, "timing.lease", "at least 1s"},
		{"no apps", func(c *bot.Config) { c.Apps = nil }, "apps", "at least one app"},
		{"empty app", func(c *bot.Config) { c.Apps["empty"] = nil }, "apps.empty", "is empty"},
		{"repo", func(c *bot.Config) { web(c).Repo = "acme" }, "apps.web.repo", "must be owner/name"},
		{"no repo", func(c *bot.Config) { web(c).Repo = "" }, "apps.web.repo", "required"},
		{"no image", func(c *bot.Config) { web(c).Image = "" }, "apps.web.image", "required"},
		{"image with tag", func(c *bot.Config) { web(c).Image = "registry/web:latest" }, "apps.web.image", "without tag or digest"},
		{"no tag", func(c *bot.Config) { web(c).Tag = "" }, "apps.web.tag", "required"},
		{"tag field", func(c *bot.Config) { web(c).Tag = "git_{{.Sha}}" }, "apps.web.tag", "bad template (use .SHA"},
		{"tag syntax", func(c *bot.Config) { web(c).Tag = "git_{{.SHA" }, "apps.web.tag", "bad template"},
		{"tag chars", func(c *bot.Config) { web(c).Tag = "git/{{.SHA}}" }, "apps.web.tag", "not a valid image tag"},
		{"pass states", func(c *bot.Config) { web(c).CIPassStates = []bot.CheckState{bot.CheckFailure} }, "apps.web.ci_pass_states[0]", "only neutral and skipped"},
		{"no envs", func(c *bot.Config) { web(c).Environments = nil }, "apps.web.environments", "at least one environment"},
		{"empty env", func(c *bot.Config) { web(c).Environments["qa"] = nil }, "apps.web.environments.qa", "is empty"},
		{"no target", func(c *bot.Config) { dev(c).ECS = nil }, "apps.web.environments.dev", "needs one target"},
		{"two targets", func(c *bot.Config) { dev(c).ElasticBeanstalk = staging(c) }, "apps.web.environments.dev", "has two targets"},
		{"ecs cluster", func(c *bot.Config) { dev(c).ECS.Cluster = "" }, "apps.web.environments.dev.ecs.cluster", "required"},
		{"ecs service", func(c *bot.Config) { dev(c).ECS.Service = "" }, "apps.web.environments.dev.ecs.service", "required"},
		{"ecs container", func(c *bot.Config) { dev(c).ECS.Container = "" }, "apps.web.environments.dev.ecs.container", "required"},
		{"eb application", func(c *bot.Config) { staging(c).Application = "" }, "apps.web.environments.staging.elasticbeanstalk.application", "required"},
		{"eb environment", func(c *bot.Config) { staging(c).Environment = "" }, "apps.web.environments.staging.elasticbeanstalk.environment", "required"},
		{"eb bucket", func(c *bot.Config) { staging(c).Bucket = "" }, "apps.web.environments.staging.elasticbeanstalk.bucket", "required"},
		{"dockerrun", func(c *bot.Config) { staging(c).Dockerrun = "v3" }, "apps.web.environments.staging.elasticbeanstalk.dockerrun", "must be v1 or v2"},
		{"v2 container", func(c *bot.Config) { staging(c).Dockerrun = bot.DockerrunV2 }, "apps.web.environments.staging.elasticbeanstalk.container", "required with dockerrun: v2"},
		{"port", func(c *bot.Config) { staging(c).Ports = []int{80, 70000} }, "apps.web.environments.staging.elasticbeanstalk.ports[1]", "must be a port number"},
		{"eb auth", func(c *bot.Config) { staging(c).Authentication = &bot.EBAuthentication{Bucket: "b"} }, "apps.web.environments.staging.elasticbeanstalk.authentication", "needs bucket and key"},
		{"role", func(c *bot.Config) { dev(c).RoleARN = "deploybot" }, "apps.web.environments.dev.role_arn", "must be an IAM role ARN"},
		{"allow entry", func(c *bot.Config) { dev(c).Allow = []string{"slack:U1", "U2"} }, "apps.web.environments.dev.allow[1]", "want slack:<user id>"},
		{"allow team", func(c *bot.Config) { dev(c).Allow = []string{"github-team:acme"} }, "apps.web.environments.dev.allow[0]", "github-team:<org>/<team>"},
		{"branch", func(c *bot.Config) { dev(c).AutoDeploy.Branch = "feature..x" }, "apps.web.environments.dev.auto_deploy.branch", ""},
		{"no branch", func(c *bot.Config) { dev(c).AutoDeploy.Branch = "" }, "apps.web.environments.dev.auto_deploy.branch", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testConfig()
			tt.spoil(c)
			errs := c.Validate()
			if len(errs) != 1 || errs[0].Key != tt.key || !strings.Contains(errs[0].Message, tt.message) {
				t.Errorf("Validate = %v; want one error at %s containing %q", errs, tt.key, tt.message)
			}
			for _, e := range errs {
				if strings.Contains(e.Error(), "hunter2") {
					t.Errorf("the error shows the store's password: %v", e)
				}
			}
		})
	}
}

// Validate fills in defaults, so that a minimal config works.
func TestConfigDefaults(t *testing.T) {
	c := testConfig()
	c.GitHub.APIURL, c.Slack.APIURL = "https://ghe.example.com/api/v3", "https://slack.example.com/api"
	if errs := c.Validate(); len(errs) != 0 {
		t.Fatal(errs)
	}
	app, env, err := c.Lookup("worker", "dev")
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen == "" || c.Store != bot.DefaultStore || c.GitHub.APIURL != "https://ghe.example.com/api/v3/" || c.Slack.APIURL != "https://slack.example.com/api/" ||
		time.Duration(app.CITimeout) != bot.DefaultCITimeout || time.Duration(env.Timeout) != bot.DefaultDeployTimeout ||
		env.Name != "dev" || env.App != "worker" || c.Apps["web"].Environments["staging"].ElasticBeanstalk.Dockerrun != bot.DockerrunV1 {
		t.Errorf("defaults not filled in: %+v", c)
	}
	if tag, err := app.ImageTag(sha1, ""); err != nil || tag != "git_cf7edb2" {
		t.Errorf("ImageTag = %q, %v", tag, err)
	}
	envs := c.AutoDeployEnvs("ACME/web", "main")
	if len(envs) != 1 || envs[0].App != "web" || envs[0].Name != "dev" {
		t.Errorf("AutoDeployEnvs = %v; want web dev", envs)
	}
	c.GitHub.WebhookSecret, c.GitHub.PreviousWebhookSecrets = "new", []string{"", "old"}
	if got := c.GitHub.WebhookSecrets(); strings.Join(got, ",") != "new,old" {
		t.Errorf("WebhookSecrets = %q", got)
	}
	var d bot.Duration
	if err := d.UnmarshalText([]byte("90s")); err != nil || time.Duration(d) != 90*time.Second {
		t.Errorf("Duration 90s = %v, %v", d, err)
	}
	if err := d.UnmarshalText([]byte("soon")); err == nil {
		t.Error("Duration took \"soon\"")
	}
	if text, err := d.MarshalText(); err != nil || string(text) != "1m30s" {
		t.Errorf("MarshalText = %s, %v", text, err)
	}
}
