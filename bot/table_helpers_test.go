package bot_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/bot/bottest"
)

// The table tests of this package run bot's exported API against the
// fakes of bot/bottest: no network, no database, no wall clock.

const (
	ecr    = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
	sha1   = "cf7edb2aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	sha2   = "d00dfeebbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	sha3   = "e1e1e1eccccccccccccccccccccccccccccccccc"
	digest = "sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

// testConfig has web (acme/web) with an open dev (ECS, auto deploys main),
// an Elastic Beanstalk staging and a guarded prod (ECS, allow list, auto
// rollback, own channel); and api and worker, two apps of acme/platform,
// api requiring one named check and taking neutral as a pass.
func testConfig() *bot.Config {
	ecs := func(svc string) *bot.ECSTarget { return &bot.ECSTarget{Cluster: "c", Service: svc, Container: "app"} }
	return &bot.Config{
		PublicURL: "https://deploybot.example.com",
		GitHub:    bot.GitHubConfig{Token: "token"},
		Slack:     bot.SlackConfig{Channel: "#deploys"},
		AWS:       bot.AWSConfig{Region: "us-east-1"},
		Apps: map[string]*bot.App{
			"web": {Repo: "acme/web", Image: ecr + "/web", Tag: "git_{{.ShortSHA}}", CITimeout: bot.Duration(30 * time.Minute),
				Environments: map[string]*bot.Environment{
					"dev":     {ECS: ecs("web-dev"), AutoDeploy: &bot.AutoDeploy{Branch: "main"}},
					"staging": {ElasticBeanstalk: &bot.EBTarget{Application: "web", Environment: "web-stg", Bucket: "eb"}},
					"prod": {ECS: ecs("web-prod"), Allow: []string{"slack:UADMIN", "slack:UOPS", "github:octocat", "github-team:acme/ops"},
						AutoRollback: true, Channel: "#prod-deploys"},
				}},
			"api": {Repo: "acme/platform", Image: ecr + "/api", Tag: "{{.SHA}}", Checks: []string{"ci/build"},
				CIPassStates: []bot.CheckState{bot.CheckNeutral},
				Environments: map[string]*bot.Environment{"dev": {ECS: ecs("api-dev")}}},
			"worker": {Repo: "acme/platform", Image: ecr + "/worker", Tag: "git_{{.ShortSHA}}",
				Environments: map[string]*bot.Environment{"dev": {ECS: ecs("worker-dev")}}},
		},
	}
}

// newWorld is testConfig on fakes, with web's and api's images of sha1,
// sha2 and sha3 pushed.
func newWorld(t *testing.T) *bottest.World {
	t.Helper()
	w := bottest.NewWorld(t, testConfig())
	for _, sha := range []string{sha1, sha2, sha3} {
		w.Images.Push(ecr+"/web", "git_"+sha[:7], digest)
		w.Images.Push(ecr+"/api", sha, digest)
	}
	return w
}

func green(name string) bot.Check { return bot.Check{Name: name, State: bot.CheckSuccess} }

func check(name string, st bot.CheckState) bot.Check { return bot.Check{Name: name, State: st} }

// accept stores a Slack request of app ref env by requester, failing t if
// it is refused.
func accept(t *testing.T, w *bottest.World, app, ref, env, requester string) *bot.Deployment {
	t.Helper()
	d, err := w.Service.Accept(context.Background(), bot.Request{
		App: app, Env: env, Ref: ref, Requester: requester, Source: bot.SourceSlack,
		SlackChannel: "CASK", SlackResponseURL: "https://hooks.slack.test/" + requester,
	})
	if err != nil {
		t.Fatalf("Accept %s %s %s by %s: %v", app, ref, env, requester, err)
	}
	return d
}

// seed stores a deployment in a state directly, as history.
func seed(t *testing.T, w *bottest.World, app, env, sha string, state bot.State) *bot.Deployment {
	t.Helper()
	d := &bot.Deployment{App: app, Env: env, Repo: w.Service.Config.Apps[app].Repo, Ref: sha, SHA: sha,
		Requester: "slack:USEED", Source: bot.SourceSlack, State: state}
	if err := w.Store.CreateDeployment(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	return d
}

func stored(t *testing.T, w *bottest.World, id int64) *bot.Deployment {
	t.Helper()
	d, err := w.Store.Deployment(context.Background(), id)
	if err != nil {
		t.Fatalf("deployment #%d: %v", id, err)
	}
	return d
}

// statusStates lists the states of the GitHub statuses of d, in order.
func statusStates(w *bottest.World, d *bot.Deployment) []string {
	var states []string
	for _, st := range w.GitHub.Statuses(d.GitHubDeploymentID) {
		states = append(states, st.State)
	}
	return states
}

// slackText is the text of d's Slack message as it reads now.
func slackText(t *testing.T, w *bottest.World, d *bot.Deployment) string {
	t.Helper()
	msg, ok := w.Chat.Message(d.SlackChannel, d.SlackTS)
	if !ok {
		t.Fatalf("deployment #%d has no Slack message (%q, %q)", d.ID, d.SlackChannel, d.SlackTS)
	}
	return msg.Text
}

// wantCode fails t unless err has code; it says what the error said.
func wantCode(t *testing.T, err error, code, contains string) {
	t.Helper()
	if bot.ErrorCode(err) != code || !strings.Contains(bot.ErrorMessage(err), contains) {
		t.Errorf("error %v; want %s containing %q", err, code, contains)
	}
}
