package wiring

import (
	"context"
	"log/slog"
	"time"
)

// intakeRetention is how long delivery records and pull request heads are
// kept. A delivery record only matters while GitHub may deliver the same
// event again (it redelivers on request, for a few days) and a Slack
// request only for its 5-minute replay window; a head record, while a
// comment written before it may still arrive. A week covers them all.
const intakeRetention = 7 * 24 * time.Hour

// intakePruneEvery is how often the old records are pruned.
const intakePruneEvery = time.Hour

// intakePruner is what the retention loop needs of the store.
type intakePruner interface {
	PruneIntake(ctx context.Context, before time.Time) (int64, error)
}

// pruneIntake deletes, now and then every interval until ctx ends, the
// intake records older than intakeRetention, so that no table grows with
// traffic that did nothing. Each replica prunes; the deletes are
// idempotent, and a failed one is tried again at the next tick.
func pruneIntake(ctx context.Context, p intakePruner, now func() time.Time, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := p.PruneIntake(ctx, now().Add(-intakeRetention))
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("prune intake records", "err", err)
		case n > 0:
			log.Info("pruned intake records", "rows", n, "older_than", intakeRetention.String())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
