package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/deploybot/deploybot/bot"
)

// BenchmarkSlackDeployEndToEnd is one Slack deploy through the real server,
// store, clients and emulators, from the signed command to the final
// GitHub status, with a rollout that completes on its first poll. Most of
// it is the bot's own time: the emulators answer from memory.
// DESIGN.md's budget for the bot's own time is 50 ms per deployment.
func BenchmarkSlackDeployEndToEnd(b *testing.B) {
	var logs syncBuffer
	sb, err := newSandbox(context.Background(), "127.0.0.1:0", &logs)
	if err != nil {
		b.Fatal(err)
	}
	defer sb.Close()
	sb.aws.SetRolloutPolls(1)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		i++
		sha := sb.commit(fmt.Sprintf("bench %d", i), fmt.Sprintf("bench-%d", i), "success", true)
		id, err := sb.slashAccepted(ctx, "takumi-server "+sha[:7]+" dev")
		if err != nil {
			b.Fatal(err)
		}
		d, err := sb.wait(ctx, id)
		if err != nil || d.State != bot.StateSucceeded {
			for _, line := range strings.Split(logs.String(), "\n") {
				if strings.Contains(line, "failed") {
					b.Log(line)
				}
			}
			b.Fatalf("deployment %d: %v %v: %s", id, d.State, err, d.Reason)
		}
	}
}
