package slackclient

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/slack-go/slack"
)

// nameTTL is how long a user's name is kept: names seldom change, and a
// dashboard page lists up to 150 deployments, mostly by the same people.
const nameTTL = time.Hour

// nameFailTTL is how long a failed lookup is not tried again: without the
// users:read scope every one fails, and a page of 150 deployments must not
// ask 150 times on each rendering.
const nameFailTTL = 5 * time.Minute

// names caches users.info answers by user id.
type names struct {
	mu sync.Mutex
	m  map[string]cachedName
}

type cachedName struct {
	name string
	err  error
	at   time.Time
}

// UserName returns the name Slack shows for user id: the display name
// the person chose, else the real name, else the handle. Needs the
// users:read scope.
func (c *Client) UserName(ctx context.Context, id string) (string, error) {
	now := c.clock.Now()
	c.names.mu.Lock()
	e, ok := c.names.m[id]
	c.names.mu.Unlock()
	if ok && (e.err == nil && now.Sub(e.at) < nameTTL || e.err != nil && now.Sub(e.at) < nameFailTTL) {
		return e.name, e.err
	}
	var u *slack.User
	err := c.retry(ctx, func(ctx context.Context) error {
		var err error
		u, err = c.api.GetUserInfoContext(ctx, id)
		return err
	})
	if err != nil {
		err = fmt.Errorf("slack: users.info %s: %w", id, translate(err, ""))
		c.keepName(id, cachedName{err: err, at: now})
		return "", err
	}
	name := u.Name
	for _, n := range []string{u.Profile.DisplayName, u.RealName, u.Profile.RealName} {
		if n != "" {
			name = n
			break
		}
	}
	c.keepName(id, cachedName{name: name, at: now})
	return name, nil
}

func (c *Client) keepName(id string, e cachedName) {
	c.names.mu.Lock()
	defer c.names.mu.Unlock()
	if c.names.m == nil {
		c.names.m = map[string]cachedName{}
	}
	c.names.m[id] = e
}
