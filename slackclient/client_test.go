package slackclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/slack-go/slack"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/emulator/slackemu"
	"github.com/deploybot/deploybot/slackclient"
)

const token = "xoxb-test-token"

func setup(t *testing.T) (*slackemu.Server, *slackclient.Client) {
	t.Helper()
	emu, hs := slackemu.NewServer(token)
	t.Cleanup(hs.Close)
	emu.AddChannel("#deploys")
	return emu, slackclient.New(token, emu.APIURL(), hs.Client())
}

// section is the part of a Block Kit section block the tests look at.
type section struct {
	Type   string
	Text   string
	Fields []string
}

func sections(t *testing.T, raw json.RawMessage) []section {
	t.Helper()
	if raw == nil {
		return nil
	}
	type text struct{ Type, Text string }
	var blocks []struct {
		Type   string
		Text   *text
		Fields []text
	}
	if err := json.Unmarshal(raw, &blocks); err != nil {
		t.Fatalf("blocks %s: %v", raw, err)
	}
	var out []section
	for _, b := range blocks {
		s := section{Type: b.Type}
		if b.Text != nil {
			s.Text = b.Text.Type + ":" + b.Text.Text
		}
		for _, f := range b.Fields {
			s.Fields = append(s.Fields, f.Type+":"+f.Text)
		}
		out = append(out, s)
	}
	return out
}

func TestPostThenUpdate(t *testing.T) {
	emu, c := setup(t)
	ctx := context.Background()

	channelID, ts, err := c.Post(ctx, "#deploys", bot.Message{
		Text: "Deploying takumi-server `cf7edb2` to dev",
		Fields: []bot.Field{
			{Label: "App", Value: "takumi-server"},
			{Label: "State", Value: "queued"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := emu.ChannelID("#deploys"); channelID != want || ts == "" {
		t.Fatalf("Post = %q, %q; want channel %q and a ts", channelID, ts, want)
	}

	err = c.Update(ctx, channelID, ts, bot.Message{
		Text:   "Deployed takumi-server `cf7edb2` to dev",
		Fields: []bot.Field{{Label: "State", Value: "succeeded"}},
	})
	if err != nil {
		t.Fatal(err)
	}

	msgs := emu.Messages("#deploys")
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1 updated in place", len(msgs))
	}
	m := msgs[0]
	if m.TS != ts || m.Edits != 1 || m.Text != "Deployed takumi-server `cf7edb2` to dev" {
		t.Errorf("message %+v", m)
	}
	want := []section{
		{Type: "section", Text: "mrkdwn:Deployed takumi-server `cf7edb2` to dev"},
		{Type: "section", Fields: []string{"mrkdwn:*State*\nsucceeded"}},
	}
	if diff := cmp.Diff(sections(t, m.Blocks), want); diff != "" {
		t.Errorf("blocks (-got +want):\n%s", diff)
	}
	wantFirst := []section{
		{Type: "section", Text: "mrkdwn:Deploying takumi-server `cf7edb2` to dev"},
		{Type: "section", Fields: []string{"mrkdwn:*App*\ntakumi-server", "mrkdwn:*State*\nqueued"}},
	}
	if diff := cmp.Diff(sections(t, m.History[0].Blocks), wantFirst); diff != "" {
		t.Errorf("first version's blocks (-got +want):\n%s", diff)
	}

	// Updating to plain text must drop the old fields, not keep them.
	if err := c.Update(ctx, channelID, ts, bot.Message{Text: "Rolled back"}); err != nil {
		t.Fatal(err)
	}
	m, _ = emu.Message(channelID, ts)
	if m.Edits != 2 || m.Text != "Rolled back" || m.Blocks != nil {
		t.Errorf("after plain update: edits %d, text %q, blocks %s", m.Edits, m.Text, m.Blocks)
	}
}

func TestPostPlainTextHasNoBlocks(t *testing.T) {
	emu, c := setup(t)
	_, ts, err := c.Post(context.Background(), emu.ChannelID("#deploys"), bot.Message{Text: "hello <https://example.com|link> & more"})
	if err != nil {
		t.Fatal(err)
	}
	m, ok := emu.Message("#deploys", ts)
	if !ok || m.Text != "hello <https://example.com|link> & more" || m.Blocks != nil {
		t.Errorf("message %+v", m)
	}
}

// Slack rejects a section with more than ten fields or 3000 characters of
// text; the emulator checks the same limits.
func TestPostLargeMessageStaysWithinBlockKitLimits(t *testing.T) {
	emu, c := setup(t)
	var fields []bot.Field
	for i := range 12 {
		fields = append(fields, bot.Field{Label: fmt.Sprintf("F%d", i), Value: strings.Repeat("v", 2500)})
	}
	text := strings.Repeat("é", 4000)
	_, ts, err := c.Post(context.Background(), "#deploys", bot.Message{Text: text, Fields: fields})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := emu.Message("#deploys", ts)
	got := sections(t, m.Blocks)
	if len(got) != 4 {
		t.Fatalf("%d sections, want 2 of text and 2 of fields", len(got))
	}
	if got[0].Text+got[1].Text[len("mrkdwn:"):] != "mrkdwn:"+text {
		t.Error("text sections do not add up to the text")
	}
	if len(got[2].Fields) != 10 || len(got[3].Fields) != 2 {
		t.Errorf("fields split %d+%d, want 10+2", len(got[2].Fields), len(got[3].Fields))
	}
}

func TestRespondIsEphemeral(t *testing.T) {
	emu, c := setup(t)
	u := emu.NewResponseURL()
	err := c.Respond(context.Background(), u, bot.Message{
		Text:   "You may not deploy to prod",
		Fields: []bot.Field{{Label: "Allowed", Value: "slack:U024BE7LH"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := emu.Responses(u)
	if len(got) != 1 {
		t.Fatalf("%d responses, want 1", len(got))
	}
	r := got[0]
	if r.ResponseType != "ephemeral" || r.Text != "You may not deploy to prod" || r.ReplaceOriginal {
		t.Errorf("response %+v", r)
	}
	want := []section{
		{Type: "section", Text: "mrkdwn:You may not deploy to prod"},
		{Type: "section", Fields: []string{"mrkdwn:*Allowed*\nslack:U024BE7LH"}},
	}
	if diff := cmp.Diff(sections(t, r.Blocks), want); diff != "" {
		t.Errorf("blocks (-got +want):\n%s", diff)
	}
	if len(emu.Messages("#deploys")) != 0 {
		t.Error("a response landed in the channel")
	}
}

func TestRespondToExpiredURL(t *testing.T) {
	emu, c := setup(t)
	u := strings.TrimSuffix(emu.APIURL(), "/api/") + "/response/R999999"
	err := c.Respond(context.Background(), u, bot.Message{Text: "late"})
	if bot.ErrorCode(err) != bot.ENOTFOUND {
		t.Errorf("err = %v (code %q), want %s", err, bot.ErrorCode(err), bot.ENOTFOUND)
	}
	if err != nil && strings.Contains(err.Error(), "R999999") {
		t.Errorf("error %q reveals the response URL", err)
	}
}

func TestWrongToken(t *testing.T) {
	emu, hs := slackemu.NewServer(token)
	t.Cleanup(hs.Close)
	emu.AddChannel("#deploys")
	c := slackclient.New("xoxb-wrong", emu.APIURL(), hs.Client())

	_, _, err := c.Post(context.Background(), "#deploys", bot.Message{Text: "hi"})
	var se slack.SlackErrorResponse
	if !errors.As(err, &se) || se.Err != "invalid_auth" {
		t.Fatalf("err = %v, want invalid_auth", err)
	}
	if !strings.HasPrefix(err.Error(), "slack: post to #deploys: ") {
		t.Errorf("err = %q, want the channel as context", err)
	}
	if code := bot.ErrorCode(err); code != bot.EINTERNAL {
		t.Errorf("code %q, want %q: a bad token is the operator's problem", code, bot.EINTERNAL)
	}
	if err := c.Ping(context.Background()); err == nil {
		t.Error("Ping with a wrong token succeeded")
	}
	if err := slackclient.New(token, emu.APIURL(), hs.Client()).Ping(context.Background()); err != nil {
		t.Errorf("Ping: %v", err)
	}
	if n := len(emu.Messages("#deploys")); n != 0 {
		t.Errorf("%d messages stored", n)
	}
}

func TestUnknownChannel(t *testing.T) {
	emu, c := setup(t)
	_, _, err := c.Post(context.Background(), "#nowhere", bot.Message{Text: "hi"})
	var se slack.SlackErrorResponse
	if !errors.As(err, &se) || se.Err != "channel_not_found" {
		t.Fatalf("err = %v, want channel_not_found", err)
	}
	if bot.ErrorCode(err) != bot.ENOTFOUND || !strings.Contains(bot.ErrorMessage(err), "#nowhere") {
		t.Errorf("code %q, message %q", bot.ErrorCode(err), bot.ErrorMessage(err))
	}
	if err.Error() != "slack: post to #nowhere: channel_not_found" {
		t.Errorf("err = %q", err)
	}

	err = c.Update(context.Background(), emu.ChannelID("#deploys"), "1.000001", bot.Message{Text: "x"})
	if bot.ErrorCode(err) != bot.ENOTFOUND {
		t.Errorf("update of a missing message: %v (code %q)", err, bot.ErrorCode(err))
	}
}

func methods(emu *slackemu.Server) []string {
	var out []string
	for _, c := range emu.Calls() {
		out = append(out, c.Method+":"+c.Error)
	}
	return out
}

func TestRateLimitedCallIsRetriedOnce(t *testing.T) {
	emu, c := setup(t)
	emu.RateLimitNext("chat.postMessage", 0)
	if _, _, err := c.Post(context.Background(), "#deploys", bot.Message{Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	want := []string{"chat.postMessage:ratelimited", "chat.postMessage:"}
	if diff := cmp.Diff(methods(emu), want); diff != "" {
		t.Errorf("calls (-got +want):\n%s", diff)
	}

	emu.RateLimitNext("chat.update", 0)
	emu.RateLimitNext("chat.update", 0)
	err := c.Update(context.Background(), emu.ChannelID("#deploys"), emu.Messages("#deploys")[0].TS, bot.Message{Text: "x"})
	var rl *slack.RateLimitedError
	if !errors.As(err, &rl) {
		t.Errorf("err = %v, want the second rate limit", err)
	}
	if n := len(emu.Calls()); n != 4 {
		t.Errorf("%d calls, want 4: one retry, not more", n)
	}
}

func TestRateLimitNotWaitedOutPastDeadline(t *testing.T) {
	emu, c := setup(t)
	emu.RateLimitNext("chat.postMessage", time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, _, err := c.Post(ctx, "#deploys", bot.Message{Text: "hi"})
	var rl *slack.RateLimitedError
	if !errors.As(err, &rl) {
		t.Fatalf("err = %v, want a rate limit error", err)
	}
	if ctx.Err() != nil {
		t.Error("Post waited until the context ended instead of giving up at once")
	}
	if n := len(emu.Calls()); n != 1 {
		t.Errorf("%d calls, want 1", n)
	}
}
