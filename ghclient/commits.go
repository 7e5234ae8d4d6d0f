package ghclient

import (
	"strings"
	"sync"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/deploybot/deploybot/bot"
)

// maxDescribed bounds the commits kept from ResolveRef's answers for
// DescribeCommit and CommitTime, which the pipeline asks right after it;
// when full, the map starts again (a miss costs CommitTime one call).
const maxDescribed = 4096

// described keeps what ResolveRef's answer said about each commit (a
// sha's author, message and dates never change), so
// that saying who wrote it costs no second request.
type described struct {
	mu sync.Mutex
	m  map[string]commitInfo
}

type commitInfo struct {
	author, subject string
	at              time.Time // the later of the author and committer dates
}

func (d *described) keep(repo, sha string, c *github.RepositoryCommit) {
	author := c.GetCommit().GetAuthor().GetName()
	if login := c.GetAuthor().GetLogin(); login != "" {
		author = login
	}
	subject, _, _ := strings.Cut(c.GetCommit().GetMessage(), "\n")
	at := laterDate(c.GetCommit().GetAuthor().GetDate().Time, c.GetCommit().GetCommitter().GetDate().Time)
	if author == "" && subject == "" && at.IsZero() {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil || len(d.m) >= maxDescribed {
		d.m = map[string]commitInfo{}
	}
	d.m[repo+"@"+sha] = commitInfo{author: author, subject: strings.TrimSpace(subject), at: at}
}

func (d *described) lookup(repo, sha string) (commitInfo, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	info, ok := d.m[repo+"@"+sha]
	return info, ok
}

// DescribeCommit returns the author (GitHub login, else the git author's
// name) and the first line of the message of a commit ResolveRef found,
// once; ok is false for a commit it did not. The commit's time stays for
// CommitTime.
func (c *Client) DescribeCommit(repo bot.Repo, sha string) (author, subject string, ok bool) {
	d := &c.described
	d.mu.Lock()
	defer d.mu.Unlock()
	key := repo.FullName + "@" + sha
	info, found := d.m[key]
	if info.at.IsZero() {
		delete(d.m, key)
	} else if found {
		d.m[key] = commitInfo{at: info.at}
	}
	return info.author, info.subject, info.author != "" || info.subject != ""
}
