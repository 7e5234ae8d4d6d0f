package ghclient

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/deploybot/deploybot/bot"
)

var (
	_ bot.PullRequests = (*Client)(nil)
	_ bot.Teams        = (*Client)(nil)
)

// PullRequestHead returns the sha the head of pull request number points
// at now.
func (c *Client) PullRequestHead(ctx context.Context, repo bot.Repo, number int) (string, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return "", err
	}
	if number < 1 {
		return "", bot.Errorf(bot.EINVALID, "%d is not a pull request number", number)
	}
	gh, err := c.clientFor(ctx, repo, owner, name)
	if err != nil {
		return "", err
	}
	pr, _, err := gh.PullRequests.Get(ctx, owner, name, number)
	if err != nil {
		c.forget(repo, err)
		if statusCode(err) == http.StatusNotFound {
			return "", bot.Errorf(bot.ENOTFOUND, "pull request #%d not found in %s", number, repo.FullName)
		}
		return "", wrapError(err, fmt.Sprintf("reading pull request #%d of %s", number, repo.FullName))
	}
	sha := pr.GetHead().GetSHA()
	if sha == "" {
		return "", fmt.Errorf("github: get pull request #%d of %s: no head sha in the answer", number, repo.FullName)
	}
	return sha, nil
}

// CommitTime returns the later of the author and committer dates of
// commit sha: a rebase or an amend keeps the author date and renews the
// committer date, and either may be the one set when the commit was made.
func (c *Client) CommitTime(ctx context.Context, repo bot.Repo, sha string) (time.Time, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return time.Time{}, err
	}
	if !bot.IsFullSHA(sha) {
		return time.Time{}, bot.Errorf(bot.EINVALID, "%q is not a full commit sha", sha)
	}
	if info, ok := c.described.lookup(repo.FullName, sha); ok && !info.at.IsZero() {
		return info.at, nil
	}
	gh, err := c.clientFor(ctx, repo, owner, name)
	if err != nil {
		return time.Time{}, err
	}
	commit, _, err := gh.Git.GetCommit(ctx, owner, name, sha)
	if err != nil {
		c.forget(repo, err)
		switch statusCode(err) {
		case http.StatusNotFound, http.StatusUnprocessableEntity:
			return time.Time{}, bot.Errorf(bot.ENOTFOUND, "commit %s not found in %s", sha, repo.FullName)
		}
		return time.Time{}, wrapError(err, fmt.Sprintf("reading commit %s of %s", sha, repo.FullName))
	}
	at := laterDate(commit.GetAuthor().GetDate().Time, commit.GetCommitter().GetDate().Time)
	if at.IsZero() {
		return time.Time{}, fmt.Errorf("github: commit %s of %s: no dates in the answer", sha, repo.FullName)
	}
	return at, nil
}

// laterDate is a commit's time: the later of its author and committer
// dates (zero when it has neither).
func laterDate(author, committer time.Time) time.Time {
	if committer.After(author) {
		return committer
	}
	return author
}

// permissionLevel is GitHub's answer about a collaborator; go-github v60
// has no role_name, the only field that tells maintain from write and
// triage from read.
type permissionLevel struct {
	Permission string `json:"permission"`
	RoleName   string `json:"role_name"`
}

// Permission returns login's role on repo. A login GitHub does not know,
// or one it will not tell this installation about, has none.
func (c *Client) Permission(ctx context.Context, repo bot.Repo, login string) (string, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return "", err
	}
	if !validLogin(login) {
		return "", bot.Errorf(bot.EINVALID, "%q is not a GitHub login", login)
	}
	gh, err := c.clientFor(ctx, repo, owner, name)
	if err != nil {
		return "", err
	}
	// Built by hand, and escaped, since go-github's GetPermissionLevel
	// drops role_name and puts login into the path unescaped.
	req, err := gh.NewRequest(http.MethodGet, fmt.Sprintf("repos/%s/%s/collaborators/%s/permission",
		url.PathEscape(owner), url.PathEscape(name), url.PathEscape(login)), nil)
	if err != nil {
		return "", fmt.Errorf("github: permission of %s on %s: %w", login, repo.FullName, err)
	}
	var level permissionLevel
	if _, err := gh.Do(ctx, req, &level); err != nil {
		c.forget(repo, err)
		if statusCode(err) == http.StatusNotFound {
			return bot.PermissionNone, nil
		}
		return "", wrapError(err, fmt.Sprintf("reading the permission of %s on %s", login, repo.FullName))
	}
	return permission(level), nil
}

// permission prefers the role, which keeps maintain and triage; a custom
// role's name means nothing here, so its base permission counts instead,
// and anything unknown counts as no access at all.
func permission(level permissionLevel) string {
	for _, p := range []string{level.RoleName, level.Permission} {
		switch p {
		case bot.PermissionAdmin, bot.PermissionMaintain, bot.PermissionWrite,
			bot.PermissionTriage, bot.PermissionRead, bot.PermissionNone:
			return p
		}
	}
	return bot.PermissionNone
}

// reactions are the contents GitHub accepts for a reaction.
var reactions = map[string]bool{
	"+1": true, "-1": true, "laugh": true, "confused": true,
	"heart": true, "hooray": true, "rocket": true, "eyes": true,
}

// React adds reaction to issue comment commentID; reacting twice with the
// same content is not an error.
func (c *Client) React(ctx context.Context, repo bot.Repo, commentID int64, reaction string) error {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return err
	}
	if !reactions[reaction] {
		return bot.Errorf(bot.EINVALID, "%q is not a GitHub reaction", reaction)
	}
	gh, err := c.clientFor(ctx, repo, owner, name)
	if err != nil {
		return err
	}
	_, _, err = gh.Reactions.CreateIssueCommentReaction(ctx, owner, name, commentID, reaction)
	if err != nil {
		return c.commentError(repo, err, fmt.Sprintf("react to comment %d", commentID),
			fmt.Sprintf("comment %d not found in %s", commentID, repo.FullName))
	}
	return nil
}

// Comment posts body on issue or pull request number.
func (c *Client) Comment(ctx context.Context, repo bot.Repo, number int, body string) (int64, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return 0, err
	}
	if number < 1 {
		return 0, bot.Errorf(bot.EINVALID, "%d is not an issue or pull request number", number)
	}
	gh, err := c.clientFor(ctx, repo, owner, name)
	if err != nil {
		return 0, err
	}
	comment, _, err := gh.Issues.CreateComment(ctx, owner, name, number, &github.IssueComment{Body: github.String(body)})
	if err != nil {
		return 0, c.commentError(repo, err, fmt.Sprintf("comment on #%d", number),
			fmt.Sprintf("issue or pull request #%d not found in %s", number, repo.FullName))
	}
	return comment.GetID(), nil
}

// EditComment replaces the body of issue comment commentID.
func (c *Client) EditComment(ctx context.Context, repo bot.Repo, commentID int64, body string) error {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return err
	}
	gh, err := c.clientFor(ctx, repo, owner, name)
	if err != nil {
		return err
	}
	_, _, err = gh.Issues.EditComment(ctx, owner, name, commentID, &github.IssueComment{Body: github.String(body)})
	if err != nil {
		return c.commentError(repo, err, fmt.Sprintf("edit comment %d", commentID),
			fmt.Sprintf("comment %d not found in %s", commentID, repo.FullName))
	}
	return nil
}

// commentError translates an error of a call about comments: what, for
// the wrapped error, names the call; notFound is the user-safe message.
func (c *Client) commentError(repo bot.Repo, err error, what, notFound string) error {
	c.forget(repo, err)
	switch statusCode(err) {
	case http.StatusNotFound:
		return bot.Errorf(bot.ENOTFOUND, "%s", notFound)
	case http.StatusUnprocessableEntity:
		return bot.Errorf(bot.EINVALID, "GitHub refused to %s: %s", what, githubMessage(err))
	}
	return wrapError(err, what+" in "+repo.FullName)
}

// TeamMember reports whether login is an active member of org's team
// slug. The call is made with the credentials for repo, so in App mode the
// App must be installed on org with members read access; GitHub answers
// 404 otherwise, which, like any 404, means "not a member".
func (c *Client) TeamMember(ctx context.Context, repo bot.Repo, org, team, login string) (bool, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return false, err
	}
	if !validLogin(org) || !validSlug(team) {
		return false, bot.Errorf(bot.EINVALID, "%q is not a GitHub team (org/team-slug)", org+"/"+team)
	}
	if !validLogin(login) {
		return false, bot.Errorf(bot.EINVALID, "%q is not a GitHub login", login)
	}
	gh, err := c.clientFor(ctx, repo, owner, name)
	if err != nil {
		return false, err
	}
	m, _, err := gh.Teams.GetTeamMembershipBySlug(ctx, org, team, login)
	if err != nil {
		c.forget(repo, err)
		if statusCode(err) == http.StatusNotFound {
			return false, nil
		}
		return false, wrapError(err, fmt.Sprintf("reading the membership of %s in %s/%s", login, org, team))
	}
	// An invitation not yet accepted is "pending" and grants nothing.
	return m.GetState() == "active", nil
}

// validLogin accepts GitHub user and organization logins (letters, digits
// and inner hyphens) and App bots (name[bot]); nothing in them can change
// the API path they are put into.
func validLogin(login string) bool {
	login = strings.TrimSuffix(login, "[bot]")
	if login == "" || len(login) > 100 || strings.HasPrefix(login, "-") {
		return false
	}
	for _, r := range login {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// validSlug accepts team slugs: GitHub lowercases a team's name and turns
// anything but letters, digits, "-" and "_" into "-".
func validSlug(slug string) bool {
	if slug == "" || len(slug) > 255 {
		return false
	}
	for _, r := range slug {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
