package slackclient_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/emulator/faults"
	"github.com/deploybot/deploybot/emulator/slackemu"
	"github.com/deploybot/deploybot/slackclient"
)

// fakeClock is a clock that moves only when told to.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) At(t time.Time) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if !t.After(c.now) {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, waiter{at: t, ch: ch})
	return ch
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(c.now) {
			kept = append(kept, w)
			continue
		}
		w.ch <- c.now
	}
	c.waiters = kept
}

// outageClient is a client of a fresh emulator with short call timeouts, a
// 30 s cooldown and a fake clock.
func outageClient(t *testing.T) (*slackemu.Server, *slackclient.Client, *fakeClock) {
	t.Helper()
	emu, hs := slackemu.NewServer(token)
	t.Cleanup(hs.Close)
	emu.AddChannel("#deploys")
	clock := newFakeClock()
	c := slackclient.New(token, emu.APIURL(), hs.Client(),
		slackclient.WithCallTimeout(200*time.Millisecond), slackclient.WithOutageCooldown(30*time.Second), slackclient.WithClock(clock))
	return emu, c, clock
}

// eventually waits for something the client does in the background.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// While Slack does not answer, calls fail at once after the first, so a
// deployment never waits out one timeout per message; once the cooldown
// is over, calls go through again.
func TestOutageFailsFastThenRecovers(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault faults.Rule
	}{
		{"503", faults.Rule{Respond: slackemu.Unavailable}},
		{"hung", faults.Rule{Delay: time.Second, Respond: slackemu.Unavailable}},
		{"connection dropped", faults.Rule{Respond: faults.Drop}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			emu, c, clock := outageClient(t)
			ctx := context.Background()
			emu.Inject(tc.fault)

			if _, _, err := c.Post(ctx, "#deploys", bot.Message{Text: "one"}); err == nil {
				t.Fatal("Post during the outage succeeded")
			}
			reached := len(emu.Calls()) + emu.FaultHits()
			_, _, err := c.Post(ctx, "#deploys", bot.Message{Text: "two"})
			if bot.ErrorCode(err) != bot.EUNAVAILABLE {
				t.Fatalf("second Post error = %v; want unavailable at once", err)
			}
			if now := len(emu.Calls()) + emu.FaultHits(); now != reached {
				t.Errorf("the second Post reached Slack; it should have failed without a request")
			}

			emu.ClearFaults()
			clock.Advance(29 * time.Second)
			if _, _, err := c.Post(ctx, "#deploys", bot.Message{Text: "early"}); bot.ErrorCode(err) != bot.EUNAVAILABLE {
				t.Fatalf("Post before the cooldown ended: %v; want unavailable", err)
			}
			clock.Advance(time.Second)
			if _, _, err := c.Post(ctx, "#deploys", bot.Message{Text: "three"}); err != nil {
				t.Fatalf("Post after the outage: %v", err)
			}
			if msgs := emu.Messages("#deploys"); len(msgs) != 1 || msgs[0].Text != "three" {
				t.Errorf("channel holds %+v; want only the message sent after the outage", msgs)
			}
		})
	}
}

// Slack's own refusals are answers, not an outage: the next call goes out.
func TestSlackRefusalIsNoOutage(t *testing.T) {
	emu, c := setup(t)
	ctx := context.Background()
	emu.FailNext("chat.postMessage", "channel_not_found")
	if _, _, err := c.Post(ctx, "#deploys", bot.Message{Text: "one"}); bot.ErrorCode(err) != bot.ENOTFOUND {
		t.Fatalf("Post error = %v; want not found", err)
	}
	if _, _, err := c.Post(ctx, "#deploys", bot.Message{Text: "two"}); err != nil {
		t.Fatalf("Post after a refusal: %v", err)
	}
}

func responseURLs(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/response/") }

// A response_url that does not answer is that one URL's problem, not
// Slack's: the Web API is still called, and a response_url is still
// tried while the Web API is out.
func TestResponseURLIsNotTheWebAPI(t *testing.T) {
	emu, c, _ := outageClient(t)
	ctx := context.Background()

	emu.Inject(faults.Rule{Match: responseURLs, Respond: slackemu.Unavailable})
	if err := c.Respond(ctx, emu.NewResponseURL(), bot.Message{Text: "hi"}); err == nil {
		t.Fatal("Respond to a response_url that fails succeeded")
	}
	if _, _, err := c.Post(ctx, "#deploys", bot.Message{Text: "after"}); err != nil {
		t.Fatalf("Post after a failed response_url: %v; want it sent", err)
	}

	emu.ClearFaults()
	emu.Inject(faults.Rule{Match: func(r *http.Request) bool { return !responseURLs(r) }, Respond: slackemu.Unavailable})
	if _, _, err := c.Post(ctx, "#deploys", bot.Message{Text: "out"}); err == nil {
		t.Fatal("Post during a Web API outage succeeded")
	}
	u := emu.NewResponseURL()
	if err := c.Respond(ctx, u, bot.Message{Text: "private"}); err != nil {
		t.Fatalf("Respond during a Web API outage: %v; want it tried and sent", err)
	}
	if r := emu.Responses(u); len(r) != 1 || r[0].Text != "private" {
		t.Errorf("response_url got %+v", r)
	}
}

// A response_url is a credential for the reply; errors, which are
// logged, name its host only.
func TestRespondErrorNamesTheHostOnly(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault faults.Rule
	}{
		{"dropped", faults.Rule{Match: responseURLs, Respond: faults.Drop}},
		{"hung", faults.Rule{Match: responseURLs, Delay: time.Second, Respond: slackemu.Unavailable}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			emu, c, _ := outageClient(t)
			emu.Inject(tc.fault)
			u := emu.NewResponseURL()
			err := c.Respond(context.Background(), u, bot.Message{Text: "hi"})
			if err == nil {
				t.Fatal("Respond succeeded")
			}
			host := strings.TrimPrefix(strings.TrimSuffix(emu.APIURL(), "/api/"), "http://")
			if strings.Contains(err.Error(), "/response/") || !strings.Contains(err.Error(), host) {
				t.Errorf("error %q; want the host %s and not the URL %s", err, host, u)
			}
		})
	}
}

// An update Slack was out for is not lost: the newest content of the
// message is delivered once Slack answers again, and only that.
func TestUpdateDuringOutageDeliveredAfter(t *testing.T) {
	emu, c, clock := outageClient(t)
	ctx := context.Background()
	channelID, ts, err := c.Post(ctx, "#deploys", bot.Message{Text: "Queued", Key: "deployment/1"})
	if err != nil {
		t.Fatal(err)
	}
	emu.Inject(faults.Rule{Respond: slackemu.Unavailable})
	if err := c.Update(ctx, channelID, ts, bot.Message{Text: "Deploying", Key: "deployment/1"}); err == nil {
		t.Fatal("Update during the outage succeeded")
	}
	if err := c.Update(ctx, channelID, ts, bot.Message{Text: "Succeeded", Key: "deployment/1"}); bot.ErrorCode(err) != bot.EUNAVAILABLE {
		t.Fatalf("second Update: %v; want unavailable at once", err)
	}
	if n := c.Held(); n != 1 {
		t.Errorf("%d messages held; want 1, with its newest content", n)
	}
	if hits := emu.FaultHits(); hits != 1 {
		t.Errorf("Slack was called %d times during the outage; want once", hits)
	}

	emu.ClearFaults()
	clock.Advance(30 * time.Second)
	eventually(t, "the held update", func() bool { return c.Held() == 0 })
	m, _ := emu.Message(channelID, ts)
	if m.Text != "Succeeded" || m.Edits != 1 {
		t.Errorf("message reads %q after %d edits; want the final content, sent once", m.Text, m.Edits)
	}
}

// A deployment's message that could not even be posted is posted once
// Slack answers, and the bot's next post of it edits that message.
func TestPostDuringOutagePostedOnceAfter(t *testing.T) {
	emu, c, clock := outageClient(t)
	ctx := context.Background()
	emu.Inject(faults.Rule{Respond: slackemu.Unavailable})
	for _, text := range []string{"Queued", "Succeeded"} {
		if _, _, err := c.Post(ctx, "#deploys", bot.Message{Text: text, Key: "deployment/7"}); err == nil {
			t.Fatalf("Post %q during the outage succeeded", text)
		}
	}
	emu.ClearFaults()
	clock.Advance(30 * time.Second)
	eventually(t, "the held post", func() bool { return c.Held() == 0 })
	msgs := emu.Messages("#deploys")
	if len(msgs) != 1 || msgs[0].Text != "Succeeded" {
		t.Fatalf("channel holds %+v; want one message with the newest content", msgs)
	}

	channelID, ts, err := c.Post(ctx, "#deploys", bot.Message{Text: "Rolled back", Key: "deployment/7"})
	if err != nil {
		t.Fatal(err)
	}
	if msgs := emu.Messages("#deploys"); len(msgs) != 1 || msgs[0].Text != "Rolled back" || channelID != msgs[0].Channel || ts != msgs[0].TS {
		t.Errorf("channel holds %+v, Post returned %s/%s; want the one message edited and its ids", msgs, channelID, ts)
	}
}

// One message is held per deployment, and no more than MaxHeld in all.
func TestHeldMessagesAreBounded(t *testing.T) {
	emu, c, _ := outageClient(t)
	ctx := context.Background()
	emu.Inject(faults.Rule{Respond: slackemu.Unavailable})
	for i := range slackclient.MaxHeld + 10 {
		for _, state := range []string{"queued", "deploying"} {
			_ = c.Update(ctx, "C1", fmt.Sprintf("1.%06d", i), bot.Message{Text: state, Key: fmt.Sprintf("deployment/%d", i)})
		}
	}
	if n := c.Held(); n != slackclient.MaxHeld {
		t.Errorf("%d messages held; want %d", n, slackclient.MaxHeld)
	}
}
