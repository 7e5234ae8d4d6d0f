package bot

import (
	"context"
	"fmt"
	"strings"
)

// Delivery names something that must be acted on once however often it
// arrives: a webhook delivery, a comment, a signed Slack request. Key says
// what counts as the same one.
type Delivery struct {
	Key   string
	Event string
}

// WebhookDelivery is a GitHub webhook delivery, by its X-GitHub-Delivery
// id. The deployment event's is recorded as it is, for the record's sake:
// the GitHub deployment id is what keeps that event from running twice.
func WebhookDelivery(id, event string) Delivery {
	if event == "deployment" {
		return Delivery{Key: id, Event: event}
	}
	return Delivery{Key: event + ":" + id, Event: event}
}

// CommentDelivery is a pull request comment, by the comment rather than
// the delivery: whatever GitHub redelivers, one comment deploys at most
// once.
func CommentDelivery(repo string, commentID int64) Delivery {
	return Delivery{Key: fmt.Sprintf("issue_comment:%s:%d", repo, commentID), Event: "issue_comment"}
}

// SlackRequest is a signed Slack request, by its signature: Slack signs the
// timestamp with the body, so one seen before is a replay.
func SlackRequest(signature string) Delivery {
	return Delivery{Key: "slack:" + signature, Event: "slack"}
}

// FirstDelivery records d and reports whether it is the first of its key.
// The record is in the store, so a restart or another replica remembers
// it too.
func (s *Service) FirstDelivery(ctx context.Context, d Delivery) (bool, error) {
	return s.Store.RecordDelivery(ctx, d.Key, d.Event)
}

// ForgetDelivery removes d's record, so that a delivery whose handling
// failed before it did anything can come again and be acted on.
func (s *Service) ForgetDelivery(ctx context.Context, d Delivery) error {
	return s.Store.ForgetDelivery(ctx, d.Key)
}

// GitHubDeploymentOf returns the deployment that GitHub deployment
// githubID is of; ENOTFOUND when deploybot has none. GitHub deployment ids
// are unique in the store, which is what makes a repeated deployment
// event (a redelivery, or a new delivery of the same deployment) run
// nothing twice.
func (s *Service) GitHubDeploymentOf(ctx context.Context, githubID int64) (*Deployment, error) {
	return s.Store.DeploymentByGitHubID(ctx, githubID)
}

// CreatedByUs reports whether GitHub deployment githubID, of sha to env in
// repo, whose payload says deploybot_id id, is really the one deploybot's
// deployment id created. deploybot stores a deployment, creates its GitHub
// deployment with the store id in the payload, and only then saves the
// GitHub id: the webhook may come in between (or an attempt may die there,
// to be found again by FindDeployment). So a stored GitHub id must be
// githubID, and a missing one is accepted when the deployment is of the
// repository, commit and environment GitHub created it for. Only someone
// able to create deployments in that repository could forge that, and all
// it would do is let deploybot's own pipeline go on.
func (s *Service) CreatedByUs(ctx context.Context, id int64, repo Repo, githubID int64, sha, env string) (bool, error) {
	d, err := s.Store.Deployment(ctx, id)
	if IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if d.GitHubDeploymentID != 0 {
		return d.GitHubDeploymentID == githubID, nil
	}
	return strings.EqualFold(d.Repo, repo.FullName) && d.SHA == sha && d.Env == env, nil
}

// HeadChanged records that a pull request's head moved, for the
// PR-comment trigger to compare comments with (see headMovedAfter).
func (s *Service) HeadChanged(ctx context.Context, c HeadChange) error {
	return s.Store.RecordHeadChange(ctx, c)
}
