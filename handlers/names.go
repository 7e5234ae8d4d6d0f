package handlers

import (
	"context"
	"strings"
	"time"
)

// SlackNames is the part of Slack the dashboard asks for people's names.
type SlackNames interface {
	// UserName returns the name Slack shows for a user id.
	UserName(ctx context.Context, id string) (string, error)
}

// nameTimeout bounds the wait for a name: a page shows an id rather than
// wait on Slack.
const nameTimeout = time.Second

// requesterName is the name to show for a requester ("slack:U123",
// "github:octocat"): the Slack user's name, the GitHub login; "" when
// there is nothing better than the requester itself.
func (s *Server) requesterName(ctx context.Context, requester string) string {
	kind, id, ok := strings.Cut(requester, ":")
	switch {
	case !ok:
		return ""
	case kind == "github":
		return id
	case kind == "slack" && s.Names != nil:
		ctx, cancel := context.WithTimeout(ctx, nameTimeout)
		defer cancel()
		name, err := s.Names.UserName(ctx, id)
		if err != nil {
			s.logger().Debug("dashboard: no Slack name", "user", id, "err", err)
			return ""
		}
		return name
	}
	return ""
}
