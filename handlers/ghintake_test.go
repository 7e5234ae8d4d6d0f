package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
)

// A deployment event whose payload names a deploybot_id is only taken for
// deploybot's own when the store agrees: that deployment exists, is of the
// same repository, commit and environment, and holds that GitHub id or
// none yet (its webhook may outrun the saving of the id). Any other is
// answered with an error status instead of being left pending forever.
func TestDeploymentEventForgedDeploybotID(t *testing.T) {
	srv, rec := newTestServer(t, time.Now())
	ctx := context.Background()
	store := rec.Service.Store

	valid := rewriteDeployment(t, 7001, "web", "dev")
	var sha string
	editEvent(t, valid, func(_, dep map[string]any) { sha = dep["sha"].(string) })
	own := &bot.Deployment{App: "web", Env: "dev", Repo: "octo-org/octo-repo", SHA: sha, Requester: "slack:U1", Source: bot.SourceSlack, State: bot.StateReceived}
	if err := store.CreateDeployment(ctx, own); err != nil {
		t.Fatal(err)
	}
	saved := &bot.Deployment{App: "web", Env: "dev", Repo: "octo-org/octo-repo", SHA: sha, Requester: "slack:U1", Source: bot.SourceSlack, State: bot.StateQueued, GitHubDeploymentID: 7100}
	if err := store.CreateDeployment(ctx, saved); err != nil {
		t.Fatal(err)
	}

	send := func(delivery string, githubID, deploybotID int64, env string) (int, string) {
		t.Helper()
		body := editEvent(t, valid, func(_, dep map[string]any) {
			dep["id"] = githubID
			dep["environment"] = env
			dep["payload"] = map[string]any{"app": "web", "deploybot_id": deploybotID}
		})
		return postHook(t, srv, "deployment", delivery, map[string]string{"X-Hub-Signature-256": hubSign(hookSecret, body)}, body)
	}
	for _, tt := range []struct {
		name          string
		githubID, id  int64
		env           string
		wantCode      int
		wantRejection bool
	}{
		{"ours, id not saved yet", 7001, own.ID, "dev", http.StatusOK, false},
		{"ours, id saved", 7100, saved.ID, "dev", http.StatusOK, false},
		{"no such deployment", 7002, own.ID + 1000, "dev", http.StatusAccepted, true},
		{"ours, but another GitHub deployment", 7003, saved.ID, "dev", http.StatusAccepted, true},
		{"ours, but another environment", 7004, own.ID, "prod", http.StatusAccepted, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec.mu.Lock()
			rec.rejected = nil
			rec.mu.Unlock()
			code, out := send("forged-"+strings.ReplaceAll(tt.name, " ", "-"), tt.githubID, tt.id, tt.env)
			rec.mu.Lock()
			rejected, started := rec.rejected, rec.started
			rec.mu.Unlock()
			if code != tt.wantCode || len(started) != 0 {
				t.Errorf("HTTP %d %s, started %v; want %d and nothing started", code, out, started, tt.wantCode)
			}
			switch {
			case tt.wantRejection && (len(rejected) != 1 || !strings.Contains(rejected[0], "not created by deploybot")):
				t.Errorf("rejected %q; want one error status saying \"not created by deploybot\"", rejected)
			case !tt.wantRejection && len(rejected) != 0:
				t.Errorf("deploybot's own deployment was rejected: %q", rejected)
			}
		})
	}
}

// pull_request webhooks that move a head are recorded with GitHub's own
// time of the move; other actions and other repositories write nothing.
func TestPullRequestEventRecordsHead(t *testing.T) {
	raw, err := os.ReadFile("../../shared/corpus/github-webhooks/pull_request/synchronize.payload.json")
	if err != nil {
		t.Skipf("corpus: %v", err)
	}
	srv, rec := newTestServer(t, time.Now())
	ctx := context.Background()
	store := rec.Service.Store
	send := func(delivery string, edit func(ev map[string]any)) (int, string) {
		t.Helper()
		var ev map[string]any
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatal(err)
		}
		ev["repository"].(map[string]any)["full_name"] = "octo-org/octo-repo"
		edit(ev)
		body, _ := json.Marshal(ev)
		return postHook(t, srv, "pull_request", delivery, map[string]string{"X-Hub-Signature-256": hubSign(hookSecret, body)}, body)
	}

	for i, edit := range []func(ev map[string]any){
		func(ev map[string]any) { ev["action"] = "labeled" },
		func(ev map[string]any) { ev["repository"].(map[string]any)["full_name"] = "octo-org/homepage" },
	} {
		if code, out := send(fmt.Sprintf("ignored-%d", i), edit); code != http.StatusAccepted || !strings.Contains(out, "ignored") {
			t.Errorf("case %d: HTTP %d %s; want 202 ignored", i, code, out)
		}
	}
	for _, repo := range []string{"octo-org/octo-repo", "octo-org/homepage"} {
		if c, err := store.LastHeadChange(ctx, repo, 2); bot.ErrorCode(err) != bot.ENOTFOUND {
			t.Errorf("%s: LastHeadChange = %+v, %v; want nothing recorded", repo, c, err)
		}
	}

	if code, out := send("sync", func(map[string]any) {}); code != http.StatusAccepted {
		t.Fatalf("synchronize: HTTP %d %s", code, out)
	}
	got, err := store.LastHeadChange(ctx, "octo-org/octo-repo", 2)
	want := time.Date(2019, 5, 15, 15, 20, 33, 0, time.UTC) // the payload's pull_request.updated_at
	if err != nil || got.SHA != "ec26c3e57ca3a959ca5aad62de7213c562f8c821" || !got.At.Equal(want) {
		t.Errorf("LastHeadChange = %+v, %v; want the payload's head at %s", got, err, want)
	}
	if code, out := send("bad-sha", func(ev map[string]any) {
		ev["pull_request"].(map[string]any)["head"].(map[string]any)["sha"] = "ec26c3e"
	}); code != http.StatusBadRequest {
		t.Errorf("short head sha: HTTP %d %s; want 400", code, out)
	}
}
