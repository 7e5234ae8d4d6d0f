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

// names caches users.info answers by user id.
type names struct {
	mu sync.Mutex
	m  map[string]cachedName
}

type cachedName struct {
	name string
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
	if ok && now.Sub(e.at) < nameTTL {
		return e.name, nil
	}
	var u *slack.User
	err := c.retry(ctx, func(ctx context.Context) error {
		var err error
		u, err = c.api.GetUserInfoContext(ctx, id)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("slack: users.info %s: %w", id, translate(err, ""))
	}
	name := u.Name
	for _, n := range []string{u.Profile.DisplayName, u.RealName, u.Profile.RealName} {
		if n != "" {
			name = n
			break
		}
	}
	c.names.mu.Lock()
	if c.names.m == nil {
		c.names.m = map[string]cachedName{}
	}
	c.names.m[id] = cachedName{name: name, at: now}
	c.names.mu.Unlock()
	return name, nil
}
