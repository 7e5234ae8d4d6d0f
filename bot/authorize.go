package bot

import (
	"fmt"
	"strings"
)

// Authorize decides whether requester ("slack:U123" or "github:login") may
// deploy to env. An env without `allow` is open to anyone who can reach a
// trigger. github-team entries match only through inTeam, which may be nil
// (then they never match: the check fails closed, as it does when the
// lookup fails).
func (e *Environment) Authorize(requester string, inTeam func(org, team, login string) (bool, error)) error {
	if len(e.Allow) == 0 {
		return nil
	}
	for _, who := range e.Allow {
		if strings.EqualFold(who, requester) {
			return nil
		}
	}
	if login, ok := strings.CutPrefix(requester, "github:"); ok && inTeam != nil {
		for _, who := range e.Allow {
			team, ok := strings.CutPrefix(who, "github-team:")
			if !ok {
				continue
			}
			org, slug, _ := strings.Cut(team, "/")
			if member, err := inTeam(org, slug, login); err == nil && member {
				return nil
			}
		}
	}
	// The allow list is not shown: refusals are read in public (PR replies,
	// GitHub statuses), and who holds deploy rights is not everyone's to
	// read. Saying whom to ask is what the refused person needs.
	return Errorf(EFORBIDDEN, "%s may not deploy %s to %s: ask someone who can deploy to %s, or a deploybot admin, to add you to its allow list", person(requester), e.App, e.Name, e.Name)
}

// SlackRequester names a Slack user as the requester of a deployment.
func SlackRequester(userID string) string { return fmt.Sprintf("slack:%s", userID) }

// GitHubRequester names a GitHub login as the requester of a deployment.
func GitHubRequester(login string) string { return fmt.Sprintf("github:%s", login) }
