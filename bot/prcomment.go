package bot

import (
	"context"
	"fmt"
	"time"
)

// Comment is a new comment on a pull request, as the webhook tells it.
type Comment struct {
	Repo      Repo
	Number    int   // the pull request
	CommentID int64 // the comment itself
	Author    string
	Body      string
	// CreatedAt is when the comment was written, by GitHub's clock.
	CreatedAt time.Time
}

// HandleComment runs the PR-comment trigger. It returns the accepted
// deployment (not started yet), or nil when the comment was not for the
// bot or was answered with a refusal on the pull request.
func (s *Service) HandleComment(ctx context.Context, c Comment) (*Deployment, error) {
	cmd := ParseComment(c.Body)
	if cmd.Kind == CommentIgnore || s.PullRequests == nil {
		return nil, nil
	}
	log := s.logger().With("repo", c.Repo.FullName, "pr", c.Number, "comment", c.CommentID, "author", c.Author)
	// The eyes say "seen" at once, before any check that may take a while.
	if err := s.PullRequests.React(ctx, c.Repo, c.CommentID, "eyes"); err != nil {
		log.Warn("react to comment", "err", err)
	}
	if cmd.Kind == CommentReply {
		return nil, s.replyOnPR(ctx, c, cmd.Reply)
	}

	app, err := s.Config.AppFor(c.Repo.FullName, cmd.App, SourcePRComment)
	if err != nil {
		return nil, s.replyOnPR(ctx, c, ErrorText(err).GitHub())
	}
	perm, err := s.PullRequests.Permission(ctx, c.Repo, c.Author)
	if err != nil {
		return nil, fmt.Errorf("permission of %s on %s: %w", c.Author, c.Repo.FullName, err)
	}
	switch perm {
	case PermissionAdmin, PermissionMaintain, PermissionWrite:
	default:
		log.Warn("deploy refused: no write permission", "permission", perm, "env", cmd.Env)
		return nil, s.replyOnPR(ctx, c, Textf("only people with write access to %s can deploy from a comment (your permission: %s).", c.Repo.FullName, perm).GitHub())
	}
	// Checked before reading the head so that a refusal costs one call less;
	// Accept checks again, with the allow list and the lock.
	if _, _, err := s.Config.Lookup(app, cmd.Env); err != nil {
		return nil, s.replyOnPR(ctx, c, ErrorText(err).GitHub())
	}
	head, err := s.PullRequests.PullRequestHead(ctx, c.Repo, c.Number)
	if err != nil {
		return nil, fmt.Errorf("head of pull request #%d: %w", c.Number, err)
	}
	moved, err := s.headMovedAfter(ctx, c, head)
	if err != nil {
		return nil, err
	}
	if moved {
		log.Warn("deploy refused: the head moved after the comment", "head", head, "comment_at", c.CreatedAt)
		return nil, s.replyOnPR(ctx, c, fmt.Sprintf("the head of this pull request moved to `%s` after your comment, so it may not be what you meant to deploy; nothing was deployed. Look at the new head and comment again to deploy it.", ShortSHA(head)))
	}
	if cmd.DryRun {
		return nil, s.planOnPR(ctx, c, app, cmd.Env, head)
	}
	d, err := s.Accept(ctx, Request{
		App: app, Env: cmd.Env, Ref: fmt.Sprintf("PR #%d", c.Number), SHA: head,
		Requester: GitHubRequester(c.Author), Source: SourcePRComment,
		InstallationID: c.Repo.InstallationID, PRNumber: c.Number,
	})
	if err != nil {
		if ErrorCode(err) == EINTERNAL {
			return nil, err
		}
		return nil, s.replyOnPR(ctx, c, ErrorText(err).GitHub())
	}
	return d, nil
}

// headMovedAfter reports whether head, the pull request's head now, may be
// newer than the comment: the comment asks to deploy the head its author
// saw, and a comment handled late (GitHub down, a redelivery) must not
// deploy a later push. A recorded pull_request webhook newer than the
// comment says so. When the record is of head itself and older, head is
// what the author saw. Otherwise (no record, or its webhook has not come
// yet) head's commit dates are the best evidence left: a commit made
// after the comment cannot be the one it meant. A push of an older commit
// whose webhook has not arrived yet escapes this last check.
//
// GitHub's times have whole seconds, so a change in the same second as
// the comment cannot be ordered; it is taken as seen.
func (s *Service) headMovedAfter(ctx context.Context, c Comment, head string) (bool, error) {
	change, err := s.Store.LastHeadChange(ctx, c.Repo.FullName, c.Number)
	switch {
	case err == nil && change.At.After(c.CreatedAt):
		return true, nil
	case err == nil && change.SHA == head:
		return false, nil
	case err != nil && !IsNotFound(err):
		return false, fmt.Errorf("head changes of pull request #%d: %w", c.Number, err)
	}
	at, err := s.PullRequests.CommitTime(ctx, c.Repo, head)
	if err != nil {
		return false, fmt.Errorf("date of head %s of pull request #%d: %w", ShortSHA(head), c.Number, err)
	}
	return at.After(c.CreatedAt), nil
}

// replyOnPR answers the comment's author on the pull request; text is
// GitHub Markdown.
func (s *Service) replyOnPR(ctx context.Context, c Comment, text string) error {
	body := fmt.Sprintf("@%s %s", c.Author, text)
	if _, err := s.PullRequests.Comment(ctx, c.Repo, c.Number, body); err != nil {
		return fmt.Errorf("reply on %s#%d: %w", c.Repo.FullName, c.Number, err)
	}
	return nil
}
