package bottest

import (
	"context"
	"strings"
	"sync"

	"github.com/deploybot/deploybot/bot"
)

// GitHub is a fake bot.GitHub: refs and CI results are what the test set,
// deployments and statuses are recorded. Faults and hooks are keyed by
// method name.
type GitHub struct {
	mu          sync.Mutex
	refs        map[string]string // ref → sha
	tags        map[string]string // git tag → sha
	checks      map[string][]bot.Check
	deployments []GitHubDeployment
	statuses    map[int64][]bot.DeploymentStatus
	calls
	afterChecks func(sha string)
	afterCreate func(id int64)
	afterStatus func(id int64, st bot.DeploymentStatus)
}

// GitHubDeployment is a deployment the fake was asked to create.
type GitHubDeployment struct {
	ID   int64
	Repo bot.Repo
	bot.GitHubDeploymentRequest
}

// NewGitHub returns a fake GitHub that knows no ref and no CI result.
func NewGitHub() *GitHub {
	return &GitHub{
		refs:     map[string]string{},
		tags:     map[string]string{},
		checks:   map[string][]bot.Check{},
		statuses: map[int64][]bot.DeploymentStatus{},
	}
}

// SetRef makes ref (a branch, a tag, a short sha) resolve to sha; a full
// sha resolves to itself without being set.
func (g *GitHub) SetRef(ref, sha string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.refs[ref] = sha
}

// SetTag makes git tag name sha, and resolve to it as a ref.
func (g *GitHub) SetTag(tag, sha string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.tags[tag] = sha
	g.refs[tag] = sha
}

// SetChecks makes checks the CI results of sha.
func (g *GitHub) SetChecks(sha string, checks ...bot.Check) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.checks[sha] = checks
}

// AfterChecks calls f after each read of CI results, with the sha read,
// once the result is taken: f may change the results of the next read.
func (g *GitHub) AfterChecks(f func(sha string)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.afterChecks = f
}

// AfterCreate calls f after each deployment is created, with its id.
func (g *GitHub) AfterCreate(f func(id int64)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.afterCreate = f
}

// AfterStatus calls f after each deployment status is recorded.
func (g *GitHub) AfterStatus(f func(id int64, st bot.DeploymentStatus)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.afterStatus = f
}

// Deployments returns the deployments created, oldest first.
func (g *GitHub) Deployments() []GitHubDeployment {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]GitHubDeployment(nil), g.deployments...)
}

// Statuses returns the statuses recorded for deployment id, oldest first.
func (g *GitHub) Statuses(id int64) []bot.DeploymentStatus {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]bot.DeploymentStatus(nil), g.statuses[id]...)
}

// LastStatus returns the latest status of deployment id, zero if none.
func (g *GitHub) LastStatus(id int64) bot.DeploymentStatus {
	st := g.Statuses(id)
	if len(st) == 0 {
		return bot.DeploymentStatus{}
	}
	return st[len(st)-1]
}

// call counts a call of method and returns its fault, with g locked.
func (g *GitHub) call(method string) error {
	err := g.called(method)
	g.mu.Lock()
	return err
}

func (g *GitHub) ResolveRef(ctx context.Context, repo bot.Repo, ref string) (string, error) {
	err := g.call("ResolveRef")
	defer g.mu.Unlock()
	if err != nil {
		return "", err
	}
	if sha, ok := g.refs[ref]; ok {
		return sha, nil
	}
	if bot.IsFullSHA(ref) {
		return ref, nil
	}
	return "", bot.Errorf(bot.ENOTFOUND, "no commit found for %q", ref)
}

func (g *GitHub) CreateDeployment(ctx context.Context, repo bot.Repo, req bot.GitHubDeploymentRequest) (int64, error) {
	err := g.call("CreateDeployment")
	if err != nil {
		g.mu.Unlock()
		return 0, err
	}
	// Ids far from the store's, so that a test mixing them up fails.
	id := int64(1000 + len(g.deployments) + 1)
	g.deployments = append(g.deployments, GitHubDeployment{ID: id, Repo: repo, GitHubDeploymentRequest: req})
	after := g.afterCreate
	g.mu.Unlock()
	if after != nil {
		after(id)
	}
	return id, nil
}

func (g *GitHub) FindDeployment(ctx context.Context, repo bot.Repo, sha, environment string, deploybotID int64) (int64, error) {
	err := g.call("FindDeployment")
	defer g.mu.Unlock()
	if err != nil {
		return 0, err
	}
	for _, d := range g.deployments {
		if strings.EqualFold(d.Repo.FullName, repo.FullName) && d.SHA == sha && d.Environment == environment && d.Payload.DeploybotID == deploybotID {
			return d.ID, nil
		}
	}
	return 0, nil
}

func (g *GitHub) CreateDeploymentStatus(ctx context.Context, repo bot.Repo, deploymentID int64, st bot.DeploymentStatus) error {
	err := g.call("CreateDeploymentStatus")
	if err != nil {
		g.mu.Unlock()
		return err
	}
	g.statuses[deploymentID] = append(g.statuses[deploymentID], st)
	after := g.afterStatus
	g.mu.Unlock()
	if after != nil {
		after(deploymentID, st)
	}
	return nil
}

func (g *GitHub) Checks(ctx context.Context, repo bot.Repo, sha string) ([]bot.Check, error) {
	err := g.call("Checks")
	checks := append([]bot.Check(nil), g.checks[sha]...)
	after := g.afterChecks
	g.mu.Unlock()
	if after != nil {
		after(sha)
	}
	if err != nil {
		return nil, err
	}
	return checks, nil
}

func (g *GitHub) TagCommit(ctx context.Context, repo bot.Repo, tag string) (string, error) {
	err := g.call("TagCommit")
	defer g.mu.Unlock()
	if err != nil {
		return "", err
	}
	sha, ok := g.tags[tag]
	if !ok {
		return "", bot.Errorf(bot.ENOTFOUND, "no tag %q", tag)
	}
	return sha, nil
}

var (
	_ bot.GitHub  = (*GitHub)(nil)
	_ bot.GitTags = (*GitHub)(nil)
)
