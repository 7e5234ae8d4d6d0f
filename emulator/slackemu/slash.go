package slackemu

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Command is a slash command as Slack sends it to the bot. Empty fields
// with a default get it; the others are left out of the body, as Slack does
// for enterprise fields outside Enterprise Grid.
type Command struct {
	Token          string // legacy verification token; default "emulator-verification-token"
	TeamID         string // default TeamID
	TeamDomain     string // default TeamName
	EnterpriseID   string
	EnterpriseName string
	ChannelID      string
	ChannelName    string
	UserID         string
	UserName       string
	Command        string // default "/deploy"
	Text           string
	ResponseURL    string
	TriggerID      string // default a fixed emulator trigger id
	APIAppID       string

	// Timestamp is the X-Slack-Request-Timestamp; zero means now. Set it to
	// replay a documented example or to test the bot's replay window.
	Timestamp time.Time
}

func (c Command) withDefaults() Command {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.Token, "emulator-verification-token")
	def(&c.TeamID, TeamID)
	def(&c.TeamDomain, TeamName)
	def(&c.Command, "/deploy")
	def(&c.TriggerID, "1700000000.100000.0123456789abcdef0123456789abcdef")
	return c
}

// Body returns the form body Slack would send for c: the fields in the
// order of Slack's documentation, each value escaped like Slack's own
// (space as '+', '/' and ':' percent-encoded), which matters because the
// signature covers the exact bytes.
func (c Command) Body() []byte {
	c = c.withDefaults()
	type kv struct{ k, v string }
	fields := []kv{
		{"token", c.Token},
		{"team_id", c.TeamID},
		{"team_domain", c.TeamDomain},
	}
	if c.EnterpriseID != "" {
		fields = append(fields, kv{"enterprise_id", c.EnterpriseID}, kv{"enterprise_name", c.EnterpriseName})
	}
	fields = append(fields,
		kv{"channel_id", c.ChannelID},
		kv{"channel_name", c.ChannelName},
		kv{"user_id", c.UserID},
		kv{"user_name", c.UserName},
		kv{"command", c.Command},
		kv{"text", c.Text},
		kv{"response_url", c.ResponseURL},
		kv{"trigger_id", c.TriggerID},
	)
	if c.APIAppID != "" {
		fields = append(fields, kv{"api_app_id", c.APIAppID})
	}
	var b strings.Builder
	for i, f := range fields {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(f.k)
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(f.v))
	}
	return []byte(b.String())
}

// Sign returns the X-Slack-Signature Slack sends for body at ts with the
// app's signing secret (version v0).
func Sign(secret string, ts time.Time, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + strconv.FormatInt(ts.Unix(), 10) + ":"))
	mac.Write(body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// SlashCommand plays Slack delivering cmd to the bot's command endpoint,
// signed with signingSecret. A nil client means http.DefaultClient. The
// caller closes the response body.
func SlashCommand(ctx context.Context, client *http.Client, botURL, signingSecret string, cmd Command) (*http.Response, error) {
	if client == nil {
		client = http.DefaultClient
	}
	ts := cmd.Timestamp
	if ts.IsZero() {
		ts = time.Now()
	}
	body := cmd.Body()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, botURL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "Slackbot 1.0 (+https://api.slack.com/robots)")
	req.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set("X-Slack-Signature", Sign(signingSecret, ts, body))
	return client.Do(req)
}
