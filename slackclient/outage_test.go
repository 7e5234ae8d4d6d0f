package slackclient_test

import (
	"context"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/emulator/faults"
	"github.com/deploybot/deploybot/emulator/slackemu"
	"github.com/deploybot/deploybot/slackclient"
)

// While Slack does not answer, calls fail at once after the first, so a
// deployment never waits out one timeout per message; once the cooldown
// is over, calls go through again.
func TestOutageFailsFastThenRecovers(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault faults.Rule
	}{
		{"503", faults.Rule{Respond: slackemu.Unavailable}},
		{"hung", faults.Rule{Delay: 3 * time.Second, Respond: slackemu.Unavailable}},
		{"connection dropped", faults.Rule{Respond: faults.Drop}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			emu, hs := slackemu.NewServer(token)
			t.Cleanup(hs.Close)
			emu.AddChannel("#deploys")
			c := slackclient.New(token, emu.APIURL(), hs.Client(),
				slackclient.WithCallTimeout(200*time.Millisecond), slackclient.WithOutageCooldown(500*time.Millisecond))
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
			time.Sleep(600 * time.Millisecond)
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
