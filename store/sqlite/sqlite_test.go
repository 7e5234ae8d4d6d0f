package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/store/sqlite"
	"github.com/deploybot/deploybot/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store {
		db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "deploybot.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

// Two handles on one file stand for two processes sharing it.
func TestShared(t *testing.T) {
	storetest.RunShared(t, func(t *testing.T) (storetest.Store, storetest.Store) {
		path := filepath.Join(t.TempDir(), "deploybot.db")
		var handles [2]storetest.Store
		for i := range handles {
			db, err := sqlite.Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			handles[i] = db
		}
		return handles[0], handles[1]
	})
}

// Reopening a file keeps its rows and does not run migrations again.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "deploybot.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	d := &bot.Deployment{App: "a", Env: "dev", Repo: "o/r", Requester: "slack:U1", Source: bot.SourceSlack, State: bot.StateQueued}
	if err := db.CreateDeployment(ctx, d); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer db.Close()
	got, err := db.Deployment(ctx, d.ID)
	if err != nil {
		t.Fatalf("after reopen: %v", err)
	}
	if got.State != bot.StateQueued {
		t.Errorf("state after reopen = %s, want %s", got.State, bot.StateQueued)
	}
}

// Every statement counts once, for deploybot_store_queries_total.
func TestQueriesCounted(t *testing.T) {
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "deploybot.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	before := db.Queries()
	for range 3 {
		if _, err := db.Deployment(context.Background(), 1); bot.ErrorCode(err) != bot.ENOTFOUND {
			t.Fatalf("Deployment(1): %v", err)
		}
	}
	if got := db.Queries() - before; got != 3 {
		t.Errorf("3 reads counted as %d queries", got)
	}
}

func BenchmarkClaimFair(b *testing.B) {
	db, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "deploybot.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	storetest.BenchmarkClaimFair(b, db)
}
