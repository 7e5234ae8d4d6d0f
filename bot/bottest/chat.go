package bottest

import (
	"context"
	"fmt"
	"sync"

	"github.com/deploybot/deploybot/bot"
)

// Chat is a fake bot.Chat: it keeps every message as Slack would, by
// channel and timestamp, and the ephemeral replies by response URL.
type Chat struct {
	mu       sync.Mutex
	messages map[string][]bot.Message // "channel/ts" → every version, oldest first
	order    []string                 // "channel/ts" in posting order
	replies  map[string][]bot.Message
	calls
}

// NewChat returns a fake Slack with no messages.
func NewChat() *Chat {
	return &Chat{messages: map[string][]bot.Message{}, replies: map[string][]bot.Message{}}
}

// ChannelID is the id the fake gives a channel posted to by name.
func ChannelID(channel string) string { return "C-" + channel }

// Message returns the message at channelID/ts as it reads now, and
// whether there is one.
func (c *Chat) Message(channelID, ts string) (bot.Message, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	versions := c.messages[channelID+"/"+ts]
	if len(versions) == 0 {
		return bot.Message{}, false
	}
	return versions[len(versions)-1], true
}

// History returns every version of the message at channelID/ts, oldest first.
func (c *Chat) History(channelID, ts string) []bot.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]bot.Message(nil), c.messages[channelID+"/"+ts]...)
}

// Posted says how many messages were posted (not counting updates).
func (c *Chat) Posted() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.order)
}

// Replies returns the ephemeral replies sent to responseURL.
func (c *Chat) Replies(responseURL string) []bot.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]bot.Message(nil), c.replies[responseURL]...)
}

func (c *Chat) call(method string) error {
	err := c.called(method)
	c.mu.Lock()
	return err
}

func (c *Chat) Post(ctx context.Context, channel string, msg bot.Message) (string, string, error) {
	err := c.call("Post")
	defer c.mu.Unlock()
	if err != nil {
		return "", "", err
	}
	id, ts := ChannelID(channel), fmt.Sprintf("%d.000100", len(c.order)+1)
	key := id + "/" + ts
	c.order = append(c.order, key)
	c.messages[key] = []bot.Message{msg}
	return id, ts, nil
}

func (c *Chat) Update(ctx context.Context, channelID, ts string, msg bot.Message) error {
	err := c.call("Update")
	defer c.mu.Unlock()
	if err != nil {
		return err
	}
	key := channelID + "/" + ts
	if _, ok := c.messages[key]; !ok {
		return bot.Errorf(bot.ENOTFOUND, "slack: message_not_found")
	}
	c.messages[key] = append(c.messages[key], msg)
	return nil
}

func (c *Chat) Respond(ctx context.Context, responseURL string, msg bot.Message) error {
	err := c.call("Respond")
	defer c.mu.Unlock()
	if err != nil {
		return err
	}
	c.replies[responseURL] = append(c.replies[responseURL], msg)
	return nil
}

var _ bot.Chat = (*Chat)(nil)
