package main

import (
	"strings"
	"testing"
)

// A refusal on a pull request is public: it says how to get access, not
// who has it (issue #11).
func TestPRRefusalDoesNotListWhoMayDeploy(t *testing.T) {
	sb := newTestSandbox(t)
	head := sb.commit("prod head", "feature/prod", "success", true)
	sb.github.AddPullRequest(sandboxRepo, 12, head, "feature/prod", sandboxWriter)
	sb.github.SetPermission(sandboxRepo, "mallory", "write")

	if _, d := prComment(t, sb, "mallory", "deploy to prod"); d != nil {
		t.Fatalf("mallory deployed to prod: %+v", d)
	}
	comments := sb.github.Comments(sandboxRepo, 12)
	reply := comments[len(comments)-1].Body
	if !strings.HasPrefix(reply, "@mallory ") || !strings.Contains(reply, "may not deploy takumi-server to prod") || !strings.Contains(reply, "allow list") {
		t.Errorf("reply %q; want a refusal saying how to get access", reply)
	}
	if strings.Contains(reply, "octocat") || strings.Contains(reply, sandboxUser) {
		t.Errorf("public refusal %q lists who may deploy to prod", reply)
	}
}
