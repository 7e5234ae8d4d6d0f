package bot

import (
	"context"
	"time"
)

// Store is the store as the Service sees it: deploybot's stores (SQLite,
// PostgreSQL) implement every part, and each part is a small interface
// so that a consumer, or a fake in a test, deals only with what it uses.
type Store struct {
	Deployments
	Deliveries
	Locks
	Timeline
	Queue
	Approvals
}

// Deployments keeps the deployment rows.
type Deployments interface {
	// CreateDeployment inserts d and sets d.ID, d.CreatedAt and d.UpdatedAt.
	CreateDeployment(ctx context.Context, d *Deployment) error
	// UpdateDeployment writes every mutable field of d and sets d.UpdatedAt.
	// A deployment that has ended keeps its state: moving it to another
	// state returns ECONFLICT, so a cancelled deployment stays cancelled
	// whatever its pipeline tries to write afterwards.
	UpdateDeployment(ctx context.Context, d *Deployment) error
	// Deployment returns ENOTFOUND when no deployment has that id.
	Deployment(ctx context.Context, id int64) (*Deployment, error)
	// DeploymentByGitHubID returns ENOTFOUND when none has that GitHub id.
	DeploymentByGitHubID(ctx context.Context, githubID int64) (*Deployment, error)
	// TransitionDeployment moves deployment id to state to, with reason,
	// only if its stored state is one of from; else ECONFLICT. It returns
	// the deployment as stored afterwards.
	TransitionDeployment(ctx context.Context, id int64, from []State, to State, reason string) (*Deployment, error)
	// ListDeployments returns the deployments matching f, newest first.
	ListDeployments(ctx context.Context, f DeploymentFilter) ([]*Deployment, error)
}

// Deliveries remembers the webhook deliveries and Slack requests already
// handled, and the pull requests' heads, so that nothing is done twice.
type Deliveries interface {
	// RecordDelivery returns false if the delivery id was seen before.
	RecordDelivery(ctx context.Context, deliveryID, event string) (first bool, err error)
	// ForgetDelivery removes a recorded delivery, so that one whose
	// handling failed can be redelivered and tried again.
	ForgetDelivery(ctx context.Context, deliveryID string) error
	// RecordHeadChange keeps c as the latest head change of its pull
	// request unless one at a later c.At is recorded already (webhooks
	// arrive in any order). Repository names compare ignoring case.
	RecordHeadChange(ctx context.Context, c HeadChange) error
	// LastHeadChange returns the latest recorded head change of pull
	// request number of repo; ENOTFOUND if none is.
	LastHeadChange(ctx context.Context, repo string, number int) (HeadChange, error)
}

// Locks keeps the environments' locks.
type Locks interface {
	// Lock takes or renews the lock of l.App/l.Env for l.Owner. When an
	// unexpired lock of someone else holds it, that lock is returned with
	// an ECONFLICT error.
	Lock(ctx context.Context, l *EnvLock, now time.Time) (*EnvLock, error)
	// Unlock removes the lock and returns it; ENOTFOUND if there is none.
	Unlock(ctx context.Context, app, env string, now time.Time) (*EnvLock, error)
	// EnvLock returns the unexpired lock of app/env; ENOTFOUND if none.
	EnvLock(ctx context.Context, app, env string, now time.Time) (*EnvLock, error)
}

// Timeline keeps each deployment's lines.
type Timeline interface {
	// AddEvent appends e to its deployment's timeline and sets e.At.
	AddEvent(ctx context.Context, e *Event) error
	// Events returns deployment id's timeline, oldest first.
	Events(ctx context.Context, deploymentID int64) ([]Event, error)
}

// Queue is how deployments wait their turn: the FIFO gate of each
// environment, parking in the store, and the newest push of a branch.
// (Claiming and leases are the dispatcher's: package dispatch.)
type Queue interface {
	// EnterGate moves id from state from to state to when it may pass the
	// CI gate: it is the oldest unfinished deployment of its app and
	// environment (so none is past the gate, and order is FIFO) and no
	// unexpired lock of another owner than its requester holds the
	// environment. Otherwise nothing changes and the result says why.
	EnterGate(ctx context.Context, id int64, from, to State, now time.Time) (GateResult, error)
	// Park frees owner's lease of id and leaves it waiting: claimable
	// again from w.Until or once Wake(w.On) comes, without counting an
	// attempt. ECONFLICT when owner no longer holds it.
	Park(ctx context.Context, id int64, owner string, w Wait) error
	// NewestPush returns app/env's auto deployment of the latest push
	// (greatest PushedAt, then id); ENOTFOUND if none.
	NewestPush(ctx context.Context, app, env string) (*Deployment, error)
	// PushedBefore returns app/env's auto deployments in one of states
	// pushed before d (PushedAt, then id), oldest first.
	PushedBefore(ctx context.Context, d *Deployment, states []State) ([]*Deployment, error)
}

// HeadChange is a pull request's head becoming SHA at At, by GitHub's
// clock (the pull_request event's updated_at), so that it compares with a
// comment's created_at without the skew of deploybot's own clock.
type HeadChange struct {
	Repo   string // owner/name
	Number int
	SHA    string
	At     time.Time
}

// IsFullSHA reports whether s is a commit sha as GitHub writes it in full:
// 40 lower-case hex digits.
func IsFullSHA(s string) bool {
	if len(s) != 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Event is one line of a deployment's timeline.
type Event struct {
	DeploymentID int64
	At           time.Time
	Stage        State // the stage the deployment was in
	Message      string
}

// GateResult says whether a deployment passed the gate, or what it waits
// behind: an older deployment or someone's lock.
type GateResult struct {
	Entered bool
	Behind  *Deployment
	// Next, with Behind: no one else waits between Behind and it, so it
	// passes as soon as Behind ends.
	Next bool
	Lock *EnvLock
}

// DeploymentFilter selects deployments; empty fields match everything.
type DeploymentFilter struct {
	App    string
	Env    string
	States []State
	Limit  int // 0 means 50
}

// EnvLock holds an environment for its owner: others are refused.
type EnvLock struct {
	App, Env  string
	Owner     string // requester form: slack:U1, github:login
	Reason    string
	ExpiresAt time.Time // zero: until unlocked
	CreatedAt time.Time
}

// Expired reports whether the lock has released itself by now.
func (l *EnvLock) Expired(now time.Time) bool {
	return !l.ExpiresAt.IsZero() && !now.Before(l.ExpiresAt)
}

// Repo names a GitHub repository and, when known, the App installation
// that can act on it.
type Repo struct {
	FullName       string // owner/name
	InstallationID int64
}

// GitHubDeploymentRequest is what deploybot asks GitHub to create.
type GitHubDeploymentRequest struct {
	SHA         string
	Environment string
	Description string
	Payload     DeploymentPayload
}

// DeploymentPayload is the JSON payload of every GitHub Deployment
// deploybot creates; tools creating their own may set App.
type DeploymentPayload struct {
	App         string `json:"app"`
	RequestedBy string `json:"requested_by"`
	Source      Source `json:"source"`
	// DeploybotID is the store id of the deployment that created this
	// GitHub Deployment, so its own `deployment` webhook, which may arrive
	// before the GitHub id is saved, is recognised and ignored.
	DeploybotID int64 `json:"deploybot_id,omitempty"`
	// PromotedFrom names the deployment whose image a promotion deploys.
	PromotedFrom *Promotion `json:"promoted_from,omitempty"`
}

// DeploymentStatus is one GitHub deployment status.
type DeploymentStatus struct {
	State          string // queued, in_progress, success, failure, error
	Description    string // at most 140 characters, GitHub's limit
	LogURL         string
	EnvironmentURL string
}

// CheckState is the outcome of one commit status or check run.
type CheckState string

const (
	CheckPending CheckState = "pending"
	CheckSuccess CheckState = "success"
	CheckFailure CheckState = "failure"
	CheckNeutral CheckState = "neutral"
	CheckSkipped CheckState = "skipped"
)

// CommitDescriber is a GitHub that can say, without another request, who
// wrote a commit ResolveRef just found and what its message says; ok is
// false when it cannot.
type CommitDescriber interface {
	DescribeCommit(repo Repo, sha string) (author, subject string, ok bool)
}

// Check is one commit status context or check run for a sha.
type Check struct {
	Name  string
	State CheckState
	URL   string
}

// GitHub is the part of the GitHub API the pipeline uses.
type GitHub interface {
	// ResolveRef returns the full sha of ref; ENOTFOUND if there is none.
	ResolveRef(ctx context.Context, repo Repo, ref string) (string, error)
	CreateDeployment(ctx context.Context, repo Repo, req GitHubDeploymentRequest) (id int64, err error)
	// FindDeployment returns the id of the deployment of sha to
	// environment whose payload has deploybot_id deploybotID, or 0.
	FindDeployment(ctx context.Context, repo Repo, sha, environment string, deploybotID int64) (int64, error)
	CreateDeploymentStatus(ctx context.Context, repo Repo, deploymentID int64, st DeploymentStatus) error
	// Checks returns every commit status context and check run for sha,
	// the latest of each name.
	Checks(ctx context.Context, repo Repo, sha string) ([]Check, error)
}

// Message is what deploybot says in Slack about one deployment.
type Message struct {
	Text    string // plain-text fallback, and the whole message when Fields is empty
	Fields  []Field
	Actions []Action // buttons under the message
	// Key names the message across its Post and Updates ("deployment/42"),
	// so that a Chat holding messages back while Slack is out keeps only
	// the newest content of each; empty for one-off messages.
	Key string
}

// Action is a button; a click comes back to POST /slack/interactions with
// its ID and Value.
type Action struct {
	ID    string // what the click asks for, e.g. ActionRollback
	Label string
	Value string // e.g. the deployment id
	Style string // "", "primary" or "danger"
}

// ActionRollback redeploys the version before the one deployment Value
// (an id) ran, in that deployment's app and environment.
const ActionRollback = "rollback"

// Field is one labelled value of a Message.
type Field struct {
	Label string
	Value string
}

// Chat is the part of the Slack Web API the pipeline uses.
type Chat interface {
	// Post returns the channel id and the timestamp of the new message.
	Post(ctx context.Context, channel string, msg Message) (channelID, ts string, err error)
	Update(ctx context.Context, channelID, ts string, msg Message) error
	// Respond sends an ephemeral reply through a slash command's response_url.
	Respond(ctx context.Context, responseURL string, msg Message) error
}

// Images finds a container image in the registry.
type Images interface {
	// Resolve returns the digest (sha256:…) of image:tag; ENOTFOUND if absent.
	Resolve(ctx context.Context, image, tag string, env *Environment) (digest string, err error)
}

// Rollout is what a deployer reports once a deploy has finished well.
type Rollout struct {
	EnvironmentURL string
	Detail         string // e.g. "task definition web:42"
}

// Deployer rolls a digest-pinned image out to one kind of target and waits
// until the target runs it and is healthy. It returns an *Error with a
// user-safe message when the rollout failed.
//
// A deploy may be resumed by another process after a crash: then
// d.RolloutRef holds what the last Checkpoint saved, and the deployer must
// not repeat a change already made (no second task definition revision or
// UpdateService, no second application version or UpdateEnvironment) but
// pick up the wait where it stands.
type Deployer interface {
	Deploy(ctx context.Context, d *Deployment, env *Environment, image string, hooks RolloutHooks) (Rollout, error)
}

// RolloutHooks are how a deployer reports while it works.
type RolloutHooks struct {
	// Progress hears short human lines ("registered task definition web:42").
	Progress func(line string)
	// Checkpoint stores ref (a task definition ARN, a version label) as
	// d.RolloutRef before the deployer's next change, so a resumed deploy
	// knows what was done. A deployer must stop if it fails.
	Checkpoint func(ref string) error
}

// Permission levels of a repository collaborator, as GitHub names them.
const (
	PermissionAdmin    = "admin"
	PermissionMaintain = "maintain"
	PermissionWrite    = "write"
	PermissionTriage   = "triage"
	PermissionRead     = "read"
	PermissionNone     = "none"
)

// PullRequests is the part of GitHub the PR-comment trigger uses.
type PullRequests interface {
	// PullRequestHead returns the head sha of pull request number now.
	PullRequestHead(ctx context.Context, repo Repo, number int) (sha string, err error)
	// CommitTime returns the later of commit sha's author and committer
	// dates; ENOTFOUND if repo has no such commit.
	CommitTime(ctx context.Context, repo Repo, sha string) (time.Time, error)
	// Permission returns login's permission on repo (one of Permission*).
	Permission(ctx context.Context, repo Repo, login string) (string, error)
	// React adds a reaction ("eyes", "+1", "rocket", …) to an issue comment.
	React(ctx context.Context, repo Repo, commentID int64, reaction string) error
	// Comment posts a comment on issue or pull request number.
	Comment(ctx context.Context, repo Repo, number int, body string) (commentID int64, err error)
	EditComment(ctx context.Context, repo Repo, commentID int64, body string) error
}

// Teams answers github-team allow entries.
type Teams interface {
	// TeamMember reports whether login is an active member of org/team.
	TeamMember(ctx context.Context, repo Repo, org, team, login string) (bool, error)
}

// Observer hears what the pipeline measures; the metrics adapter
// implements it. Every method must be quick and must not fail.
type Observer interface {
	// StageDone: d spent took in stage before moving on.
	StageDone(d *Deployment, stage State, took time.Duration)
	// CIWaited: d's CI gate took took (pass or fail).
	CIWaited(d *Deployment, took time.Duration)
	// Ended: d reached a terminal state.
	Ended(d *Deployment)
}
