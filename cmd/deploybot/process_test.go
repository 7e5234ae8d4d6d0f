package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/emulator/awsemu"
	"github.com/deploybot/deploybot/emulator/githubemu"
	"github.com/deploybot/deploybot/emulator/slackemu"
	"github.com/deploybot/deploybot/emulator/world"
)

// syncBuffer collects a child process's output; the test reads it while
// the process may still write.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fleet is the emulators and a config for running real `deploybot serve`
// processes against them: the crash and the replica tests.
type fleet struct {
	dir    string
	github *githubemu.Emulator
	slack  *slackemu.Server
	aws    *awsemu.Server
	env    []string
	lease  string // timing.lease of the configs; "" is 4s
	ciPoll string // timing.ci_poll of the configs; "" is 50ms
	// autoDeploy is the branch every env of the configs deploys on its
	// own; "" is none.
	autoDeploy string
	// approvals is each environment's approvals; 0 is none.
	approvals int
	// envTimeout is each environment's timeout; "" is 2m.
	envTimeout string
	// publicDashboard serves /metrics without credentials.
	publicDashboard bool
	// shed counts the commands serve answered 503 and say sent again.
	shed atomic.Int64
}

func newFleet(t testing.TB) *fleet {
	t.Helper()
	w := newTestWorld(t, world.Options{SlackToken: sandboxBotToken, Channels: []string{sandboxChannel}})
	f := &fleet{dir: w.Dir, github: w.GitHub, slack: w.Slack, aws: w.AWS}
	f.github.AddRepo(sandboxRepo, 0)
	f.github.AddToken("ghp_fleet", "deploybot-bot")
	f.env = w.Env("AWS_ACCESS_KEY_ID=AKIAFLEET", "AWS_SECRET_ACCESS_KEY=secret")
	return f
}

// addServices gives each env an ECS cluster of its name with the service.
func (f *fleet) addServices(envs []string) {
	for _, env := range envs {
		f.aws.AddService(env, sandboxService, awsemuTaskDef())
	}
}

// config writes a config with envs (name → ECS cluster) and returns its path.
func (f *fleet) config(t testing.TB, name, store, listen string, envs []string) string {
	t.Helper()
	return f.appsConfig(t, name, store, listen, []fleetApp{{name: "takumi-server", image: sandboxImage, envs: envs}})
}

// fleetApp is one app of a fleet's config, on the sandbox's repository.
// Its envs are ECS services in clusters named clusterPrefix+env.
type fleetApp struct {
	name, image   string
	clusterPrefix string
	envs          []string
}

// appsConfig writes a config with apps and returns its path.
func (f *fleet) appsConfig(t testing.TB, name, store, listen string, apps []fleetApp) string {
	t.Helper()
	lease := f.lease
	if lease == "" {
		lease = "4s"
	}
	ciPoll := f.ciPoll
	if ciPoll == "" {
		ciPoll = "50ms"
	}
	envTimeout := f.envTimeout
	if envTimeout == "" {
		envTimeout = "2m"
	}
	var b strings.Builder
	fmt.Fprintf(&b, `listen: %q
store: %q
dashboard: {public: %t}
github:
  api_url: ${GITHUB_URL}
  token: ghp_fleet
  webhook_secret: %s
slack:
  api_url: ${SLACK_URL}
  bot_token: %s
  signing_secret: %s
  channel: "%s"
aws:
  region: us-east-1
timing:
  lease: %s
  queue_poll: 100ms
  ci_poll: %s
  rollout_poll: 50ms
apps:
`, listen, store, f.publicDashboard, sandboxWebhookSecret, sandboxBotToken, sandboxSigningSecret, sandboxChannel, lease, ciPoll)
	for _, app := range apps {
		fmt.Fprintf(&b, "  %s:\n    repo: %s\n    image: %s\n    tag: \"git_{{.ShortSHA}}\"\n    environments:\n", app.name, sandboxRepo, app.image)
		for _, env := range app.envs {
			fmt.Fprintf(&b, "      %s:\n        ecs: {cluster: %s, service: %s, container: %s}\n        timeout: %s\n", env, app.clusterPrefix+env, sandboxService, sandboxContainer, envTimeout)
			if f.autoDeploy != "" {
				fmt.Fprintf(&b, "        auto_deploy: {branch: %s}\n", f.autoDeploy)
			}
			if f.approvals > 0 {
				fmt.Fprintf(&b, "        approvals: %d\n", f.approvals)
			}
		}
	}
	return writeConfig(t, f.dir, name, b.String())
}

func (f *fleet) commit(seed string) string {
	return (&sandbox{github: f.github, aws: f.aws}).commit(seed, "b-"+seed, "success", true)
}

// freeAddr returns a loopback address nothing listens on right now.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// serveProcess starts `deploybot serve` and waits until it answers.
func (f *fleet) serveProcess(t testing.TB, config, addr, replica string, logs io.Writer) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(deploybotBinary(t), "serve", "--config", config)
	cmd.Env = append(f.env, "DEPLOYBOT_REPLICA_ID="+replica)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	for i := 0; ; i++ {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			return cmd
		}
		if i > 300 {
			t.Fatalf("deploybot serve never answered on %s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// slash sends `/deploy text` as the sandbox's user and fails unless it
// was accepted.
func (f *fleet) slash(t testing.TB, addr, text string) {
	t.Helper()
	if body := f.say(t, addr, sandboxUser, text); !strings.Contains(body, "accepted") {
		t.Fatalf("/deploy %s: %s", text, body)
	}
}

// say sends `/deploy text` as user and returns the immediate reply. A
// command serve sheds (503: too many in flight, nothing stored) is sent
// again after its Retry-After, as a person would, and counted in f.shed:
// the benchmarks send hundreds at once.
func (f *fleet) say(t testing.TB, addr, user, text string) string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("/deploy %s: shed for 2 minutes", text)
		}
		resp, err := slackemu.SlashCommand(context.Background(), http.DefaultClient, "http://"+addr+"/slack/commands", sandboxSigningSecret, slackemu.Command{
			UserID: user, ChannelID: f.slack.ChannelID(sandboxChannel), Command: "/deploy", Text: text, ResponseURL: f.slack.NewResponseURL(),
		})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			return string(body)
		case http.StatusServiceUnavailable:
			f.shed.Add(1)
			after, err := strconv.Atoi(resp.Header.Get("Retry-After"))
			if err != nil {
				after = 1
			}
			time.Sleep(time.Duration(after) * time.Second)
		default:
			t.Fatalf("/deploy %s: %d %s", text, resp.StatusCode, body)
		}
	}
}

// finalStates returns the last GitHub status of every deployment.
func (f *fleet) finalStates() map[int64]string {
	out := map[int64]string{}
	for _, d := range f.github.Deployments(sandboxRepo) {
		st := f.github.Statuses(sandboxRepo, d.ID)
		if len(st) > 0 {
			out[d.ID] = st[len(st)-1].State
		}
	}
	return out
}

// waitAllSucceeded waits until n GitHub deployments have a final status
// and checks that each is success.
func (f *fleet) waitAllSucceeded(t testing.TB, what string, n int, limit time.Duration) {
	t.Helper()
	waitFor(t, what+" to end", limit, func() bool {
		ended := 0
		for _, st := range f.finalStates() {
			if st == "success" || st == "failure" || st == "error" {
				ended++
			}
		}
		return ended >= n
	})
	for id, st := range f.finalStates() {
		if st != "success" {
			t.Errorf("GitHub deployment %d ended %s, want success", id, st)
		}
	}
}

func waitFor(t testing.TB, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Killing the bot with SIGKILL in the middle of a rollout and starting it
// again finishes the deployment with exactly one new task definition and
// one UpdateService, and a final success on GitHub.
func TestCrashMidRolloutResumes(t *testing.T) {
	f := newFleet(t)
	addr := freeAddr(t)
	f.addServices([]string{"dev"})
	config := f.config(t, "crash.yaml", "sqlite:"+filepath.Join(f.dir, "deploybot.db"), addr, []string{"dev"})
	f.aws.SetRolloutPolls(12) // long enough to be killed in
	sha := f.commit("crash")
	var logs syncBuffer
	defer func() {
		if t.Failed() {
			t.Logf("deploybot logs:\n%s", logs.String())
		}
	}()

	first := f.serveProcess(t, config, addr, "replica-before-crash", &logs)
	f.slash(t, addr, "takumi-server "+sha[:7]+" dev")
	waitFor(t, "the rollout to start", 30*time.Second, func() bool {
		return f.aws.CallCount("UpdateService") == 1 && rolloutPolls(f.aws) >= 3
	})
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	first.Wait()
	states := f.finalStates()
	for _, st := range states {
		if st == "success" || st == "failure" {
			t.Fatalf("the deployment ended before the crash (%s); the test proves nothing", st)
		}
	}

	f.serveProcess(t, config, addr, "replica-after-crash", &logs)
	f.waitAllSucceeded(t, "the resumed deployment", 1, time.Minute)
	if n := f.aws.CallCount("RegisterTaskDefinition"); n != 1 {
		t.Errorf("RegisterTaskDefinition called %d times, want 1", n)
	}
	if n := f.aws.CallCount("UpdateService"); n != 1 {
		t.Errorf("UpdateService called %d times, want 1", n)
	}
	if n := len(f.github.Deployments(sandboxRepo)); n != 1 {
		t.Errorf("%d GitHub deployments, want 1", n)
	}
	td, _ := f.aws.Service("dev", sandboxService)
	if img := f.aws.TaskDefinitionImage(td, sandboxContainer); !strings.HasPrefix(img, sandboxImage+"@sha256:") {
		t.Errorf("ECS runs %q", img)
	}
	_ = bot.StateSucceeded
}

// BenchmarkFiveHundredEnvironments sends 500 deployments to 500
// environments at once to one `deploybot serve` process (SQLite) and
// reports how long until all succeeded and the process's peak RSS
// (VmHWM). DESIGN.md's budget is 200 MB. Run with -benchtime 1x.
func BenchmarkFiveHundredEnvironments(b *testing.B) {
	for b.Loop() {
		f := newFleet(b)
		var envs []string
		for i := range 500 {
			envs = append(envs, fmt.Sprintf("e%03d", i))
		}
		f.addServices(envs)
		f.aws.SetRolloutPolls(2)
		addr := freeAddr(b)
		config := f.config(b, "many.yaml", "sqlite:"+filepath.Join(f.dir, "deploybot.db"), addr, envs)
		var logs syncBuffer
		cmd := f.serveProcess(b, config, addr, "bench", &logs)
		sha := f.commit("many")
		began := time.Now()
		var wg sync.WaitGroup
		for _, env := range envs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				f.slash(b, addr, "takumi-server "+sha[:7]+" "+env)
			}()
		}
		wg.Wait()
		acked := time.Since(began)
		waitFor(b, "500 deployments to end", 5*time.Minute, func() bool {
			n := 0
			for _, st := range f.finalStates() {
				if st == "success" {
					n++
				}
			}
			return n == 500
		})
		hwm := peakRSS(b, cmd.Process.Pid)
		b.Logf("500 acked in %s (%d sheds sent again), all succeeded after %s; peak RSS of deploybot serve: %s", acked.Round(time.Millisecond), f.shed.Load(), time.Since(began).Round(time.Millisecond), hwm)
	}
}

// peakRSS is process pid's peak resident set (VmHWM), as "98304 kB".
func peakRSS(t testing.TB, pid int) string { return procStatus(t, pid, "VmHWM") }

// procStatus is one field of /proc/pid/status, as "98304 kB".
func procStatus(t testing.TB, pid int, field string) string {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return ""
}

// Killed with SIGKILL while deployments wait in each kind of wait — for
// CI, behind another in the queue, held by someone's lock — a restarted
// bot resumes each, and each runs exactly once.
func TestCrashWhileWaitingResumes(t *testing.T) {
	f := newFleet(t)
	addr := freeAddr(t)
	envs := []string{"dev", "stg"}
	f.addServices(envs)
	config := f.config(t, "waits.yaml", "sqlite:"+filepath.Join(f.dir, "deploybot.db"), addr, envs)
	var logs syncBuffer
	defer func() {
		if t.Failed() {
			t.Logf("deploybot logs:\n%s", logs.String())
		}
	}()
	first := f.serveProcess(t, config, addr, "replica-before-crash", &logs)

	ciLater := (&sandbox{github: f.github, aws: f.aws}).commit("waits: ci later", "b-ci-later", "pending", true)
	green := f.commit("waits: green")
	say := func(user, text string) string { return f.say(t, addr, user, text) }
	f.slash(t, addr, "takumi-server "+ciLater[:7]+" dev") // waits for CI
	f.slash(t, addr, "takumi-server "+green[:7]+" dev")   // queued behind it
	// A lock held: taken while a deployment is queued, then the one ahead
	// of it goes.
	var ahead int64
	if _, err := fmt.Sscanf(say(sandboxUser, "takumi-server "+ciLater[:7]+" stg"), `{"response_type":"ephemeral","text":"Deployment #%d`, &ahead); err != nil {
		t.Fatalf("deploy to stg: %v", err)
	}
	f.slash(t, addr, "takumi-server "+green[:7]+" stg")
	waitFor(t, "the second stg deployment to queue", 30*time.Second, func() bool {
		return strings.Count(logs.String(), "Queued behind deployment") >= 2
	})
	say("ULOCKER", "lock takumi-server stg release")
	say(sandboxUser, fmt.Sprintf("cancel %d", ahead))
	waitFor(t, "the three waits to be told", 30*time.Second, func() bool {
		out := logs.String()
		return strings.Contains(out, "waiting for CI") && strings.Contains(out, "Queued behind deployment") && strings.Contains(out, "is locked")
	})
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	first.Wait()
	if n := f.aws.CallCount("UpdateService"); n != 0 {
		t.Fatalf("%d UpdateService calls before the crash; the test proves nothing", n)
	}

	f.serveProcess(t, config, addr, "replica-after-crash", &logs)
	f.github.SetStatus(sandboxRepo, ciLater, sandboxCheck, "success")
	if reply := say(sandboxUser, "unlock takumi-server stg"); !strings.Contains(reply, "unlocked") {
		t.Fatalf("unlock: %s", reply)
	}
	waitFor(t, "the three resumed deployments to end", time.Minute, func() bool {
		ended := 0
		for _, st := range f.finalStates() {
			if st == "success" {
				ended++
			}
		}
		return ended == 3
	})
	if n := f.aws.CallCount("UpdateService"); n != 3 {
		t.Errorf("UpdateService called %d times, want 3 (one per deployment)", n)
	}
	if n := len(f.github.Deployments(sandboxRepo)); n != 4 {
		t.Errorf("%d GitHub deployments, want 4 (one cancelled)", n)
	}
}

// Killed with SIGKILL while auto deployments of several pushes wait for
// CI, a restarted bot deploys the newest push exactly once, and nothing
// older.
func TestCrashWhileAutoDeploysWait(t *testing.T) {
	f := newFleet(t)
	f.autoDeploy = "main"
	addr := freeAddr(t)
	f.addServices([]string{"dev"})
	config := f.config(t, "auto.yaml", "sqlite:"+filepath.Join(f.dir, "deploybot.db"), addr, []string{"dev"})
	var logs syncBuffer
	defer func() {
		if t.Failed() {
			t.Logf("deploybot logs:\n%s", logs.String())
		}
	}()
	first := f.serveProcess(t, config, addr, "replica-before-crash", &logs)
	f.github.SetWebhook("http://"+addr+"/webhooks/github", sandboxWebhookSecret)
	sb := &sandbox{github: f.github, aws: f.aws}
	var shas []string
	for i := range 3 {
		sha := sb.commit(fmt.Sprintf("auto crash %d", i), "", "pending", true)
		shas = append(shas, sha)
		if _, err := f.github.Push(sandboxRepo, "main", sha, "octocat"); err != nil {
			t.Fatal(err)
		}
		f.github.Advance(time.Second) // pushes a second apart, as GitHub tells them
	}
	waitFor(t, "the newest push to wait for CI", 30*time.Second, func() bool {
		return strings.Contains(logs.String(), `"msg":"waiting for CI"`) && strings.Count(logs.String(), "deployment superseded") == 2
	})
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	first.Wait()

	f.serveProcess(t, config, addr, "replica-after-crash", &logs)
	for _, sha := range shas {
		f.github.SetStatus(sandboxRepo, sha, sandboxCheck, "success")
	}
	newest := shas[len(shas)-1]
	waitFor(t, "the newest push to be deployed", time.Minute, func() bool {
		for _, st := range f.finalStates() {
			if st == "success" {
				return true
			}
		}
		return false
	})
	if n := f.aws.CallCount("UpdateService"); n != 1 {
		t.Errorf("UpdateService called %d times, want 1", n)
	}
	td, _ := f.aws.Service("dev", sandboxService)
	if img := f.aws.TaskDefinitionImage(td, sandboxContainer); !strings.Contains(img, "@sha256:") {
		t.Errorf("ECS runs %q", img)
	}
	for _, d := range f.github.Deployments(sandboxRepo) {
		st := f.github.Statuses(sandboxRepo, d.ID)
		last := "pending forever"
		if len(st) > 0 {
			last = st[len(st)-1].State
		}
		if (d.SHA == newest) != (last == "success") || last == "pending forever" {
			t.Errorf("GitHub deployment of %s ended %s", d.SHA[:7], last)
		}
	}
}
