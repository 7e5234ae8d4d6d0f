package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/deploybot/deploybot/bot"
)

// BenchmarkClaimFair times one fair claim against a backlog of 5,000
// claimable deployments, as bench/ackload leaves at 500 commands/s: one
// requester's flood over 10 environments, and 50 deployments of others
// at its end. "picks" claims 4 (a burst) and gives them back; "full" is
// the claim that can pick nothing, every environment at its share, which
// the dispatcher makes whenever a pipeline ends.
func BenchmarkClaimFair(b *testing.B, s Store) {
	ctx := context.Background()
	fs, ok := s.(fairClaimer)
	if !ok {
		b.Fatalf("%T has no ClaimFair", s)
	}
	const backlog, others = 5000, 50
	for i := range backlog {
		d := newDeployment()
		d.Requester, d.Env = "slack:UFLOOD", fmt.Sprintf("env%d", i%10)
		if i >= backlog-others {
			d.Requester, d.Env = fmt.Sprintf("slack:U%03d", i%others), "prod"
		}
		if err := s.CreateDeployment(ctx, d); err != nil {
			b.Fatal(err)
		}
	}
	now := t0
	run := func(b *testing.B, q func() bot.ClaimQuota, want int) {
		for b.Loop() {
			now = now.Add(time.Second)
			got, err := fs.ClaimFair(ctx, "bench", now, now.Add(time.Minute), q())
			if err != nil {
				b.Fatal(err)
			}
			if len(got) != want {
				b.Fatalf("claimed %d, want %d", len(got), want)
			}
			for _, c := range got {
				if err := s.ReleaseLease(ctx, c.Deployment.ID, "bench"); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.Run("picks", func(b *testing.B) {
		run(b, func() bot.ClaimQuota {
			return bot.ClaimQuota{Slots: 4, OtherSlots: 4, PerRequester: 12, PerEnv: 4}
		}, 4)
	})
	full := map[string]int{bot.EnvKey("takumi-server", "prod"): 4}
	for i := range 10 {
		full[bot.EnvKey("takumi-server", fmt.Sprintf("env%d", i))] = 4
	}
	b.Run("full", func(b *testing.B) {
		run(b, func() bot.ClaimQuota {
			return bot.ClaimQuota{Slots: 4, OtherSlots: 4, PerRequester: 12, PerEnv: 4,
				ByRequester: map[string]int{"slack:UFLOOD": 12}, ByEnv: full}
		}, 0)
	})
}
