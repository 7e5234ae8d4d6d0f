package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/emulator/awsemu"
	"github.com/deploybot/deploybot/emulator/faults"
)

const envSecret = "s3cr3t-Value-nobody-may-see"

func TestEnvVarsReachAWSAndNowhereElse(t *testing.T) {
	logs := &syncBuffer{}
	sb, err := newSandbox(context.Background(), "127.0.0.1:0", logs, func(o *options) {
		o.sandboxConfig = func(c *bot.Config) {
			envs := c.Apps[sandboxApp].Environments
			envs["dev"].EnvVars = map[string]string{"DATABASE_URL": "postgres://app:" + envSecret + "@db/app", "PORT": "9090"}
			envs["staging"].EnvVars = map[string]string{"SECRET_KEY": envSecret, "DEBUG": "false"}
		}
	})
	if err != nil {
		t.Fatalf("sandbox: %v", err)
	}
	t.Cleanup(sb.Close)

	sha := sb.commit("env vars", "main", "success", true)
	ecsDeploy := slashDeploy(t, sb, "takumi-server "+sha[:7]+" dev")
	ebDeploy := slashDeploy(t, sb, "takumi-server "+sha[:7]+" staging")
	for _, d := range []*bot.Deployment{ecsDeploy, ebDeploy} {
		if d.State != bot.StateSucceeded {
			t.Fatalf("deployment #%d to %s: %s %s", d.ID, d.Env, d.State, d.Reason)
		}
	}
	// A PR comment deploy, so that a GitHub comment is written too.
	pr := sb.commit("env vars pr", "feature/env", "success", true)
	sb.github.AddPullRequest(sandboxRepo, 12, pr, "feature/env", sandboxWriter)
	if _, err := sb.github.UserComment(sandboxRepo, 12, sandboxWriter, "deploy to dev"); err != nil {
		t.Fatal(err)
	}
	prDeploy, err := sb.latest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if prDeploy, err = sb.wait(context.Background(), prDeploy.ID); err != nil || prDeploy.State != bot.StateSucceeded {
		t.Fatalf("PR deploy: %v %+v", err, prDeploy)
	}

	// ECS: merged over the container's environment, the sidecar untouched.
	var registered []map[string]string
	for _, c := range sb.aws.Calls() {
		if c.Op == "RegisterTaskDefinition" {
			registered = append(registered, containerEnv(t, c.Body, sandboxContainer))
			if env := containerEnv(t, c.Body, "log-router"); len(env) != 0 {
				t.Errorf("log-router got environment %v", env)
			}
		}
	}
	want := map[string]string{"DATABASE_URL": "postgres://app:" + envSecret + "@db/app", "PORT": "9090"}
	if len(registered) != 2 || fmt.Sprint(registered[0]) != fmt.Sprint(want) {
		t.Errorf("registered container environments %v, want %v", registered, want)
	}

	// EB: option settings in the application environment namespace.
	var settings []string
	for _, c := range sb.aws.Calls() {
		if c.Op == "UpdateEnvironment" {
			form, _ := url.ParseQuery(string(c.Body))
			for i := 1; form.Get(fmt.Sprintf("OptionSettings.member.%d.OptionName", i)) != ""; i++ {
				p := fmt.Sprintf("OptionSettings.member.%d.", i)
				settings = append(settings, form.Get(p+"Namespace")+" "+form.Get(p+"OptionName")+"="+form.Get(p+"Value"))
			}
		}
	}
	ns := "aws:elasticbeanstalk:application:environment"
	if got, want := strings.Join(settings, "; "), ns+" DEBUG=false; "+ns+" SECRET_KEY="+envSecret; got != want {
		t.Errorf("UpdateEnvironment option settings %q, want %q", got, want)
	}

	// Nowhere else: logs, Slack, GitHub, the dashboard, deploybot check.
	outputs := everyOutput(t, sb, logs, ecsDeploy.ID, ebDeploy.ID)
	outputs["check"] = checkOutput(t, sb)
	assertNoSecret(t, outputs)
	if !strings.Contains(outputs["dashboard /api/deployments/"+fmt.Sprint(ebDeploy.ID)], "setting DEBUG, SECRET_KEY") {
		t.Errorf("the EB timeline does not name the variables set")
	}
	if !strings.Contains(outputs["dashboard /api/deployments/"+fmt.Sprint(ecsDeploy.ID)], "setting DATABASE_URL, PORT on "+sandboxContainer) {
		t.Errorf("the ECS timeline does not name the variables set")
	}
	if !strings.Contains(outputs["slack"], "Succeeded") || !strings.Contains(outputs["github comments"], pr[:7]) ||
		!strings.Contains(outputs["dashboard /api/deployments"], sha) || !strings.Contains(outputs["check"], "is valid") {
		t.Errorf("some output was not read: %v", outputs)
	}
}

// containerEnv returns the environment of container in a recorded
// RegisterTaskDefinition request.
func containerEnv(t *testing.T, body []byte, container string) map[string]string {
	t.Helper()
	var req struct {
		ContainerDefinitions []struct {
			Name        string
			Environment []struct{ Name, Value string }
		}
	}
	if err := json.Unmarshal(body, &req); err != nil {
		t.Fatalf("RegisterTaskDefinition body: %v", err)
	}
	env := map[string]string{}
	for _, c := range req.ContainerDefinitions {
		if c.Name == container {
			for _, kv := range c.Environment {
				env[kv.Name] = kv.Value
			}
		}
	}
	return env
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}

// checkOutput runs deploybot check on the sandbox's config with env vars
// given through ${VAR}, as an operator would.
func checkOutput(t *testing.T, sb *sandbox) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "deploybot.yaml")
	cfg := sandboxConfig + `
  envs-app:
    repo: acme/envs
    image: quay.io/acme/envs
    tag: "git_{{.ShortSHA}}"
    environments:
      prod:
        ecs: {cluster: prod, service: envs, container: app}
        env_vars: {SECRET_KEY: "${APP_SECRET}", "bad name": "${APP_SECRET}"}
`
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"APP_SECRET": envSecret, "STORE": "sqlite:x.db", "GITHUB_API_URL": "http://127.0.0.1:1/", "GITHUB_KEY": string(testKeyPEM()), "SLACK_API_URL": "http://127.0.0.1:1/", "REGISTRY": "127.0.0.1:5000"}
	var out, errOut bytes.Buffer
	bad := run(context.Background(), []string{"check", "--config", path}, &out, &errOut, func(k string) string { return vars[k] })
	// The bad name fails the check: its error must not carry the value.
	if bad == nil || !strings.Contains(bad.Error(), "bad name") {
		t.Errorf("check passed a variable named %q: %v", "bad name", bad)
	}
	fixed := strings.Replace(cfg, `, "bad name": "${APP_SECRET}"`, "", 1)
	if err := os.WriteFile(path, []byte(fixed), 0o600); err != nil {
		t.Fatal(err)
	}
	var out2 bytes.Buffer
	if err := run(context.Background(), []string{"check", "--config", path}, &out2, &errOut, func(k string) string { return vars[k] }); err != nil {
		t.Fatalf("check: %v", err)
	}
	return bad.Error() + out.String() + out2.String() + errOut.String()
}

// everyOutput is what deploybot showed anyone, by where: its logs,
// Slack, GitHub and the dashboard pages of the deployments ids.
func everyOutput(t *testing.T, sb *sandbox, logs *syncBuffer, ids ...int64) map[string]string {
	t.Helper()
	outputs := map[string]string{"logs": logs.String()}
	for _, m := range sb.slack.Messages(sandboxChannel) {
		outputs["slack"] += m.Text + string(m.Blocks)
		for _, r := range m.History {
			outputs["slack"] += r.Text + string(r.Blocks)
		}
	}
	for _, d := range sb.github.Deployments(sandboxRepo) {
		outputs["github deployments"] += d.Description + string(d.RawPayload)
		for _, st := range sb.github.Statuses(sandboxRepo, d.ID) {
			outputs["github statuses"] += st.Description + st.LogURL + st.EnvironmentURL
		}
	}
	for _, c := range sb.github.Comments(sandboxRepo, 12) {
		outputs["github comments"] += c.Body + strings.Join(c.History, "")
	}
	paths := []string{"/", "/api/deployments"}
	for _, id := range ids {
		paths = append(paths, fmt.Sprintf("/deployments/%d", id), fmt.Sprintf("/api/deployments/%d", id))
	}
	for _, path := range paths {
		outputs["dashboard "+path] = get(t, sb.bot.URL+path)
	}
	return outputs
}

func assertNoSecret(t *testing.T, outputs map[string]string) {
	t.Helper()
	for where, text := range outputs {
		if strings.Contains(text, envSecret) {
			t.Errorf("the secret value is in the %s", where)
		}
	}
}

// AWS quotes option values back when it refuses them; deploybot shows the
// variable's name instead, in the failure and everywhere else.
func TestEnvVarValueQuotedByAWSIsHidden(t *testing.T) {
	logs := &syncBuffer{}
	sb, err := newSandbox(context.Background(), "127.0.0.1:0", logs, func(o *options) {
		o.sandboxConfig = func(c *bot.Config) {
			envs := c.Apps[sandboxApp].Environments
			envs["dev"].EnvVars = map[string]string{"DATABASE_URL": "postgres://app:" + envSecret + "@db/app"}
			envs["staging"].EnvVars = map[string]string{"SECRET_KEY": envSecret}
		}
	})
	if err != nil {
		t.Fatalf("sandbox: %v", err)
	}
	t.Cleanup(sb.Close)
	sb.aws.Inject(faults.Rule{Match: awsemu.Op("ecs.RegisterTaskDefinition"), Respond: awsemu.Refuse("ClientException",
		"Container.environment contains an invalid value: postgres://app:"+envSecret+"@db/app")})
	sb.aws.Inject(faults.Rule{Match: awsemu.Op("elasticbeanstalk.UpdateEnvironment"), Respond: awsemu.Refuse("ConfigurationValidationException",
		"Configuration validation exception: Invalid option value: '"+envSecret+"' (Namespace: 'aws:elasticbeanstalk:application:environment', OptionName: 'SECRET_KEY')")})

	sha := sb.commit("env vars refused", "main", "success", true)
	ecsDeploy := slashDeploy(t, sb, "takumi-server "+sha[:7]+" dev")
	ebDeploy := slashDeploy(t, sb, "takumi-server "+sha[:7]+" staging")
	for _, d := range []*bot.Deployment{ecsDeploy, ebDeploy} {
		if d.State != bot.StateFailed {
			t.Errorf("deployment #%d to %s: %s, want failed", d.ID, d.Env, d.State)
		}
	}
	if !strings.Contains(ebDeploy.Reason, "[value of SECRET_KEY]") {
		t.Errorf("EB failure %q does not say whose value was refused", ebDeploy.Reason)
	}
	if !strings.Contains(ecsDeploy.Reason, "RegisterTaskDefinition") {
		t.Errorf("ECS failure %q does not say what AWS refused", ecsDeploy.Reason)
	}
	settle(t, sb)
	outputs := everyOutput(t, sb, logs, ecsDeploy.ID, ebDeploy.ID)
	assertNoSecret(t, outputs)
	if !strings.Contains(outputs["logs"], "[value of DATABASE_URL]") || !strings.Contains(outputs["logs"], "[value of SECRET_KEY]") {
		t.Errorf("the logs do not show AWS's refusals with the names in place of the values:\n%s", outputs["logs"])
	}
}

// A value over Elastic Beanstalk's limit is refused by deploybot check,
// naming the variable, not quoting the value.
func TestCheckRefusesEnvVarOverEBLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "deploybot.yaml")
	cfg := sandboxConfig + `
  eb-envs:
    repo: acme/eb-envs
    image: quay.io/acme/eb-envs
    tag: "git_{{.ShortSHA}}"
    environments:
      prod:
        elasticbeanstalk: {application: eb-envs, environment: eb-envs-prod, bucket: b}
        env_vars: {SECRET_KEY: "${APP_SECRET}", LONG_CERT: "${LONG}"}
`
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat(envSecret, 10)
	vars := map[string]string{"APP_SECRET": envSecret, "LONG": long, "STORE": "sqlite:x.db", "GITHUB_API_URL": "http://127.0.0.1:1/", "GITHUB_KEY": string(testKeyPEM()), "SLACK_API_URL": "http://127.0.0.1:1/", "REGISTRY": "127.0.0.1:5000"}
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"check", "--config", path}, &out, &errOut, func(k string) string { return vars[k] })
	if err == nil || !strings.Contains(err.Error()+errOut.String(), "LONG_CERT") || !strings.Contains(err.Error()+errOut.String(), "256") {
		t.Errorf("check of a %d-character value: %v\n%s", len(long), err, errOut.String())
	}
	if text := fmt.Sprint(err) + out.String() + errOut.String(); strings.Contains(text, envSecret) {
		t.Errorf("check quoted the value: %s", text)
	}
}
