package githubemu_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/go-github/v60/github"

	"github.com/deploybot/deploybot/emulator/githubemu"
)

const headSHA = "aaaabbbbccccddddeeeeffff0000111122223333"

func TestPullRequest(t *testing.T) {
	emu, api := newServer(t)
	emu.AddPullRequest(repoName, 7, headSHA, "feature/login", "Codertocat")
	emu.AddIssue(repoName, 8, "Codertocat")

	type branch struct {
		Label string `json:"label"`
		Ref   string `json:"ref"`
		SHA   string `json:"sha"`
		Repo  struct {
			FullName string `json:"full_name"`
		} `json:"repo"`
	}
	var pr struct {
		ID       int64  `json:"id"`
		Number   int    `json:"number"`
		State    string `json:"state"`
		URL      string `json:"url"`
		HTMLURL  string `json:"html_url"`
		IssueURL string `json:"issue_url"`
		Head     branch `json:"head"`
		Base     branch `json:"base"`
		User     struct {
			Login string `json:"login"`
			Type  string `json:"type"`
		} `json:"user"`
		Merged bool `json:"merged"`
	}
	prURL := api + "/repos/" + repoName + "/pulls/7"
	if resp := call(t, "GET", prURL, "token "+token, nil, &pr); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET pull: status %d", resp.StatusCode)
	}
	if pr.Number != 7 || pr.State != "open" || pr.ID == 0 || pr.Merged ||
		pr.Head.SHA != headSHA || pr.Head.Ref != "feature/login" || pr.Head.Label != "octo:feature/login" || pr.Head.Repo.FullName != repoName ||
		pr.Base.Ref != "main" || pr.Base.SHA != sha || pr.Base.Repo.FullName != repoName ||
		pr.User.Login != "Codertocat" || pr.User.Type != "User" ||
		pr.URL != prURL || !strings.HasSuffix(pr.HTMLURL, "/"+repoName+"/pull/7") ||
		pr.IssueURL != api+"/repos/"+repoName+"/issues/7" {
		t.Errorf("pull request = %+v", pr)
	}

	// A push to the branch moves the head, and git names it three ways.
	const pushed = "1111222233334444555566667777888899990000"
	emu.SetPullRequestHead(repoName, 7, pushed)
	call(t, "GET", prURL, "token "+token, nil, &pr)
	if pr.Head.SHA != pushed {
		t.Errorf("head after push = %q; want %q", pr.Head.SHA, pushed)
	}
	for _, ref := range []string{"feature/login", "refs/pull/7/head", pushed} {
		var c struct{ SHA string }
		if call(t, "GET", api+"/repos/"+repoName+"/commits/"+ref, "token "+token, nil, &c); c.SHA != pushed {
			t.Errorf("commit %q = %q; want %q", ref, c.SHA, pushed)
		}
	}

	// A plain issue shares the numbers but is no pull request.
	for _, n := range []string{"8", "9", "x"} {
		if resp := call(t, "GET", api+"/repos/"+repoName+"/pulls/"+n, "token "+token, nil, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET pulls/%s: status %d; want 404", n, resp.StatusCode)
		}
	}
	var is map[string]any
	call(t, "GET", api+"/repos/"+repoName+"/issues/7", "token "+token, nil, &is)
	if _, ok := is["pull_request"]; !ok {
		t.Errorf("issue 7 has no pull_request key: %v", is)
	}
	is = nil
	call(t, "GET", api+"/repos/"+repoName+"/issues/8", "token "+token, nil, &is)
	if _, ok := is["pull_request"]; ok || is["number"] != float64(8) {
		t.Errorf("issue 8 = %v; want a plain issue", is)
	}
	if resp := call(t, "GET", prURL, "", nil, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET pull without a token: status %d; want 401", resp.StatusCode)
	}
}

type commentJSON struct {
	ID        int64  `json:"id"`
	NodeID    string `json:"node_id"`
	URL       string `json:"url"`
	HTMLURL   string `json:"html_url"`
	IssueURL  string `json:"issue_url"`
	Body      string `json:"body"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
	User      struct {
		Login string `json:"login"`
		Type  string `json:"type"`
	} `json:"user"`
}

func TestIssueComments(t *testing.T) {
	emu, api := newServer(t)
	emu.AddPullRequest(repoName, 7, headSHA, "feature", "Codertocat")
	emu.AddIssue(repoName, 8, "Codertocat")
	comments := api + "/repos/" + repoName + "/issues/7/comments"

	var e apiErr
	for _, body := range []any{map[string]any{}, map[string]any{"body": ""}, map[string]any{"body": strings.Repeat("x", 65537)}} {
		if resp := call(t, "POST", comments, "token "+token, body, &e); resp.StatusCode != http.StatusUnprocessableEntity || e.Message != "Validation Failed" {
			t.Errorf("POST %.40v: %d %+v; want 422", body, resp.StatusCode, e)
		}
	}
	if resp := call(t, "POST", api+"/repos/"+repoName+"/issues/9/comments", "token "+token, map[string]any{"body": "hi"}, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("comment on a missing issue: status %d; want 404", resp.StatusCode)
	}

	var created commentJSON
	resp := call(t, "POST", comments, "token "+token, map[string]any{"body": "Deploying to dev…"}, &created)
	if resp.StatusCode != http.StatusCreated || created.ID == 0 || created.Body != "Deploying to dev…" ||
		created.User.Login != "octocat" || created.User.Type != "User" || created.NodeID == "" ||
		created.CreatedAt == "" || created.UpdatedAt != created.CreatedAt ||
		!strings.HasSuffix(created.HTMLURL, "/"+repoName+"/pull/7#issuecomment-"+strconv.FormatInt(created.ID, 10)) ||
		created.URL != api+"/repos/"+repoName+"/issues/comments/"+strconv.FormatInt(created.ID, 10) ||
		created.IssueURL != api+"/repos/"+repoName+"/issues/7" {
		t.Fatalf("POST comment: %d %+v", resp.StatusCode, created)
	}

	if resp := call(t, "PATCH", created.URL, "token "+token, map[string]any{}, &e); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("PATCH without body: status %d; want 422", resp.StatusCode)
	}
	var edited commentJSON
	if resp := call(t, "PATCH", created.URL, "token "+token, map[string]any{"body": "Deployed to dev."}, &edited); resp.StatusCode != http.StatusOK || edited.ID != created.ID || edited.Body != "Deployed to dev." {
		t.Errorf("PATCH: %d %+v", resp.StatusCode, edited)
	}
	var fetched commentJSON
	if resp := call(t, "GET", created.URL, "token "+token, nil, &fetched); resp.StatusCode != http.StatusOK || fetched.Body != "Deployed to dev." {
		t.Errorf("GET after PATCH: %d %+v", resp.StatusCode, fetched)
	}
	for _, method := range []string{"GET", "PATCH"} {
		if resp := call(t, method, api+"/repos/"+repoName+"/issues/comments/1", "token "+token, map[string]any{"body": "x"}, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s unknown comment: status %d; want 404", method, resp.StatusCode)
		}
	}
	var listed []commentJSON
	if call(t, "GET", comments, "token "+token, nil, &listed); len(listed) != 1 || listed[0].ID != created.ID {
		t.Errorf("listed comments = %+v", listed)
	}

	call(t, "POST", api+"/repos/"+repoName+"/issues/8/comments", "token "+token, map[string]any{"body": "on the issue"}, nil)
	got := emu.Comments(repoName, 7)
	for _, c := range got {
		if c.CreatedAt.IsZero() || c.UpdatedAt.Before(c.CreatedAt) {
			t.Errorf("comment %d times: %v %v", c.ID, c.CreatedAt, c.UpdatedAt)
		}
	}
	want := []githubemu.Comment{{
		ID: created.ID, Body: "Deployed to dev.", Author: "octocat", Edits: 1, History: []string{"Deploying to dev…"},
	}}
	if diff := cmp.Diff(got, want, cmpopts.IgnoreFields(githubemu.Comment{}, "CreatedAt", "UpdatedAt")); diff != "" {
		t.Errorf("Comments(7) (-got +want):\n%s", diff)
	}
	if c := emu.Comments(repoName, 8); len(c) != 1 || c[0].Body != "on the issue" || c[0].Edits != 0 {
		t.Errorf("Comments(8) = %+v", c)
	}
	if c := emu.Comments(repoName, 9); c != nil {
		t.Errorf("Comments(9) = %+v; want nil", c)
	}
}

func TestReactions(t *testing.T) {
	emu, api := newServer(t)
	emu.AddToken("ghp_other", "hubot")
	emu.AddIssue(repoName, 8, "Codertocat")
	id, err := emu.UserComment(repoName, 8, "Codertocat", "deploy to dev")
	if err == nil {
		t.Errorf("UserComment without a webhook URL: no error")
	}
	if id == 0 {
		t.Fatalf("UserComment did not store the comment")
	}
	reactions := api + "/repos/" + repoName + "/issues/comments/" + strconv.FormatInt(id, 10) + "/reactions"

	type reaction struct {
		ID      int64  `json:"id"`
		Content string `json:"content"`
		User    struct{ Login string }
	}
	var first, again, other reaction
	if resp := call(t, "POST", reactions, "token "+token, map[string]any{"content": "eyes"}, &first); resp.StatusCode != http.StatusCreated || first.Content != "eyes" || first.User.Login != "octocat" || first.ID == 0 {
		t.Errorf("first eyes: %d %+v; want 201", resp.StatusCode, first)
	}
	if resp := call(t, "POST", reactions, "token "+token, map[string]any{"content": "eyes"}, &again); resp.StatusCode != http.StatusOK || again.ID != first.ID {
		t.Errorf("same eyes again: %d %+v; want 200 with id %d", resp.StatusCode, again, first.ID)
	}
	if resp := call(t, "POST", reactions, "token ghp_other", map[string]any{"content": "eyes"}, &other); resp.StatusCode != http.StatusCreated || other.ID == first.ID {
		t.Errorf("eyes by another user: %d %+v; want 201", resp.StatusCode, other)
	}
	for _, content := range []string{"+1", "-1", "laugh", "confused", "heart", "hooray", "rocket"} {
		if resp := call(t, "POST", reactions, "token "+token, map[string]any{"content": content}, nil); resp.StatusCode != http.StatusCreated {
			t.Errorf("%s: status %d; want 201", content, resp.StatusCode)
		}
	}
	var e apiErr
	for _, content := range []string{"", "EYES", "thumbsup", "👀", "tada"} {
		if resp := call(t, "POST", reactions, "token "+token, map[string]any{"content": content}, &e); resp.StatusCode != http.StatusUnprocessableEntity || e.Message != "Validation Failed" {
			t.Errorf("content %q: %d %+v; want 422", content, resp.StatusCode, e)
		}
	}
	if resp := call(t, "POST", api+"/repos/"+repoName+"/issues/comments/1/reactions", "token "+token, map[string]any{"content": "eyes"}, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("reaction to a missing comment: status %d; want 404", resp.StatusCode)
	}
	want := []string{"eyes", "eyes", "+1", "-1", "laugh", "confused", "heart", "hooray", "rocket"}
	if diff := cmp.Diff(emu.Reactions(repoName, id), want); diff != "" {
		t.Errorf("Reactions (-got +want):\n%s", diff)
	}
	var c struct {
		Reactions map[string]any `json:"reactions"`
	}
	call(t, "GET", api+"/repos/"+repoName+"/issues/comments/"+strconv.FormatInt(id, 10), "token "+token, nil, &c)
	if c.Reactions["eyes"] != float64(2) || c.Reactions["total_count"] != float64(9) {
		t.Errorf("comment reactions summary = %v", c.Reactions)
	}
}

func TestPermission(t *testing.T) {
	emu, api := newServer(t)
	for login, role := range map[string]string{
		"ada": "admin", "max": "maintain", "wes": "write", "tri": "triage", "rea": "read",
	} {
		emu.SetPermission(repoName, login, role)
	}
	emu.SetPermission(repoName, "gone", "write")
	emu.SetPermission(repoName, "gone", "none")
	emu.AddUser("stranger")

	type level struct {
		Permission string `json:"permission"`
		RoleName   string `json:"role_name"`
		User       struct{ Login string }
	}
	for _, tc := range []struct{ login, permission, role, user string }{
		{"ada", "admin", "admin", "ada"},
		{"max", "write", "maintain", "max"}, // the legacy field knows no maintain
		{"wes", "write", "write", "wes"},
		{"tri", "read", "triage", "tri"}, // nor triage
		{"rea", "read", "read", "rea"},
		{"WES", "write", "write", "wes"}, // logins ignore case
		{"gone", "none", "none", "gone"},
		{"stranger", "none", "none", "stranger"},
		{"octocat", "none", "none", "octocat"}, // holds a token, but no role
	} {
		var got level
		resp := call(t, "GET", api+"/repos/"+repoName+"/collaborators/"+tc.login+"/permission", "token "+token, nil, &got)
		if resp.StatusCode != http.StatusOK || got.Permission != tc.permission || got.RoleName != tc.role || got.User.Login != tc.user {
			t.Errorf("%s: %d %+v; want permission %s, role %s", tc.login, resp.StatusCode, got, tc.permission, tc.role)
		}
	}
	var e apiErr
	if resp := call(t, "GET", api+"/repos/"+repoName+"/collaborators/ghost/permission", "token "+token, nil, &e); resp.StatusCode != http.StatusNotFound || e.Message != "ghost is not a user" {
		t.Errorf("unknown login: %d %+v; want 404 not a user", resp.StatusCode, e)
	}
	if resp := call(t, "GET", api+"/repos/octo/missing/collaborators/ada/permission", "token "+token, nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown repo: status %d; want 404", resp.StatusCode)
	}
}

func TestTeamMembership(t *testing.T) {
	emu, api := newServer(t)
	emu.AddTeamMember("octo", "deployers", "ada")
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/orgs/octo/teams/deployers/memberships/ada", http.StatusOK},
		{"/orgs/OCTO/teams/deployers/memberships/ADA", http.StatusOK},
		{"/orgs/octo/teams/deployers/memberships/max", http.StatusNotFound},
		{"/orgs/octo/teams/admins/memberships/ada", http.StatusNotFound},
		{"/orgs/other/teams/deployers/memberships/ada", http.StatusNotFound},
	} {
		var got struct{ State, Role, URL string }
		resp := call(t, "GET", api+tc.path, "token "+token, nil, &got)
		if resp.StatusCode != tc.want || tc.want == http.StatusOK && (got.State != "active" || got.Role != "member" || got.URL == "") {
			t.Errorf("%s: %d %+v; want %d", tc.path, resp.StatusCode, got, tc.want)
		}
	}
	if resp := call(t, "GET", api+"/orgs/octo/teams/deployers/memberships/ada", "", nil, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without a token: status %d; want 401", resp.StatusCode)
	}
}

func TestUserCommentWebhook(t *testing.T) {
	const secret = "It's a Secret to Everybody"
	emu := githubemu.New(1, nil)
	emu.AddRepo(repoName, 31)
	emu.AddToken(token, "octocat")
	emu.AddCommit(repoName, sha, "main")
	emu.AddPullRequest(repoName, 7, headSHA, "feature", "Codertocat")
	emu.AddIssue(repoName, 8, "Codertocat")
	emu.SetPermission(repoName, "hubot", "write")
	srv := httptest.NewServer(emu)
	defer srv.Close()
	rc := &receiver{}
	hook := httptest.NewServer(rc)
	defer hook.Close()
	emu.SetWebhook(hook.URL+"/webhooks/github", secret)

	prComment, err := emu.UserComment(repoName, 7, "hubot", "deploy to dev")
	if err != nil {
		t.Fatalf("UserComment on the PR: %v", err)
	}
	issueComment, err := emu.UserComment(repoName, 8, "hubot", "deploy to dev")
	if err != nil {
		t.Fatalf("UserComment on the issue: %v", err)
	}
	if err := emu.UserEditedComment(repoName, prComment, "Codertocat", "deploy to prod"); err != nil {
		t.Fatalf("UserEditedComment: %v", err)
	}

	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.got) != 3 {
		t.Fatalf("received %d webhooks; want 3", len(rc.got))
	}
	for i, r := range rc.got {
		if got, want := r.Header.Get("X-Hub-Signature-256"), githubemu.Signature256(secret, rc.bod[i]); got != want {
			t.Errorf("webhook %d: X-Hub-Signature-256 = %q; want %q", i, got, want)
		}
		if r.Header.Get("X-GitHub-Event") != "issue_comment" || r.Header.Get("X-GitHub-Delivery") == "" {
			t.Errorf("webhook %d headers: %v", i, r.Header)
		}
	}

	type event struct {
		Action  string
		Changes struct {
			Body struct{ From string }
		}
		Issue struct {
			Number      int
			State       string
			User        struct{ Login string }
			PullRequest *struct {
				URL string
			} `json:"pull_request"`
		}
		Comment struct {
			ID      int64
			Body    string
			HTMLURL string `json:"html_url"`
			User    struct{ Login, Type string }
		}
		Repository struct {
			FullName string `json:"full_name"`
		}
		Sender       struct{ Login string }
		Installation struct{ ID int64 }
	}
	var got [3]event
	for i := range got {
		if err := json.Unmarshal(rc.bod[i], &got[i]); err != nil {
			t.Fatal(err)
		}
	}
	pr, is, ed := got[0], got[1], got[2]
	if pr.Action != "created" || pr.Comment.ID != prComment || pr.Comment.Body != "deploy to dev" ||
		pr.Comment.User.Login != "hubot" || pr.Comment.User.Type != "User" ||
		!strings.HasSuffix(pr.Comment.HTMLURL, "/pull/7#issuecomment-"+strconv.FormatInt(prComment, 10)) ||
		pr.Issue.Number != 7 || pr.Issue.State != "open" || pr.Issue.User.Login != "Codertocat" ||
		pr.Repository.FullName != repoName || pr.Sender.Login != "hubot" || pr.Installation.ID != 31 {
		t.Errorf("PR comment event = %+v", pr)
	}
	if pr.Issue.PullRequest == nil || !strings.HasSuffix(pr.Issue.PullRequest.URL, githubemu.Prefix+"/repos/"+repoName+"/pulls/7") {
		t.Errorf("PR comment event: issue.pull_request = %+v; want the pull request's URL", pr.Issue.PullRequest)
	}
	if is.Issue.Number != 8 || is.Comment.ID != issueComment {
		t.Errorf("issue comment event = %+v", is)
	}
	var raw struct{ Issue map[string]json.RawMessage }
	if err := json.Unmarshal(rc.bod[1], &raw); err != nil {
		t.Fatal(err)
	}
	if _, ok := raw.Issue["pull_request"]; ok {
		t.Errorf("plain issue event carries issue.pull_request: %s", raw.Issue["pull_request"])
	}
	if ed.Action != "edited" || ed.Comment.ID != prComment || ed.Comment.Body != "deploy to prod" ||
		ed.Changes.Body.From != "deploy to dev" || ed.Sender.Login != "Codertocat" || ed.Comment.User.Login != "hubot" {
		t.Errorf("edited event = %+v", ed)
	}

	// go-github, which the bot's intake may use, reads the same thing.
	parsed, err := github.ParseWebHook("issue_comment", rc.bod[0])
	if err != nil {
		t.Fatalf("ParseWebHook: %v", err)
	}
	ev := parsed.(*github.IssueCommentEvent)
	if !ev.GetIssue().IsPullRequest() || ev.GetComment().GetID() != prComment || ev.GetInstallation().GetID() != 31 {
		t.Errorf("go-github reads %+v", ev)
	}
	if d := emu.Deliveries(); len(d) != 3 || d[0].Event != "issue_comment" || d[0].StatusCode != 200 {
		t.Errorf("Deliveries = %+v", d)
	}
	if c := emu.Comments(repoName, 7); len(c) != 1 || c[0].Body != "deploy to prod" || c[0].Author != "hubot" || c[0].Edits != 1 {
		t.Errorf("Comments(7) = %+v", c)
	}
}

// The emulator's issue_comment payload carries every field of GitHub's
// own example that a handler may read.
func TestUserCommentShapeMatchesCorpus(t *testing.T) {
	example, err := os.ReadFile("../../testdata/corpus/github-webhooks/issue_comment/created.with-installation.payload.json")
	if err != nil {
		t.Fatalf("corpus: %v", err)
	}
	emu := githubemu.New(1, nil)
	emu.AddRepo(repoName, 31)
	emu.AddIssue(repoName, 1, "Codertocat")
	rc := &receiver{}
	hook := httptest.NewServer(rc)
	defer hook.Close()
	emu.SetWebhook(hook.URL, "s")
	if _, err := emu.UserComment(repoName, 1, "Codertocat", "hello"); err != nil {
		t.Fatal(err)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()

	// Optional parts of a repository and a user (the dozens of *_url
	// templates, counters) are not emulated.
	objects := []string{"", "issue", "comment", "installation"}
	for _, obj := range objects {
		if missing := missingKeys(t, example, rc.bod[0], obj); len(missing) > 0 {
			t.Errorf("payload object %q lacks %v", obj, missing)
		}
	}
}

// missingKeys returns, sorted, the keys of example's object obj (""
// for the top level) that payload's lacks.
func missingKeys(t *testing.T, example, payload []byte, obj string) []string {
	t.Helper()
	want, got := keys(t, example, obj), keys(t, payload, obj)
	var missing []string
	for k := range want {
		if !got[k] {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	return missing
}

// keys returns the keys of the top-level object of payload, or of its
// member obj.
func keys(t *testing.T, payload []byte, obj string) map[string]bool {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(payload, &m); err != nil {
		t.Fatal(err)
	}
	if obj != "" {
		m = nil
		var outer map[string]json.RawMessage
		_ = json.Unmarshal(payload, &outer)
		if err := json.Unmarshal(outer[obj], &m); err != nil {
			t.Fatalf("%s: %v", obj, err)
		}
	}
	out := map[string]bool{}
	for k := range m {
		out[k] = true
	}
	return out
}

// GitHub also sends issue_comment webhooks for comments made through the
// API, the bot's own included, so a bot must recognise its own replies.
func TestAPICommentWebhooks(t *testing.T) {
	emu, api := newServer(t)
	emu.AddPullRequest(repoName, 7, headSHA, "feature", "Codertocat")
	rc := &receiver{}
	hook := httptest.NewServer(rc)
	defer hook.Close()
	emu.SetWebhook(hook.URL, "s")

	var created commentJSON
	call(t, "POST", api+"/repos/"+repoName+"/issues/7/comments", "token "+token, map[string]any{"body": "Deploying…"}, &created)
	emu.WaitWebhooks()
	call(t, "PATCH", created.URL, "token "+token, map[string]any{"body": "Deployed."}, nil)
	emu.WaitWebhooks()

	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.bod) != 2 {
		t.Fatalf("received %d webhooks; want 2", len(rc.bod))
	}
	type event struct {
		Action  string
		Changes struct{ Body struct{ From string } }
		Comment struct {
			ID   int64
			Body string
		}
		Issue struct {
			PullRequest map[string]any `json:"pull_request"`
		}
		Sender struct{ Login string }
	}
	var got []event
	for i, b := range rc.bod {
		var e event
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatal(err)
		}
		if rc.got[i].Header.Get("X-GitHub-Event") != "issue_comment" {
			t.Errorf("webhook %d event %q", i, rc.got[i].Header.Get("X-GitHub-Event"))
		}
		got = append(got, e)
	}
	if e := got[0]; e.Action != "created" || e.Comment.ID != created.ID || e.Comment.Body != "Deploying…" || e.Sender.Login != "octocat" || e.Issue.PullRequest == nil {
		t.Errorf("created event = %+v", e)
	}
	if e := got[1]; e.Action != "edited" || e.Comment.Body != "Deployed." || e.Changes.Body.From != "Deploying…" || e.Sender.Login != "octocat" {
		t.Errorf("edited event = %+v", e)
	}
}
