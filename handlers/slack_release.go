package handlers

import (
	"context"

	"github.com/deploybot/deploybot/bot"
)

// Releases are the dry run and the promotion.
type Releases interface {
	Plan(ctx context.Context, req bot.Request) (*bot.Plan, error)
	Promote(ctx context.Context, req bot.Request, from string) (*bot.Deployment, error)
}

// releaseCommand answers `--dry-run` privately with the plan, and starts a
// promotion, answering privately like a deploy: its progress goes to the
// channel.
func (s *Server) releaseCommand(ctx context.Context, cmd bot.Command, req bot.Request) (bot.Message, error) {
	if cmd.Kind == bot.CommandDryRun {
		p, err := s.Deployments.Plan(ctx, req)
		if err != nil {
			return bot.Message{}, err
		}
		return p.Message(), nil
	}
	d, err := s.Deployments.Promote(ctx, req, cmd.From)
	if err != nil {
		return bot.Message{}, err
	}
	s.Deployments.Kick()
	text := bot.Textf("Deployment #%d accepted: %s %s to %s, %v. I'll post progress in the channel.", d.ID, d.App, bot.ShortSHA(d.SHA), d.Env, d.PromotedFrom.Text())
	return bot.Message{Text: text.Slack()}, nil
}
