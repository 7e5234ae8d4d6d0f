package handlers

import (
	"context"
	"strconv"

	"github.com/deploybot/deploybot/bot"
)

// Approvals are the decisions on a deployment waiting for approval:
// `/deploy approve|reject <id>` and the Approve and Reject buttons.
type Approvals interface {
	Approve(ctx context.Context, id int64, who string) (bot.Message, error)
	RejectDeployment(ctx context.Context, id int64, who, reason string) (bot.Message, error)
}

// decide carries out an approve or reject command or click by who.
func (s *Server) decide(ctx context.Context, kind bot.CommandKind, id int64, who, reason string) (bot.Message, error) {
	if kind == bot.CommandReject {
		return s.Deployments.RejectDeployment(ctx, id, who, reason)
	}
	return s.Deployments.Approve(ctx, id, who)
}

// approvalClick answers a click on Approve or Reject, through the
// response_url; it reports false for any other button.
func (s *Server) approvalClick(ctx context.Context, in interaction, actionID, value string) bool {
	kind := bot.CommandApprove
	switch actionID {
	case bot.ActionApprove:
	case bot.ActionReject:
		kind = bot.CommandReject
	default:
		return false
	}
	var text string
	id, err := strconv.ParseInt(value, 10, 64)
	if err != nil {
		text = "That button does not name a deployment."
	} else if msg, err := s.decide(ctx, kind, id, bot.SlackRequester(in.User.ID), ""); err == nil {
		text = msg.Text
	} else if bot.ErrorCode(err) == bot.EINTERNAL {
		s.logger().Error("approval button", "action", actionID, "err", err, "user", in.User.ID)
		text = "Something went wrong inside deploybot; nothing was changed. Please try again."
	} else {
		text = bot.ErrorText(err).Slack()
	}
	s.Deployments.Respond(ctx, in.ResponseURL, bot.Message{Text: text})
	return true
}
