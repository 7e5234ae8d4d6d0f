package bot

import (
	"fmt"
	"strings"
)

// Authorize decides whether requester ("slack:U123" or "github:login") may
// deploy to env. An env without `allow` is open to anyone who can reach a
// trigger. github-team entries need a team lookup the pipeline does not
// make yet, so they never match on their own: the check fails closed.
func (e *Environment) Authorize(requester string) error {
	if len(e.Allow) == 0 {
		return nil
	}
	for _, who := range e.Allow {
		if strings.EqualFold(who, requester) {
			return nil
		}
	}
	return Errorf(EFORBIDDEN, "%s may not deploy %s to %s; allowed: %s", requester, e.App, e.Name, strings.Join(e.Allow, ", "))
}

// SlackRequester names a Slack user as the requester of a deployment.
func SlackRequester(userID string) string { return fmt.Sprintf("slack:%s", userID) }

// GitHubRequester names a GitHub login as the requester of a deployment.
func GitHubRequester(login string) string { return fmt.Sprintf("github:%s", login) }
