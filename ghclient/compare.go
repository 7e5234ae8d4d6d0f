package ghclient

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/deploybot/deploybot/bot"
)

var _ bot.Commits = (*Client)(nil)

// Compare lists the commits in head but not in base. GitHub's first page
// holds the oldest 250 of them; a plan shows the newest few, so a longer
// range is told by its count and the newest it got.
func (c *Client) Compare(ctx context.Context, repo bot.Repo, base, head string) (bot.Comparison, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return bot.Comparison{}, err
	}
	if !bot.IsFullSHA(base) || !bot.IsFullSHA(head) {
		return bot.Comparison{}, bot.Errorf(bot.EINVALID, "compare needs two full commit shas, not %q and %q", base, head)
	}
	gh, err := c.clientFor(ctx, repo, owner, name)
	if err != nil {
		return bot.Comparison{}, err
	}
	cmp, _, err := gh.Repositories.CompareCommits(ctx, owner, name, base, head, nil)
	if err != nil {
		c.forget(repo, err)
		if statusCode(err) == http.StatusNotFound {
			return bot.Comparison{}, bot.Errorf(bot.ENOTFOUND, "GitHub cannot compare %s with %s in %s", bot.ShortSHA(base), bot.ShortSHA(head), repo.FullName)
		}
		return bot.Comparison{}, wrapError(err, fmt.Sprintf("comparing %s with %s in %s", bot.ShortSHA(base), bot.ShortSHA(head), repo.FullName))
	}
	out := bot.Comparison{Status: cmp.GetStatus(), Total: cmp.GetTotalCommits()}
	commits := cmp.Commits
	if len(commits) > bot.MaxPlanCommits {
		commits = commits[len(commits)-bot.MaxPlanCommits:]
	}
	for _, rc := range commits {
		author := rc.GetAuthor().GetLogin()
		if author == "" {
			author = rc.GetCommit().GetAuthor().GetName()
		}
		msg, _, _ := strings.Cut(rc.GetCommit().GetMessage(), "\n")
		out.Commits = append(out.Commits, bot.Commit{SHA: rc.GetSHA(), Author: author, Message: msg})
	}
	return out, nil
}
