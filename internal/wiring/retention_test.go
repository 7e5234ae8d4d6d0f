package wiring

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/deploybot/deploybot/store/sqlite"
)

// passes tells each pruning pass the loop makes.
type passes struct {
	intakePruner
	before chan time.Time
}

func (p passes) PruneIntake(ctx context.Context, before time.Time) (int64, error) {
	n, err := p.intakePruner.PruneIntake(ctx, before)
	p.before <- before
	return n, err
}

// The retention loop prunes at once on start, with the cutoff a week
// before its clock, and stops with its context.
func TestPruneIntakeLoop(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "deploybot.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, key := range []string{"delivery-1", "issue_comment:o/r:7", "slack:v0=1"} {
		if _, err := db.RecordDelivery(ctx, key, "x"); err != nil {
			t.Fatal(err)
		}
	}
	// A clock a week and a minute ahead: every record is past retention.
	now := time.Now().Add(intakeRetention + time.Minute)
	p := passes{db, make(chan time.Time, 1)}
	loopCtx, stop := context.WithCancel(ctx)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		pruneIntake(loopCtx, p, func() time.Time { return now }, time.Hour, slog.New(slog.DiscardHandler))
	}()
	if before := <-p.before; !before.Equal(now.Add(-intakeRetention)) {
		t.Errorf("pruned before %s; want a week before the clock, %s", before, now.Add(-intakeRetention))
	}
	stop()
	<-stopped
	for _, key := range []string{"delivery-1", "issue_comment:o/r:7", "slack:v0=1"} {
		if first, err := db.RecordDelivery(ctx, key, "x"); err != nil || !first {
			t.Errorf("%s still recorded after pruning (%v)", key, err)
		}
	}
}
