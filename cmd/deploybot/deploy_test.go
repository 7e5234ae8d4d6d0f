package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/deploybot/deploybot/emulator/awsemu"
	"github.com/deploybot/deploybot/emulator/githubemu"
	"github.com/deploybot/deploybot/emulator/world"
	"github.com/deploybot/deploybot/store/sqlite"
)

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
	// prebuilt compares builds: the process tests and benchmarks run it
	// instead of building this tree (go test … -args -deploybot-bin=PATH).
	prebuilt = flag.String("deploybot-bin", "", "run this deploybot binary in the process tests instead of building one")
)

// deploybotBinary builds the real command once for the process tests.
func deploybotBinary(t testing.TB) string {
	t.Helper()
	if *prebuilt != "" {
		return *prebuilt
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "deploybot-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "deploybot")
		out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
		if err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("go build: %v", buildErr)
	}
	return binary
}

// cliWorld is GitHub (token auth, no App) and AWS emulators and a config
// file pointing at them; Slack is left out, as a small setup would.
type cliWorld struct {
	dir    string
	github *githubemu.Emulator
	aws    *awsemu.Server
	env    []string
	config string
}

func newCLIWorld(t *testing.T) *cliWorld {
	t.Helper()
	tw := newTestWorld(t, world.Options{RolloutPolls: 1, Store: "sqlite"})
	w := &cliWorld{dir: tw.Dir, github: tw.GitHub, aws: tw.AWS}
	w.github.AddRepo(sandboxRepo, 0)
	w.github.AddToken("ghp_cli", "octocat")
	w.aws.AddService(sandboxCluster, sandboxService, awsemuTaskDef())

	w.config = writeConfig(t, w.dir, "deploybot.yaml", `
store: `+tw.StoreDSN+`
github:
  api_url: ${GITHUB_URL}
  token: ${GITHUB_TOKEN}
aws:
  region: us-east-1
apps:
  takumi-server:
    repo: takumi/takumi-server
    image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/takumi-server
    tag: "git_{{.ShortSHA}}"
    environments:
      dev:
        ecs: {cluster: dev, service: takumi-api, container: api}
`)
	w.env = tw.Env("USER=alice", "GITHUB_TOKEN=ghp_cli", "AWS_ACCESS_KEY_ID=AKIACLI", "AWS_SECRET_ACCESS_KEY=secret")
	return w
}

// newTestWorld starts the emulators for t and stops them when t ends.
func newTestWorld(t testing.TB, opt world.Options) *world.World {
	t.Helper()
	w, err := world.New(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// writeConfig writes a config file into dir and returns its path.
func writeConfig(t testing.TB, dir, name, text string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func awsemuTaskDef() awsemu.TaskDef {
	return awsemu.TaskDef{Family: sandboxService, Containers: []awsemu.Container{{Name: sandboxContainer, Image: sandboxImage + ":old", Memory: 256}}}
}

func (w *cliWorld) commit(seed, branch, ci string) string {
	sb := &sandbox{github: w.github, aws: w.aws}
	return sb.commit(seed, branch, ci, true)
}

func (w *cliWorld) run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(deploybotBinary(t), args...)
	cmd.Env = w.env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatal(err)
	}
	return code, out.String(), errb.String()
}

func TestDeployCommandSucceeds(t *testing.T) {
	w := newCLIWorld(t)
	sha := w.commit("cli good", "main", "success")
	code, out, errOut := w.run(t, "deploy", "takumi-server", "main", "dev", "--config", w.config)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if testing.Verbose() {
		t.Logf("stdout:\n%s", out)
	}
	for _, want := range []string{"deployment #1: takumi-server main to dev", "waiting_for_ci", "deploying", "succeeded in"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	td, _ := w.aws.Service(sandboxCluster, sandboxService)
	if img := w.aws.TaskDefinitionImage(td, sandboxContainer); !strings.HasPrefix(img, sandboxImage+"@sha256:") {
		t.Errorf("ECS runs %q", img)
	}
	deps := w.github.Deployments(sandboxRepo)
	if len(deps) != 1 || deps[0].SHA != sha || deps[0].Payload["source"] != "cli" || deps[0].Payload["requested_by"] != "cli:alice" {
		t.Fatalf("GitHub deployments: %+v", deps)
	}
	st := w.github.Statuses(sandboxRepo, deps[0].ID)
	if len(st) == 0 || st[len(st)-1].State != "success" {
		t.Errorf("statuses %+v", st)
	}
	db, err := sqlite.Open(context.Background(), filepath.Join(w.dir, "deploybot.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	d, err := db.Deployment(context.Background(), 1)
	if err != nil || d.State != "succeeded" || d.GitHubDeploymentID != deps[0].ID {
		t.Errorf("stored deployment %+v, %v", d, err)
	}
}

func TestDeployCommandFailures(t *testing.T) {
	w := newCLIWorld(t)
	w.commit("cli red", "red", "failure")

	code, out, errOut := w.run(t, "deploy", "takumi-server", "red", "dev", "--config", w.config)
	if code != 1 || !strings.Contains(errOut, "ci/codeship") && !strings.Contains(errOut, "CI failed") {
		t.Errorf("red CI: exit %d, stderr %q, stdout %q", code, errOut, out)
	}
	if n := w.aws.CallCount("UpdateService"); n != 0 {
		t.Errorf("UpdateService called %d times after red CI", n)
	}

	before := len(w.github.Deployments(sandboxRepo))
	code, _, errOut = w.run(t, "deploy", "takumi-server", "main", "prod", "--config", w.config)
	if code != 1 || !strings.Contains(errOut, `no environment "prod"`) {
		t.Errorf("unknown env: exit %d, stderr %q", code, errOut)
	}
	if after := len(w.github.Deployments(sandboxRepo)); after != before {
		t.Errorf("unknown env created a GitHub deployment")
	}

	code, _, errOut = w.run(t, "deploy", "takumi-server", "main")
	if code != 2 || !strings.Contains(errOut, "APP REF ENV") {
		t.Errorf("missing argument: exit %d, stderr %q", code, errOut)
	}
}
