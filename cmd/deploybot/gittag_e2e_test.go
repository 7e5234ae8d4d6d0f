package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/store/sqlite"
)

// newGitTagSandbox is the sandbox with images named after git tags
// (tag: "{{.Tag}}"), as dockdj's bin/deploy release 1.2.3 names them.
func newGitTagSandbox(t *testing.T) *sandbox {
	t.Helper()
	return newConfiguredSandbox(t, func(c *bot.Config) {
		app := c.Apps[sandboxApp]
		app.Tag = "{{.Tag}}"
		app.Environments["dev"].AutoDeploy = nil
	})
}

func TestDeployGitTag(t *testing.T) {
	sb := newGitTagSandbox(t)
	sha := sb.commit("release 1.2.3", "main", "success", false)
	sb.github.AddTag(sandboxRepo, "v1.2.3", sha)
	sb.aws.PutImage("takumi-server", "v1.2.3", "sha256:"+strings.Repeat("ab", 32))
	d := slashDeploy(t, sb, "takumi-server v1.2.3 dev")
	if d.State != bot.StateSucceeded || d.SHA != sha {
		t.Fatalf("deployment %s on %s: %s", d.State, d.SHA, d.Reason)
	}
	td, _ := sb.aws.Service(sandboxCluster, sandboxService)
	if got, want := sb.aws.TaskDefinitionImage(td, sandboxContainer), sandboxImage+"@sha256:"+strings.Repeat("ab", 32); got != want {
		t.Errorf("ECS runs %s, want %s (the image tagged v1.2.3)", got, want)
	}
}

// A ref that is not a tag is refused in the reply, before anything is
// created: no row, no GitHub deployment, no Slack message, no AWS call.
func TestDeployGitTagRefusesABranch(t *testing.T) {
	sb := newGitTagSandbox(t)
	ctx := context.Background()
	sha := sb.commit("release 1.2.4", "main", "success", false)
	sb.github.AddTag(sandboxRepo, "v1.2.4", sha)
	sb.aws.PutImage("takumi-server", "v1.2.4", "sha256:"+strings.Repeat("cd", 32))
	sb.github.AddPullRequest(sandboxRepo, 12, sha, "feature/x", sandboxWriter)
	before := countWorld(t, sb)
	for _, ref := range []string{"main", sha[:7]} {
		code, reply, err := sb.slash(ctx, sandboxUser, "takumi-server "+ref+" dev")
		if err != nil {
			t.Fatal(err)
		}
		if code != http.StatusOK || !strings.Contains(reply, "`"+ref+"` is not a tag of") && !strings.Contains(reply, ref+"&quot; is not a tag") && !strings.Contains(reply, `"`+ref+`" is not a tag of`) {
			t.Errorf("reply to a deploy of %s: %d %q, want it refused as not a tag", ref, code, reply)
		}
	}
	if _, d := prComment(t, sb, sandboxWriter, "deploy to dev"); d != nil {
		t.Errorf("a PR comment deployed the PR head: %+v", d)
	}
	comments := sb.github.Comments(sandboxRepo, 12)
	if last := comments[len(comments)-1]; !strings.Contains(last.Body, "is not a tag of") {
		t.Errorf("reply to the PR comment = %q, want it refused as not a tag", last.Body)
	}
	after := countWorld(t, sb)
	// The PR comment is answered (a reply, a reaction): GitHub writes.
	after.githubWrites = before.githubWrites
	if after != before {
		t.Errorf("a refused ref changed the world: %+v, was %+v", after, before)
	}
	for _, op := range []string{"DescribeImages", "RegisterTaskDefinition", "UpdateService"} {
		if n := sb.aws.CallCount(op); n != 0 {
			t.Errorf("%s called %d times for a refused ref", op, n)
		}
	}
}

// A GitHub Deployment another tool created on a branch is refused: no
// row, and its GitHub deployment fails saying why.
func TestGitHubAPIDeploymentOfABranchForGitTagImages(t *testing.T) {
	sb := newGitTagSandbox(t)
	sb.commit("api branch", "main", "success", false)
	apiDeployment(t, sb, "main")
	gd := sb.github.Deployments(sandboxRepo)[0]
	states := sb.github.Statuses(sandboxRepo, gd.ID)
	if len(states) == 0 || states[len(states)-1].State != "failure" || !strings.Contains(states[len(states)-1].Description, "is not a tag") {
		t.Errorf("statuses of the branch deployment: %+v, want a failure saying it is not a tag", states)
	}
	if ds, _ := sb.bot.store.Deployments(context.Background(), 10); len(ds) != 0 {
		t.Errorf("%d deployments stored for a branch", len(ds))
	}
	if n := len(sb.aws.Writes()); n != 0 {
		t.Errorf("%d AWS writes for a refused branch", n)
	}
}

// `deploybot deploy` refuses a branch for such an app before it stores
// or creates anything.
func TestDeployCommandGitTagRefusesABranch(t *testing.T) {
	w := newCLIWorld(t)
	w.commit("cli branch", "main", "success")
	data, err := os.ReadFile(w.config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(w.config, bytes.Replace(data, []byte(`tag: "git_{{.ShortSHA}}"`), []byte(`tag: "{{.Tag}}"`), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := w.run(t, "deploy", "takumi-server", "main", "dev", "--config", w.config)
	if code != 1 || !strings.Contains(errOut, `"main" is not a tag of takumi/takumi-server`) {
		t.Errorf("exit %d, stderr %q, stdout %q; want refused as not a tag", code, errOut, out)
	}
	if n := len(w.github.Deployments(sandboxRepo)); n != 0 {
		t.Errorf("%d GitHub deployments for a refused branch", n)
	}
	if n := len(w.aws.Writes()); n != 0 {
		t.Errorf("%d AWS writes for a refused branch", n)
	}
	db, err := sqlite.Open(context.Background(), filepath.Join(w.dir, "deploybot.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if ds, err := db.Deployments(context.Background(), 10); err != nil || len(ds) != 0 {
		t.Errorf("stored %d deployments (%v) for a refused branch", len(ds), err)
	}
}

// apiDeployment has octocat create a GitHub Deployment of ref to dev
// through the API, as another tool would, and waits for its webhook.
func apiDeployment(t *testing.T, sb *sandbox, ref string) {
	t.Helper()
	sb.github.AddToken("ghp_octocat", "octocat")
	body, _ := json.Marshal(map[string]any{"ref": ref, "environment": "dev", "required_contexts": []string{}, "payload": map[string]any{}})
	req, _ := http.NewRequest("POST", strings.TrimSuffix(sb.cfg.GitHub.APIURL, "/")+"/repos/"+sandboxRepo+"/deployments", bytes.NewReader(body))
	req.Header.Set("Authorization", "token ghp_octocat")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create deployment: HTTP %d", resp.StatusCode)
	}
	sb.github.WaitWebhooks()
}

// A promotion carries its digest and names no tag: an app whose images
// are named after git tags promotes like any other.
func TestPromoteGitTagImages(t *testing.T) {
	sb := newGitTagSandbox(t)
	sha := sb.commit("release 1.3.0", "main", "success", false)
	sb.github.AddTag(sandboxRepo, "v1.3.0", sha)
	sb.aws.PutImage("takumi-server", "v1.3.0", "sha256:"+strings.Repeat("ef", 32))
	src := slashDeploy(t, sb, "takumi-server v1.3.0 dev")
	if src.State != bot.StateSucceeded {
		t.Fatalf("dev deployment %s: %s", src.State, src.Reason)
	}
	d := slashDeploy(t, sb, "promote takumi-server dev prod")
	if d.State != bot.StateSucceeded || d.Image != src.Image || d.SHA != sha {
		t.Errorf("promotion = %s (%s), image %s on %s; want succeeded with %s", d.State, d.Reason, d.Image, d.SHA, src.Image)
	}
}
