package bot

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Update is one step of a deployment, told to every reporter once the
// step is saved: what GitHub, Slack, the pull request and the timeline
// show is never ahead of the store. It holds words (Text), not markup;
// each reporter renders them for its medium.
type Update struct {
	Deployment *Deployment
	// Status is the deployment's state in words, shown on its messages
	// (Slack, the pull request); zero leaves them as they are.
	Status Text
	// Line goes on the deployment's timeline and to whoever follows it
	// (`deploybot deploy`); zero adds none.
	Line Text
	// GitHub is the GitHub deployment status the step sets ("" sets
	// none), described by GitHubDescription, or by Status when that is
	// zero.
	GitHub            string
	GitHubDescription Text
	// Failure is why, on the update that records the deployment's failure.
	Failure Text
}

// Reporter tells one medium about a deployment's updates, rendering them
// for it. Reporting never fails a deployment: a reporter logs what it
// could not say.
type Reporter interface {
	Report(ctx context.Context, u Update)
}

// reporters are the media the service reports to, in the order they hear
// an update: the timeline first, since it is deploybot's own record.
func (s *Service) reporters() []Reporter {
	rs := []Reporter{timeline{s}, githubStatuses{s}}
	if s.Chat != nil {
		rs = append(rs, slackMessage{s})
	}
	if s.PullRequests != nil {
		rs = append(rs, prComment{s})
	}
	return append(rs, s.Reporters...)
}

// report tells every reporter about u. A run stopped while it tells a
// stage (cancelled, superseded, its lease lost, shutting down) tells no
// more of it: whoever stopped it tells the end, or the run that resumes
// it the stage, and a slow reporter (GitHub) must not let news of a stage
// left behind overwrite that in the next (Slack).
func (s *Service) report(ctx context.Context, u Update) {
	for _, r := range s.reporters() {
		if ctx.Err() != nil && !u.Deployment.State.Terminal() {
			return
		}
		r.Report(ctx, u)
	}
}

func (s *Service) deploymentLogger(d *Deployment) *slog.Logger {
	return s.logger().With("deployment", d.ID, "app", d.App, "env", d.Env)
}

// logURL is the deployment's page on the dashboard, if deploybot has a
// public address.
func (s *Service) logURL(d *Deployment) string {
	if s.Config.PublicURL == "" {
		return ""
	}
	return fmt.Sprintf("%s/deployments/%d", strings.TrimSuffix(s.Config.PublicURL, "/"), d.ID)
}

// timeline records each update's line on the deployment's timeline and
// tells Service.Progress.
type timeline struct{ s *Service }

func (t timeline) Report(ctx context.Context, u Update) {
	if u.Line.format == "" {
		return
	}
	line := u.Line.Plain()
	if t.s.Progress != nil {
		t.s.Progress(u.Deployment, line)
	}
	// The timeline is for people reading it later; losing a line of it
	// must not stop a deployment, and the deployment's own context may be
	// ending (a failure is recorded then too).
	e := &Event{DeploymentID: u.Deployment.ID, Stage: u.Deployment.State, Message: line}
	if err := t.s.Store.AddEvent(context.Background(), e); err != nil {
		t.s.deploymentLogger(u.Deployment).Warn("record timeline event", "err", err)
	}
}

// DefaultFinalStatusPatience is how long a final GitHub deployment status
// is tried while GitHub is unavailable.
const DefaultFinalStatusPatience = 2 * time.Minute

// githubStatuses sets the GitHub deployment's statuses.
type githubStatuses struct{ s *Service }

// Report sets the update's status; a failure to report never fails the
// deploy. A final status (success, failure, error, inactive) is what
// GitHub keeps showing, so while GitHub is unavailable it is tried again
// for a while; a lost intermediate one is made good by the next.
func (g githubStatuses) Report(ctx context.Context, u Update) {
	d := u.Deployment
	if u.GitHub == "" || d.GitHubDeploymentID == 0 {
		return
	}
	state, desc := u.GitHub, u.GitHubDescription
	if desc.format == "" {
		desc = u.Status
	}
	st := DeploymentStatus{State: state, Description: desc.Plain(), EnvironmentURL: d.EnvironmentURL, LogURL: g.s.logURL(d)}
	repo := Repo{FullName: d.Repo, InstallationID: d.InstallationID}
	final := state == "success" || state == "failure" || state == "error" || state == "inactive"
	giveUp := g.s.now().Add(g.s.finalStatusPatience())
	log := g.s.deploymentLogger(d)
	var wait time.Duration
	for {
		err := g.s.GitHub.CreateDeploymentStatus(ctx, repo, d.GitHubDeploymentID, st)
		if err == nil {
			return
		}
		wait = finalStatusBackoff.next(wait)
		if !final || ErrorCode(err) != EUNAVAILABLE || g.s.now().Add(wait).After(giveUp) {
			log.Warn("github deployment status", "state", state, "err", err)
			return
		}
		log.Warn("github deployment status; trying again", "state", state, "err", err, "in", wait)
		select {
		case <-ctx.Done():
			log.Warn("github deployment status lost: shutting down", "state", state)
			return
		case <-time.After(wait):
		}
	}
}

// finalStatusBackoff spaces the tries of a final GitHub status.
var finalStatusBackoff = Backoff{Initial: time.Second, Max: 30 * time.Second}

func (s *Service) finalStatusPatience() time.Duration {
	if s.FinalStatusPatience > 0 {
		return s.FinalStatusPatience
	}
	return DefaultFinalStatusPatience
}

// Reject closes a GitHub deployment that someone else created and that
// deploybot will not run (unknown app or env, requester not allowed), with
// an `error` status that says why; `failure` when what it asks for cannot
// be deployed at all (a branch where the image is named after a git tag),
// as a deployment that got that far would have failed.
func (s *Service) Reject(ctx context.Context, repo Repo, githubID int64, reason error) {
	s.logger().Warn("github deployment rejected", "repo", repo.FullName, "github_deployment", githubID, "reason", ErrorMessage(reason))
	state := "error"
	if ErrorCode(reason) == EINVALID {
		state = "failure"
	}
	st := DeploymentStatus{State: state, Description: "deploybot: " + ErrorMessage(reason)}
	if err := s.GitHub.CreateDeploymentStatus(ctx, repo, githubID, st); err != nil {
		s.logger().Warn("github deployment status", "state", state, "err", err)
	}
}

// editTurns orders, within this process, the edits of one deployment's
// messages (Slack, the pull request comment), which each edit overwrites:
// a run's news of its stage and the end someone else tells (a cancel, a
// supersede, a rejection) take turns. Whoever ends a deployment stops its
// run before telling the end, so a run that gets its turn after that
// finds itself stopped and tells nothing. Striped by id: no map to grow.
type editTurns [64]sync.Mutex

// take waits for deployment d's turn and returns its release, or nil
// when the run telling of a stage (ctx) was stopped meanwhile.
func (t *editTurns) take(ctx context.Context, d *Deployment) (release func()) {
	mu := &t[uint64(d.ID)%uint64(len(t))]
	mu.Lock()
	if ctx.Err() != nil && !d.State.Terminal() {
		mu.Unlock()
		return nil
	}
	return mu.Unlock
}
