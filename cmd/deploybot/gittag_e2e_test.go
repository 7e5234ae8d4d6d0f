package main

import (
	"strings"
	"testing"

	"github.com/deploybot/deploybot/bot"
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

func TestDeployGitTagRefusesABranch(t *testing.T) {
	sb := newGitTagSandbox(t)
	sha := sb.commit("release 1.2.4", "main", "success", false)
	sb.github.AddTag(sandboxRepo, "v1.2.4", sha)
	sb.aws.PutImage("takumi-server", "v1.2.4", "sha256:"+strings.Repeat("cd", 32))
	for _, ref := range []string{"main", sha[:7]} {
		d := slashDeploy(t, sb, "takumi-server "+ref+" dev")
		if d.State != bot.StateFailed || !strings.Contains(d.Reason, "is not a tag") {
			t.Errorf("deploy of %s: %s %q, want refused as not a tag", ref, d.State, d.Reason)
		}
	}
	if deps := sb.github.Deployments(sandboxRepo); len(deps) != 0 {
		t.Errorf("GitHub has %d deployments for refused refs", len(deps))
	}
	for _, op := range []string{"DescribeImages", "RegisterTaskDefinition", "UpdateService"} {
		if n := sb.aws.CallCount(op); n != 0 {
			t.Errorf("%s called %d times for a refused ref", op, n)
		}
	}
}
