package bot

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// slackMessage keeps one Slack message per deployment: posted on its
// first update, edited in place on the next ones. It owns everything
// Slack about the deployment: the mrkdwn, the emoji, the buttons and
// where the message is (Deployment.SlackChannel, SlackTS).
type slackMessage struct{ s *Service }

func (m slackMessage) Report(ctx context.Context, u Update) {
	if u.Status.format != "" {
		m.show(ctx, u)
	}
	if d := u.Deployment; u.Failure.format != "" && d.SlackTS == "" && d.SlackResponseURL != "" {
		// The channel never got the deployment's message (Slack refused
		// or was down when the failure was announced), so the requester
		// hears it privately, as the command's reply.
		msg := Message{Text: Textf("Deployment #%d of %s %s to %s failed: %v", d.ID, d.App, d.Ref, d.Env, u.Failure).Slack()}
		if err := m.s.Chat.Respond(ctx, d.SlackResponseURL, msg); err != nil {
			m.s.deploymentLogger(d).Warn("slack respond", "err", err)
		}
	}
}

func (m slackMessage) show(ctx context.Context, u Update) {
	d := u.Deployment
	release := m.s.edits.take(ctx, d)
	if release == nil {
		return
	}
	defer release()
	log := m.s.deploymentLogger(d)
	msg := m.render(d, u.Status)
	m.s.approvalView(ctx, d, &msg)
	if d.SlackTS != "" {
		if err := m.s.Chat.Update(ctx, d.SlackChannel, d.SlackTS, msg); err != nil {
			log.Warn("slack update", "err", err)
		}
		return
	}
	if d.State == StateSuperseded {
		// One never shown in Slack is not announced only to say it ends.
		return
	}
	channel := m.channel(d)
	if channel == "" {
		return
	}
	channelID, ts, err := m.s.Chat.Post(ctx, channel, msg)
	if err != nil {
		log.Warn("slack post", "channel", channel, "err", err)
		return
	}
	d.SlackChannel, d.SlackTS = channelID, ts
	if err := m.s.save(ctx, d, log); err != nil {
		log.Warn("store slack message", "err", err)
	}
}

// channel is the env's channel, else the bot's, else where it was asked.
func (m slackMessage) channel(d *Deployment) string {
	if _, env, err := m.s.Config.Lookup(d.App, d.Env); err == nil && env.Channel != "" {
		return env.Channel
	}
	if m.s.Config.Slack.Channel != "" {
		return m.s.Config.Slack.Channel
	}
	return d.SlackChannel
}

func (m slackMessage) render(d *Deployment, status Text) Message {
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
	if p := d.PromotedFrom; p != nil {
		// The line that starts the rollout names the origin itself.
		if !strings.Contains(status.Plain(), p.Text().Plain()) {
			text += " (" + p.Text().Slack() + ")"
		}
		fields = append(fields, Field{Label: "Origin", Value: p.Text().Slack()})
	}
	if u := m.s.logURL(d); u != "" {
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
