// Package githubemu is an in-memory emulator of the part of the GitHub REST
// API that deploybot uses: App authentication (JWT and installation tokens),
// commits, combined statuses, check runs, deployments and deployment
// statuses, pull requests, issue comments and their reactions, collaborator
// permissions and team memberships, plus outgoing signed webhooks.
//
// An *Emulator is an http.Handler. It serves the API under Prefix, like
// GitHub Enterprise does, so that client code which builds absolute URLs
// instead of resolving against its configured base URL fails against it:
//
//	emu := githubemu.New(appID, &key.PublicKey)
//	srv := httptest.NewServer(emu)
//	apiURL := srv.URL + "/api/v3/"
//
// The seeding and assertion methods (AddRepo, AddCommit, Deployments, …)
// are meant for tests: they panic on programmer errors such as seeding a
// commit into a repository that was never added.
package githubemu

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/deploybot/deploybot/emulator/faults"
)

// Prefix is the path under which the API is served; the API base URL of
// an emulator served by httptest.NewServer is srv.URL + Prefix + "/".
const Prefix = "/api/v3"

// AppBotLogin is the login GitHub shows as the creator of whatever an App
// installation token creates.
const AppBotLogin = "deploybot[bot]"

// tokenLifetime is how long GitHub's installation tokens live.
const tokenLifetime = time.Hour

// Emulator is a fake GitHub API. The zero value is not usable; call New.
type Emulator struct {
	appID  int64
	appKey *rsa.PublicKey
	mux    *http.ServeMux
	client *http.Client // delivers webhooks

	hooks sync.WaitGroup // in-flight async webhook deliveries

	// ahead is how far GitHub's clock runs ahead of the real one
	// (Advance), in nanoseconds.
	ahead atomic.Int64

	faults faults.Injector

	oauth oauth // the web flow of dashboard logins; its own lock

	mu          sync.Mutex
	nextID      int64
	repos       map[string]*repo // by lower-cased full name: GitHub ignores case
	credentials map[string]credential
	calls       []Call
	hookURL     string
	hookSecret  string
	deliveries  []Delivery
	users       map[string]string          // lower-cased login → login: GitHub logins ignore case
	teams       map[string]map[string]bool // lower-cased "org/slug" → lower-cased member logins
	// origin (scheme://host) of the latest request, for the URLs in
	// webhooks that no request caused (UserComment).
	origin string
}

// New returns an emulator for the GitHub App appID whose JWTs verify with
// key. key may be nil when only personal tokens (AddToken) are used; App
// authentication then always fails. GenerateKey makes a key pair for tests.
func New(appID int64, key *rsa.PublicKey) *Emulator {
	e := &Emulator{
		appID:  appID,
		appKey: key,
		client: &http.Client{Timeout: 10 * time.Second},
		// Ids are shared by every kind of object and start high so that a
		// test mixing up a GitHub id with a store id (1, 2, 3…) fails.
		nextID:      1000,
		repos:       map[string]*repo{},
		credentials: map[string]credential{},
		users:       map[string]string{},
		teams:       map[string]map[string]bool{},
		origin:      "http://githubemu.invalid",
	}
	e.routes()
	return e
}

// GenerateKey returns a new 2048-bit RSA key and its PKCS#1 PEM encoding,
// the form GitHub hands out App private keys in.
func GenerateKey() (*rsa.PrivateKey, []byte, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, fmt.Errorf("githubemu: generate key: %w", err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	return key, pemBytes, nil
}

// Call is one HTTP request the emulator received.
type Call struct {
	Method string
	Path   string // without Prefix
	At     time.Time
}

// Deployment is a GitHub Deployment as the emulator stored it.
type Deployment struct {
	ID                    int64
	SHA                   string
	Ref                   string // as given in the request
	Task                  string
	Environment           string
	Description           string
	Payload               map[string]any
	RawPayload            json.RawMessage
	RequiredContexts      []string // nil when the request omitted it
	AutoMerge             bool
	TransientEnvironment  bool
	ProductionEnvironment bool
	Creator               string // login
	CreatedAt             time.Time
}

// DeploymentStatus is one status of a deployment as the emulator stored it.
type DeploymentStatus struct {
	ID             int64
	State          string
	Description    string
	LogURL         string
	EnvironmentURL string
	Environment    string
	Creator        string // login
	CreatedAt      time.Time
}

// credential is what a token authenticates as: an App installation (until
// expires) or, with installationID 0, a user who can act on every repo.
type credential struct {
	installationID int64
	login          string
	expires        time.Time
}

type repo struct {
	id             int64
	fullName       string
	installationID int64
	commits        map[string]*commit // by full sha
	refs           map[string]string  // branch or tag name → sha
	statuses       []*commitStatus    // oldest first
	checkRuns      []*checkRun        // oldest first
	deployments    []*deployment      // oldest first
	issues         map[int]*issue     // issues and pull requests, by number
	comments       map[int64]*issueComment
	permissions    map[string]string // lower-cased login → role
	git            gitData           // tags and file trees (git.go)
}

type commit struct {
	sha     string
	message string
	at      time.Time
	parent  string // "" for a root commit
	author  string // GitHub login; "" for the emulator's own
}

type commitStatus struct {
	id      int64
	sha     string
	context string
	state   string
	at      time.Time
}

type checkRun struct {
	id         int64
	sha        string
	name       string
	status     string
	conclusion string
	started    time.Time
	completed  time.Time
}

type deployment struct {
	Deployment
	statuses []DeploymentStatus // oldest first
}

func (e *Emulator) newID() int64 {
	e.nextID++
	return e.nextID
}

// AddRepo adds the repository fullName ("owner/name"). A non-zero
// installationID makes the App installed on it; repos added with the same
// installationID share one installation.
func (e *Emulator) AddRepo(fullName string, installationID int64) {
	owner, name, ok := strings.Cut(fullName, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		panic(fmt.Sprintf("githubemu: AddRepo(%q): want owner/name", fullName))
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	key := strings.ToLower(fullName)
	if _, ok := e.repos[key]; ok {
		panic(fmt.Sprintf("githubemu: AddRepo(%q): already added", fullName))
	}
	e.repos[key] = &repo{
		id:             e.newID(),
		fullName:       fullName,
		installationID: installationID,
		commits:        map[string]*commit{},
		refs:           map[string]string{},
		issues:         map[int]*issue{},
		comments:       map[int64]*issueComment{},
		permissions:    map[string]string{},
	}
}

// AddToken makes token a personal access token of login that can act on
// every repository.
func (e *Emulator) AddToken(token, login string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.credentials[token] = credential{login: login}
	e.addUser(login)
}

// AddCommit adds the commit sha (40 hex digits) to repo; each of refs, a
// branch or tag name, then resolves to it, moving it if it pointed elsewhere.
func (e *Emulator) AddCommit(repo, sha string, refs ...string) {
	if !isFullSHA(sha) {
		panic(fmt.Sprintf("githubemu: AddCommit(%q, %q): want a 40-digit lower-case hex sha", repo, sha))
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	rp := e.mustRepo(repo)
	if _, ok := rp.commits[sha]; !ok {
		rp.commits[sha] = &commit{sha: sha, message: "Commit " + sha[:7], at: e.now()}
	}
	for _, ref := range refs {
		rp.refs[ref] = sha
	}
}

// SetStatus adds a commit status; the latest one of each context counts.
// state is error, failure, pending or success.
func (e *Emulator) SetStatus(repo, sha, context, state string) {
	switch state {
	case "error", "failure", "pending", "success":
	default:
		panic(fmt.Sprintf("githubemu: SetStatus: bad state %q", state))
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	rp := e.mustRepo(repo)
	e.mustCommit(rp, sha)
	rp.statuses = append(rp.statuses, &commitStatus{id: e.newID(), sha: sha, context: context, state: state, at: e.now()})
}

// SetCheckRun adds a check run, as a re-run on GitHub does: an earlier run
// of the same name stays, with a lower id. status is queued, in_progress
// or completed; conclusion (success, failure, neutral, cancelled, skipped,
// timed_out, action_required, stale, startup_failure) only counts when
// completed.
func (e *Emulator) SetCheckRun(repo, sha, name, status, conclusion string) {
	switch status {
	case "queued", "in_progress", "completed":
	default:
		panic(fmt.Sprintf("githubemu: SetCheckRun: bad status %q", status))
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	rp := e.mustRepo(repo)
	e.mustCommit(rp, sha)
	run := &checkRun{id: e.newID(), sha: sha, name: name, status: status, started: e.now()}
	if status == "completed" {
		run.conclusion = conclusion
		run.completed = run.started
	}
	rp.checkRuns = append(rp.checkRuns, run)
}

// Calls returns every request received so far, oldest first.
func (e *Emulator) Calls() []Call {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Call(nil), e.calls...)
}

// CallCount returns how many requests were received so far.
func (e *Emulator) CallCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.calls)
}

// Deployments returns the deployments of repo, oldest first.
func (e *Emulator) Deployments(repo string) []Deployment {
	e.mu.Lock()
	defer e.mu.Unlock()
	rp := e.mustRepo(repo)
	out := make([]Deployment, 0, len(rp.deployments))
	for _, d := range rp.deployments {
		out = append(out, d.copy())
	}
	return out
}

// Statuses returns the statuses of deployment id of repo, oldest first;
// nil if there is no such deployment.
func (e *Emulator) Statuses(repo string, id int64) []DeploymentStatus {
	e.mu.Lock()
	defer e.mu.Unlock()
	d := e.mustRepo(repo).deployment(id)
	if d == nil {
		return nil
	}
	return append([]DeploymentStatus(nil), d.statuses...)
}

// copy returns d with its own payload map, so that a caller changing it
// cannot race with the emulator.
func (d *deployment) copy() Deployment {
	c := d.Deployment
	c.RawPayload = append(json.RawMessage(nil), d.RawPayload...)
	c.Payload = map[string]any{}
	_ = json.Unmarshal(c.RawPayload, &c.Payload) // validated when stored
	c.RequiredContexts = append([]string(nil), d.RequiredContexts...)
	if d.RequiredContexts != nil && c.RequiredContexts == nil {
		c.RequiredContexts = []string{}
	}
	return c
}

func (rp *repo) deployment(id int64) *deployment {
	for _, d := range rp.deployments {
		if d.ID == id {
			return d
		}
	}
	return nil
}

func (e *Emulator) mustRepo(fullName string) *repo {
	rp, ok := e.repos[strings.ToLower(fullName)]
	if !ok {
		panic(fmt.Sprintf("githubemu: unknown repo %q; call AddRepo first", fullName))
	}
	return rp
}

func (e *Emulator) mustCommit(rp *repo, sha string) {
	if _, ok := rp.commits[sha]; !ok {
		panic(fmt.Sprintf("githubemu: unknown commit %q in %s; call AddCommit first", sha, rp.fullName))
	}
}

// now is GitHub's clock: the time it gives commits, comments, pushes and
// tokens.
func (e *Emulator) now() time.Time {
	return time.Now().UTC().Add(time.Duration(e.ahead.Load()))
}

// Advance moves GitHub's clock on by d. GitHub's timestamps have whole
// seconds, so tests that need one event to be later than another than
// GitHub can tell move the clock rather than sleep.
func (e *Emulator) Advance(d time.Duration) {
	if d < 0 {
		panic("githubemu: Advance: the clock does not go back")
	}
	e.ahead.Add(int64(d))
}

func isFullSHA(s string) bool { return len(s) == 40 && isHex(s) }

func isHex(s string) bool {
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return s != ""
}
