package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
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

func testEnv(name string) string {
	return map[string]string{
		"APP_ID":          "12345",
		"KEY":             "-----BEGIN RSA PRIVATE KEY-----\nline: with: colons\n-----END RSA PRIVATE KEY-----\n",
		"HOOK":            "hook secret # not a comment",
		"SLACK_BOT_TOKEN": "xoxb-1",
	}[name]
}

func TestParseConfig(t *testing.T) {
	cfg, err := parseConfig([]byte(validConfig), testEnv)
	if err != nil {
		t.Fatalf("parseConfig: %v", err)
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
	tag, err := app.ImageTag("cf7edb2f0d6e1c5b44e7b1cbe3a6f7e8d9c0b1a2")
	if err != nil || tag != "git_cf7edb2" {
		t.Errorf("ImageTag = %q, %v; want git_cf7edb2", tag, err)
	}
}

func TestParseConfigErrors(t *testing.T) {
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
			_, err := parseConfig([]byte(tt.edit(validConfig)), testEnv)
			if err == nil {
				t.Fatal("parseConfig accepted it")
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

// The example config shipped at the root must stay valid, and `deploybot
// check` must say so.
func TestExampleConfigChecks(t *testing.T) {
	env := map[string]string{
		"GITHUB_APP_ID": "12345", "GITHUB_APP_PRIVATE_KEY": "-----BEGIN RSA PRIVATE KEY-----\nx\n-----END RSA PRIVATE KEY-----",
		"GITHUB_WEBHOOK_SECRET": "w", "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s",
	}
	var out, errOut strings.Builder
	err := run(context.Background(), []string{"check", "--config", "../../deploybot.example.yaml"}, &out, &errOut, func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	if !strings.Contains(out.String(), "is valid") || !strings.Contains(out.String(), "takumi-server → dev (elasticbeanstalk), prod (ecs)") {
		t.Errorf("check printed %q", out.String())
	}
	err = run(context.Background(), []string{"check", "--config", "../../deploybot.example.yaml"}, &out, &errOut, func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "GITHUB_APP_ID is not set") {
		t.Errorf("check without the environment: %v", err)
	}
}

// `deploybot check` never prints the store's password: not in its summary
// of a valid config, not in the error for a store it refuses (a typo in
// the scheme, a key=value DSN), where the whole DSN used to be quoted.
func TestCheckDoesNotPrintTheStorePassword(t *testing.T) {
	const password = "hunter2-s3cret"
	for _, tt := range []struct {
		name, dsn string
		valid     bool
	}{
		{"postgres URL", "postgres://deploybot:" + password + "@db.example.com:5432/deploybot?sslmode=require", true},
		{"scheme typo", "postgress://deploybot:" + password + "@db.example.com:5432/deploybot", false},
		{"key=value", "host=db.example.com user=deploybot password=" + password + " dbname=deploybot", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "deploybot.yaml")
			if err := os.WriteFile(path, []byte("store: ${DATABASE_URL}\n"+validConfig), 0o600); err != nil {
				t.Fatal(err)
			}
			getenv := func(k string) string {
				if k == "DATABASE_URL" {
					return tt.dsn
				}
				return testEnv(k)
			}
			var out, errOut strings.Builder
			err := run(context.Background(), []string{"check", "--config", path}, &out, &errOut, getenv)
			printed := out.String() + errOut.String()
			if err != nil {
				printed += err.Error() // what main prints
			}
			if (err == nil) != tt.valid {
				t.Fatalf("check: err = %v, want valid %v; printed:\n%s", err, tt.valid, printed)
			}
			if strings.Contains(printed, password) {
				t.Errorf("check printed the password:\n%s", printed)
			}
			if !strings.Contains(printed, "xxxxx") {
				t.Errorf("check did not name the store (redacted):\n%s", printed)
			}
		})
	}
}

// serve says at start-up when the dashboard, /api and /metrics are closed
// to everyone or open to anyone, and says nothing when they sit behind
// credentials.
func TestDashboardAccess(t *testing.T) {
	for _, tt := range []struct {
		c    bot.DashboardConfig
		want string
	}{
		{bot.DashboardConfig{}, "answer 401 to everyone"},
		{bot.DashboardConfig{Public: true}, "are public"},
		{bot.DashboardConfig{Token: "t"}, ""},
		{bot.DashboardConfig{Username: "u", Password: "p"}, ""},
	} {
		got := dashboardAccess(tt.c)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("dashboardAccess(%+v) = %q, want %q", tt.c, got, tt.want)
		}
	}
}
