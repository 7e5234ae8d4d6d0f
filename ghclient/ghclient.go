// Package ghclient implements bot.GitHub with go-github, authenticated
// either as a GitHub App installation or with a plain token.
package ghclient

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/bradleyfalzon/ghinstallation/v2"
	jwt "github.com/golang-jwt/jwt/v4"
	"github.com/google/go-github/v60/github"

	"github.com/deploybot/deploybot/bot"
)

// DefaultAPIURL is github.com's REST API.
const DefaultAPIURL = "https://api.github.com/"

// Config says where the API is and how to authenticate: with Token, or as
// the App AppID with PrivateKey (PEM).
type Config struct {
	// APIURL is the API root, used as given: https://api.github.com/,
	// https://ghe.example.com/api/v3/ for GitHub Enterprise. Empty means
	// DefaultAPIURL.
	APIURL     string
	AppID      int64
	PrivateKey []byte
	Token      string
	// HTTPClient supplies the base transport and timeout; optional.
	HTTPClient *http.Client
	// RetryBase is the first wait before a retry, doubled for each next
	// one; zero means 500 ms. Tests shorten it.
	RetryBase time.Duration
}

// Client is a bot.GitHub. It is safe for concurrent use.
type Client struct {
	baseURL   *url.URL
	http      *http.Client // counts requests, retries; no authentication
	requests  atomic.Int64
	retryBase time.Duration

	token *github.Client // token mode

	appID  int64
	appKey *rsa.PrivateKey
	app    *github.Client // App mode, authenticated with the App's JWT

	mu            sync.Mutex
	installations map[string]int64         // repo full name → looked-up installation
	clients       map[int64]*github.Client // installation → its client

	described described
}

var _ bot.GitHub = (*Client)(nil)

// New returns a client for cfg.
func New(cfg Config) (*Client, error) {
	raw := cfg.APIURL
	if raw == "" {
		raw = DefaultAPIURL
	}
	base, err := url.Parse(raw)
	if err != nil || base.Scheme != "http" && base.Scheme != "https" || base.Host == "" {
		return nil, fmt.Errorf("github: api_url %q is not an http(s) URL", raw)
	}
	// Used verbatim, not through WithEnterpriseURLs, which would append
	// api/v3/ to any host not named api.*, an emulator's included.
	if !strings.HasSuffix(base.Path, "/") {
		base.Path += "/"
	}

	c := &Client{
		baseURL:       base,
		installations: map[string]int64{},
		clients:       map[int64]*github.Client{},
	}
	var inner http.RoundTripper = http.DefaultTransport
	var hc http.Client
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
		if hc.Transport != nil {
			inner = hc.Transport
		}
	}
	c.retryBase = cfg.RetryBase
	if c.retryBase <= 0 {
		c.retryBase = defaultRetryBase
	}
	// Counted below the retries: each try is a request GitHub sees.
	hc.Transport = retryTransport{next: countingTransport{next: inner, n: &c.requests}, attempts: defaultAttempts, base: c.retryBase}
	c.http = &hc

	switch {
	case cfg.Token != "" && (cfg.AppID != 0 || len(cfg.PrivateKey) > 0):
		return nil, errors.New("github: set either a token or app_id and private_key, not both")
	case cfg.Token != "":
		c.token = c.newGitHub(tokenTransport{token: cfg.Token, next: hc.Transport})
	case cfg.AppID != 0 && len(cfg.PrivateKey) > 0:
		key, err := jwt.ParseRSAPrivateKeyFromPEM(cfg.PrivateKey)
		if err != nil {
			return nil, fmt.Errorf("github: private_key: %w", err)
		}
		c.appID, c.appKey = cfg.AppID, key
		c.app = c.newGitHub(ghinstallation.NewAppsTransportFromPrivateKey(hc.Transport, cfg.AppID, key))
	default:
		return nil, errors.New("github: need a token, or app_id and private_key")
	}
	return c, nil
}

// RequestCount returns how many HTTP requests this client has made,
// installation token refreshes included.
func (c *Client) RequestCount() int64 { return c.requests.Load() }

func (c *Client) newGitHub(rt http.RoundTripper) *github.Client {
	hc := *c.http
	hc.Transport = rt
	gh := github.NewClient(&hc)
	u := *c.baseURL
	gh.BaseURL = &u
	gh.UploadURL = &u // deploybot uploads nothing
	return gh
}

// clientFor returns the client that can act on repo.
func (c *Client) clientFor(ctx context.Context, repo bot.Repo, owner, name string) (*github.Client, error) {
	if c.token != nil {
		return c.token, nil
	}
	id := repo.InstallationID
	c.mu.Lock()
	if id == 0 {
		id = c.installations[repo.FullName]
	}
	gh := c.clients[id]
	c.mu.Unlock()
	if gh != nil {
		return gh, nil
	}

	if id == 0 {
		inst, _, err := c.app.Apps.FindRepositoryInstallation(ctx, owner, name)
		if statusCode(err) == http.StatusNotFound {
			return nil, bot.Errorf(bot.ENOTFOUND, "deploybot's GitHub App is not installed on %s", repo.FullName)
		}
		if err != nil {
			return nil, wrapError(err, "finding the App's installation on "+repo.FullName)
		}
		id = inst.GetID()
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if repo.InstallationID == 0 {
		c.installations[repo.FullName] = id
	}
	if gh := c.clients[id]; gh != nil {
		return gh, nil
	}
	// Each installation gets its own AppsTransport: ghinstallation writes
	// the shared one's fields while refreshing a token, which races when
	// two installations refresh at once.
	atr := ghinstallation.NewAppsTransportFromPrivateKey(c.http.Transport, c.appID, c.appKey)
	itr := ghinstallation.NewFromAppsTransport(atr, id)
	itr.BaseURL = strings.TrimSuffix(c.baseURL.String(), "/")
	gh = c.newGitHub(itr)
	c.clients[id] = gh
	return gh, nil
}

// forget drops the installation looked up for repo after GitHub denied
// knowing it, so that a reinstalled App is found again.
func (c *Client) forget(repo bot.Repo, err error) {
	if code := statusCode(err); repo.InstallationID == 0 && (code == http.StatusNotFound || code == http.StatusUnauthorized) {
		c.mu.Lock()
		delete(c.installations, repo.FullName)
		c.mu.Unlock()
	}
}

// ResolveRef returns the full sha of ref, a sha, short sha, branch or tag.
func (c *Client) ResolveRef(ctx context.Context, repo bot.Repo, ref string) (string, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return "", err
	}
	if !bot.ValidRef(ref) {
		return "", bot.Errorf(bot.EINVALID, "%q is not a valid git ref", ref)
	}
	gh, err := c.clientFor(ctx, repo, owner, name)
	if err != nil {
		return "", err
	}
	// Even a full sha is looked up: it must exist in this repository.
	commit, _, err := gh.Repositories.GetCommit(ctx, owner, name, escapeRef(ref), nil)
	if err != nil {
		c.forget(repo, err)
		switch statusCode(err) {
		case http.StatusNotFound, http.StatusUnprocessableEntity, http.StatusConflict:
			return "", bot.Errorf(bot.ENOTFOUND, "ref %q not found in %s", ref, repo.FullName)
		}
		return "", wrapError(err, fmt.Sprintf("resolving %q in %s", ref, repo.FullName))
	}
	if commit.GetSHA() == "" {
		return "", fmt.Errorf("github: resolve %q in %s: no sha in the answer", ref, repo.FullName)
	}
	c.described.keep(repo.FullName, commit.GetSHA(), commit)
	return commit.GetSHA(), nil
}

// CreateDeployment creates a GitHub Deployment of req.SHA that GitHub
// neither gates on commit statuses nor merges: deploybot runs its own CI
// gate later, and a deployment must exist for a refused CI too.
func (c *Client) CreateDeployment(ctx context.Context, repo bot.Repo, req bot.GitHubDeploymentRequest) (int64, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return 0, err
	}
	gh, err := c.clientFor(ctx, repo, owner, name)
	if err != nil {
		return 0, err
	}
	create := &github.DeploymentRequest{
		Ref:              github.String(req.SHA),
		Environment:      github.String(req.Environment),
		Description:      github.String(req.Description),
		Payload:          req.Payload,
		RequiredContexts: &[]string{}, // a non-nil pointer, so "[]" is sent
		AutoMerge:        github.Bool(false),
	}
	for attempt := 1; ; attempt++ {
		d, _, err := gh.Repositories.CreateDeployment(ctx, owner, name, create)
		if err == nil {
			return d.GetID(), nil
		}
		c.forget(repo, err)
		switch statusCode(err) {
		case http.StatusNotFound:
			return 0, bot.Errorf(bot.ENOTFOUND, "repository %s not found on GitHub", repo.FullName)
		case http.StatusConflict:
			return 0, bot.Errorf(bot.ECONFLICT, "GitHub refused the deployment of %s: %s", bot.ShortSHA(req.SHA), githubMessage(err))
		case http.StatusUnprocessableEntity:
			return 0, bot.Errorf(bot.EINVALID, "GitHub refused the deployment of %s: %s", bot.ShortSHA(req.SHA), githubMessage(err))
		}
		err = wrapError(err, "creating the deployment in "+repo.FullName)
		// A 5xx or a lost answer may come after GitHub created it, so the
		// transport does not repeat this POST; asking first does.
		if bot.ErrorCode(err) != bot.EUNAVAILABLE || req.Payload.DeploybotID == 0 || attempt >= defaultAttempts {
			return 0, err
		}
		if serr := sleep(ctx, c.retryBase<<(attempt-1)); serr != nil {
			return 0, err
		}
		if id, ferr := c.FindDeployment(ctx, repo, req.SHA, req.Environment, req.Payload.DeploybotID); ferr != nil || id != 0 {
			if ferr != nil {
				return 0, err
			}
			return id, nil
		}
	}
}

// FindDeployment returns the id of the GitHub deployment of sha to
// environment whose payload names deploybotID, or 0 if there is none. A
// resumed deployment asks before creating one, since its predecessor may
// have created it and died before recording the id.
func (c *Client) FindDeployment(ctx context.Context, repo bot.Repo, sha, environment string, deploybotID int64) (int64, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return 0, err
	}
	gh, err := c.clientFor(ctx, repo, owner, name)
	if err != nil {
		return 0, err
	}
	opts := &github.DeploymentsListOptions{SHA: sha, Environment: environment, ListOptions: github.ListOptions{PerPage: 100}}
	for {
		page, resp, err := gh.Repositories.ListDeployments(ctx, owner, name, opts)
		if err != nil {
			c.forget(repo, err)
			return 0, wrapError(err, fmt.Sprintf("listing deployments of %s in %s", bot.ShortSHA(sha), repo.FullName))
		}
		for _, d := range page {
			var p bot.DeploymentPayload
			if json.Unmarshal(d.Payload, &p) == nil && p.DeploybotID == deploybotID {
				return d.GetID(), nil
			}
		}
		if resp.NextPage == 0 {
			return 0, nil
		}
		opts.Page = resp.NextPage
	}
}

// maxDescription is GitHub's limit for a deployment status description.
const maxDescription = 140

// CreateDeploymentStatus adds st to deployment deploymentID.
func (c *Client) CreateDeploymentStatus(ctx context.Context, repo bot.Repo, deploymentID int64, st bot.DeploymentStatus) error {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return err
	}
	gh, err := c.clientFor(ctx, repo, owner, name)
	if err != nil {
		return err
	}
	req := &github.DeploymentStatusRequest{
		State:       github.String(st.State),
		Description: github.String(truncate(st.Description, maxDescription)),
	}
	if st.LogURL != "" {
		req.LogURL = github.String(st.LogURL)
	}
	if st.EnvironmentURL != "" {
		req.EnvironmentURL = github.String(st.EnvironmentURL)
	}
	_, _, err = gh.Repositories.CreateDeploymentStatus(ctx, owner, name, deploymentID, req)
	if err != nil {
		c.forget(repo, err)
		switch statusCode(err) {
		case http.StatusNotFound:
			return bot.Errorf(bot.ENOTFOUND, "GitHub deployment %d not found in %s", deploymentID, repo.FullName)
		case http.StatusUnprocessableEntity:
			return bot.Errorf(bot.EINVALID, "GitHub refused deployment status %q: %s", st.State, githubMessage(err))
		}
		return wrapError(err, fmt.Sprintf("setting the status of deployment %d in %s", deploymentID, repo.FullName))
	}
	return nil
}

// truncate shortens s to at most n runes, marking the cut with an ellipsis.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func splitRepo(repo bot.Repo) (owner, name string, err error) {
	owner, name, ok := strings.Cut(repo.FullName, "/")
	if !ok || owner == "" || name == "" || strings.ContainsAny(name, "/?#%") || strings.ContainsAny(owner, "?#%") || owner == ".." || name == ".." || owner == "." || name == "." {
		return "", "", bot.Errorf(bot.EINVALID, "%q is not a GitHub repository name (owner/name)", repo.FullName)
	}
	return owner, name, nil
}

// escapeRef escapes each path segment of ref; GetCommit, unlike the
// status and check-run calls, puts the ref into the path as it is.
func escapeRef(ref string) string {
	parts := strings.Split(ref, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

func statusCode(err error) int {
	var e *github.ErrorResponse
	if errors.As(err, &e) && e.Response != nil {
		return e.Response.StatusCode
	}
	return 0
}

// githubMessage is GitHub's own explanation, which names refs and
// contexts, never credentials.
func githubMessage(err error) string {
	var e *github.ErrorResponse
	if !errors.As(err, &e) {
		return "unknown error"
	}
	msg := e.Message
	for _, fe := range e.Errors {
		if fe.Message != "" {
			msg += "; " + fe.Message
		} else if fe.Field != "" {
			msg += fmt.Sprintf("; %s %s", fe.Field, fe.Code)
		}
	}
	return msg
}

// tokenTransport authenticates every request with a fixed token.
type tokenTransport struct {
	token string
	next  http.RoundTripper
}

func (t tokenTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "token "+t.token)
	return t.next.RoundTrip(req)
}

type countingTransport struct {
	next http.RoundTripper
	n    *atomic.Int64
}

func (t countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.n.Add(1)
	return t.next.RoundTrip(req)
}
