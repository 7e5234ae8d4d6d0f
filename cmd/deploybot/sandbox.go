package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/config"
	"github.com/deploybot/deploybot/emulator/awsemu"
	"github.com/deploybot/deploybot/emulator/githubemu"
	"github.com/deploybot/deploybot/emulator/registryemu"
	"github.com/deploybot/deploybot/emulator/slackemu"
	"github.com/deploybot/deploybot/emulator/world"
)

// Names the sandbox world is made of.
const (
	sandboxApp       = "takumi-server"
	sandboxRepo      = "takumi/takumi-server"
	sandboxImage     = "123456789012.dkr.ecr.us-east-1.amazonaws.com/takumi-server"
	sandboxChannel   = "#deploys"
	sandboxCheck     = "ci/codeship"
	sandboxInstall   = 4242
	sandboxAppID     = 1001
	sandboxUser      = "U024BE7LH"
	sandboxStranger  = "U0STRANGER" // a Slack user not allowed on prod
	sandboxApprover  = "U0APPROVER" // allowed on shop-web prod, which asks for an approval
	sandboxWriter    = "octocat"    // GitHub login with write access
	sandboxReader    = "hubot"      // GitHub login with read access
	sandboxCluster   = "dev"
	sandboxService   = "takumi-api"
	sandboxContainer = "api"
	sandboxEBEnv     = "takumi-srv-stg"
	sandboxBucket    = "eb-bucket"

	sandboxSigningSecret = "sandbox-slack-signing-secret"
	sandboxWebhookSecret = "sandbox-github-webhook-secret"
	sandboxBotToken      = "xoxb-sandbox"
	sandboxAWSSecret     = "sandbox-aws-secret-access-key"

	// An app whose image lives in a registry outside ECR, on loopback,
	// asking for credentials through a token challenge as Quay does.
	sandboxWebApp      = "shop-web"
	sandboxWebRepo     = "acme/shop-web"
	sandboxWebCluster  = "web"
	sandboxWebProd     = "shop-web-prod"
	sandboxRegistryPwd = "sandbox-registry-password"
)

// sandbox is a whole world on loopback: emulators of GitHub, Slack and
// AWS, and a real deploybot pointed at them through its config.
type sandbox struct {
	dir    string
	world  *world.World
	github *githubemu.Emulator
	slack  *slackemu.Server
	aws    *awsemu.Server
	oci    *registryemu.Registry
	cfg    *bot.Config
	bot    *instance

	// emulatorTime is the world's Busy: the time the emulators spent
	// answering, so that a benchmark can tell the bot's own time from
	// theirs.
	emulatorTime *atomic.Int64

	mu       sync.Mutex
	finished map[int64]chan struct{}

	console *console
	files   sandboxFiles
}

// newSandbox starts the emulators and the bot. logs receives the bot's
// own log lines.
func newSandbox(ctx context.Context, listen string, logs io.Writer, tweaks ...func(*options)) (_ *sandbox, err error) {
	s := &sandbox{finished: map[int64]chan struct{}{}}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	s.world, err = world.New(ctx, world.Options{
		AppID: sandboxAppID, SlackToken: sandboxBotToken, Channels: []string{sandboxChannel},
		Registry:     &world.Registry{Auth: registryemu.Token, Username: "acme+deploybot", Password: sandboxRegistryPwd},
		RolloutPolls: 3, Store: "sqlite", TempPrefix: "deploybot-sandbox-",
	})
	if err != nil {
		return nil, err
	}
	s.dir, s.github, s.slack, s.aws, s.oci = s.world.Dir, s.world.GitHub, s.world.Slack, s.world.AWS, s.world.OCI
	s.emulatorTime = &s.world.Busy
	s.github.AddRepo(sandboxRepo, sandboxInstall)
	s.slack.AddUser(slackemu.User{ID: sandboxUser, Name: "bobby", RealName: "Bobby Tables", DisplayName: "bob"})
	s.slack.AddUser(slackemu.User{ID: sandboxApprover, Name: "carol", RealName: "Carol Approver", DisplayName: "carol"})
	for _, cluster := range []string{sandboxCluster, "prod"} {
		s.aws.AddService(cluster, sandboxService, awsemu.TaskDef{
			Family: sandboxService + "-" + cluster, CPU: "256", Memory: "512",
			Containers: []awsemu.Container{
				{Name: sandboxContainer, Image: sandboxImage + ":git_0000000", Memory: 512, Environment: map[string]string{"PORT": "8080"}},
				{Name: "log-router", Image: "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable", Memory: 64},
			},
		})
	}
	s.aws.AddBucket(sandboxBucket)
	s.aws.AddEBEnvironment(sandboxApp, sandboxEBEnv, sandboxEBEnv+".us-east-1.elasticbeanstalk.com", "initial")
	s.github.SetPermission(sandboxRepo, sandboxWriter, "write")
	s.github.SetPermission(sandboxRepo, sandboxReader, "read")

	s.github.AddRepo(sandboxWebRepo, sandboxInstall)
	s.aws.AddService(sandboxWebCluster, sandboxWebApp, awsemu.TaskDef{
		Family: sandboxWebApp, CPU: "256", Memory: "512",
		Containers: []awsemu.Container{{Name: "web", Image: s.oci.Host() + "/acme/shop-web:v0", Memory: 512}},
	})
	s.aws.AddService(sandboxWebCluster, sandboxWebProd, awsemu.TaskDef{
		Family: sandboxWebProd, CPU: "256", Memory: "512",
		Containers: []awsemu.Container{{Name: "web", Image: s.oci.Host() + "/acme/shop-web:v0", Memory: 512}},
	})

	s.cfg, err = config.Parse([]byte(sandboxConfig), func(name string) string {
		return map[string]string{
			"GITHUB_API_URL": s.world.GitHubURL + "/api/v3/",
			"GITHUB_KEY":     string(s.world.AppKeyPEM),
			"SLACK_API_URL":  s.slack.APIURL(),
			"STORE":          s.world.StoreDSN,
			"REGISTRY":       s.oci.Host(),
		}[name]
	})
	if err != nil {
		return nil, fmt.Errorf("sandbox config: %w", err)
	}
	// A registry's host is a map key, which ${VAR} does not reach, and the
	// sandbox's registry port is only known now.
	s.cfg.Registries = map[string]*bot.RegistryConfig{s.oci.Host(): {Username: "acme+deploybot", Password: sandboxRegistryPwd}}
	// The sandbox's dashboard has no credentials to give; it is open only
	// where nobody else can reach it.
	s.cfg.Dashboard.Public = isLoopback(listen)
	// Links in Slack and GitHub point at the dashboard the person has
	// open, unless the port is only chosen now (tests).
	if _, port, err := net.SplitHostPort(listen); err == nil && port != "0" {
		s.cfg.PublicURL = "http://" + listen
	}
	opt := options{
		logger:     newLogger(logs),
		awsOptions: s.world.AWSOptions("AKIASANDBOX", sandboxAWSSecret),
		finished: func(d *bot.Deployment) {
			// A pipeline may stop unfinished (shutdown, lease lost) and be
			// run again; only its end counts.
			if d.State.Terminal() {
				if s.console != nil {
					s.console.finished(d)
				}
				s.markDone(d.ID)
			}
		},
	}
	if isLoopback(listen) {
		s.console = newConsole(s)
		opt.routes = s.console.routes
	}
	for _, tweak := range tweaks {
		tweak(&opt)
	}
	if opt.sandboxConfig != nil {
		opt.sandboxConfig(s.cfg)
	}
	// GitHub tells the bot about deployments, as the real one would once
	// the App is installed; the bot must recognise its own.
	in, err := s.world.StartBot(ctx, s.cfg, opt.wiring(listen))
	if err != nil {
		return nil, err
	}
	s.bot = newInstance(in)
	if s.files, err = s.writeFiles(s.world.AppKeyPEM, s.world.GitHubURL+"/api/v3/", s.world.AWSURL); err != nil {
		return nil, err
	}
	return s, nil
}

const sandboxConfig = `
store: ${STORE}
public_url: "http://127.0.0.1:8080"
github:
  api_url: ${GITHUB_API_URL}
  app_id: 1001
  private_key: ${GITHUB_KEY}
  webhook_secret: sandbox-github-webhook-secret
slack:
  api_url: ${SLACK_API_URL}
  bot_token: xoxb-sandbox
  signing_secret: sandbox-slack-signing-secret
  channel: "#deploys"
aws:
  region: us-east-1
timing:
  lease: 5s
  queue_poll: 100ms
  ci_poll: 20ms
  rollout_poll: 20ms
apps:
  takumi-server:
    repo: takumi/takumi-server
    image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/takumi-server
    tag: "git_{{.ShortSHA}}"
    checks: ["ci/codeship"]
    ci_timeout: 1m
    environments:
      dev:
        ecs: {cluster: dev, service: takumi-api, container: api}
        timeout: 1m
        auto_deploy: {branch: main}
      staging:
        elasticbeanstalk: {application: takumi-server, environment: takumi-srv-stg, bucket: eb-bucket, ports: [8080]}
        timeout: 1m
      prod:
        ecs: {cluster: prod, service: takumi-api, container: api}
        timeout: 1m
        allow: ["slack:U024BE7LH", "github:octocat"]
        auto_rollback: true
  shop-web:
    repo: acme/shop-web
    image: ${REGISTRY}/acme/shop-web
    tag: "git_{{.ShortSHA}}"
    environments:
      dev:
        ecs: {cluster: web, service: shop-web, container: web}
        timeout: 1m
      prod:
        ecs: {cluster: web, service: shop-web-prod, container: web}
        timeout: 1m
        allow: ["slack:U024BE7LH", "slack:U0APPROVER", "github:octocat"]
        approvals: 1
`

// Close stops the bot, then the emulators, and removes the temp dir.
func (s *sandbox) Close() {
	if s.world != nil {
		s.world.Close()
	}
}

// commit adds a commit on branch to the repo, with its CI result and, if
// pushed, its image in ECR. It returns the full sha.
func (s *sandbox) commit(seed, branch, ciState string, pushed bool) string {
	c := world.Commit{Repo: sandboxRepo, Seed: seed, Branch: branch, Check: sandboxCheck, CIState: ciState}
	if pushed {
		c.ECRRepo = "takumi-server"
	}
	return world.AddCommit(s.github, s.aws, c)
}

// slash plays Slack sending `/deploy text` signed with the app's secret and
// returns the bot's immediate ephemeral reply.
func (s *sandbox) slash(ctx context.Context, user, text string) (int, string, error) {
	return s.slashVia(ctx, user, text, s.slack.NewResponseURL())
}

// slashVia is slash with the response_url the bot's later replies go to.
func (s *sandbox) slashVia(ctx context.Context, user, text, responseURL string) (int, string, error) {
	resp, err := slackemu.SlashCommand(ctx, http.DefaultClient, s.bot.URL+"/slack/commands", sandboxSigningSecret, slackemu.Command{
		UserID: user, UserName: "sandbox-user", ChannelID: s.slack.ChannelID(sandboxChannel), ChannelName: "deploys",
		Command: "/deploy", Text: text, ResponseURL: responseURL,
	})
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var reply struct {
		Text string `json:"text"`
	}
	body, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(body, &reply)
	if reply.Text == "" {
		reply.Text = strings.TrimSpace(string(body))
	}
	return resp.StatusCode, reply.Text, nil
}

// latest returns the most recent deployment in the store.
func (s *sandbox) latest(ctx context.Context) (*bot.Deployment, error) {
	ds, err := s.bot.store.Deployments(ctx, 1)
	if err != nil {
		return nil, err
	}
	if len(ds) == 0 {
		return nil, errors.New("no deployment stored")
	}
	return ds[0], nil
}

// done returns the channel closed when deployment id's pipeline has
// finished, reporting included.
func (s *sandbox) done(id int64) chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, ok := s.finished[id]
	if !ok {
		ch = make(chan struct{})
		s.finished[id] = ch
	}
	return ch
}

func (s *sandbox) markDone(id int64) {
	ch := s.done(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// wait returns deployment id as stored once its pipeline has finished.
func (s *sandbox) wait(ctx context.Context, id int64) (*bot.Deployment, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	select {
	case <-s.done(id):
	case <-ctx.Done():
		d, err := s.bot.store.Deployment(context.Background(), id)
		if err != nil {
			return nil, err
		}
		return d, fmt.Errorf("deployment #%d still %s: %w", id, d.State, ctx.Err())
	}
	return s.bot.store.Deployment(ctx, id)
}

// slackHistory is every text the deployment's Slack message showed.
func (s *sandbox) slackHistory(d *bot.Deployment) []string {
	m, ok := s.slack.Message(d.SlackChannel, d.SlackTS)
	if !ok {
		return nil
	}
	var texts []string
	for _, r := range m.History {
		texts = append(texts, r.Text)
	}
	if len(texts) == 0 || texts[len(texts)-1] != m.Text {
		texts = append(texts, m.Text)
	}
	return texts
}

// untilQueued waits, at most 30 s, until deployment b's Slack message has
// said it queues behind a.
func (s *sandbox) untilQueued(ctx context.Context, b, a int64) {
	want := fmt.Sprintf("Queued behind deployment #%d", a)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && ctx.Err() == nil; {
		if d, err := s.bot.store.Deployment(ctx, b); err == nil {
			for _, text := range s.slackHistory(d) {
				if strings.Contains(text, want) {
					return
				}
			}
		}
		<-time.After(10 * time.Millisecond)
	}
}

// bakeUntilEnded moves the AWS emulator's clock on by a bake time
// whenever prod's service deployment is baking, until the deployments ids
// have ended (at most 60 s). Only then: the later steps show the clock.
func (s *sandbox) bakeUntilEnded(ctx context.Context, ids ...int64) {
	advancedAt := 0
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline) && ctx.Err() == nil; {
		ended := true
		for _, id := range ids {
			if d, err := s.bot.store.Deployment(ctx, id); err != nil || !d.State.Terminal() {
				ended = false
			}
		}
		if ended {
			return
		}
		// A bake that goes on polls again; one that ended polls no more.
		if polls := s.aws.BakePolls("prod", sandboxService); polls > 0 && polls != advancedAt {
			s.aws.AdvanceClock(5 * time.Minute)
			advancedAt = polls
		}
		<-time.After(20 * time.Millisecond)
	}
}

func (s *sandbox) githubStatuses(d *bot.Deployment) []string {
	var states []string
	for _, st := range s.github.Statuses(sandboxRepo, d.GitHubDeploymentID) {
		states = append(states, st.State)
	}
	return states
}

// runSandbox plays the scenario and, unless once, keeps everything up.
func runSandbox(ctx context.Context, out io.Writer, once bool, listen string) error {
	logs := io.Discard
	if !once {
		logs = os.Stderr
	}
	sb, err := newSandbox(ctx, listen, logs)
	if err != nil {
		return err
	}
	defer sb.Close()
	fmt.Fprintf(out, "sandbox: bot on %s, GitHub/Slack/AWS emulators on loopback, store in %s\n", sb.bot.URL, sb.dir)

	failures := playScenario(ctx, sb, out)
	if len(failures) > 0 {
		fmt.Fprintf(out, "\nsandbox: %d step(s) went wrong:\n  %s\n", len(failures), strings.Join(failures, "\n  "))
	} else {
		fmt.Fprintln(out, "\nsandbox: every step ended as expected")
	}
	if once {
		if len(failures) > 0 {
			return errors.New("sandbox scenario failed")
		}
		return nil
	}
	fmt.Fprintf(out, "sandbox: the bot stays up on %s (POST /slack/commands with secret %q); Ctrl-C to stop\n", sb.bot.URL, sandboxSigningSecret)
	sb.printAccess(out)
	<-ctx.Done()
	return nil
}

// playScenario runs the sandbox's story and returns what went wrong.
func playScenario(ctx context.Context, sb *sandbox, out io.Writer) []string {
	var failures []string
	expect := func(ok bool, format string, args ...any) bool {
		mark := "ok  "
		if !ok {
			mark = "FAIL"
			failures = append(failures, fmt.Sprintf(format, args...))
		}
		fmt.Fprintf(out, "  [%s] %s\n", mark, fmt.Sprintf(format, args...))
		return ok
	}

	good := sb.commit("sandbox good commit", "main", "success", true)
	red := sb.commit("sandbox red commit", "feature/red", "failure", true)

	fmt.Fprintf(out, "\n1. /deploy %s %s dev  (CI green, image pushed)\n", sandboxApp, good[:7])
	d, ok := playSlackDeploy(ctx, sb, out, expect, fmt.Sprintf("%s %s dev", sandboxApp, good[:7]))
	if ok {
		expect(d.State == bot.StateSucceeded, "deployment #%d ended %s %s", d.ID, d.State, d.Reason)
		td, _ := sb.aws.Service(sandboxCluster, sandboxService)
		image := sb.aws.TaskDefinitionImage(td, sandboxContainer)
		expect(strings.HasPrefix(image, sandboxImage+"@sha256:") && image == d.Image, "ECS service %s runs %s with image %s", sandboxService, td, image)
		states := sb.githubStatuses(d)
		expect(len(states) > 0 && states[len(states)-1] == "success", "GitHub deployment %d statuses: %s", d.GitHubDeploymentID, strings.Join(states, " → "))
	}

	before := sb.aws.CallCount("RegisterTaskDefinition") + sb.aws.CallCount("UpdateService")
	fmt.Fprintf(out, "\n2. /deploy %s feature/red dev  (CI red)\n", sandboxApp)
	d, ok = playSlackDeploy(ctx, sb, out, expect, fmt.Sprintf("%s feature/red to dev", sandboxApp))
	if ok {
		expect(d.State == bot.StateFailed && d.SHA == red, "deployment #%d ended %s: %s", d.ID, d.State, d.Reason)
		after := sb.aws.CallCount("RegisterTaskDefinition") + sb.aws.CallCount("UpdateService")
		expect(after == before, "no RegisterTaskDefinition or UpdateService call for it (%d before, %d after)", before, after)
		states := sb.githubStatuses(d)
		expect(len(states) > 0 && states[len(states)-1] == "failure", "GitHub deployment %d statuses: %s", d.GitHubDeploymentID, strings.Join(states, " → "))
		history := sb.slackHistory(d)
		expect(len(history) > 0 && strings.Contains(history[len(history)-1], sandboxCheck), "Slack names the failing check %s", sandboxCheck)
	}

	second := sb.commit("sandbox pull request head", "feature/pr-12", "success", true)
	sb.github.AddPullRequest(sandboxRepo, 12, second, "feature/pr-12", sandboxWriter)
	fmt.Fprintf(out, "\n3. @%s comments \"deploy to dev\" on pull request #12 (head %s)\n", sandboxWriter, second[:7])
	commentID, err := sb.github.UserComment(sandboxRepo, 12, sandboxWriter, "deploy to dev")
	expect(err == nil, "GitHub delivered the issue_comment webhook (%v)", err)
	if latest, err := sb.latest(ctx); err == nil && latest.PRNumber == 12 {
		d, err := sb.wait(ctx, latest.ID)
		if expect(err == nil && d.State == bot.StateSucceeded && d.SHA == second, "deployment #%d of the PR head ended %s %s", latest.ID, d.State, d.Reason); err == nil {
			expect(strings.Join(sb.github.Reactions(sandboxRepo, commentID), ",") == "eyes", "the comment got :eyes:")
			for _, c := range sb.github.Comments(sandboxRepo, 12) {
				if c.ID != commentID {
					fmt.Fprintf(out, "       PR comment (edited %d times): %s\n", c.Edits, firstLineOf(c.Body))
				}
			}
		}
	} else {
		expect(false, "the comment started no deployment")
	}

	fmt.Fprintf(out, "\n4. /deploy rollback %s dev  (back from %s to %s)\n", sandboxApp, second[:7], good[:7])
	d, ok = playSlackDeploy(ctx, sb, out, expect, "rollback "+sandboxApp+" dev")
	if ok {
		td, _ := sb.aws.Service(sandboxCluster, sandboxService)
		expect(d.State == bot.StateSucceeded && d.SHA == good, "rollback #%d ended %s on %s", d.ID, d.State, d.ShortSHA())
		expect(sb.aws.TaskDefinitionImage(td, sandboxContainer) == d.Image, "ECS runs %s again", good[:7])
	}

	fmt.Fprintf(out, "\n5. /deploy %s %s staging  (Elastic Beanstalk)\n", sandboxApp, second[:7])
	d, ok = playSlackDeploy(ctx, sb, out, expect, fmt.Sprintf("%s %s staging", sandboxApp, second[:7]))
	if ok {
		ebEnv, _ := sb.aws.EBEnvironment(sandboxEBEnv)
		expect(d.State == bot.StateSucceeded && ebEnv.Status == "Ready" && strings.Contains(ebEnv.VersionLabel, second[:7]), "deployment #%d ended %s; %s is %s on version %s", d.ID, d.State, sandboxEBEnv, ebEnv.Status, ebEnv.VersionLabel)
	}

	third := sb.commit("sandbox commit that crashes on EB", "feature/crash", "success", true)
	sb.aws.FailEBUpdates(sandboxEBEnv, true)
	fmt.Fprintf(out, "\n6. /deploy %s %s staging  (the new version fails on the instances)\n", sandboxApp, third[:7])
	d, ok = playSlackDeploy(ctx, sb, out, expect, fmt.Sprintf("%s %s staging", sandboxApp, third[:7]))
	if ok {
		states := sb.githubStatuses(d)
		expect(d.State == bot.StateFailed && strings.Contains(d.Reason, "rolled back by Elastic Beanstalk"), "deployment #%d ended %s: %s", d.ID, d.State, d.Reason)
		expect(len(states) > 0 && states[len(states)-1] == "failure", "GitHub deployment %d statuses: %s", d.GitHubDeploymentID, strings.Join(states, " → "))
	}
	sb.aws.FailEBUpdates(sandboxEBEnv, false)

	fmt.Fprintf(out, "\n7. /deploy %s %s prod and, at once, /deploy %s %s prod  (the second queues behind the first)\n", sandboxApp, good[:7], sandboxApp, second[:7])
	// The first one's rollout bakes until the second has said it queues:
	// on a busy machine the first could otherwise end before the second
	// reached the gate, and there would be no queue to show.
	sb.aws.SetStrategy("prod", sandboxService, awsemu.Strategy{Kind: "BLUE_GREEN", BakeTime: 5 * time.Minute})
	a, errA := sb.slashAccepted(ctx, fmt.Sprintf("%s %s prod", sandboxApp, good[:7]))
	b, errB := sb.slashAccepted(ctx, fmt.Sprintf("%s %s prod", sandboxApp, second[:7]))
	if expect(errA == nil && errB == nil, "both accepted (%v, %v)", errA, errB) {
		sb.untilQueued(ctx, b, a)
		sb.bakeUntilEnded(ctx, a, b)
		sb.aws.SetStrategy("prod", sandboxService, awsemu.Strategy{})
		da, errA := sb.wait(ctx, a)
		db, errB := sb.wait(ctx, b)
		expect(errA == nil && errB == nil && da.State == bot.StateSucceeded && db.State == bot.StateSucceeded, "#%d ended %s, #%d ended %s", a, da.State, b, db.State)
		queued := false
		for _, text := range sb.slackHistory(db) {
			if strings.Contains(text, fmt.Sprintf("Queued behind deployment #%d", a)) {
				queued = true
				fmt.Fprintf(out, "       slack: %s\n", text)
			}
		}
		expect(queued, "#%d said it was queued behind #%d", b, a)
		td, _ := sb.aws.Service("prod", sandboxService)
		expect(sb.aws.TaskDefinitionImage(td, sandboxContainer) == db.Image, "prod runs %s, the later of the two", second[:7])
	}

	sb.aws.FailRollouts("prod", sandboxService, true)
	fmt.Fprintf(out, "\n8. /deploy %s %s prod  (its tasks crash; prod has auto_rollback)\n", sandboxApp, third[:7])
	d, ok = playSlackDeploy(ctx, sb, out, expect, fmt.Sprintf("%s %s prod", sandboxApp, third[:7]))
	sb.aws.FailRollouts("prod", sandboxService, false)
	if ok {
		expect(d.State == bot.StateFailed || d.State == bot.StateRolledBack, "deployment #%d ended %s: %s", d.ID, d.State, d.Reason)
		rb, err := sb.latest(ctx)
		if expect(err == nil && rb.RollbackOf == d.ID, "deploybot started rollback #%d of #%d", rb.ID, d.ID) {
			rb, err = sb.wait(ctx, rb.ID)
			expect(err == nil && rb.State == bot.StateSucceeded && rb.SHA == second, "rollback #%d ended %s on %s", rb.ID, rb.State, rb.ShortSHA())
			orig, _ := sb.bot.store.Deployment(ctx, d.ID)
			expect(orig.State == bot.StateRolledBack, "#%d is now %s: %s", d.ID, orig.State, orig.Reason)
		}
	}

	playAutoDeploy(ctx, sb, out, expect)
	playRegistryDeploy(ctx, sb, out, expect)
	playBlueGreen(ctx, sb, out, expect, good)
	playDryRun(ctx, sb, out, expect, good)
	playPromotion(ctx, sb, out, expect)
	playApproval(ctx, sb, out, expect)
	return failures
}

// webCommit adds a commit of shop-web with green CI and pushes its image
// to the sandbox's registry; seed makes the sha.
func (s *sandbox) webCommit(seed string) (sha, digest string, err error) {
	sum := sha256.Sum256([]byte(seed))
	sha = hex.EncodeToString(sum[:20])
	s.github.AddCommit(sandboxWebRepo, sha, "main")
	s.github.SetStatus(sandboxWebRepo, sha, "ci/circleci", "success")
	digest, err = s.oci.Push("acme/shop-web", "git_"+sha[:7])
	return sha, digest, err
}

// playRegistryDeploy deploys an image from a registry outside ECR, found
// through the OCI distribution API after a token challenge.
func playRegistryDeploy(ctx context.Context, sb *sandbox, out io.Writer, expect func(bool, string, ...any) bool) {
	sha, digest, err := sb.webCommit("sandbox shop-web commit")
	fmt.Fprintf(out, "\n12. /deploy %s %s dev  (image pushed to the registry on %s, which asks for a token)\n", sandboxWebApp, sha[:7], sb.oci.Host())
	if !expect(err == nil, "pushed %s/acme/shop-web:git_%s (%v)", sb.oci.Host(), sha[:7], err) {
		return
	}
	d, ok := playSlackDeploy(ctx, sb, out, expect, fmt.Sprintf("%s %s dev", sandboxWebApp, sha[:7]))
	if ok {
		td, _ := sb.aws.Service(sandboxWebCluster, sandboxWebApp)
		image := sb.aws.TaskDefinitionImage(td, "web")
		expect(d.State == bot.StateSucceeded && strings.HasSuffix(image, "@"+digest), "deployment #%d ended %s; ECS runs %s", d.ID, d.State, image)
	}
}

// playBlueGreen is ECS's native blue/green: each lifecycle stage is
// reported, and success comes only after the bake time, which the
// sandbox fast-forwards on the emulator's clock.
func playBlueGreen(ctx context.Context, sb *sandbox, out io.Writer, expect func(bool, string, ...any) bool, sha string) {
	sb.aws.SetStrategy("prod", sandboxService, awsemu.Strategy{Kind: "BLUE_GREEN", BakeTime: 5 * time.Minute})
	// Only the scenario moves the emulator's clock: left in blue/green,
	// every later prod deploy of someone playing would bake for ever.
	defer sb.aws.SetStrategy("prod", sandboxService, awsemu.Strategy{})
	fmt.Fprintf(out, "\n13. prod's service uses ECS blue/green (bake time 5 min); /deploy %s %s prod\n", sandboxApp, sha[:7])
	id, err := sb.slashAccepted(ctx, fmt.Sprintf("%s %s prod", sandboxApp, sha[:7]))
	if !expect(err == nil, "deployment accepted (%v)", err) {
		return
	}
	for deadline := time.Now().Add(30 * time.Second); sb.aws.BakePolls("prod", sandboxService) < 2 && time.Now().Before(deadline); {
		<-time.After(5 * time.Millisecond)
	}
	d, err := sb.bot.store.Deployment(ctx, id)
	expect(err == nil && !d.State.Terminal(), "in bake time #%d is still %s", id, d.State)
	fmt.Fprintln(out, "       (the sandbox moves the emulator's clock 5 minutes on)")
	sb.aws.AdvanceClock(5 * time.Minute)
	d, err = sb.wait(ctx, id)
	expect(err == nil && d.State == bot.StateSucceeded, "#%d ended %s %s", id, d.State, d.Reason)
	events, _ := sb.bot.store.Events(ctx, id)
	for _, e := range events {
		if e.Stage == bot.StateDeploying || e.Stage == bot.StateVerifyingHealth {
			fmt.Fprintf(out, "       timeline: %s\n", e.Message)
		}
	}
}

// playAutoDeploy is continuous delivery: dev deploys every push to main
// once its CI is green, and a newer push supersedes one still waiting.
func playAutoDeploy(ctx context.Context, sb *sandbox, out io.Writer, expect func(bool, string, ...any) bool) {
	first := sb.commit("sandbox push one", "", "pending", true)
	second := sb.commit("sandbox push two", "", "pending", true)
	fmt.Fprintf(out, "\n9. octocat pushes %s to main (dev has auto_deploy: {branch: main}; CI still running)\n", first[:7])
	pushed := func(sha string) *bot.Deployment {
		if _, err := sb.github.Push(sandboxRepo, "main", sha, "octocat"); err != nil {
			expect(false, "push webhook: %v", err)
			return nil
		}
		d, err := sb.latest(ctx)
		if !expect(err == nil && d.Source == bot.SourceAuto && d.SHA == sha, "push became auto deployment #%d of %s", d.ID, d.ShortSHA()) {
			return nil
		}
		return d
	}
	a := pushed(first)
	fmt.Fprintf(out, "\n10. octocat pushes %s to main before the first one's CI finishes\n", second[:7])
	sb.github.Advance(time.Second) // a push GitHub tells apart from the first
	b := pushed(second)
	if a == nil || b == nil {
		return
	}
	a, err := sb.wait(ctx, a.ID)
	expect(err == nil && a.State == bot.StateSuperseded, "#%d ended %s: %s", a.ID, a.State, a.Reason)
	fmt.Fprintf(out, "\n11. CI turns green for %s\n", second[:7])
	if err := sb.setCI(sandboxRepo, second, sandboxCheck, "success"); err != nil {
		expect(false, "status webhook: %v", err)
		return
	}
	b, err = sb.wait(ctx, b.ID)
	expect(err == nil && b.State == bot.StateSucceeded, "#%d (%s) ended %s %s", b.ID, b.ShortSHA(), b.State, b.Reason)
	for _, text := range sb.slackHistory(b) {
		fmt.Fprintf(out, "       slack: %s\n", text)
	}
	states := sb.githubStatuses(b)
	expect(len(states) > 0 && states[len(states)-1] == "success", "GitHub deployment %d statuses: %s", b.GitHubDeploymentID, strings.Join(states, " → "))
}

// setCI records a commit status and tells the bot, as GitHub's status
// webhook does.
func (s *sandbox) setCI(repo, sha, check, state string) error {
	s.github.SetStatus(repo, sha, check, state)
	payload, _ := json.Marshal(map[string]any{"sha": sha, "state": state, "context": check,
		"repository": map[string]any{"full_name": repo}})
	return s.github.SendWebhook("status", payload)
}

// slashAccepted sends a deploy and returns the id the bot gave it.
func (s *sandbox) slashAccepted(ctx context.Context, text string) (int64, error) {
	code, reply, err := s.slash(ctx, sandboxUser, text)
	if err != nil {
		return 0, err
	}
	var id int64
	if _, err := fmt.Sscanf(reply, "Deployment #%d accepted", &id); err != nil || code != http.StatusOK {
		return 0, fmt.Errorf("reply %d %q", code, reply)
	}
	return id, nil
}

func firstLineOf(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// playSlackDeploy sends one signed command, waits for its deployment and
// prints what Slack showed along the way.
func playSlackDeploy(ctx context.Context, sb *sandbox, out io.Writer, expect func(bool, string, ...any) bool, text string) (*bot.Deployment, bool) {
	code, reply, err := sb.slash(ctx, sandboxUser, text)
	if err != nil {
		expect(false, "slash command: %v", err)
		return nil, false
	}
	expect(code == http.StatusOK && strings.Contains(reply, "accepted"), "bot acknowledged (HTTP %d): %s", code, reply)
	d, err := sb.latest(ctx)
	if err != nil {
		expect(false, "%v", err)
		return nil, false
	}
	d, err = sb.wait(ctx, d.ID)
	if err != nil {
		expect(false, "%v", err)
		return nil, false
	}
	for _, text := range sb.slackHistory(d) {
		fmt.Fprintf(out, "       slack: %s\n", text)
	}
	return d, true
}

// awsWrites counts the calls that change what ECS or Elastic Beanstalk run.
func (s *sandbox) awsWrites() int {
	n := 0
	for _, op := range []string{"RegisterTaskDefinition", "UpdateService", "CreateApplicationVersion", "UpdateEnvironment", "PutObject"} {
		n += s.aws.CallCount(op)
	}
	return n
}

// playDryRun asks for the plan of deploying to prod two commits on top of
// what prod runs (running): an answer naming them, and no deployment,
// GitHub deployment or AWS write.
func playDryRun(ctx context.Context, sb *sandbox, out io.Writer, expect func(bool, string, ...any) bool, running string) {
	sha := running
	for i, author := range []string{"octocat", "hubot"} {
		sum := sha256.Sum256([]byte(fmt.Sprintf("sandbox dry-run commit %d", i)))
		child := hex.EncodeToString(sum[:20])
		sb.github.AddChild(sandboxRepo, sha, child, author, fmt.Sprintf("sandbox change %d", i+1))
		sha = child
	}
	sb.github.SetStatus(sandboxRepo, sha, sandboxCheck, "success")
	sb.aws.PutImage(sandboxApp, "git_"+sha[:7], "sha256:"+strings.Repeat("d", 64))
	text := fmt.Sprintf("%s %s prod --dry-run", sandboxApp, sha[:7])
	fmt.Fprintf(out, "\n14. /deploy %s  (the plan only)\n", text)
	before, err := sb.latest(ctx)
	if !expect(err == nil, "the store has deployments (%v)", err) {
		return
	}
	writes, ghDeployments := sb.awsWrites(), len(sb.github.Deployments(sandboxRepo))
	code, reply, err := sb.slash(ctx, sandboxUser, text)
	if !expect(err == nil && code == http.StatusOK && strings.Contains(reply, "Dry run:") && strings.Contains(reply, "Now:") && strings.Contains(reply, "Commits that would ship: 2"), "the bot answered with the plan and the 2 commits it would ship (HTTP %d, %v)", code, err) {
		return
	}
	for _, line := range strings.Split(reply, "\n") {
		fmt.Fprintf(out, "       slack: %s\n", line)
	}
	after, err := sb.latest(ctx)
	expect(err == nil && after.ID == before.ID, "no deployment was created (newest is still #%d)", before.ID)
	expect(sb.awsWrites() == writes && len(sb.github.Deployments(sandboxRepo)) == ghDeployments, "no AWS write and no GitHub deployment")
}

// playPromotion ships to staging (Elastic Beanstalk) exactly the digest dev
// (ECS) runs.
func playPromotion(ctx context.Context, sb *sandbox, out io.Writer, expect func(bool, string, ...any) bool) {
	fmt.Fprintf(out, "\n15. /deploy promote %s dev staging  (the very digest dev runs)\n", sandboxApp)
	td, _ := sb.aws.Service(sandboxCluster, sandboxService)
	devImage := sb.aws.TaskDefinitionImage(td, sandboxContainer)
	d, ok := playSlackDeploy(ctx, sb, out, expect, "promote "+sandboxApp+" dev staging")
	if !ok {
		return
	}
	expect(d.State == bot.StateSucceeded && d.PromotedFrom != nil && d.Image == devImage, "#%d ended %s with %s; dev runs %s", d.ID, d.State, d.Image, devImage)
	ebEnv, _ := sb.aws.EBEnvironment(sandboxEBEnv)
	expect(strings.Contains(ebEnv.VersionLabel, d.ShortSHA()), "%s runs version %s", sandboxEBEnv, ebEnv.VersionLabel)
}

// playApproval is a deploy to an env that asks for one approval: the
// requester cannot give it, someone else allowed there can, and nothing
// reaches AWS before.
func playApproval(ctx context.Context, sb *sandbox, out io.Writer, expect func(bool, string, ...any) bool) {
	sha, _, err := sb.webCommit("sandbox shop-web approved commit")
	fmt.Fprintf(out, "\n16. /deploy %s %s prod  (prod asks for 1 approval)\n", sandboxWebApp, sha[:7])
	if !expect(err == nil, "pushed acme/shop-web:git_%s (%v)", sha[:7], err) {
		return
	}
	writes := sb.awsWrites()
	id, err := sb.slashAccepted(ctx, fmt.Sprintf("%s %s prod", sandboxWebApp, sha[:7]))
	if !expect(err == nil, "deployment accepted (%v)", err) {
		return
	}
	d, err := sb.bot.store.Deployment(ctx, id)
	for deadline := time.Now().Add(30 * time.Second); err == nil && d.State != bot.StateWaitingForApproval && !d.State.Terminal() && time.Now().Before(deadline); {
		<-time.After(5 * time.Millisecond)
		d, err = sb.bot.store.Deployment(ctx, id)
	}
	if !expect(err == nil && d.State == bot.StateWaitingForApproval, "#%d is %s", id, d.State) {
		return
	}
	expect(sb.awsWrites() == writes, "nothing reached AWS before the approval")
	_, reply, err := sb.slash(ctx, sandboxUser, fmt.Sprintf("approve %d", id))
	expect(err == nil && strings.Contains(reply, "so you cannot approve it"), "the requester's own approval is refused: %s", reply)
	_, reply, err = sb.slash(ctx, sandboxApprover, fmt.Sprintf("approve %d", id))
	expect(err == nil && strings.Contains(reply, "You approved"), "carol approves: %s", reply)
	d, err = sb.wait(ctx, id)
	expect(err == nil && d.State == bot.StateSucceeded, "#%d ended %s %s", id, d.State, d.Reason)
	for _, text := range sb.slackHistory(d) {
		fmt.Fprintf(out, "       slack: %s\n", text)
	}
}
