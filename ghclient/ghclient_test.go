package ghclient_test

import (
	"context"
	"crypto/rsa"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/emulator/githubemu"
	"github.com/deploybot/deploybot/ghclient"
)

const (
	appID          = 4242
	installationID = 77
	repoName       = "takumi/takumi-server"
	sha            = "cf7edb2a1d3e4f5061728394a5b6c7d8e9f00112"
	otherSHA       = "cf7e0000aaaabbbbccccddddeeeeffff00001111"
	userToken      = "ghp_usertoken"
)

var appKey = sync.OnceValues(func() (*rsa.PrivateKey, []byte) {
	key, pemBytes, err := githubemu.GenerateKey()
	if err != nil {
		panic(err)
	}
	return key, pemBytes
})

type fixture struct {
	emu    *githubemu.Emulator
	apiURL string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	key, _ := appKey()
	emu := githubemu.New(appID, &key.PublicKey)
	emu.AddRepo(repoName, installationID)
	emu.AddRepo("takumi/uninstalled", 0)
	emu.AddRepo("other/repo", installationID+1)
	emu.AddToken(userToken, "octocat")
	emu.AddCommit(repoName, sha, "main", "v1.2.0")
	emu.AddCommit(repoName, otherSHA, "feature/x", "hot#fix")
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return &fixture{emu: emu, apiURL: srv.URL + githubemu.Prefix + "/"}
}

// mode is one way of authenticating against the same emulator.
type mode struct {
	name    string
	creator string // who the emulator records as creating things
	client  func(t *testing.T, f *fixture) *ghclient.Client
}

var modes = []mode{
	{"app", githubemu.AppBotLogin, func(t *testing.T, f *fixture) *ghclient.Client {
		_, pemBytes := appKey()
		return mustNew(t, ghclient.Config{APIURL: f.apiURL, AppID: appID, PrivateKey: pemBytes})
	}},
	{"token", "octocat", func(t *testing.T, f *fixture) *ghclient.Client {
		return mustNew(t, ghclient.Config{APIURL: f.apiURL, Token: userToken})
	}},
}

func mustNew(t *testing.T, cfg ghclient.Config) *ghclient.Client {
	t.Helper()
	c, err := ghclient.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// repo leaves the installation to be looked up, as for a deployment
// triggered from Slack.
var repo = bot.Repo{FullName: repoName}

func TestResolveRef(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			f := newFixture(t)
			c := m.client(t, f)
			ctx := context.Background()
			for _, tc := range []struct{ ref, want string }{
				{sha, sha},
				{"cf7edb2", sha},
				{"main", sha},
				{"v1.2.0", sha},
				{"refs/heads/main", sha},
				{"feature/x", otherSHA},
				{"hot#fix", otherSHA},
				{"cf7e0000", otherSHA},
			} {
				got, err := c.ResolveRef(ctx, repo, tc.ref)
				if err != nil || got != tc.want {
					t.Errorf("ResolveRef(%q) = %q, %v; want %q", tc.ref, got, err, tc.want)
				}
			}
			for _, ref := range []string{"nope", "cf7e", "0000000000000000000000000000000000000000", "deadbee"} {
				_, err := c.ResolveRef(ctx, repo, ref)
				if bot.ErrorCode(err) != bot.ENOTFOUND {
					t.Errorf("ResolveRef(%q) error = %v; want code %s", ref, err, bot.ENOTFOUND)
				}
				if want := fmt.Sprintf("ref %q not found in %s", ref, repoName); bot.ErrorMessage(err) != want {
					t.Errorf("ResolveRef(%q) message = %q; want %q", ref, bot.ErrorMessage(err), want)
				}
			}
		})
	}
}

// Who wrote a resolved commit comes from the answer that resolved it, once.
func TestDescribeCommitAfterResolveRef(t *testing.T) {
	f := newFixture(t)
	c := modes[1].client(t, f)
	if _, _, ok := c.DescribeCommit(repo, sha); ok {
		t.Error("a commit never resolved is described")
	}
	if _, err := c.ResolveRef(context.Background(), repo, "main"); err != nil {
		t.Fatal(err)
	}
	calls := f.emu.CallCount()
	author, subject, ok := c.DescribeCommit(repo, sha)
	if !ok || author != "Emulator" || subject != "Commit "+sha[:7] {
		t.Errorf("DescribeCommit = %q, %q, %v; want the emulator's author and message", author, subject, ok)
	}
	if n := f.emu.CallCount(); n != calls {
		t.Errorf("DescribeCommit made %d requests, want none", n-calls)
	}
	if _, _, ok := c.DescribeCommit(repo, sha); ok {
		t.Error("a commit is described twice; what is kept must not grow")
	}
}

func TestResolveRefRejectsPathTricks(t *testing.T) {
	f := newFixture(t)
	c := modes[1].client(t, f)
	for _, ref := range []string{"", "../../../app/installations", "a/./b", "main?x=1", "a b", "/main"} {
		_, err := c.ResolveRef(context.Background(), repo, ref)
		if bot.ErrorCode(err) != bot.EINVALID {
			t.Errorf("ResolveRef(%q) error = %v; want code %s", ref, err, bot.EINVALID)
		}
	}
	if n := f.emu.CallCount(); n != 0 {
		t.Errorf("emulator got %d calls for invalid refs; want 0: %v", n, f.emu.Calls())
	}
}

func TestCreateDeploymentAndStatuses(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			f := newFixture(t)
			// GitHub refuses a deployment of a commit with a red context
			// unless required_contexts is sent as [].
			f.emu.SetStatus(repoName, sha, "ci/codeship", "failure")
			c := m.client(t, f)
			ctx := context.Background()

			payload := bot.DeploymentPayload{App: "takumi-server", RequestedBy: "slack:U024BE7LH", Source: bot.SourceSlack, DeploybotID: 12}
			id, err := c.CreateDeployment(ctx, repo, bot.GitHubDeploymentRequest{
				SHA: sha, Environment: "dev", Description: "takumi-server to dev", Payload: payload,
			})
			if err != nil {
				t.Fatalf("CreateDeployment: %v", err)
			}

			got := f.emu.Deployments(repoName)
			if len(got) != 1 {
				t.Fatalf("emulator has %d deployments; want 1", len(got))
			}
			d := got[0]
			want := githubemu.Deployment{
				ID: id, SHA: sha, Ref: sha, Task: "deploy", Environment: "dev", Description: "takumi-server to dev",
				Payload: map[string]any{
					"app": "takumi-server", "requested_by": "slack:U024BE7LH", "source": "slack", "deploybot_id": float64(12),
				},
				RequiredContexts: []string{},
				AutoMerge:        false,
				Creator:          m.creator,
			}
			if diff := cmp.Diff(d, want, cmpDeployment); diff != "" {
				t.Errorf("deployment (-got +want):\n%s", diff)
			}
			if d.RequiredContexts == nil {
				t.Errorf("required_contexts was omitted; want []")
			}

			long := strings.Repeat("é", 150)
			steps := []bot.DeploymentStatus{
				{State: "queued", Description: "queued"},
				{State: "in_progress", Description: "deploying", LogURL: "https://deploybot.example.com/deployments/12"},
				{State: "success", Description: long, LogURL: "https://deploybot.example.com/deployments/12", EnvironmentURL: "https://dev.example.com"},
			}
			for _, st := range steps {
				if err := c.CreateDeploymentStatus(ctx, repo, id, st); err != nil {
					t.Fatalf("CreateDeploymentStatus(%s): %v", st.State, err)
				}
			}
			var gotStatuses []bot.DeploymentStatus
			for _, st := range f.emu.Statuses(repoName, id) {
				if st.Creator != m.creator {
					t.Errorf("status %s creator = %q; want %q", st.State, st.Creator, m.creator)
				}
				gotStatuses = append(gotStatuses, bot.DeploymentStatus{State: st.State, Description: st.Description, LogURL: st.LogURL, EnvironmentURL: st.EnvironmentURL})
			}
			steps[2].Description = strings.Repeat("é", 139) + "…"
			if diff := cmp.Diff(gotStatuses, steps); diff != "" {
				t.Errorf("statuses (-got +want):\n%s", diff)
			}

			err = c.CreateDeploymentStatus(ctx, repo, id+999, bot.DeploymentStatus{State: "failure"})
			if bot.ErrorCode(err) != bot.ENOTFOUND {
				t.Errorf("status of unknown deployment: error = %v; want code %s", err, bot.ENOTFOUND)
			}
			err = c.CreateDeploymentStatus(ctx, repo, id, bot.DeploymentStatus{State: "exploded"})
			if bot.ErrorCode(err) != bot.EINVALID {
				t.Errorf("bad state: error = %v; want code %s", err, bot.EINVALID)
			}
		})
	}
}

var cmpDeployment = cmp.FilterPath(func(p cmp.Path) bool {
	switch p.Last().String() {
	case ".RawPayload", ".CreatedAt", ".ProductionEnvironment":
		return true
	}
	return false
}, cmp.Ignore())

func TestCreateDeploymentUnknownSHA(t *testing.T) {
	f := newFixture(t)
	c := modes[0].client(t, f)
	_, err := c.CreateDeployment(context.Background(), repo, bot.GitHubDeploymentRequest{SHA: strings.Repeat("a", 40), Environment: "dev"})
	if bot.ErrorCode(err) != bot.EINVALID {
		t.Errorf("error = %v; want code %s", err, bot.EINVALID)
	}
}

func TestChecks(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			f := newFixture(t)
			e := f.emu
			e.SetStatus(repoName, sha, "ci/codeship", "pending")
			e.SetStatus(repoName, sha, "ci/codeship", "success") // the later one counts
			e.SetStatus(repoName, sha, "ci/lint", "error")
			e.SetStatus(repoName, sha, "ci/slow", "pending")
			e.SetStatus(repoName, otherSHA, "ci/other-commit", "failure")
			e.SetCheckRun(repoName, sha, "build", "completed", "success")
			e.SetCheckRun(repoName, sha, "test", "completed", "failure")
			e.SetCheckRun(repoName, sha, "test", "completed", "success") // a re-run
			e.SetCheckRun(repoName, sha, "docs", "completed", "neutral")
			e.SetCheckRun(repoName, sha, "preview", "completed", "skipped")
			e.SetCheckRun(repoName, sha, "e2e", "in_progress", "")
			e.SetCheckRun(repoName, sha, "queued", "queued", "")
			for _, conclusion := range []string{"cancelled", "timed_out", "action_required", "stale", "startup_failure"} {
				e.SetCheckRun(repoName, sha, "run-"+conclusion, "completed", conclusion)
			}

			got, err := m.client(t, f).Checks(context.Background(), repo, sha)
			if err != nil {
				t.Fatalf("Checks: %v", err)
			}
			states := map[string]bot.CheckState{}
			for _, c := range got {
				if _, dup := states[c.Name]; dup {
					t.Errorf("check %q reported twice", c.Name)
				}
				states[c.Name] = c.State
				if c.URL == "" {
					t.Errorf("check %q has no URL", c.Name)
				}
			}
			want := map[string]bot.CheckState{
				"ci/codeship": bot.CheckSuccess,
				"ci/lint":     bot.CheckFailure,
				"ci/slow":     bot.CheckPending,
				"build":       bot.CheckSuccess,
				"test":        bot.CheckSuccess,
				"docs":        bot.CheckNeutral,
				"preview":     bot.CheckSkipped,
				"e2e":         bot.CheckPending,
				"queued":      bot.CheckPending,

				"run-cancelled":       bot.CheckFailure,
				"run-timed_out":       bot.CheckFailure,
				"run-action_required": bot.CheckFailure,
				"run-stale":           bot.CheckFailure,
				"run-startup_failure": bot.CheckFailure,
			}
			if diff := cmp.Diff(states, want); diff != "" {
				t.Errorf("checks (-got +want):\n%s", diff)
			}
		})
	}
}

func TestChecksNone(t *testing.T) {
	f := newFixture(t)
	got, err := modes[1].client(t, f).Checks(context.Background(), repo, sha)
	if err != nil || len(got) != 0 {
		t.Errorf("Checks = %v, %v; want none", got, err)
	}
	_, err = modes[1].client(t, f).Checks(context.Background(), repo, strings.Repeat("0", 40))
	if bot.ErrorCode(err) != bot.ENOTFOUND {
		t.Errorf("Checks of unknown sha: error = %v; want code %s", err, bot.ENOTFOUND)
	}
}

func TestChecksPagination(t *testing.T) {
	const statuses, runs = 130, 250
	f := newFixture(t)
	for i := range statuses {
		f.emu.SetStatus(repoName, sha, fmt.Sprintf("status-%03d", i), "success")
	}
	for i := range runs {
		f.emu.SetCheckRun(repoName, sha, fmt.Sprintf("run-%03d", i), "completed", "success")
	}
	f.emu.SetCheckRun(repoName, sha, "run-249", "completed", "failure") // the last page's re-run

	got, err := modes[1].client(t, f).Checks(context.Background(), repo, sha)
	if err != nil {
		t.Fatalf("Checks: %v", err)
	}
	if len(got) != statuses+runs {
		t.Errorf("got %d checks; want %d", len(got), statuses+runs)
	}
	for _, c := range got {
		if c.Name == "run-249" && c.State != bot.CheckFailure {
			t.Errorf("run-249 = %s; want the re-run's failure", c.State)
		}
	}
	pages := map[string]int{}
	for _, call := range f.emu.Calls() {
		pages[call.Path]++
	}
	want := map[string]int{
		"/repos/" + repoName + "/commits/" + sha + "/status":     2,
		"/repos/" + repoName + "/commits/" + sha + "/check-runs": 3,
	}
	if diff := cmp.Diff(pages, want); diff != "" {
		t.Errorf("requests per path (-got +want):\n%s", diff)
	}
}

func TestWrongCredentials(t *testing.T) {
	f := newFixture(t)
	_, otherPEM, err := githubemu.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	_, pemBytes := appKey()
	for _, tc := range []struct {
		name string
		cfg  ghclient.Config
	}{
		{"unknown token", ghclient.Config{APIURL: f.apiURL, Token: "ghp_wrong"}},
		{"other app key", ghclient.Config{APIURL: f.apiURL, AppID: appID, PrivateKey: otherPEM}},
		{"other app id", ghclient.Config{APIURL: f.apiURL, AppID: appID + 1, PrivateKey: pemBytes}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustNew(t, tc.cfg)
			for _, r := range []bot.Repo{repo, {FullName: repoName, InstallationID: installationID}} {
				_, err := c.ResolveRef(context.Background(), r, "main")
				if err == nil {
					t.Fatalf("ResolveRef with %s succeeded", tc.name)
				}
				// Bad credentials are the operator's problem, not a
				// missing ref the requester could fix.
				if code := bot.ErrorCode(err); code != bot.EINTERNAL {
					t.Errorf("error = %v (code %s); want an internal error", err, code)
				}
			}
		})
	}
}

func TestAppInstallation(t *testing.T) {
	f := newFixture(t)
	c := modes[0].client(t, f)
	ctx := context.Background()
	for range 3 {
		if _, err := c.ResolveRef(ctx, repo, "main"); err != nil {
			t.Fatalf("ResolveRef: %v", err)
		}
	}
	// A known installation needs no lookup and shares the cached token.
	if _, err := c.ResolveRef(ctx, bot.Repo{FullName: repoName, InstallationID: installationID}, "main"); err != nil {
		t.Fatalf("ResolveRef with installation id: %v", err)
	}
	count := map[string]int{}
	for _, call := range f.emu.Calls() {
		count[call.Method+" "+call.Path]++
	}
	want := map[string]int{
		"GET /repos/" + repoName + "/installation":                              1,
		fmt.Sprintf("POST /app/installations/%d/access_tokens", installationID): 1,
		"GET /repos/" + repoName + "/commits/main":                              4,
	}
	if diff := cmp.Diff(count, want); diff != "" {
		t.Errorf("calls (-got +want):\n%s", diff)
	}
	if got, want := c.RequestCount(), int64(f.emu.CallCount()); got != want {
		t.Errorf("RequestCount = %d; emulator saw %d", got, want)
	}

	_, err := c.ResolveRef(ctx, bot.Repo{FullName: "takumi/uninstalled"}, "main")
	if bot.ErrorCode(err) != bot.ENOTFOUND || !strings.Contains(bot.ErrorMessage(err), "not installed") {
		t.Errorf("uninstalled repo: error = %v; want not installed", err)
	}
	// An installation that does not cover the repo is told nothing about it.
	_, err = c.ResolveRef(ctx, bot.Repo{FullName: "other/repo", InstallationID: installationID}, "main")
	if bot.ErrorCode(err) != bot.ENOTFOUND {
		t.Errorf("foreign installation: error = %v; want code %s", err, bot.ENOTFOUND)
	}
}

func TestConcurrentUse(t *testing.T) {
	f := newFixture(t)
	c := modes[0].client(t, f)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := repo
			if i%2 == 0 {
				r = bot.Repo{FullName: "other/repo"}
			}
			_, err := c.Checks(context.Background(), r, sha)
			if r.FullName == "other/repo" && bot.ErrorCode(err) == bot.ENOTFOUND {
				err = nil // other/repo has no commits; only the race matters
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestAPIURLWithoutTrailingSlash(t *testing.T) {
	f := newFixture(t)
	_, pemBytes := appKey()
	c := mustNew(t, ghclient.Config{APIURL: strings.TrimSuffix(f.apiURL, "/"), AppID: appID, PrivateKey: pemBytes})
	if _, err := c.ResolveRef(context.Background(), repo, "main"); err != nil {
		t.Fatalf("ResolveRef: %v", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	_, pemBytes := appKey()
	for _, cfg := range []ghclient.Config{
		{},
		{APIURL: "ftp://x/", Token: "t"},
		{APIURL: "not a url", Token: "t"},
		{Token: "t", AppID: 1, PrivateKey: pemBytes},
		{AppID: 1, PrivateKey: []byte("not pem")},
		{AppID: 1},
	} {
		if _, err := ghclient.New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded; want an error", cfg)
		}
	}
}
