package bot

import (
	"context"
	"fmt"
	"strings"
)

// GitTags finds the commit a git tag names. The pipeline needs it only
// for apps whose tag template uses .Tag; the GitHub adapter implements it
// beside GitHub.
type GitTags interface {
	// TagCommit returns the sha of the commit tag names; ENOTFOUND when
	// repo has no such tag.
	TagCommit(ctx context.Context, repo Repo, tag string) (sha string, err error)
}

// UsesGitTag reports whether the app's images are named after the git tag
// the request named, so that only a tag can be deployed.
func (a *App) UsesGitTag() bool {
	t := a.tag
	if t == nil {
		var err error
		if t, err = parseTagTemplate(a.Tag); err != nil {
			return false
		}
	}
	var x, y strings.Builder
	errX := t.Execute(&x, TagData{SHA: sampleSHA, ShortSHA: sampleSHA[:7], Tag: "x"})
	errY := t.Execute(&y, TagData{SHA: sampleSHA, ShortSHA: sampleSHA[:7], Tag: "y"})
	return errX == nil && errY == nil && x.String() != y.String()
}

// rollbackRef is the ref a deployment going back to d names: its sha,
// unless the image is named after d's git tag, which must then be named.
func rollbackRef(app *App, d *Deployment) string {
	if app != nil && app.UsesGitTag() {
		return d.Ref
	}
	return d.SHA
}

// checkGitTag refuses, for an app whose images are named after git tags,
// a ref that is not a tag of the repository, or a tag no longer naming
// sha when sha is known. A promotion carries its image already and names
// no tag. Accept calls it before anything is stored: for such apps only,
// that costs one GitHub read in the accept path, the price of refusing
// before a row, a GitHub deployment or a Slack message exists.
func (s *Service) checkGitTag(ctx context.Context, app *App, env string, repo Repo, ref, sha, image string) error {
	if image != "" || !app.UsesGitTag() {
		return nil
	}
	tags, ok := s.GitHub.(GitTags)
	if !ok {
		return Errorf(EINTERNAL, "the GitHub client cannot read git tags")
	}
	tag := strings.TrimPrefix(ref, "refs/tags/")
	got, err := tags.TagCommit(ctx, repo, tag)
	switch code := ErrorCode(err); {
	case code == ENOTFOUND || code == EINVALID:
		return Errorf(EINVALID, "app %s deploys images named after git tags (tag: %s), and %q is not a tag of %s; deploy a tag, e.g. /deploy %s v1.2.3 %s", app.Name, app.Tag, ref, repo.FullName, app.Name, env)
	case err != nil:
		return fmt.Errorf("read git tag %q of %s: %w", tag, repo.FullName, err)
	case sha != "" && got != sha:
		return Errorf(EINVALID, "git tag %s names %s now, not %s; deploy the tag again to get its commit", ref, ShortSHA(got), ShortSHA(sha))
	}
	return nil
}

// checkGitTag checks again as the run opens: the tag may have moved
// since it was accepted.
func (r *run) checkGitTag(ctx context.Context) error {
	d := r.d
	app, _, err := r.s.Config.Lookup(d.App, d.Env)
	if err != nil {
		return err
	}
	return r.s.checkGitTag(ctx, app, d.Env, Repo{FullName: d.Repo, InstallationID: d.InstallationID}, d.Ref, d.SHA, d.Image)
}
