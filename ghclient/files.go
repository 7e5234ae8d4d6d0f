package ghclient

import (
	"context"
	"encoding/base64"
	"fmt"
	"path"
	"strings"

	"github.com/deploybot/deploybot/bot"
)

// Files returns the files of repo at sha under each of paths (a file or a
// directory), read through the Git database API: one recursive tree, then
// a blob per file. A path the commit lacks is left out. Symbolic links
// and submodules are refused, and so is more than limit bytes in all,
// before any blob is read.
func (c *Client) Files(ctx context.Context, repo bot.Repo, sha string, paths []string, limit int64) ([]bot.RepoFile, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, err
	}
	gh, err := c.clientFor(ctx, repo, owner, name)
	if err != nil {
		return nil, err
	}
	tree, _, err := gh.Git.GetTree(ctx, owner, name, sha, true)
	if err != nil {
		c.forget(repo, err)
		return nil, wrapError(err, fmt.Sprintf("reading the tree of %s at %s", repo.FullName, bot.ShortSHA(sha)))
	}
	if tree.GetTruncated() {
		return nil, bot.Errorf(bot.EINVALID, "the tree of %s at %s is too large for GitHub to list in one answer", repo.FullName, bot.ShortSHA(sha))
	}
	var (
		files []bot.RepoFile
		blobs []string
		total int64
	)
	for _, e := range tree.Entries {
		p := e.GetPath()
		if !under(p, paths) {
			continue
		}
		switch {
		case e.GetType() == "tree":
			continue
		case e.GetMode() == "120000":
			// EB unpacks the bundle on the instances; a link could reach
			// outside it, and a dangling one breaks the deploy there.
			return nil, bot.Errorf(bot.EINVALID, "%s at %s: %s is a symbolic link; a source bundle takes regular files only", repo.FullName, bot.ShortSHA(sha), p)
		case e.GetType() != "blob":
			return nil, bot.Errorf(bot.EINVALID, "%s at %s: %s is a %s (a submodule?); a source bundle takes regular files only", repo.FullName, bot.ShortSHA(sha), p, e.GetType())
		}
		total += int64(e.GetSize())
		if total > limit {
			return nil, bot.Errorf(bot.EINVALID, "the bundle paths %s of %s at %s hold more than %d MB", strings.Join(paths, ", "), repo.FullName, bot.ShortSHA(sha), limit>>20)
		}
		files = append(files, bot.RepoFile{Path: p, Executable: e.GetMode() == "100755"})
		blobs = append(blobs, e.GetSHA())
	}
	for i := range files {
		blob, _, err := gh.Git.GetBlob(ctx, owner, name, blobs[i])
		if err != nil {
			return nil, wrapError(err, fmt.Sprintf("reading %s of %s at %s", files[i].Path, repo.FullName, bot.ShortSHA(sha)))
		}
		content := []byte(blob.GetContent())
		if blob.GetEncoding() == "base64" {
			if content, err = base64.StdEncoding.DecodeString(strings.ReplaceAll(blob.GetContent(), "\n", "")); err != nil {
				return nil, fmt.Errorf("github: blob %s of %s: %w", files[i].Path, repo.FullName, err)
			}
		}
		files[i].Content = content
	}
	return files, nil
}

// under reports whether p is one of paths or inside one of them.
func under(p string, paths []string) bool {
	for _, want := range paths {
		want = path.Clean(want)
		if p == want || strings.HasPrefix(p, want+"/") {
			return true
		}
	}
	return false
}
