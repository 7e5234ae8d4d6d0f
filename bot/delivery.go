package bot

import (
	"context"
	"fmt"
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
