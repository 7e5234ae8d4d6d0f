package ghclient_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/ghclient"
)

const pushedSHA = "1111222233334444555566667777888899990000"

func TestPullRequestHead(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			f := newFixture(t)
			f.emu.AddPullRequest(repoName, 7, otherSHA, "feature/x", "hubot")
			f.emu.AddIssue(repoName, 8, "hubot")
			c := m.client(t, f)
			ctx := context.Background()

			if got, err := c.PullRequestHead(ctx, repo, 7); err != nil || got != otherSHA {
				t.Errorf("PullRequestHead(7) = %q, %v; want %q", got, err, otherSHA)
			}
			f.emu.SetPullRequestHead(repoName, 7, pushedSHA)
			if got, err := c.PullRequestHead(ctx, repo, 7); err != nil || got != pushedSHA {
				t.Errorf("PullRequestHead(7) after a push = %q, %v; want %q", got, err, pushedSHA)
			}
			for _, n := range []int{8, 99} {
				_, err := c.PullRequestHead(ctx, repo, n)
				want := fmt.Sprintf("pull request #%d not found in %s", n, repoName)
				if bot.ErrorCode(err) != bot.ENOTFOUND || bot.ErrorMessage(err) != want {
					t.Errorf("PullRequestHead(%d) error = %v; want %s %q", n, err, bot.ENOTFOUND, want)
				}
			}
			calls := f.emu.CallCount()
			if _, err := c.PullRequestHead(ctx, repo, 0); bot.ErrorCode(err) != bot.EINVALID {
				t.Errorf("PullRequestHead(0) error = %v; want code %s", err, bot.EINVALID)
			}
			if n := f.emu.CallCount(); n != calls {
				t.Errorf("PullRequestHead(0) made %d calls; want none", n-calls)
			}
		})
	}
}

// A commit's time is read from the Git database: GitHub's clock when the
// emulator made it, an hour later for one made after the clock moved on.
func TestCommitTime(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			f := newFixture(t)
			c := m.client(t, f)
			ctx := context.Background()
			before := time.Now().Truncate(time.Second)
			f.emu.AddCommit(repoName, otherSHA)
			first, err := c.CommitTime(ctx, repo, otherSHA)
			if err != nil || first.Before(before) || first.After(time.Now()) {
				t.Fatalf("CommitTime = %s, %v; want a time from %s on", first, err, before)
			}
			f.emu.Advance(time.Hour)
			f.emu.AddCommit(repoName, pushedSHA)
			if later, err := c.CommitTime(ctx, repo, pushedSHA); err != nil || later.Sub(first) < time.Hour {
				t.Errorf("CommitTime of a commit made an hour later = %s, %v; want %s or later", later, err, first.Add(time.Hour))
			}
			const missing = "2222222222222222222222222222222222222222"
			if _, err := c.CommitTime(ctx, repo, missing); bot.ErrorCode(err) != bot.ENOTFOUND {
				t.Errorf("CommitTime of a missing commit: %v; want %s", err, bot.ENOTFOUND)
			}
			calls := f.emu.CallCount()
			if _, err := c.CommitTime(ctx, repo, "main"); bot.ErrorCode(err) != bot.EINVALID || f.emu.CallCount() != calls {
				t.Errorf("CommitTime(main): %v after %d calls; want %s and no call", err, f.emu.CallCount()-calls, bot.EINVALID)
			}
		})
	}
}

// The commit time of a sha ResolveRef found comes from that answer: the
// deployment that asks for it next costs GitHub no call.
func TestCommitTimeAfterResolveRef(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			f := newFixture(t)
			ctx := context.Background()
			f.emu.AddCommit(repoName, pushedSHA)
			want, err := m.client(t, f).CommitTime(ctx, repo, pushedSHA)
			if err != nil {
				t.Fatal(err)
			}
			c := m.client(t, f)
			if sha, err := c.ResolveRef(ctx, repo, pushedSHA[:7]); err != nil || sha != pushedSHA {
				t.Fatalf("ResolveRef = %q, %v", sha, err)
			}
			calls := f.emu.CallCount()
			if got, err := c.CommitTime(ctx, repo, pushedSHA); err != nil || !got.Equal(want) || f.emu.CallCount() != calls {
				t.Errorf("CommitTime after ResolveRef = %s, %v after %d calls; want %s and no call", got, err, f.emu.CallCount()-calls, want)
			}
		})
	}
}

func TestPermission(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			f := newFixture(t)
			for login, role := range map[string]string{
				"ada": "admin", "max": "maintain", "wes": "write", "tri": "triage", "rea": "read",
			} {
				f.emu.SetPermission(repoName, login, role)
			}
			f.emu.AddUser("stranger")
			c := m.client(t, f)
			ctx := context.Background()
			for login, want := range map[string]string{
				"ada":           bot.PermissionAdmin,
				"max":           bot.PermissionMaintain, // GitHub's legacy field says write
				"wes":           bot.PermissionWrite,
				"tri":           bot.PermissionTriage, // and read here
				"rea":           bot.PermissionRead,
				"Wes":           bot.PermissionWrite,
				"stranger":      bot.PermissionNone,
				"ghost":         bot.PermissionNone, // no such user: 404
				"renovate[bot]": bot.PermissionNone,
			} {
				if got, err := c.Permission(ctx, repo, login); err != nil || got != want {
					t.Errorf("Permission(%q) = %q, %v; want %q", login, got, err, want)
				}
			}
			calls := f.emu.CallCount()
			for _, login := range []string{"", "a/b", "../../admin", "a?b", "a b", "-x"} {
				if _, err := c.Permission(ctx, repo, login); bot.ErrorCode(err) != bot.EINVALID {
					t.Errorf("Permission(%q) error = %v; want code %s", login, err, bot.EINVALID)
				}
			}
			if n := f.emu.CallCount(); n != calls {
				t.Errorf("invalid logins made %d calls; want none", n-calls)
			}
		})
	}
}

func TestCommentEditReact(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			f := newFixture(t)
			f.emu.AddPullRequest(repoName, 7, otherSHA, "feature/x", "hubot")
			f.emu.AddIssue(repoName, 8, "hubot")
			// Without a webhook URL the comment is stored and the error
			// only says it was not delivered.
			userComment, _ := f.emu.UserComment(repoName, 7, "hubot", "deploy to dev")
			c := m.client(t, f)
			ctx := context.Background()

			if err := c.React(ctx, repo, userComment, "eyes"); err != nil {
				t.Fatalf("React: %v", err)
			}
			if err := c.React(ctx, repo, userComment, "eyes"); err != nil {
				t.Errorf("React again with the same content: %v", err)
			}
			if err := c.React(ctx, repo, userComment, "rocket"); err != nil {
				t.Errorf("React rocket: %v", err)
			}
			if diff := cmp.Diff(f.emu.Reactions(repoName, userComment), []string{"eyes", "rocket"}); diff != "" {
				t.Errorf("reactions (-got +want):\n%s", diff)
			}

			id, err := c.Comment(ctx, repo, 7, "Deploying `cf7e000` to dev…")
			if err != nil {
				t.Fatalf("Comment: %v", err)
			}
			if err := c.EditComment(ctx, repo, id, "Deployed `cf7e000` to dev."); err != nil {
				t.Fatalf("EditComment: %v", err)
			}
			got := f.emu.Comments(repoName, 7)
			if len(got) != 2 || got[1].ID != id || got[1].Author != m.creator || got[1].Body != "Deployed `cf7e000` to dev." ||
				got[1].Edits != 1 || got[1].History[0] != "Deploying `cf7e000` to dev…" {
				t.Errorf("comments on #7 = %+v", got)
			}
			if got[0].ID != userComment || got[0].Edits != 0 {
				t.Errorf("the user's comment changed: %+v", got[0])
			}
			if _, err := c.Comment(ctx, repo, 8, "on a plain issue"); err != nil {
				t.Errorf("Comment on an issue: %v", err)
			}

			for name, err := range map[string]error{
				"React to a missing comment":   c.React(ctx, repo, 1, "eyes"),
				"EditComment a missing one":    c.EditComment(ctx, repo, 1, "x"),
				"Comment on a missing issue":   second(c.Comment(ctx, repo, 99, "x")),
				"Comment on issue number zero": second(c.Comment(ctx, repo, 0, "x")),
			} {
				want := bot.ENOTFOUND
				if strings.Contains(name, "zero") {
					want = bot.EINVALID
				}
				if bot.ErrorCode(err) != want {
					t.Errorf("%s: error = %v; want code %s", name, err, want)
				}
			}
			if msg := bot.ErrorMessage(second(c.Comment(ctx, repo, 99, "x"))); msg != "issue or pull request #99 not found in "+repoName {
				t.Errorf("Comment on #99: message %q", msg)
			}
			for name, err := range map[string]error{
				"React thumbsup":    c.React(ctx, repo, userComment, "thumbsup"),
				"Comment empty":     second(c.Comment(ctx, repo, 7, "")),
				"EditComment empty": c.EditComment(ctx, repo, id, " "),
			} {
				if bot.ErrorCode(err) != bot.EINVALID {
					t.Errorf("%s: error = %v; want code %s", name, err, bot.EINVALID)
				}
			}
		})
	}
}

func second[T any](_ T, err error) error { return err }

func TestTeamMember(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			f := newFixture(t)
			f.emu.AddTeamMember("takumi", "deployers", "ada")
			f.emu.AddTeamMember("other", "ops", "ada")
			c := m.client(t, f)
			ctx := context.Background()
			for _, tc := range []struct {
				repo            bot.Repo
				org, team, user string
				want            bool
			}{
				{repo, "takumi", "deployers", "ada", true},
				{repo, "Takumi", "deployers", "ADA", true},
				{repo, "takumi", "deployers", "bob", false},
				{repo, "takumi", "admins", "ada", false},
				// An installation sees only the orgs it is installed on; a
				// personal token sees every org its user belongs to.
				{repo, "other", "ops", "ada", m.name == "token"},
				{bot.Repo{FullName: "other/repo"}, "other", "ops", "ada", true},
			} {
				got, err := c.TeamMember(ctx, tc.repo, tc.org, tc.team, tc.user)
				if err != nil || got != tc.want {
					t.Errorf("TeamMember(%s, %s/%s, %s) = %v, %v; want %v", tc.repo.FullName, tc.org, tc.team, tc.user, got, err, tc.want)
				}
			}
			for _, args := range [][3]string{{"takumi", "deployers", "a/b"}, {"takumi", "../x", "ada"}, {"", "deployers", "ada"}, {"takumi", "", "ada"}} {
				if _, err := c.TeamMember(ctx, repo, args[0], args[1], args[2]); bot.ErrorCode(err) != bot.EINVALID {
					t.Errorf("TeamMember(%q) error = %v; want code %s", args, err, bot.EINVALID)
				}
			}
		})
	}
}

// Every PullRequests call rides on the installation token the other calls
// use: one lookup, one token, whatever the mix.
func TestPullRequestsShareInstallationToken(t *testing.T) {
	f := newFixture(t)
	f.emu.AddPullRequest(repoName, 7, otherSHA, "feature/x", "hubot")
	f.emu.AddTeamMember("takumi", "deployers", "ada")
	c := modes[0].client(t, f)
	ctx := context.Background()

	if _, err := c.ResolveRef(ctx, repo, "main"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PullRequestHead(ctx, repo, 7); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Permission(ctx, repo, "ada"); err != nil {
		t.Fatal(err)
	}
	id, err := c.Comment(ctx, repo, 7, "hi")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.React(ctx, repo, id, "eyes"); err != nil {
		t.Fatal(err)
	}
	if err := c.EditComment(ctx, repo, id, "hello"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.TeamMember(ctx, bot.Repo{FullName: repoName, InstallationID: installationID}, "takumi", "deployers", "ada"); err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, call := range f.emu.Calls() {
		count[call.Method+" "+call.Path]++
	}
	want := map[string]int{
		"GET /repos/" + repoName + "/installation":                               1,
		fmt.Sprintf("POST /app/installations/%d/access_tokens", installationID):  1,
		"GET /repos/" + repoName + "/commits/main":                               1,
		"GET /repos/" + repoName + "/pulls/7":                                    1,
		"GET /repos/" + repoName + "/collaborators/ada/permission":               1,
		"POST /repos/" + repoName + "/issues/7/comments":                         1,
		fmt.Sprintf("POST /repos/%s/issues/comments/%d/reactions", repoName, id): 1,
		fmt.Sprintf("PATCH /repos/%s/issues/comments/%d", repoName, id):          1,
		"GET /orgs/takumi/teams/deployers/memberships/ada":                       1,
	}
	if diff := cmp.Diff(count, want); diff != "" {
		t.Errorf("calls (-got +want):\n%s", diff)
	}
	if got, want := c.RequestCount(), int64(f.emu.CallCount()); got != want {
		t.Errorf("RequestCount = %d; emulator saw %d", got, want)
	}
}

// GitHub failing is told as such, naming GitHub's answer; reads are
// retried, a comment is not, since a second one would be seen.
func TestPullRequestsServerError(t *testing.T) {
	var mu sync.Mutex
	calls := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls[r.Method+" "+r.URL.Path]++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprint(w, `{"message":"Server Error"}`)
	}))
	defer srv.Close()
	c := mustNew(t, ghclient.Config{APIURL: srv.URL + "/api/v3/", Token: userToken, RetryBase: time.Millisecond})
	ctx := context.Background()
	for name, err := range map[string]error{
		"PullRequestHead": second(c.PullRequestHead(ctx, repo, 7)),
		"CommitTime":      second(c.CommitTime(ctx, repo, otherSHA)),
		"Permission":      second(c.Permission(ctx, repo, "ada")),
		"React":           c.React(ctx, repo, 5, "eyes"),
		"Comment":         second(c.Comment(ctx, repo, 7, "x")),
		"EditComment":     c.EditComment(ctx, repo, 5, "x"),
		"TeamMember":      second(c.TeamMember(ctx, repo, "takumi", "deployers", "ada")),
	} {
		if bot.ErrorCode(err) != bot.EUNAVAILABLE || !strings.Contains(bot.ErrorMessage(err), "GitHub answered 502 Bad Gateway") {
			t.Errorf("%s: error = %v; want unavailable naming GitHub's 502", name, err)
		}
	}
	want := map[string]int{
		"GET /api/v3/repos/" + repoName + "/pulls/7":                      4,
		"GET /api/v3/repos/" + repoName + "/git/commits/" + otherSHA:      4,
		"GET /api/v3/repos/" + repoName + "/collaborators/ada/permission": 4,
		"POST /api/v3/repos/" + repoName + "/issues/comments/5/reactions": 4,
		"POST /api/v3/repos/" + repoName + "/issues/7/comments":           1,
		"PATCH /api/v3/repos/" + repoName + "/issues/comments/5":          4,
		"GET /api/v3/orgs/takumi/teams/deployers/memberships/ada":         4,
	}
	if diff := cmp.Diff(calls, want); diff != "" {
		t.Errorf("requests (-got +want):\n%s", diff)
	}
}
