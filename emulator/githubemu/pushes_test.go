package githubemu_test

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/deploybot/deploybot/emulator/githubemu"
)

// A push to a pull request moves its head and sends pull_request
// synchronize with GitHub's time of the push; GitHub's clock moves on
// when the test says so; a redelivery is the same delivery again.
func TestPushToPullRequestAndRedeliver(t *testing.T) {
	const pushed = "1111222233334444555566667777888899990000"
	emu := githubemu.New(1, nil)
	emu.AddRepo(repoName, 31)
	emu.AddToken(token, "octocat")
	emu.AddPullRequest(repoName, 7, headSHA, "feature", "Codertocat")
	srv := httptest.NewServer(emu)
	defer srv.Close()
	api := srv.URL + githubemu.Prefix
	rc := &receiver{}
	hook := httptest.NewServer(rc)
	defer hook.Close()
	emu.SetWebhook(hook.URL, "s")

	var before struct {
		Author struct{ Date time.Time }
	}
	call(t, "GET", api+"/repos/"+repoName+"/git/commits/"+headSHA, "token "+token, nil, &before)
	emu.Advance(time.Hour)
	if err := emu.PushToPullRequest(repoName, 7, pushed); err != nil {
		t.Fatalf("PushToPullRequest: %v", err)
	}

	var pr struct{ Head struct{ SHA string } }
	call(t, "GET", api+"/repos/"+repoName+"/pulls/7", "token "+token, nil, &pr)
	if pr.Head.SHA != pushed {
		t.Errorf("head after the push = %s; want %s", pr.Head.SHA, pushed)
	}
	var after struct {
		SHA               string
		Author, Committer struct{ Date time.Time }
	}
	call(t, "GET", api+"/repos/"+repoName+"/git/commits/"+pushed, "token "+token, nil, &after)
	if after.SHA != pushed || after.Author.Date.Sub(before.Author.Date) < time.Hour || !after.Committer.Date.Equal(after.Author.Date) {
		t.Errorf("pushed commit = %+v; want it dated an hour after %s", after, before.Author.Date)
	}

	rc.mu.Lock()
	if len(rc.got) != 1 || rc.got[0].Header.Get("X-GitHub-Event") != "pull_request" {
		rc.mu.Unlock()
		t.Fatalf("received %d webhooks; want one pull_request", len(rc.got))
	}
	body, delivery := rc.bod[0], rc.got[0].Header.Get("X-GitHub-Delivery")
	rc.mu.Unlock()
	var ev struct {
		Action, Before, After string
		Number                int
		PullRequest           struct {
			Number    int
			UpdatedAt time.Time `json:"updated_at"`
			Head      struct{ SHA string }
		} `json:"pull_request"`
		Repository struct {
			FullName string `json:"full_name"`
		}
		Installation struct{ ID int64 }
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Action != "synchronize" || ev.Number != 7 || ev.Before != headSHA || ev.After != pushed ||
		ev.PullRequest.Number != 7 || ev.PullRequest.Head.SHA != pushed || !ev.PullRequest.UpdatedAt.Equal(after.Author.Date) ||
		ev.Repository.FullName != repoName || ev.Installation.ID != 31 {
		t.Errorf("pull_request event = %+v; want synchronize to %s at %s", ev, pushed, after.Author.Date)
	}
	example, err := os.ReadFile("../../testdata/corpus/github-webhooks/pull_request/synchronize.payload.json")
	if err != nil {
		t.Fatalf("corpus: %v", err)
	}
	if missing := missingKeys(t, example, body, ""); len(missing) > 0 {
		t.Errorf("pull_request payload lacks %v", missing)
	}

	if err := emu.Redeliver(delivery); err != nil {
		t.Fatalf("Redeliver: %v", err)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.got) != 2 || rc.got[1].Header.Get("X-GitHub-Delivery") != delivery || string(rc.bod[1]) != string(body) {
		t.Errorf("redelivery: %d webhooks, the last %q; want the same delivery %s again", len(rc.got), rc.got[len(rc.got)-1].Header.Get("X-GitHub-Delivery"), delivery)
	}
	if err := emu.Redeliver("no-such-delivery"); err == nil {
		t.Error("Redeliver of an unknown delivery: no error")
	}
}
