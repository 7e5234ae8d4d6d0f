// Package slackclient implements bot.Chat with the Slack Web API through
// slack-go.
package slackclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/deploybot/deploybot/bot"
)

var _ bot.Chat = (*Client)(nil)

// Client talks to one Slack workspace as the bot user.
type Client struct {
	api         *slack.Client
	callTimeout time.Duration
	outage      outage
	clock       clock
	held        held
	names       names
}

// Option adjusts a Client.
type Option func(*Client)

// WithCallTimeout bounds each call, retries included (default 10 s).
func WithCallTimeout(d time.Duration) Option { return func(c *Client) { c.callTimeout = d } }

// WithOutageCooldown sets how long calls fail at once after Slack failed
// to answer one (default 30 s).
func WithOutageCooldown(d time.Duration) Option { return func(c *Client) { c.outage.cooldown = d } }

// New returns a Client for botToken. An empty apiURL means Slack itself; a
// nil httpClient means one with a 30 s timeout, because slack-go's default
// has none and a hung Slack must not hang a deployment.
func New(botToken, apiURL string, httpClient *http.Client, opts ...Option) *Client {
	if apiURL == "" {
		apiURL = slack.APIURL
	}
	// slack-go appends the method name to the URL as a string.
	if !strings.HasSuffix(apiURL, "/") {
		apiURL += "/"
	}
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 30 * time.Second}
	}
	c := &Client{
		api: slack.New(botToken,
			slack.OptionAPIURL(apiURL),
			slack.OptionHTTPClient(httpClient),
		),
		callTimeout: 10 * time.Second,
		outage:      outage{cooldown: 30 * time.Second},
		clock:       systemClock{},
	}
	for _, opt := range opts {
		opt(c)
	}
	c.outage.clock = c.clock
	return c
}

// Ping checks that the token is valid (auth.test), for readiness checks and
// `deploybot check`.
func (c *Client) Ping(ctx context.Context) error {
	err := c.retry(ctx, func(ctx context.Context) error {
		_, err := c.api.AuthTestContext(ctx)
		return err
	})
	if err != nil {
		return fmt.Errorf("slack: auth.test: %w", translate(err, ""))
	}
	return nil
}

// Post posts msg to channel (a name like #deploys or an id). A message
// with a Key that Slack was out for is held and posted once Slack answers
// again (see held); a message with that Key that was posted so is edited
// instead of posted twice, and its ids are returned.
func (c *Client) Post(ctx context.Context, channel string, msg bot.Message) (channelID, ts string, err error) {
	if msg.Key == "" {
		channelID, ts, _, err = c.send(ctx, pending{channel: channel, msg: msg})
	} else {
		channelID, ts, err = c.sendKeyed(ctx, msg.Key, pending{channel: channel, msg: msg})
	}
	if err != nil {
		return "", "", fmt.Errorf("slack: post to %s: %w", channel, translate(err, channel))
	}
	return channelID, ts, nil
}

// Update replaces the message at channelID/ts with msg. When Slack is out
// the newest msg is held and delivered once Slack answers again.
func (c *Client) Update(ctx context.Context, channelID, ts string, msg bot.Message) error {
	key := msg.Key
	if key == "" {
		key = channelID + "/" + ts
	}
	if _, _, err := c.sendKeyed(ctx, key, pending{channel: channelID, ts: ts, msg: msg}); err != nil {
		return fmt.Errorf("slack: update %s/%s: %w", channelID, ts, translate(err, channelID))
	}
	return nil
}

// send posts p, or updates the message it names.
func (c *Client) send(ctx context.Context, p pending) (channelID, ts string, slackOut bool, err error) {
	if p.ts == "" {
		opts := []slack.MsgOption{slack.MsgOptionText(p.msg.Text, false)}
		if b := blocks(p.msg); b != nil {
			opts = append(opts, slack.MsgOptionBlocks(b...))
		}
		slackOut, err = c.guarded(ctx, func(ctx context.Context) error {
			channelID, ts, err = c.api.PostMessageContext(ctx, p.channel, opts...)
			return err
		})
		return channelID, ts, slackOut, err
	}
	// Blocks are always sent: chat.update keeps the old blocks when none are
	// given, so a message that once had fields would otherwise keep them.
	// With no fields, MsgOptionBlocks() sends [] and Slack clears them.
	opts := []slack.MsgOption{
		slack.MsgOptionText(p.msg.Text, false),
		slack.MsgOptionBlocks(blocks(p.msg)...),
	}
	slackOut, err = c.guarded(ctx, func(ctx context.Context) error {
		_, _, _, err := c.api.UpdateMessageContext(ctx, p.channel, p.ts, opts...)
		return err
	})
	return p.channel, p.ts, slackOut, err
}

// Respond sends msg as an ephemeral reply to a slash command's response_url.
// Going through SendMessage with MsgOptionResponseURL, rather than
// PostWebhook, gets Slack's {"ok":false,…} answers reported as errors and
// never sends the bot token to the URL.
func (c *Client) Respond(ctx context.Context, responseURL string, msg bot.Message) error {
	opts := []slack.MsgOption{
		slack.MsgOptionText(msg.Text, false),
		slack.MsgOptionResponseURL(responseURL, slack.ResponseTypeEphemeral),
	}
	if b := blocks(msg); b != nil {
		opts = append(opts, slack.MsgOptionBlocks(b...))
	}
	// A response_url is not the Web API (it is hooks.slack.com, not
	// slack.com/api) and each is good for one command only: one that does
	// not answer says nothing about Slack, so it neither opens the outage
	// breaker nor is refused by it.
	ctx, cancel := context.WithTimeout(ctx, c.callTimeout)
	defer cancel()
	err := c.rateLimited(ctx, func(ctx context.Context) error {
		_, _, _, err := c.api.SendMessageContext(ctx, "", opts...)
		return err
	})
	if err != nil {
		return fmt.Errorf("slack: respond: %w", translate(hideURL(err), ""))
	}
	return nil
}

// hideURL keeps a response_url out of err, whose text ends up in logs:
// the URL is a credential for the reply. Its host stays, to tell where
// the call went.
func hideURL(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	where := "response_url"
	if u, perr := url.Parse(ue.URL); perr == nil && u.Host != "" {
		where = u.Scheme + "://" + u.Host
	}
	return &url.Error{Op: ue.Op, URL: where, Err: ue.Err}
}

// retry runs call and, if Slack rate-limited it, runs it once more after the
// Retry-After Slack asked for, unless ctx ends first. slack-go reports the
// 429 as *slack.RateLimitedError but does not retry by itself (OptionRetry
// would, with its own policy; one bounded retry keeps a deployment's own
// timeouts in charge). A 429 means Slack did not act, so posting again
// cannot duplicate the message.
func (c *Client) retry(ctx context.Context, call func(context.Context) error) error {
	_, err := c.guarded(ctx, call)
	return err
}

// guarded is retry behind the outage breaker; slackOut reports that the
// call failed because Slack was out (the breaker was open, or Slack did
// not answer).
func (c *Client) guarded(ctx context.Context, call func(context.Context) error) (slackOut bool, err error) {
	if err := c.outage.check(); err != nil {
		return true, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.callTimeout)
	defer cancel()
	err = c.rateLimited(ctx, call)
	c.outage.observe(ctx, err)
	return unanswered(ctx, err) != "", err
}

func (c *Client) rateLimited(ctx context.Context, call func(context.Context) error) error {
	err := call(ctx)
	var rl *slack.RateLimitedError
	if !errors.As(err, &rl) {
		return err
	}
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < rl.RetryAfter {
		return err
	}
	t := time.NewTimer(rl.RetryAfter)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return err
	case <-t.C:
	}
	return call(ctx)
}

// Block Kit limits (https://docs.slack.dev/reference/block-kit/blocks/section-block).
const (
	maxSectionText   = 3000
	maxSectionFields = 10
	maxFieldText     = 2000
)

// blocks renders msg as Block Kit: the text in section blocks, then the
// fields, ten per section as Slack allows; none when msg has no fields, as
// the text alone says it all. Text and values are mrkdwn as the bot wrote
// them, so it can include links.
func blocks(msg bot.Message) []slack.Block {
	if len(msg.Fields) == 0 && len(msg.Actions) == 0 {
		return nil
	}
	var out []slack.Block
	for _, chunk := range split(msg.Text, maxSectionText) {
		out = append(out, slack.NewSectionBlock(mrkdwn(chunk), nil, nil))
	}
	for i := 0; i < len(msg.Fields); i += maxSectionFields {
		var fields []*slack.TextBlockObject
		for _, f := range msg.Fields[i:min(i+maxSectionFields, len(msg.Fields))] {
			fields = append(fields, mrkdwn(truncate("*"+f.Label+"*\n"+f.Value, maxFieldText)))
		}
		out = append(out, slack.NewSectionBlock(nil, fields, nil))
	}
	if len(msg.Actions) > 0 {
		var buttons []slack.BlockElement
		for _, a := range msg.Actions {
			b := slack.NewButtonBlockElement(a.ID, a.Value, slack.NewTextBlockObject(slack.PlainTextType, a.Label, false, false))
			b.Style = slack.Style(a.Style)
			buttons = append(buttons, b)
		}
		out = append(out, slack.NewActionBlock("deploybot_actions", buttons...))
	}
	return out
}

func mrkdwn(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
}

// split cuts s into pieces of at most n runes; an empty s gives none,
// because Slack rejects an empty text object.
func split(s string, n int) []string {
	var out []string
	for s != "" {
		if utf8.RuneCountInString(s) <= n {
			return append(out, s)
		}
		cut := 0
		for i := 0; i < n; i++ {
			_, size := utf8.DecodeRuneInString(s[cut:])
			cut += size
		}
		out = append(out, s[:cut])
		s = s[cut:]
	}
	return out
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return split(s, n-1)[0] + "…"
}

// chatError keeps Slack's own error in the chain for logs and errors.As,
// and adds the *bot.Error that says what it means to the person who asked.
type chatError struct {
	public *bot.Error
	cause  error
}

func (e *chatError) Error() string   { return e.cause.Error() }
func (e *chatError) Unwrap() []error { return []error{e.public, e.cause} }

// translate maps the Slack errors a user can act on to bot error codes.
// Token and scope problems stay internal: they are the operator's to fix,
// and their detail is not for the chat.
func translate(err error, channel string) error {
	var public *bot.Error
	var se slack.SlackErrorResponse
	var sc slack.StatusCodeError
	switch {
	case errors.As(err, &se):
		switch se.Err {
		case "channel_not_found":
			public = bot.Errorf(bot.ENOTFOUND, "Slack channel %s not found, or deploybot was never invited to it", channel)
		case "not_in_channel":
			public = bot.Errorf(bot.EFORBIDDEN, "deploybot is not a member of Slack channel %s; invite it", channel)
		case "is_archived":
			public = bot.Errorf(bot.EINVALID, "Slack channel %s is archived", channel)
		case "message_not_found", "cant_update_message":
			public = bot.Errorf(bot.ENOTFOUND, "the Slack message to update is gone")
		case "expired_url", "used_url":
			public = bot.Errorf(bot.ENOTFOUND, "the Slack command can no longer be answered; run it again")
		}
	case errors.As(err, &sc) && (sc.Code == http.StatusNotFound || sc.Code == http.StatusGone):
		public = bot.Errorf(bot.ENOTFOUND, "the Slack command can no longer be answered; run it again")
	}
	if public == nil {
		return err
	}
	return &chatError{public: public, cause: err}
}
