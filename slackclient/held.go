package slackclient

import (
	"context"
	"sync"
	"time"

	"github.com/deploybot/deploybot/bot"
)

// maxHeld bounds how many messages are held while Slack is out, and how
// many messages posted on Slack's return are remembered; past it the
// oldest is forgotten. A thousand deployments' messages is a long, busy
// outage, and each held message is one bot.Message.
const maxHeld = 1000

// held keeps, for each message that Slack was out for, the newest content
// it should show, and delivers it when Slack answers again: the final
// "Succeeded" of a deployment that ended during an outage reaches the
// channel after all, once, without a message per intermediate state.
//
// This is here rather than in bot because it is Slack's outage handling,
// like the breaker: only the client knows that a call was skipped or went
// unanswered because Slack was out, and when Slack answers again. The
// pipeline says what each message should read and goes on; it neither
// waits for Slack nor keeps a goroutine per deployment for it.
type held struct {
	mu      sync.Mutex
	msgs    map[string]*pending // by message key
	posted  map[string]*pending // posted on Slack's return, by key: their ids are not known to the caller
	seq     uint64
	locks   map[string]*keyLock
	running bool // a redeliver goroutine runs
}

// pending is a post (ts empty, channel a name or id) or an update (channel
// id and ts) of a message, with the content it should show.
type pending struct {
	channel string
	ts      string
	msg     bot.Message
	seq     uint64
}

type keyLock struct {
	mu   sync.Mutex
	refs int
}

// lock serialises the calls for one message, so that content held back
// and content sent now reach Slack in the order they were written.
func (h *held) lock(key string) (unlock func()) {
	h.mu.Lock()
	if h.locks == nil {
		h.locks = map[string]*keyLock{}
	}
	l := h.locks[key]
	if l == nil {
		l = &keyLock{}
		h.locks[key] = l
	}
	l.refs++
	h.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		h.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(h.locks, key)
		}
		h.mu.Unlock()
	}
}

// put records p under key in m, forgetting the oldest entry past maxHeld.
func (h *held) put(m map[string]*pending, key string, p pending) {
	h.seq++
	p.seq = h.seq
	m[key] = &p
	if len(m) <= maxHeld {
		return
	}
	oldest := ""
	for k, q := range m {
		if oldest == "" || q.seq < m[oldest].seq {
			oldest = k
		}
	}
	delete(m, oldest)
}

// sendKeyed sends p for the message key, holding it if Slack is out.
func (c *Client) sendKeyed(ctx context.Context, key string, p pending) (channelID, ts string, err error) {
	defer c.held.lock(key)()
	h := &c.held
	h.mu.Lock()
	if q, ok := h.posted[key]; ok && p.ts == "" {
		// Posted on Slack's return without the caller knowing: edit it.
		p.channel, p.ts = q.channel, q.ts
	}
	h.mu.Unlock()
	channelID, ts, slackOut, err := c.send(ctx, p)
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case err == nil:
		// Newer than anything held for it, and now the caller knows it.
		delete(h.msgs, key)
		delete(h.posted, key)
	case slackOut:
		if h.msgs == nil {
			h.msgs = map[string]*pending{}
		}
		h.put(h.msgs, key, p)
		c.redeliverLocked()
	default:
		// Slack refused (the message or channel is gone): holding it
		// would not help, nor would older content.
		delete(h.msgs, key)
		delete(h.posted, key)
	}
	return channelID, ts, err
}

// redeliverLocked starts the redeliverer unless it runs. It ends when
// nothing is held any more, so an idle client runs no goroutine.
func (c *Client) redeliverLocked() {
	if c.held.running {
		return
	}
	c.held.running = true
	go c.redeliver()
}

// redeliver waits for the breaker to close (no call could get an answer
// before) and then sends what is held, oldest first; the first of them is
// the probe. A send that Slack is out for opens the breaker again and the
// wait starts over; one that Slack refuses is dropped.
func (c *Client) redeliver() {
	for {
		h := &c.held
		h.mu.Lock()
		if len(h.msgs) == 0 {
			h.running = false
			h.mu.Unlock()
			return
		}
		h.mu.Unlock()
		if until := c.outage.openUntil(); c.clock.Now().Before(until) {
			<-c.clock.At(until)
			continue
		}
		if !c.redeliverHeld() {
			// Out again. Without a cooldown to wait (it may be set to
			// zero), a second keeps this from hammering Slack.
			<-c.clock.At(later(c.outage.openUntil(), c.clock.Now().Add(time.Second)))
		}
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// redeliverHeld sends each held message once, oldest first; it reports
// false when Slack was out again.
func (c *Client) redeliverHeld() bool {
	h := &c.held
	for {
		h.mu.Lock()
		key, oldest := "", uint64(0)
		for k, p := range h.msgs {
			if key == "" || p.seq < oldest {
				key, oldest = k, p.seq
			}
		}
		h.mu.Unlock()
		if key == "" {
			return true
		}
		if !c.redeliverOne(key) {
			return false
		}
	}
}

// redeliverOne sends what is held for key, if anything still is, and
// reports whether Slack answered.
func (c *Client) redeliverOne(key string) bool {
	defer c.held.lock(key)()
	h := &c.held
	h.mu.Lock()
	p, ok := h.msgs[key]
	h.mu.Unlock()
	if !ok {
		return true // sent meanwhile by its caller
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.callTimeout)
	defer cancel()
	channelID, ts, slackOut, err := c.send(ctx, *p)
	h.mu.Lock()
	defer h.mu.Unlock()
	if slackOut {
		return false
	}
	delete(h.msgs, key)
	if err == nil && p.ts == "" {
		if h.posted == nil {
			h.posted = map[string]*pending{}
		}
		h.put(h.posted, key, pending{channel: channelID, ts: ts})
	}
	return true
}
