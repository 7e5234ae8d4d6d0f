package ghclient_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/emulator/faults"
	"github.com/deploybot/deploybot/emulator/githubemu"
	"github.com/deploybot/deploybot/ghclient"
)

func fastClient(t *testing.T, f *fixture) *ghclient.Client {
	_, pemBytes := appKey()
	return mustNew(t, ghclient.Config{APIURL: f.apiURL, AppID: appID, PrivateKey: pemBytes, RetryBase: time.Millisecond})
}

func countCalls(f *fixture, method, pattern string) int {
	match := githubemu.Route(method, pattern)
	n := 0
	for _, c := range f.emu.Calls() {
		r, _ := http.NewRequest(c.Method, "http://x"+githubemu.Prefix+c.Path, nil)
		if match(r) {
			n++
		}
	}
	return n
}

// Passing 5xx answers, rate limits and dropped connections are ridden out;
// the caller sees only the answer that finally came.
func TestRetriesWhatGitHubSaysToRetry(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault faults.Rule
		tries int
	}{
		{"502 twice", faults.Rule{Times: 2, Respond: githubemu.ServerError(http.StatusBadGateway)}, 3},
		{"503 three times", faults.Rule{Times: 3, Respond: githubemu.ServerError(http.StatusServiceUnavailable)}, 4},
		{"secondary rate limit", faults.Rule{Times: 1, Respond: githubemu.SecondaryRateLimit(time.Second)}, 2},
		{"primary rate limit resetting now", faults.Rule{Times: 1, Respond: githubemu.PrimaryRateLimit(time.Now())}, 2},
		{"connection dropped", faults.Rule{Times: 1, Respond: faults.Drop}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			c := fastClient(t, f)
			tc.fault.Match = githubemu.Route("GET", "/repos/*/*/commits/main")
			f.emu.Inject(tc.fault)
			began := time.Now()
			got, err := c.ResolveRef(context.Background(), repo, "main")
			if err != nil || got != sha {
				t.Fatalf("ResolveRef = %q, %v; want %q", got, err, sha)
			}
			if n := countCalls(f, "GET", "/repos/*/*/commits/main"); n != tc.tries {
				t.Errorf("GitHub saw %d requests; want %d", n, tc.tries)
			}
			if strings.Contains(tc.name, "secondary") && time.Since(began) < time.Second {
				t.Errorf("answered after %s; Retry-After asked for 1s", time.Since(began))
			}
		})
	}
}

// Giving up is told plainly: what failed and how GitHub answered.
func TestGivesUpWithAClearError(t *testing.T) {
	for _, tc := range []struct {
		name    string
		respond http.HandlerFunc
		tries   int
		want    string
	}{
		{"5xx persists", githubemu.ServerError(http.StatusBadGateway), 4, `GitHub answered 502 Bad Gateway (resolving "main" in takumi/takumi-server)`},
		{"rate limit beyond the wait we take", githubemu.SecondaryRateLimit(time.Minute), 1, `GitHub is rate-limiting deploybot; it asks to wait 1m0s (resolving "main" in takumi/takumi-server)`},
		{"quota used up for the hour", githubemu.PrimaryRateLimit(time.Date(2030, 1, 1, 14, 30, 0, 0, time.UTC)), 1, "GitHub's API rate limit for deploybot is used up until 14:30 UTC"},
		{"no answer at all", nil, 4, `GitHub did not answer (resolving "main" in takumi/takumi-server)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			c := fastClient(t, f)
			respond := tc.respond
			if respond == nil {
				respond = faults.Drop
			}
			f.emu.Inject(faults.Rule{Match: githubemu.Route("GET", "/repos/*/*/commits/main"), Respond: respond})
			_, err := c.ResolveRef(context.Background(), repo, "main")
			if bot.ErrorCode(err) != bot.EUNAVAILABLE || !strings.Contains(bot.ErrorMessage(err), tc.want) {
				t.Fatalf("error = %v; want unavailable saying %q", err, tc.want)
			}
			// net/http itself resends a GET once when a reused connection
			// drops before answering, so a dropped one may be seen once more.
			n := countCalls(f, "GET", "/repos/*/*/commits/main")
			if n != tc.tries && !(tc.respond == nil && n == tc.tries+1) {
				t.Errorf("GitHub saw %d requests; want %d", n, tc.tries)
			}
		})
	}
}

// A 5xx to "create deployment" may come after GitHub created it; the
// client looks before creating again, so exactly one exists.
func TestCreateDeploymentAfterA5xxCreatesOne(t *testing.T) {
	for _, tc := range []struct {
		name         string
		createdFirst bool // GitHub acted before failing
	}{
		{"created, then 502", true},
		{"refused with 502", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			c := fastClient(t, f)
			create := githubemu.Route("POST", "/repos/*/*/deployments")
			if tc.createdFirst {
				f.emu.Inject(faults.Rule{Match: create, Times: 1, Respond: f.emu.LoseAnswer(http.StatusGatewayTimeout)})
			} else {
				f.emu.Inject(faults.Rule{Match: create, Times: 1, Respond: githubemu.ServerError(http.StatusBadGateway)})
			}
			id, err := c.CreateDeployment(context.Background(), repo, bot.GitHubDeploymentRequest{
				SHA: sha, Environment: "dev", Payload: bot.DeploymentPayload{App: "takumi-server", DeploybotID: 42},
			})
			if err != nil || id == 0 {
				t.Fatalf("CreateDeployment = %d, %v", id, err)
			}
			ds := f.emu.Deployments(repoName)
			if len(ds) != 1 || ds[0].ID != id {
				t.Fatalf("GitHub has %d deployments (%+v); want exactly the one returned, %d", len(ds), ds, id)
			}
		})
	}
}

// A comment is not repeated after a 5xx: a second one would be visible.
func TestNoBlindRepeatOfAComment(t *testing.T) {
	f := newFixture(t)
	c := fastClient(t, f)
	f.emu.AddPullRequest(repoName, 7, otherSHA, "feature/x", "hubot")
	f.emu.Inject(faults.Rule{Match: githubemu.Route("POST", "/repos/*/*/issues/7/comments"), Respond: githubemu.ServerError(http.StatusInternalServerError)})
	if _, err := c.Comment(context.Background(), repo, 7, "deploying"); bot.ErrorCode(err) != bot.EUNAVAILABLE {
		t.Fatalf("Comment error = %v; want unavailable", err)
	}
	if n := countCalls(f, "POST", "/repos/*/*/issues/7/comments"); n != 1 {
		t.Errorf("GitHub saw %d comment requests; want 1", n)
	}
}

// With no answer at all, the error says why: the connection refused, the
// name that does not resolve.
func TestNoAnswerNamesTheCause(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	c := mustNew(t, ghclient.Config{APIURL: "http://" + closed + "/", Token: "ghp_test", RetryBase: time.Millisecond})
	_, err = c.ResolveRef(context.Background(), repo, "main")
	want := `GitHub did not answer (resolving "main" in takumi/takumi-server): dial tcp ` + closed + ": connect: connection refused"
	if bot.ErrorCode(err) != bot.EUNAVAILABLE || bot.ErrorMessage(err) != want {
		t.Fatalf("error = %v; want unavailable saying %q", err, want)
	}
}
