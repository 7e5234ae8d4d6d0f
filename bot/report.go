package bot

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DefaultFinalStatusPatience is how long a final GitHub deployment status
// is tried while GitHub is unavailable.
const DefaultFinalStatusPatience = 2 * time.Minute

// setStatus reports to GitHub; a failure to report never fails the deploy.
// A final status (success, failure, error) is what GitHub keeps showing,
// so while GitHub is unavailable it is tried again for a while; a lost
// intermediate one is made good by the next.
func (r *run) setStatus(ctx context.Context, state, description string) {
	d := r.d
	st := DeploymentStatus{State: state, Description: description, EnvironmentURL: d.EnvironmentURL, LogURL: r.logURL()}
	repo := Repo{FullName: d.Repo, InstallationID: d.InstallationID}
	final := state == "success" || state == "failure" || state == "error" || state == "inactive"
	giveUp := r.s.now().Add(r.s.finalStatusPatience())
	var wait time.Duration
	for {
		err := r.s.GitHub.CreateDeploymentStatus(ctx, repo, d.GitHubDeploymentID, st)
		if err == nil {
			return
		}
		wait = finalStatusBackoff.next(wait)
		if !final || ErrorCode(err) != EUNAVAILABLE || r.s.now().Add(wait).After(giveUp) {
			r.log.Warn("github deployment status", "state", state, "err", err)
			return
		}
		r.log.Warn("github deployment status; trying again", "state", state, "err", err, "in", wait)
		select {
		case <-ctx.Done():
			r.log.Warn("github deployment status lost: shutting down", "state", state)
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

func (r *run) logURL() string {
	if r.s.Config.PublicURL == "" {
		return ""
	}
	return fmt.Sprintf("%s/deployments/%d", strings.TrimSuffix(r.s.Config.PublicURL, "/"), r.d.ID)
}

// announce tells Slack and, for PR-comment deploys, the pull request;
// each renders status for itself.
func (r *run) announce(ctx context.Context, status Text) {
	r.updateChat(ctx, status)
	r.updatePR(ctx, status)
}

// updateChat posts the deployment's Slack message the first time and edits
// it in place afterwards.
func (r *run) updateChat(ctx context.Context, status Text) {
	if r.s.Chat == nil {
		return
	}
	d := r.d
	msg := r.message(status)
	if d.SlackTS != "" {
		if err := r.s.Chat.Update(ctx, d.SlackChannel, d.SlackTS, msg); err != nil {
			r.log.Warn("slack update", "err", err)
		}
		return
	}
	channel := r.channel()
	if channel == "" {
		return
	}
	channelID, ts, err := r.s.Chat.Post(ctx, channel, msg)
	if err != nil {
		r.log.Warn("slack post", "channel", channel, "err", err)
		return
	}
	d.SlackChannel, d.SlackTS = channelID, ts
	if err := r.save(ctx); err != nil {
		r.log.Warn("store slack message", "err", err)
	}
}

// channel is the env's channel, else the bot's, else where it was asked.
func (r *run) channel() string {
	if _, env, err := r.s.Config.Lookup(r.d.App, r.d.Env); err == nil && env.Channel != "" {
		return env.Channel
	}
	if r.s.Config.Slack.Channel != "" {
		return r.s.Config.Slack.Channel
	}
	return r.d.SlackChannel
}

func (r *run) message(status Text) Message {
	d := r.d
	// A ref comes from whoever asked (a branch may be named <!channel>),
	// and the message is mrkdwn.
	ref := slackText(d.Ref)
	if d.SHA != "" {
		ref = d.ShortSHA()
		if d.Ref != "" && !strings.HasPrefix(d.SHA, d.Ref) {
			ref = fmt.Sprintf("%s (%s)", slackText(d.Ref), d.ShortSHA())
		}
	}
	text := fmt.Sprintf("%s %s: %s %s to %s — %s", stateEmoji(d.State), deploymentLabel(d), d.App, ref, d.Env, status.Slack())
	fields := []Field{
		{Label: "App", Value: d.App},
		{Label: "Environment", Value: d.Env},
		{Label: "Ref", Value: ref},
		{Label: "Requested by", Value: requesterMention(d.Requester)},
		{Label: "Stage", Value: string(d.State)},
	}
	if u := r.logURL(); u != "" {
		fields = append(fields, Field{Label: "Details", Value: u})
	}
	msg := Message{Text: text, Fields: fields, Key: fmt.Sprintf("deployment/%d", d.ID)}
	if d.State == StateSucceeded || d.State == StateFailed {
		msg.Actions = []Action{{ID: ActionRollback, Label: "Roll back", Value: strconv.FormatInt(d.ID, 10), Style: "danger"}}
	}
	return msg
}

func deploymentLabel(d *Deployment) string { return fmt.Sprintf("Deployment #%d", d.ID) }

// requesterMention names a requester in Slack mrkdwn: a Slack user as a
// mention, anyone else as text.
func requesterMention(requester string) string {
	if id, ok := strings.CutPrefix(requester, "slack:"); ok {
		return "<@" + slackText(id) + ">"
	}
	return slackText(requester)
}

func stateEmoji(s State) string {
	switch s {
	case StateSucceeded:
		return ":white_check_mark:"
	case StateFailed:
		return ":x:"
	case StateCancelled:
		return ":no_entry_sign:"
	case StateRolledBack:
		return ":leftwards_arrow_with_hook:"
	}
	return ":hourglass_flowing_sand:"
}
