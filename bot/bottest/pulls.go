package bottest

import (
	"context"
	"sync"
	"time"

	"github.com/deploybot/deploybot/bot"
)

// PullRequests is a fake bot.PullRequests: heads, commit times,
// permissions and teams are what the test set; reactions and comments are
// recorded.
type PullRequests struct {
	mu          sync.Mutex
	heads       map[int]string
	commitTimes map[string]time.Time
	permissions map[string]string // login → permission; none when unset
	teams       map[string]bool   // "org/team/login"
	reactions   []Reaction
	comments    map[int64]*PRComment
	nextComment int64
	calls
}

// Reaction is a reaction added to a comment.
type Reaction struct {
	CommentID int64
	Content   string
}

// PRComment is a comment the bot posted, as it reads now.
type PRComment struct {
	ID     int64
	Number int
	Body   string
	Edits  int
}

// NewPullRequests returns a fake with no pull requests.
func NewPullRequests() *PullRequests {
	return &PullRequests{
		heads: map[int]string{}, commitTimes: map[string]time.Time{}, permissions: map[string]string{},
		teams: map[string]bool{}, comments: map[int64]*PRComment{},
		nextComment: 5000,
	}
}

// SetHead makes sha the head of pull request number, committed at at.
func (p *PullRequests) SetHead(number int, sha string, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.heads[number] = sha
	p.commitTimes[sha] = at
}

// SetPermission gives login permission (one of bot.Permission*).
func (p *PullRequests) SetPermission(login, permission string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.permissions[login] = permission
}

// AddTeamMember makes login a member of org/team.
func (p *PullRequests) AddTeamMember(org, team, login string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.teams[org+"/"+team+"/"+login] = true
}

// Reactions returns the reactions added, oldest first.
func (p *PullRequests) Reactions() []Reaction {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Reaction(nil), p.reactions...)
}

// Comments returns the comments posted on pull request number, oldest first.
func (p *PullRequests) Comments(number int) []PRComment {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []PRComment
	for id := int64(5001); id <= p.nextComment; id++ {
		if c, ok := p.comments[id]; ok && c.Number == number {
			out = append(out, *c)
		}
	}
	return out
}

func (p *PullRequests) call(method string) error {
	err := p.called(method)
	p.mu.Lock()
	return err
}

func (p *PullRequests) PullRequestHead(ctx context.Context, repo bot.Repo, number int) (string, error) {
	err := p.call("PullRequestHead")
	defer p.mu.Unlock()
	if err != nil {
		return "", err
	}
	sha, ok := p.heads[number]
	if !ok {
		return "", bot.Errorf(bot.ENOTFOUND, "no pull request #%d", number)
	}
	return sha, nil
}

func (p *PullRequests) CommitTime(ctx context.Context, repo bot.Repo, sha string) (time.Time, error) {
	err := p.call("CommitTime")
	defer p.mu.Unlock()
	if err != nil {
		return time.Time{}, err
	}
	at, ok := p.commitTimes[sha]
	if !ok {
		return time.Time{}, bot.Errorf(bot.ENOTFOUND, "no commit %s", sha)
	}
	return at, nil
}

func (p *PullRequests) Permission(ctx context.Context, repo bot.Repo, login string) (string, error) {
	err := p.call("Permission")
	defer p.mu.Unlock()
	if err != nil {
		return "", err
	}
	if perm, ok := p.permissions[login]; ok {
		return perm, nil
	}
	return bot.PermissionNone, nil
}

func (p *PullRequests) React(ctx context.Context, repo bot.Repo, commentID int64, reaction string) error {
	err := p.call("React")
	defer p.mu.Unlock()
	if err != nil {
		return err
	}
	p.reactions = append(p.reactions, Reaction{CommentID: commentID, Content: reaction})
	return nil
}

func (p *PullRequests) Comment(ctx context.Context, repo bot.Repo, number int, body string) (int64, error) {
	err := p.call("Comment")
	defer p.mu.Unlock()
	if err != nil {
		return 0, err
	}
	p.nextComment++
	p.comments[p.nextComment] = &PRComment{ID: p.nextComment, Number: number, Body: body}
	return p.nextComment, nil
}

func (p *PullRequests) EditComment(ctx context.Context, repo bot.Repo, commentID int64, body string) error {
	err := p.call("EditComment")
	defer p.mu.Unlock()
	if err != nil {
		return err
	}
	c, ok := p.comments[commentID]
	if !ok {
		return bot.Errorf(bot.ENOTFOUND, "no comment %d", commentID)
	}
	c.Body = body
	c.Edits++
	return nil
}

func (p *PullRequests) TeamMember(ctx context.Context, repo bot.Repo, org, team, login string) (bool, error) {
	err := p.call("TeamMember")
	defer p.mu.Unlock()
	if err != nil {
		return false, err
	}
	return p.teams[org+"/"+team+"/"+login], nil
}

var _ bot.PullRequests = (*PullRequests)(nil)
