package ghclient

import (
	"context"
	"fmt"
	"net/http"

	"github.com/deploybot/deploybot/bot"
)

var _ bot.GitTags = (*Client)(nil)

// TagCommit returns the sha of the commit git tag tag of repo names,
// following annotated tags to their commit.
func (c *Client) TagCommit(ctx context.Context, repo bot.Repo, tag string) (string, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return "", err
	}
	if !bot.ValidRef(tag) {
		return "", bot.Errorf(bot.EINVALID, "%q is not a valid git ref", tag)
	}
	gh, err := c.clientFor(ctx, repo, owner, name)
	if err != nil {
		return "", err
	}
	ref, _, err := gh.Git.GetRef(ctx, owner, name, "tags/"+escapeRef(tag))
	if err != nil {
		c.forget(repo, err)
		if statusCode(err) == http.StatusNotFound {
			return "", bot.Errorf(bot.ENOTFOUND, "%s has no git tag %q", repo.FullName, tag)
		}
		return "", wrapError(err, fmt.Sprintf("reading tag %q of %s", tag, repo.FullName))
	}
	obj := ref.GetObject()
	// An annotated tag is an object of its own pointing at the commit; a
	// tag of a tag is allowed by git, so a few hops are followed.
	for hops := 0; obj.GetType() == "tag" && hops < 4; hops++ {
		t, _, err := gh.Git.GetTag(ctx, owner, name, obj.GetSHA())
		if err != nil {
			return "", wrapError(err, fmt.Sprintf("reading annotated tag %q of %s", tag, repo.FullName))
		}
		obj = t.GetObject()
	}
	if obj.GetType() != "commit" || obj.GetSHA() == "" {
		return "", bot.Errorf(bot.EINVALID, "git tag %q of %s names a %s, not a commit", tag, repo.FullName, obj.GetType())
	}
	return obj.GetSHA(), nil
}
