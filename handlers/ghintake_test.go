package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
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
			rejected, kicks := rec.rejected, rec.kicks
			rec.mu.Unlock()
			if code != tt.wantCode || kicks != 0 {
				t.Errorf("HTTP %d %s, kicked %d times; want %d and nothing started", code, out, kicks, tt.wantCode)
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
	raw, err := os.ReadFile("../testdata/corpus/github-webhooks/pull_request/synchronize.payload.json")
	if err != nil {
		t.Fatalf("corpus: %v", err)
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

// commentEvent is GitHub's example issue_comment event, rewritten as a
// new comment by a person on pull request 7 of repo.
func commentEvent(t testing.TB, repo string, id int64, text string) []byte {
	t.Helper()
	raw, err := os.ReadFile("../testdata/corpus/github-webhooks/issue_comment/created.payload.json")
	if err != nil {
		t.Fatalf("corpus: %v", err)
	}
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	ev["repository"].(map[string]any)["full_name"] = repo
	issue := ev["issue"].(map[string]any)
	issue["number"] = 7
	issue["pull_request"] = map[string]any{"url": "https://api.github.com/repos/" + repo + "/pulls/7"}
	c := ev["comment"].(map[string]any)
	c["id"] = id
	c["body"] = text
	c["user"].(map[string]any)["type"] = "User"
	out, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Issue #11: every PR comment was written to the store before deploybot
// knew whether it was a command, in repositories it does not serve too.
// Only a command for a served repository is recorded now.
func TestOnlyCommandsAreRecorded(t *testing.T) {
	srv, rec := newTestServer(t, time.Now())
	ctx := context.Background()
	for _, tc := range []struct {
		name, repo, text string
		id               int64
		wantReply        string
		wantRecorded     bool
	}{
		{"discussion", "octo-org/octo-repo", "LGTM, but see the comment on `deploy.go`\n\ndeploy to dev", 501, "ignored: not a command", false},
		{"quoted command", "octo-org/octo-repo", "> deploy to dev\n\nshould we?", 502, "ignored: not a command", false},
		{"escaped text", "octo-org/octo-repo", "a \"quoted\" \\ word\u2028 and \"deploy to dev\"", 503, "ignored: not a command", false},
		{"command in a repository not served", "octo-org/homepage", "deploy to dev", 504, "ignored: deploybot serves no app in octo-org/homepage", false},
		{"command", "octo-org/octo-repo", "deploy to dev", 505, "no deployment", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := commentEvent(t, tc.repo, tc.id, tc.text)
			code, out := postHook(t, srv, "issue_comment", fmt.Sprintf("c-%d", tc.id), map[string]string{"X-Hub-Signature-256": hubSign(hookSecret, body)}, body)
			if code != http.StatusAccepted || !strings.Contains(out, tc.wantReply) {
				t.Errorf("HTTP %d %s; want 202 %q", code, out, tc.wantReply)
			}
			key := fmt.Sprintf("issue_comment:%s:%d", tc.repo, tc.id)
			first, err := rec.Service.Store.RecordDelivery(ctx, key, "issue_comment")
			if err != nil {
				t.Fatal(err)
			}
			if recorded := !first; recorded != tc.wantRecorded {
				t.Errorf("comment recorded in the store: %v; want %v", recorded, tc.wantRecorded)
			}
		})
	}
}

// members finds an object's own members, whatever its nested objects and
// strings hold, and gives up on what is not an object.
func TestMembers(t *testing.T) {
	obj := []byte(` { "issue" : {"action":"nested", "pull_request": null}, "title": "a \"action\": \\",` +
		`"a\"action":1, "n": -1.5e3 ,"t":true, "arr": [ "x", {"action": "deep"}, [] ], "action" :"created" , "empty":{}}`)
	got, ok := members(obj, "action", "issue", "n", "t", "arr", "empty", "missing")
	want := []string{`"created"`, `{"action":"nested", "pull_request": null}`, `-1.5e3`, `true`, `[ "x", {"action": "deep"}, [] ]`, `{}`, ""}
	if !ok {
		t.Fatal("members refused a well-formed object")
	}
	for i := range want {
		if string(got[i]) != want[i] {
			t.Errorf("member %d = %q; want %q", i, got[i], want[i])
		}
	}
	for _, bad := range []string{``, `[]`, `"x"`, `{`, `{"a"}`, `{"a":}`, `{"a":"x}`, `{"a":1,}`, `{"a":1 "b":2}`, `{"a":{"b":1}`} {
		// "zz" is never found, so the scan goes to the end.
		if _, ok := members([]byte(bad), "a", "zz"); ok {
			t.Errorf("members(%s) ok; want a refusal", bad)
		}
	}
	// Every top-level member of GitHub's example payloads, as
	// encoding/json finds it.
	files, _ := filepath.Glob("../testdata/corpus/github-webhooks/*/*.json")
	if len(files) == 0 {
		t.Fatal("no corpus payloads in testdata/corpus")
	}
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			continue
		}
		var names []string
		for k := range m {
			names = append(names, k)
		}
		got, ok := members(raw, names...)
		if !ok {
			t.Errorf("%s: members refused it", f)
			continue
		}
		for i, k := range names {
			if !bytes.Equal(got[i], m[k]) {
				t.Errorf("%s: member %s = %.60q; want %.60q", f, k, got[i], m[k])
			}
		}
	}
}

// firstLines decodes no more of a comment than bot.ParseComment reads,
// and what it decodes parses as the whole comment does.
func FuzzFirstLines(f *testing.F) {
	for _, s := range []string{
		"", "deploy to dev", "\n\n  \r\ndeploy to dev\nthanks", "\ufeff\ndeploy to dev", "\ufeff", "\ufeffdeploy to dev",
		"LGTM\ndeploy to dev", "   \t\n> deploy to dev", "/deploy to \"dev\"\r\nx", "\u00a0\ndeploy web to prod",
		"deploy to d\u2028ev", "😀\ndeploy to dev", "\\n deploy to dev", "deploy to dev\\", strings.Repeat("\n", 100) + "deploy to x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		raw, err := json.Marshal(body)
		if err != nil {
			t.Skip()
		}
		// The comment as a full decode sees it (invalid UTF-8 replaced).
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Fatal(err)
		}
		encodings := [][]byte{raw}
		if !strings.Contains(body, `\`) {
			// GitHub escapes line breaks as \n and \r; \u000a is JSON too.
			encodings = append(encodings, bytes.ReplaceAll(raw, []byte(`\n`), []byte(`\u000A`)))
		}
		for _, enc := range encodings {
			text, ok := firstLines(enc)
			if !ok {
				t.Fatalf("firstLines(%s) refused it", enc)
			}
			if !strings.HasPrefix(body, text) {
				t.Errorf("firstLines(%s) = %q; not a prefix of the comment", enc, text)
			}
			if got, want := bot.ParseComment(text), bot.ParseComment(body); got != want {
				t.Errorf("ParseComment(firstLines(%s)) = %+v; the whole comment gives %+v", enc, got, want)
			}
		}
	})
}
