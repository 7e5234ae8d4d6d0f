package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
)

// BenchmarkSlackDeployEndToEnd is one Slack deploy through the real server,
// store, clients and emulators, from the signed command to the final
// GitHub status, with a rollout that completes on its first poll.
// DESIGN.md's budget for the bot's own time is 50 ms per deployment; it
// is reported as bot-ms/op, the wall time less the time the emulators'
// handlers took (loopback HTTP stays on the bot's side of the ledger),
// with the GitHub and AWS API calls each deployment made.
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
	githubBefore, awsBefore := len(sb.github.Calls()), len(sb.aws.Calls())
	var wall, emulators time.Duration
	for b.Loop() {
		began, emulatorsBefore := time.Now(), sb.emulatorTime.Load()
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
		wall += time.Since(began)
		emulators += time.Duration(sb.emulatorTime.Load() - emulatorsBefore)
	}
	reportEndToEnd(b, sb, wall, emulators, githubBefore, awsBefore)
}
