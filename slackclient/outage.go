package slackclient

import (
	"context"
	"errors"
	"net/url"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/deploybot/deploybot/bot"
)

// outage remembers that Slack just failed to answer, so that for cooldown
// every call fails at once instead of each waiting out its own timeout: a
// hung Slack then costs a deployment one timeout, not one per update.
// Slack's own refusals (channel_not_found, …) are answers and open nothing.
type outage struct {
	cooldown time.Duration
	clock    clock

	mu    sync.Mutex
	until time.Time
	cause string
}

func (o *outage) check() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.clock.Now().Before(o.until) {
		return bot.Errorf(bot.EUNAVAILABLE, "Slack is unavailable (%s); not trying again until %s", o.cause, o.until.UTC().Format(time.TimeOnly))
	}
	return nil
}

func (o *outage) observe(ctx context.Context, err error) {
	cause := unanswered(ctx, err)
	if cause == "" {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.until, o.cause = o.clock.Now().Add(o.cooldown), cause
}

// openUntil is when calls may go out again; in the past when they may now.
func (o *outage) openUntil() time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.until
}

// clock is the time the outage handling reads and waits on; tests use
// their own.
type clock interface {
	Now() time.Time
	// At fires at t, or at once when t has passed.
	At(t time.Time) <-chan time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time                  { return time.Now() }
func (systemClock) At(t time.Time) <-chan time.Time { return time.After(time.Until(t)) }

// unanswered describes err if it means Slack did not answer: a 5xx, a
// timeout or a lost connection; "" for anything else.
func unanswered(ctx context.Context, err error) string {
	var sc slack.StatusCodeError
	var ue *url.Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &sc) && sc.Code >= 500:
		return "it answered " + sc.Status
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return "no answer in time"
	case errors.As(err, &ue) && !errors.Is(err, context.Canceled):
		return "no answer"
	}
	return ""
}
