package bot

import (
	"fmt"
	"strings"
	"time"
)

// State is a stage of a deployment's life; see DESIGN.md, "The pipeline".
type State string

const (
	StateReceived     State = "received"
	StateQueued       State = "queued"
	StateWaitingForCI State = "waiting_for_ci"
	// StateWaitingForApproval holds a deployment whose CI passed until
	// the approvals its environment asks for are given.
	StateWaitingForApproval State = "waiting_for_approval"
	StateVerifyingImage     State = "verifying_image"
	StateDeploying          State = "deploying"
	StateVerifyingHealth    State = "verifying_health"
	StateSucceeded          State = "succeeded"
	StateFailed             State = "failed"
	StateCancelled          State = "cancelled"
	// StateSuperseded ends an auto deployment that a newer push to its
	// branch replaced before it reached AWS.
	StateSuperseded  State = "superseded"
	StateRollingBack State = "rolling_back"
	StateRolledBack  State = "rolled_back"
)

// Terminal reports whether no further stage follows s.
func (s State) Terminal() bool {
	switch s {
	case StateSucceeded, StateFailed, StateCancelled, StateRolledBack, StateSuperseded:
		return true
	}
	return false
}

// Source names the trigger a deployment came from.
type Source string

const (
	SourceSlack     Source = "slack"
	SourcePRComment Source = "pr_comment"
	SourceGitHubAPI Source = "github_api"
	SourceCLI       Source = "cli"
	// SourceAuto is continuous delivery: a push to an env's auto_deploy
	// branch.
	SourceAuto Source = "auto"
	// SourceDashboard is a button on the dashboard, pressed by a person
	// signed in with GitHub.
	SourceDashboard Source = "dashboard"
)

// Deployment is one request to run app@sha in env: one row in the store,
// one GitHub Deployment, one Slack message.
type Deployment struct {
	ID    int64
	App   string
	Env   string
	Repo  string // owner/name
	Ref   string // as asked for: sha, short sha, branch or tag
	SHA   string // full 40-char sha once resolved
	Image string // digest-pinned image once verified

	Requester string // "slack:U123" or "github:login"
	Source    Source
	State     State
	Reason    string // why it failed or was cancelled, user-safe

	GitHubDeploymentID int64 // 0 until the GitHub Deployment exists
	InstallationID     int64 // GitHub App installation, 0 if unknown

	SlackChannel     string
	SlackTS          string // the message updated in place
	SlackResponseURL string // ephemeral replies to the requester

	PRNumber    int   // the pull request a PR-comment deploy came from
	PRCommentID int64 // deploybot's comment there, edited as it goes

	EnvironmentURL string

	// RolloutRef is the deployer's checkpoint: what it changed in AWS (a
	// task definition ARN, an application version label).
	RolloutRef string
	// RollbackOf is the deployment whose failure this one rolls back
	// (auto_rollback), 0 for any other.
	RollbackOf int64
	// PromotedFrom is set on a promotion: Image is the one that other
	// deployment ran, and the pipeline deploys it as it is.
	PromotedFrom *Promotion
	// Attempts counts the times a process took this deployment on; more
	// than one means it is being resumed.
	Attempts int
	// LeaseOwner is the replica running the deployment, set by
	// ClaimDeployments. UpdateDeployment with it set writes only while that
	// owner still holds the lease, so a replica that lost its lease cannot
	// overwrite the one that took over.
	LeaseOwner string
	// Wait is what the deployment last parked on, as the store keeps it.
	Wait Wait
	// PushedAt orders auto deployments by their push: the newest wins.
	PushedAt time.Time
	// CommittedAt is the deployed commit's time (the later of author and
	// committer dates), read when the ref is resolved: the start of the
	// lead time for changes. Zero when GitHub could not say.
	CommittedAt time.Time

	CreatedAt time.Time
	UpdatedAt time.Time
}

// Wait is what a parked deployment waits for. Waiting costs a row, not a
// goroutine nor a slot: the deployment is claimed again once Until comes,
// or sooner when the event it waits On wakes it.
type Wait struct {
	On    string    // WaitForCI(sha), WaitForGate(app, env), WaitForApproval(id)
	Note  string    // what it last told people about this wait
	Since time.Time // when it began waiting On this
	Until time.Time // its own timer: a poll's backoff, a lock's expiry
	// Checked is when the run last looked at what it waits for (not
	// stored): a wake since then makes the park claimable at once.
	Checked time.Time
}

// Waiting says why d has not started, while it waits: what its wait told
// people ("Queued behind deployment #12 …", "Waiting for CI: ci/test
// pending", "Held: …"), or "" once it no longer waits. The store keeps
// the last wait after it ends, so only the wait of d's current stage
// counts.
func (d *Deployment) Waiting() string {
	var kind string
	switch d.State {
	case StateQueued:
		kind = "gate:"
	case StateWaitingForCI:
		kind = "ci:"
	case StateWaitingForApproval:
		kind = "approval:"
	default:
		return ""
	}
	if !strings.HasPrefix(d.Wait.On, kind) {
		return ""
	}
	return d.Wait.Note
}

// WaitForCI names the wait for CI results of sha.
func WaitForCI(sha string) string { return "ci:" + sha }

// WaitForApproval names the wait of deployment id for its approvals.
func WaitForApproval(id int64) string { return fmt.Sprintf("approval:%d", id) }

// WaitForGate names the wait for a turn in app/env's FIFO gate.
func WaitForGate(app, env string) string { return "gate:" + app + "/" + env }

// ShortSHA returns the first 7 characters of the resolved sha.
func (d *Deployment) ShortSHA() string { return ShortSHA(d.SHA) }

// ShortSHA is sha as people read it: its first 7 digits.
func ShortSHA(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}
