package ghclient

import (
	"strings"
	"sync"

	"github.com/google/go-github/v60/github"

	"github.com/deploybot/deploybot/bot"
)

// maxDescribed bounds the commits kept between ResolveRef and
// DescribeCommit, which the pipeline calls right after it: only a run that
// died in between leaves one behind.
const maxDescribed = 256

// described keeps what ResolveRef's answer said about each commit, so
// that saying who wrote it costs no second request.
type described struct {
	mu sync.Mutex
	m  map[string]commitInfo
}

type commitInfo struct{ author, subject string }

func (d *described) keep(repo, sha string, c *github.RepositoryCommit) {
	author := c.GetCommit().GetAuthor().GetName()
	if login := c.GetAuthor().GetLogin(); login != "" {
		author = login
	}
	subject, _, _ := strings.Cut(c.GetCommit().GetMessage(), "\n")
	if author == "" && subject == "" {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil || len(d.m) >= maxDescribed {
		d.m = map[string]commitInfo{}
	}
	d.m[repo+"@"+sha] = commitInfo{author: author, subject: strings.TrimSpace(subject)}
}

// DescribeCommit returns the author (GitHub login, else the git author's
// name) and the first line of the message of a commit ResolveRef found,
// once; ok is false for a commit it did not.
func (c *Client) DescribeCommit(repo bot.Repo, sha string) (author, subject string, ok bool) {
	d := &c.described
	d.mu.Lock()
	defer d.mu.Unlock()
	key := repo.FullName + "@" + sha
	info, ok := d.m[key]
	delete(d.m, key)
	return info.author, info.subject, ok
}
