package githubemu_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	jwt "github.com/golang-jwt/jwt/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/deploybot/deploybot/emulator/githubemu"
)

const (
	repoName = "octo/app"
	sha      = "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
	token    = "ghp_test"
)

func newServer(t *testing.T) (*githubemu.Emulator, string) {
	t.Helper()
	emu := githubemu.New(1, nil)
	emu.AddRepo(repoName, 0)
	emu.AddToken(token, "octocat")
	emu.AddCommit(repoName, sha, "main")
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return emu, srv.URL + githubemu.Prefix
}

// call sends a request with auth as the Authorization header and decodes
// the JSON answer into out, if given.
func call(t *testing.T, method, url, auth string, body any, out any) *http.Response {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: decode: %v", method, url, err)
		}
	}
	return resp
}

type apiErr struct {
	Message          string           `json:"message"`
	DocumentationURL string           `json:"documentation_url"`
	Errors           []map[string]any `json:"errors"`
}

func TestAuthentication(t *testing.T) {
	emu, api := newServer(t)
	url := api + "/repos/" + repoName + "/commits/main"
	for _, auth := range []string{"", "token nope", "Bearer nope", "Basic " + token} {
		var e apiErr
		resp := call(t, "GET", url, auth, nil, &e)
		if resp.StatusCode != http.StatusUnauthorized || e.Message != "Bad credentials" || e.DocumentationURL == "" {
			t.Errorf("auth %q: %d %+v; want 401 Bad credentials", auth, resp.StatusCode, e)
		}
	}
	for _, auth := range []string{"token " + token, "Bearer " + token} {
		if resp := call(t, "GET", url, auth, nil, nil); resp.StatusCode != http.StatusOK {
			t.Errorf("auth %q: status %d; want 200", auth, resp.StatusCode)
		}
	}
	// Outside the prefix there is no API, as on GitHub Enterprise.
	outside := strings.TrimSuffix(api, githubemu.Prefix) + "/repos/" + repoName + "/commits/main"
	if resp := call(t, "GET", outside, "token "+token, nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("request outside %s: status %d; want 404", githubemu.Prefix, resp.StatusCode)
	}
	calls := emu.Calls()
	if len(calls) != emu.CallCount() || len(calls) != 7 {
		t.Fatalf("Calls() has %d, CallCount() %d; want 7", len(calls), emu.CallCount())
	}
	if c := calls[0]; c.Method != "GET" || c.Path != "/repos/"+repoName+"/commits/main" || c.At.IsZero() {
		t.Errorf("first call = %+v", c)
	}
}

func TestAppAuthentication(t *testing.T) {
	key, _, err := githubemu.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	emu := githubemu.New(99, &key.PublicKey)
	emu.AddRepo(repoName, 5)
	emu.AddCommit(repoName, sha, "main")
	srv := httptest.NewServer(emu)
	defer srv.Close()
	api := srv.URL + githubemu.Prefix

	sign := func(iss string, ttl time.Duration) string {
		now := time.Now().Truncate(time.Second)
		s, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.RegisteredClaims{
			Issuer:    iss,
			IssuedAt:  jwt.NewNumericDate(now.Add(-30 * time.Second)),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		}).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + s
	}
	for name, auth := range map[string]string{
		"wrong iss":    sign("100", time.Minute),
		"expired":      sign("99", -time.Second),
		"too long":     sign("99", time.Hour),
		"not a jwt":    "Bearer abc",
		"token scheme": "token abc",
	} {
		if resp := call(t, "GET", api+"/repos/"+repoName+"/installation", auth, nil, nil); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: status %d; want 401", name, resp.StatusCode)
		}
	}

	var inst struct {
		ID    int64 `json:"id"`
		AppID int64 `json:"app_id"`
	}
	if resp := call(t, "GET", api+"/repos/"+repoName+"/installation", sign("99", time.Minute), nil, &inst); resp.StatusCode != 200 || inst.ID != 5 || inst.AppID != 99 {
		t.Fatalf("installation: %d %+v", resp.StatusCode, inst)
	}
	var tok struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	resp := call(t, "POST", api+"/app/installations/5/access_tokens", sign("99", time.Minute), nil, &tok)
	if resp.StatusCode != http.StatusCreated || !strings.HasPrefix(tok.Token, "ghs_") || !tok.ExpiresAt.After(time.Now()) {
		t.Fatalf("access token: %d %+v", resp.StatusCode, tok)
	}
	if resp := call(t, "POST", api+"/app/installations/6/access_tokens", sign("99", time.Minute), nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("token for unknown installation: status %d; want 404", resp.StatusCode)
	}
	if resp := call(t, "GET", api+"/repos/"+repoName+"/commits/main", "token "+tok.Token, nil, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("installation token: status %d; want 200", resp.StatusCode)
	}
	// The App's JWT is not a token for the repository endpoints.
	if resp := call(t, "GET", api+"/repos/"+repoName+"/commits/main", sign("99", time.Minute), nil, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("JWT on a repo endpoint: status %d; want 401", resp.StatusCode)
	}
}

func TestCommitRefs(t *testing.T) {
	emu, api := newServer(t)
	emu.AddCommit(repoName, "f95f000000000000000000000000000000000000", "v2")
	for ref, want := range map[string]string{
		sha: sha, "main": sha, "refs/heads/main": sha, "f95f852": sha, "tags/v2": "f95f000000000000000000000000000000000000",
	} {
		var got struct{ SHA string }
		if resp := call(t, "GET", api+"/repos/"+repoName+"/commits/"+ref, "token "+token, nil, &got); resp.StatusCode != 200 || got.SHA != want {
			t.Errorf("ref %q: %d %q; want %q", ref, resp.StatusCode, got.SHA, want)
		}
	}
	for _, ref := range []string{"f95f", "nope", "0000000000000000000000000000000000000000"} {
		var e apiErr
		resp := call(t, "GET", api+"/repos/"+repoName+"/commits/"+ref, "token "+token, nil, &e)
		if resp.StatusCode != http.StatusUnprocessableEntity || e.Message != "No commit found for SHA: "+ref {
			t.Errorf("ref %q: %d %+v; want 422 No commit found", ref, resp.StatusCode, e)
		}
	}
	if resp := call(t, "GET", api+"/repos/octo/missing/commits/main", "token "+token, nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown repo: status %d; want 404", resp.StatusCode)
	}
}

func TestCombinedStatusAndPagination(t *testing.T) {
	emu, api := newServer(t)
	for i := range 5 {
		emu.SetStatus(repoName, sha, "ctx-"+strconv.Itoa(i), "success")
	}
	emu.SetStatus(repoName, sha, "ctx-2", "pending")
	var got struct {
		State      string `json:"state"`
		TotalCount int    `json:"total_count"`
		Statuses   []struct {
			Context string `json:"context"`
			State   string `json:"state"`
		} `json:"statuses"`
	}
	resp := call(t, "GET", api+"/repos/"+repoName+"/commits/main/status?per_page=2&page=2", "token "+token, nil, &got)
	if got.State != "pending" || got.TotalCount != 5 || len(got.Statuses) != 2 || got.Statuses[0].Context != "ctx-2" || got.Statuses[0].State != "pending" {
		t.Errorf("page 2: %+v", got)
	}
	link := resp.Header.Get("Link")
	for _, want := range []string{`page=3&per_page=2>; rel="next"`, `rel="last"`, `page=1&per_page=2>; rel="prev"`, `rel="first"`, githubemu.Prefix + "/repos/"} {
		if !strings.Contains(link, want) {
			t.Errorf("Link %q lacks %q", link, want)
		}
	}
	resp = call(t, "GET", api+"/repos/"+repoName+"/commits/main/status?per_page=2&page=3", "token "+token, nil, &got)
	if strings.Contains(resp.Header.Get("Link"), `rel="next"`) || len(got.Statuses) != 1 {
		t.Errorf("last page: Link %q, %d statuses", resp.Header.Get("Link"), len(got.Statuses))
	}
	emu.SetStatus(repoName, sha, "ctx-4", "error")
	call(t, "GET", api+"/repos/"+repoName+"/commits/main/status", "token "+token, nil, &got)
	if got.State != "failure" {
		t.Errorf("state with an error context = %q; want failure", got.State)
	}
}

func TestCheckRunsFilter(t *testing.T) {
	emu, api := newServer(t)
	emu.SetCheckRun(repoName, sha, "test", "completed", "failure")
	emu.SetCheckRun(repoName, sha, "test", "in_progress", "")
	type runs struct {
		TotalCount int `json:"total_count"`
		CheckRuns  []struct {
			Status     string  `json:"status"`
			Conclusion *string `json:"conclusion"`
		} `json:"check_runs"`
	}
	var latest, all runs
	call(t, "GET", api+"/repos/"+repoName+"/commits/"+sha+"/check-runs", "token "+token, nil, &latest)
	call(t, "GET", api+"/repos/"+repoName+"/commits/"+sha+"/check-runs?filter=all", "token "+token, nil, &all)
	if latest.TotalCount != 1 || latest.CheckRuns[0].Status != "in_progress" || latest.CheckRuns[0].Conclusion != nil {
		t.Errorf("filter=latest: %+v", latest)
	}
	if all.TotalCount != 2 {
		t.Errorf("filter=all: %+v", all)
	}
}

func TestDeployments(t *testing.T) {
	emu, api := newServer(t)
	emu.SetStatus(repoName, sha, "ci", "failure")
	deployments := api + "/repos/" + repoName + "/deployments"

	var e apiErr
	resp := call(t, "POST", deployments, "token "+token, map[string]any{"ref": "main", "environment": "dev"}, &e)
	if resp.StatusCode != http.StatusConflict || len(e.Errors) != 1 {
		t.Errorf("without required_contexts over a red commit: %d %+v; want 409", resp.StatusCode, e)
	}
	resp = call(t, "POST", deployments, "token "+token, map[string]any{"ref": "nope", "required_contexts": []string{}}, &e)
	if resp.StatusCode != http.StatusUnprocessableEntity || e.Message != "No ref found for: nope" {
		t.Errorf("unknown ref: %d %+v; want 422", resp.StatusCode, e)
	}
	resp = call(t, "POST", deployments, "token "+token, map[string]any{"ref": "main", "required_contexts": []string{}, "payload": 3}, &e)
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("payload 3: status %d; want 422", resp.StatusCode)
	}

	var created struct {
		ID          int64          `json:"id"`
		URL         string         `json:"url"`
		SHA         string         `json:"sha"`
		Environment string         `json:"environment"`
		Payload     map[string]any `json:"payload"`
		Creator     struct{ Login string }
	}
	resp = call(t, "POST", deployments, "token "+token, map[string]any{
		"ref": "main", "environment": "dev", "required_contexts": []string{}, "auto_merge": false,
		"payload": `{"app":"web"}`, // GitHub also takes the payload as a JSON string
	}, &created)
	if resp.StatusCode != http.StatusCreated || created.SHA != sha || created.Environment != "dev" ||
		created.Payload["app"] != "web" || created.Creator.Login != "octocat" ||
		!strings.HasSuffix(created.URL, githubemu.Prefix+"/repos/"+repoName+"/deployments/"+strconv.FormatInt(created.ID, 10)) {
		t.Fatalf("create: %d %+v", resp.StatusCode, created)
	}
	var fetched struct{ ID int64 }
	if call(t, "GET", created.URL, "token "+token, nil, &fetched); fetched.ID != created.ID {
		t.Errorf("GET deployment: id %d; want %d", fetched.ID, created.ID)
	}

	statuses := created.URL + "/statuses"
	for _, st := range []string{"queued", "in_progress", "success"} {
		if resp := call(t, "POST", statuses, "token "+token, map[string]any{"state": st, "log_url": "https://log/" + st}, nil); resp.StatusCode != http.StatusCreated {
			t.Errorf("status %s: %d; want 201", st, resp.StatusCode)
		}
	}
	for _, body := range []map[string]any{
		{"state": "done"},
		{"state": "failure", "description": strings.Repeat("x", 141)},
	} {
		if resp := call(t, "POST", statuses, "token "+token, body, &e); resp.StatusCode != http.StatusUnprocessableEntity || e.Message != "Validation Failed" {
			t.Errorf("status %v: %d %+v; want 422 Validation Failed", body, resp.StatusCode, e)
		}
	}
	var listed []struct{ State string }
	call(t, "GET", statuses, "token "+token, nil, &listed)
	var gotStates []string
	for _, s := range listed {
		gotStates = append(gotStates, s.State)
	}
	if diff := cmp.Diff(gotStates, []string{"success", "in_progress", "queued"}); diff != "" {
		t.Errorf("listed statuses, newest first (-got +want):\n%s", diff)
	}
	var stored []string
	for _, s := range emu.Statuses(repoName, created.ID) {
		stored = append(stored, s.State+" "+s.LogURL)
	}
	if diff := cmp.Diff(stored, []string{"queued https://log/queued", "in_progress https://log/in_progress", "success https://log/success"}); diff != "" {
		t.Errorf("Statuses, oldest first (-got +want):\n%s", diff)
	}
	if d := emu.Deployments(repoName); len(d) != 1 || d[0].AutoMerge || d[0].RequiredContexts == nil {
		t.Errorf("Deployments = %+v", d)
	}
}

// receiver is a webhook endpoint that keeps what it got.
type receiver struct {
	mu  sync.Mutex
	got []*http.Request
	bod [][]byte
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.got = append(rc.got, r)
	rc.bod = append(rc.bod, b)
}

func TestDeploymentWebhook(t *testing.T) {
	const secret = "It's a Secret to Everybody"
	key, _, err := githubemu.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	emu := githubemu.New(1, &key.PublicKey)
	emu.AddRepo(repoName, 31)
	emu.AddToken(token, "octocat")
	emu.AddCommit(repoName, sha, "main")
	srv := httptest.NewServer(emu)
	defer srv.Close()
	rc := &receiver{}
	hook := httptest.NewServer(rc)
	defer hook.Close()
	emu.SetWebhook(hook.URL+"/webhooks/github", secret)

	var created struct{ ID int64 }
	call(t, "POST", srv.URL+githubemu.Prefix+"/repos/"+repoName+"/deployments", "token "+token,
		map[string]any{"ref": "main", "environment": "prod", "payload": map[string]any{"app": "web"}}, &created)
	emu.WaitWebhooks()

	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.got) != 1 {
		t.Fatalf("received %d webhooks; want 1", len(rc.got))
	}
	r, body := rc.got[0], rc.bod[0]
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	if got, want := r.Header.Get("X-Hub-Signature-256"), "sha256="+hex.EncodeToString(mac.Sum(nil)); got != want {
		t.Errorf("X-Hub-Signature-256 = %q; want %q", got, want)
	}
	if r.Header.Get("X-GitHub-Event") != "deployment" || len(r.Header.Get("X-GitHub-Delivery")) != 36 ||
		r.Header.Get("Content-Type") != "application/json" || r.URL.Path != "/webhooks/github" {
		t.Errorf("headers %v path %q", r.Header, r.URL.Path)
	}
	var event struct {
		Action     string
		Deployment struct {
			ID          int64
			SHA         string
			Environment string
			Payload     map[string]any
			Creator     struct{ Login string }
		}
		Repository struct {
			FullName string `json:"full_name"`
		}
		Sender       struct{ Login string }
		Installation struct{ ID int64 }
	}
	if err := json.Unmarshal(body, &event); err != nil {
		t.Fatal(err)
	}
	if event.Action != "created" || event.Deployment.ID != created.ID || event.Deployment.SHA != sha ||
		event.Deployment.Environment != "prod" || event.Deployment.Payload["app"] != "web" ||
		event.Deployment.Creator.Login != "octocat" || event.Repository.FullName != repoName ||
		event.Sender.Login != "octocat" || event.Installation.ID != 31 {
		t.Errorf("event = %+v", event)
	}
	if d := emu.Deliveries(); len(d) != 1 || d[0].StatusCode != 200 || d[0].Event != "deployment" {
		t.Errorf("Deliveries = %+v", d)
	}
}

func TestSendWebhook(t *testing.T) {
	emu, _ := newServer(t)
	if err := emu.SendWebhook("ping", []byte(`{}`)); err == nil {
		t.Error("SendWebhook without a URL succeeded")
	}
	rc := &receiver{}
	hook := httptest.NewServer(rc)
	defer hook.Close()
	emu.SetWebhook(hook.URL, "s3cret")
	payload := []byte(`{"zen":"Keep it logically awesome."}`)
	if err := emu.SendWebhook("ping", payload); err != nil {
		t.Fatal(err)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.got) != 1 || !bytes.Equal(rc.bod[0], payload) ||
		rc.got[0].Header.Get("X-Hub-Signature-256") != githubemu.Signature256("s3cret", payload) {
		t.Errorf("got %d webhooks", len(rc.got))
	}

	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusUnauthorized) }))
	defer failing.Close()
	emu.SetWebhook(failing.URL, "s3cret")
	if err := emu.SendWebhook("ping", payload); err == nil {
		t.Error("SendWebhook to an endpoint answering 401 succeeded")
	}
}

// The signature must match GitHub's documented test vector.
func TestSignature256(t *testing.T) {
	got := githubemu.Signature256("It's a Secret to Everybody", []byte("Hello, World!"))
	if want := "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"; got != want {
		t.Errorf("Signature256 = %q; want %q", got, want)
	}
}
