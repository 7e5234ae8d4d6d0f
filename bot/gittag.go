package bot

import (
	"context"
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
// a ref that is not a tag of the repository naming d's commit. It runs
// before the GitHub Deployment is created.
func (r *run) checkGitTag(ctx context.Context) error {
	d := r.d
	app, _, err := r.s.Config.Lookup(d.App, d.Env)
	if err != nil || !app.UsesGitTag() {
		return err
	}
	tags, ok := r.s.GitHub.(GitTags)
	if !ok {
		return Errorf(EINTERNAL, "the GitHub client cannot read git tags")
	}
	sha, err := tags.TagCommit(ctx, Repo{FullName: d.Repo, InstallationID: d.InstallationID}, strings.TrimPrefix(d.Ref, "refs/tags/"))
	switch code := ErrorCode(err); {
	case code == ENOTFOUND || code == EINVALID:
		return Errorf(EINVALID, "app %s deploys images named after git tags (tag: %s), and %q is not a tag of %s; deploy a tag, e.g. /deploy %s v1.2.3 %s", app.Name, app.Tag, d.Ref, d.Repo, app.Name, d.Env)
	case err != nil:
		return err
	case d.SHA != "" && sha != d.SHA:
		return Errorf(EINVALID, "git tag %s names %s now, not %s; deploy the tag again to get its commit", d.Ref, ShortSHA(sha), ShortSHA(d.SHA))
	}
	return nil
}
