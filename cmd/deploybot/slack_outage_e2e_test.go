package main

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/emulator/faults"
	"github.com/deploybot/deploybot/emulator/slackemu"
	"github.com/deploybot/deploybot/slackclient"
)

// A deployment that ends while Slack cannot update its message is not
// left showing an old state: the final one reaches Slack once it answers
// again (issue #11).
func TestSlackMessageCatchesUpAfterOutage(t *testing.T) {
	sb, err := newSandbox(context.Background(), "127.0.0.1:0", io.Discard, func(o *options) {
		o.slack = []slackclient.Option{slackclient.WithCallTimeout(300 * time.Millisecond), slackclient.WithOutageCooldown(100 * time.Millisecond)}
	})
	if err != nil {
		t.Fatalf("sandbox: %v", err)
	}
	t.Cleanup(sb.Close)
	sha := sb.commit("slack catches up", "main", "success", true)
	sb.slack.Inject(faults.Rule{Match: slackemu.Method("chat.update"), Respond: slackemu.Unavailable})

	d := slashDeploy(t, sb, "takumi-server "+sha[:7]+" dev")
	if d.State != bot.StateSucceeded {
		t.Fatalf("deployment %s (%s); want succeeded while Slack is out", d.State, d.Reason)
	}
	sb.slack.ClearFaults()
	waitMessage(t, sb, d.ID, "Succeeded")
}
