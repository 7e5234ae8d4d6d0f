package main

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
	"github.com/deploybot/deploybot/emulator/faults"
	"github.com/deploybot/deploybot/emulator/githubemu"
)

// autoDeployments returns the auto deployments of env, oldest first.
func autoDeployments(t *testing.T, sb *sandbox, env string) []*bot.Deployment {
	t.Helper()
	ds, err := sb.bot.store.ListDeployments(context.Background(), bot.DeploymentFilter{App: sandboxApp, Env: env, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var auto []*bot.Deployment
	for i := len(ds) - 1; i >= 0; i-- {
		if ds[i].Source == bot.SourceAuto {
			auto = append(auto, ds[i])
		}
	}
	return auto
}

// corpusPush is GitHub's example push event (a real push to
// refs/heads/master) made a push of after to ref in the sandbox's
// repository, pushed at at.
func corpusPush(t *testing.T, ref, after string, at time.Time, deleted bool) []byte {
	t.Helper()
	raw, err := os.ReadFile("../../testdata/corpus/github-webhooks/push/with-new-branch.payload.json")
	if err != nil {
		t.Fatalf("corpus: %v", err)
	}
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	ev["ref"], ev["after"], ev["deleted"] = ref, after, deleted
	repo := ev["repository"].(map[string]any)
	repo["full_name"], repo["pushed_at"] = sandboxRepo, at.Unix()
	ev["pusher"] = map[string]any{"name": "octocat", "email": "octocat@github.com"}
	ev["installation"] = map[string]any{"id": sandboxInstall}
	out, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A push to main, the dev environment's auto_deploy branch, deploys the
// new head to dev once its CI is green, with GitHub told at once that
// it waits for CI, and credited to the pusher.
func TestAutoDeployGreenPush(t *testing.T) {
	sb := newTestSandbox(t)
	ctx := context.Background()
	sha := sb.commit("auto: green later", "", "pending", true)
	if _, err := sb.github.Push(sandboxRepo, "main", sha, "octocat"); err != nil {
		t.Fatal(err)
	}
	auto := autoDeployments(t, sb, "dev")
	if len(auto) != 1 {
		t.Fatalf("%d auto deployments of dev after one push, want 1", len(auto))
	}
	d := waitState(t, sb, auto[0].ID, bot.StateWaitingForCI)
	if d.SHA != sha || d.Requester != "github:octocat" || d.Ref != "main" {
		t.Errorf("auto deployment %+v", d)
	}
	waitFor(t, "the GitHub deployment to say it waits for CI", 10*time.Second, func() bool {
		d, _ = sb.bot.store.Deployment(ctx, d.ID)
		st := sb.github.Statuses(sandboxRepo, d.GitHubDeploymentID)
		return len(st) > 0 && st[0].State == "queued" && strings.Contains(st[0].Description, "waiting for CI")
	})
	for _, gd := range sb.github.Deployments(sandboxRepo) {
		if gd.ID == d.GitHubDeploymentID && (gd.Payload["source"] != "auto" || gd.Payload["requested_by"] != "github:octocat") {
			t.Errorf("GitHub deployment payload %s", gd.Payload)
		}
	}

	sb.github.SetStatus(sandboxRepo, sha, sandboxCheck, "success")
	sb.bot.service.NotifyCI(sha)
	if d, err := sb.wait(ctx, d.ID); err != nil || d.State != bot.StateSucceeded {
		t.Fatalf("after green CI: %+v, %v", d, err)
	}
	if got := updateServices(sb); got["dev"] != 1 || got["prod"] != 0 {
		t.Errorf("UpdateService calls %v, want one to dev", got)
	}
	d, _ = sb.bot.store.Deployment(ctx, d.ID)
	if m, ok := sb.slack.Message(d.SlackChannel, d.SlackTS); !ok || !strings.Contains(m.Text, "Succeeded") {
		t.Errorf("Slack message of the auto deployment: %q (found %v)", m.Text, ok)
	}
}

// Two pushes while CI is pending: only the newer deploys; the older ends
// superseded, GitHub told inactive with the newer sha, Slack too. Their
// webhooks arriving in the wrong order changes nothing.
func TestAutoDeployNewestPushWins(t *testing.T) {
	for _, reversed := range []bool{false, true} {
		name := "in order"
		if reversed {
			name = "webhooks reversed"
		}
		t.Run(name, func(t *testing.T) {
			sb := newTestSandbox(t)
			ctx := context.Background()
			older := sb.commit("auto: older "+name, "", "pending", true)
			newer := sb.commit("auto: newer "+name, "", "pending", true)
			now := time.Now()
			pushes := [][]byte{
				corpusPush(t, "refs/heads/main", older, now, false),
				corpusPush(t, "refs/heads/main", newer, now.Add(time.Second), false),
			}
			if reversed {
				pushes[0], pushes[1] = pushes[1], pushes[0]
			}
			for _, p := range pushes {
				if err := sb.github.SendWebhook("push", p); err != nil {
					t.Fatal(err)
				}
			}
			auto := autoDeployments(t, sb, "dev")
			if len(auto) != 2 {
				t.Fatalf("%d auto deployments, want 2", len(auto))
			}
			bySHA := map[string]*bot.Deployment{auto[0].SHA: auto[0], auto[1].SHA: auto[1]}
			old, winner := bySHA[older], bySHA[newer]
			old = waitState(t, sb, old.ID, bot.StateSuperseded)
			if !strings.Contains(old.Reason, newer[:7]) {
				t.Errorf("superseded reason %q, want the newer sha", old.Reason)
			}
			if old.GitHubDeploymentID != 0 {
				// GitHub hears of it after the push is acknowledged.
				var st []githubemu.DeploymentStatus
				waitFor(t, "the older push's GitHub deployment to be inactive", 10*time.Second, func() bool {
					st = sb.github.Statuses(sandboxRepo, old.GitHubDeploymentID)
					return len(st) > 0 && st[len(st)-1].State == "inactive"
				})
				if last := st[len(st)-1]; !strings.Contains(last.Description, newer[:7]) {
					t.Errorf("older push's final GitHub status %+v, want inactive naming %s", last, newer[:7])
				}
			}

			for _, sha := range []string{older, newer} {
				sb.github.SetStatus(sandboxRepo, sha, sandboxCheck, "success")
				sb.bot.service.NotifyCI(sha)
			}
			d, err := sb.wait(ctx, winner.ID)
			if err != nil || d.State != bot.StateSucceeded {
				t.Fatalf("newer push: %+v, %v", d, err)
			}
			if got := updateServices(sb); got["dev"] != 1 {
				t.Errorf("UpdateService calls %v, want one, for the newer push", got)
			}
			if old, _ := sb.bot.store.Deployment(ctx, old.ID); old.State != bot.StateSuperseded {
				t.Errorf("older push ended %s", old.State)
			}
		})
	}
}

// Red CI ends the auto deployment failed, naming the check.
func TestAutoDeployRedCI(t *testing.T) {
	sb := newTestSandbox(t)
	sha := sb.commit("auto: red", "", "failure", true)
	if _, err := sb.github.Push(sandboxRepo, "main", sha, "octocat"); err != nil {
		t.Fatal(err)
	}
	auto := autoDeployments(t, sb, "dev")
	if len(auto) != 1 {
		t.Fatalf("%d auto deployments, want 1", len(auto))
	}
	d, err := sb.wait(context.Background(), auto[0].ID)
	if err != nil || d.State != bot.StateFailed || !strings.Contains(d.Reason, sandboxCheck) {
		t.Fatalf("red CI: %+v, %v", d, err)
	}
	if n := len(updateServices(sb)); n != 0 {
		t.Errorf("AWS was changed for a red commit")
	}
}

// Pushes that are not to the branch, not of a branch, deletions and
// redeliveries create nothing.
func TestAutoDeployIgnoresOtherPushes(t *testing.T) {
	sb := newTestSandbox(t)
	sha := sb.commit("auto: ignored", "", "success", true)
	now := time.Now()
	for name, payload := range map[string][]byte{
		"another branch": corpusPush(t, "refs/heads/feature", sha, now, false),
		"a tag":          corpusPush(t, "refs/tags/main", sha, now, false),
		"a deletion":     corpusPush(t, "refs/heads/main", strings.Repeat("0", 40), now, true),
	} {
		if err := sb.github.SendWebhook("push", payload); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if n := len(autoDeployments(t, sb, "dev")); n != 0 {
			t.Fatalf("%s created %d deployments", name, n)
		}
	}
	id, err := sb.github.Push(sandboxRepo, "main", sha, "octocat")
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.github.Redeliver(id); err != nil {
		t.Fatal(err)
	}
	if n := len(autoDeployments(t, sb, "dev")); n != 1 {
		t.Errorf("a push and its redelivery created %d deployments, want 1", n)
	}
}

// A lock holds an auto deployment (it does not refuse it), and it deploys
// once the lock is lifted.
func TestAutoDeployWaitsForLock(t *testing.T) {
	sb := newTestSandbox(t)
	ctx := context.Background()
	if code, reply, err := sb.slash(ctx, "ULOCKER", "lock takumi-server dev freeze"); err != nil || code != 200 || !strings.Contains(reply, "locked") {
		t.Fatalf("lock: %d %q %v", code, reply, err)
	}
	sha := sb.commit("auto: locked", "", "success", true)
	if _, err := sb.github.Push(sandboxRepo, "main", sha, "octocat"); err != nil {
		t.Fatal(err)
	}
	auto := autoDeployments(t, sb, "dev")
	if len(auto) != 1 {
		t.Fatalf("%d auto deployments under a lock, want 1", len(auto))
	}
	waitMessage(t, sb, auto[0].ID, "locked by")
	if n := len(updateServices(sb)); n != 0 {
		t.Fatalf("deployed through a lock")
	}
	if code, reply, err := sb.slash(ctx, sandboxUser, "unlock takumi-server dev"); err != nil || code != 200 || !strings.Contains(reply, "unlocked") {
		t.Fatalf("unlock: %d %q %v", code, reply, err)
	}
	if d, err := sb.wait(ctx, auto[0].ID); err != nil || d.State != bot.StateSucceeded {
		t.Fatalf("after unlock: %+v, %v", d, err)
	}
}

// A push is acknowledged without waiting for GitHub to hear that the
// older push's deployment was superseded: one push to a monorepo ends
// hundreds, and GitHub gives up on a webhook after 10 s. Here GitHub
// holds that status call until the push's answer has come.
func TestAutoDeploySupersedeAcksBeforeTellingGitHub(t *testing.T) {
	sb := newTestSandbox(t)
	older := sb.commit("auto: held older", "", "pending", true)
	newer := sb.commit("auto: held newer", "", "pending", true)
	if _, err := sb.github.Push(sandboxRepo, "main", older, "octocat"); err != nil {
		t.Fatal(err)
	}
	auto := autoDeployments(t, sb, "dev")
	if len(auto) != 1 {
		t.Fatalf("%d auto deployments after one push, want 1", len(auto))
	}
	old := waitMessage(t, sb, auto[0].ID, "Waiting for CI")
	release := make(chan struct{})
	sb.github.Inject(faults.Rule{
		Match: githubemu.Route(http.MethodPost, fmt.Sprintf("/repos/*/*/deployments/%d/statuses", old.GitHubDeploymentID)),
		Times: 1,
		Respond: func(w http.ResponseWriter, r *http.Request) {
			<-release
			githubemu.ServerError(http.StatusServiceUnavailable)(w, r)
		},
	})
	sb.github.Advance(time.Second)
	_, err := sb.github.Push(sandboxRepo, "main", newer, "octocat")
	close(release)
	if err != nil {
		t.Fatalf("the push waited for GitHub: %v", err)
	}
	waitState(t, sb, old.ID, bot.StateSuperseded)
	// Told all the same: an inactive status is final, so it is tried again.
	waitFor(t, "the older push's GitHub deployment to be inactive", 30*time.Second, func() bool {
		st := sb.github.Statuses(sandboxRepo, old.GitHubDeploymentID)
		return len(st) > 0 && st[len(st)-1].State == "inactive" && strings.Contains(st[len(st)-1].Description, newer[:7])
	})
	waitMessage(t, sb, old.ID, "Superseded by")
}
