package config

import (
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/emulator/githubemu"
)

const validConfig = `
listen: ":8080"
public_url: "https://deploybot.example.com"
github:
  api_url: "https://ghe.example.com/api/v3"
  app_id: ${APP_ID}
  private_key: ${KEY}
  webhook_secret: ${HOOK}
slack:
  bot_token: ${SLACK_BOT_TOKEN}
  signing_secret: s3cret
  channel: "#deploys"
aws:
  region: us-east-1
apps:
  takumi-server:
    repo: takumi/takumi-server
    image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/takumi-server
    tag: "git_{{.ShortSHA}}"
    checks: ["ci/codeship"]
    ci_timeout: 10m
    environments:
      dev:
        elasticbeanstalk: {application: takumi-server, environment: takumi-srv-dev, bucket: eb-bucket}
      prod:
        ecs: {cluster: prod, service: takumi-api, container: api}
        role_arn: arn:aws:iam::210987654321:role/deploybot
        allow: ["slack:U024BE7LH", "github:octocat"]
        auto_rollback: true
        channel: "#prod-deploys"
`

// testKey is a GitHub App key in PEM form, whose header holds YAML
// syntax: expanded into the document, it must stay one value.
var testKey = sync.OnceValue(func() string {
	_, pemBytes, err := githubemu.GenerateKey()
	if err != nil {
		panic(err)
	}
	return strings.Replace(string(pemBytes), "KEY-----\n", "KEY-----\nComment: line: with: colons {[&*!|>'\"%@`\n\n", 1)
})

func testEnv(name string) string {
	return map[string]string{
		"APP_ID":          "12345",
		"KEY":             testKey(),
		"HOOK":            "hook secret # not a comment",
		"SLACK_BOT_TOKEN": "xoxb-1",
	}[name]
}

func TestParse(t *testing.T) {
	cfg, err := Parse([]byte(validConfig), testEnv)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if cfg.GitHub.AppID != 12345 {
		t.Errorf("app_id = %d, want 12345 from ${APP_ID}", cfg.GitHub.AppID)
	}
	if cfg.GitHub.PrivateKey != testEnv("KEY") {
		t.Errorf("private_key = %q, want the multi-line value unchanged", cfg.GitHub.PrivateKey)
	}
	if cfg.GitHub.WebhookSecret != "hook secret # not a comment" {
		t.Errorf("webhook_secret = %q", cfg.GitHub.WebhookSecret)
	}
	if cfg.GitHub.APIURL != "https://ghe.example.com/api/v3/" {
		t.Errorf("api_url = %q, want a trailing slash added", cfg.GitHub.APIURL)
	}
	if cfg.Store != bot.DefaultStore {
		t.Errorf("store = %q, want default %q", cfg.Store, bot.DefaultStore)
	}
	app, env, err := cfg.Lookup("takumi-server", "prod")
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(app.CITimeout) != 10*time.Minute || time.Duration(env.Timeout) != bot.DefaultDeployTimeout {
		t.Errorf("ci_timeout = %v, timeout = %v", time.Duration(app.CITimeout), time.Duration(env.Timeout))
	}
	if env.TargetKind() != bot.TargetECS || env.ECS.Container != "api" || !env.AutoRollback {
		t.Errorf("prod env = %+v", env)
	}
	tag, err := app.ImageTag("cf7edb2f0d6e1c5b44e7b1cbe3a6f7e8d9c0b1a2", "")
	if err != nil || tag != "git_cf7edb2" {
		t.Errorf("ImageTag = %q, %v; want git_cf7edb2", tag, err)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(string) string
		want []string
	}{
		{"unknown top-level key", func(s string) string { return s + "colour: blue\n" }, []string{"line 31: colour: unknown key"}},
		{"unknown env key", func(s string) string {
			return strings.Replace(s, "auto_rollback: true", "auto_rollback: true\n        autorollback: true", 1)
		}, []string{"line 30: apps.takumi-server.environments.prod.autorollback: unknown key"}},
		{"two targets", func(s string) string {
			return strings.Replace(s, "        role_arn:", "        elasticbeanstalk: {application: a, environment: b, bucket: c}\n        role_arn:", 1)
		}, []string{"line 25: apps.takumi-server.environments.prod: has two targets"}},
		{"no target", func(s string) string {
			return strings.Replace(s, "        elasticbeanstalk: {application: takumi-server, environment: takumi-srv-dev, bucket: eb-bucket}\n", "        channel: '#x'\n", 1)
		}, []string{"line 23: apps.takumi-server.environments.dev: needs one target"}},
		{"missing field", func(s string) string { return strings.Replace(s, ", container: api", "", 1) }, []string{"apps.takumi-server.environments.prod.ecs.container: required"}},
		{"bad template field", func(s string) string { return strings.Replace(s, "{{.ShortSHA}}", "{{.Sha}}", 1) }, []string{"line 19: apps.takumi-server.tag: bad template"}},
		{"unparsable template", func(s string) string { return strings.Replace(s, "{{.ShortSHA}}", "{{.ShortSHA", 1) }, []string{"apps.takumi-server.tag: bad template"}},
		{"unset variable", func(s string) string { return strings.Replace(s, "${HOOK}", "${NOPE}", 1) }, []string{"line 8: github.webhook_secret: environment variable NOPE is not set"}},
		{"bad duration", func(s string) string { return strings.Replace(s, "ci_timeout: 10m", "ci_timeout: ten", 1) }, []string{"line 21: apps.takumi-server.ci_timeout: time: invalid duration"}},
		{"bad allow entry", func(s string) string { return strings.Replace(s, `"github:octocat"`, `"octocat"`, 1) }, []string{"apps.takumi-server.environments.prod.allow[1]: want slack:"}},
		{"public dashboard with credentials", func(s string) string {
			return s + "dashboard: {public: true, token: t}\n"
		}, []string{"dashboard.public: public serves the dashboard to anyone"}},
		{"two errors at once", func(s string) string {
			return strings.Replace(strings.Replace(s, "region: us-east-1", "regoin: us-east-1", 1), "repo: takumi", "rep: takumi", 1)
		}, []string{"aws.regoin: unknown key", "apps.takumi-server.rep: unknown key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.edit(validConfig)), testEnv)
			if err == nil {
				t.Fatal("Parse accepted it")
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

// Keys are matched as yaml.v3 matches them, so that a field added to
// bot.Config without a tag, or inline, is not refused as unknown.
func TestFieldByYAMLName(t *testing.T) {
	type Inner struct {
		BlueGreen string `yaml:"blue_green"`
	}
	type outer struct {
		Named    string `yaml:"named"`
		Untagged string
		Skipped  string `yaml:"-"`
		Inner    `yaml:",inline"`
		hidden   string
	}
	typ := reflect.TypeOf(outer{})
	for name, want := range map[string]bool{"named": true, "untagged": true, "blue_green": true, "Skipped": false, "skipped": false, "-": false, "hidden": false, "inner": false} {
		if _, got := fieldByYAMLName(typ, name); got != want {
			t.Errorf("fieldByYAMLName(%q) found %v, want %v", name, got, want)
		}
	}
	if got := nearestField(typ, "bluegreen"); got != "blue_green" {
		t.Errorf("nearestField(bluegreen) = %q, want blue_green", got)
	}
	_ = outer{}.hidden
}
