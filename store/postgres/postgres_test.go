package postgres_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/store/postgres"
	"github.com/deploybot/deploybot/store/storetest"
)

// testDSN returns the server to test against, or skips with the reason.
// .ci/run sets DEPLOYBOT_TEST_POSTGRES, so CI never skips.
func testDSN(t *testing.T) string {
	dsn := os.Getenv("DEPLOYBOT_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("DEPLOYBOT_TEST_POSTGRES is not set (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable); skipping PostgreSQL tests")
	}
	return dsn
}

// freshSchema creates a schema of its own for one test and returns a DSN
// whose search_path points at it, so tests neither see nor disturb each
// other's rows.
func freshSchema(t *testing.T, dsn string) string {
	t.Helper()
	raw, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	b := make([]byte, 6)
	rand.Read(b)
	schema := "deploybot_test_" + hex.EncodeToString(b)
	if _, err := raw.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() { raw.Exec("DROP SCHEMA " + schema + " CASCADE") })
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func TestConformance(t *testing.T) {
	dsn := testDSN(t)
	storetest.Run(t, func(t *testing.T) bot.Store {
		db, err := postgres.Open(context.Background(), freshSchema(t, dsn))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

// Two handles on one schema stand for two replicas.
func TestShared(t *testing.T) {
	dsn := testDSN(t)
	storetest.RunShared(t, func(t *testing.T) (bot.Store, bot.Store) {
		schema := freshSchema(t, dsn)
		var handles [2]bot.Store
		for i := range handles {
			db, err := postgres.Open(context.Background(), schema)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			handles[i] = db
		}
		return handles[0], handles[1]
	})
}

// Two replicas starting together on an empty database both come up.
func TestConcurrentMigrations(t *testing.T) {
	dsn := freshSchema(t, testDSN(t))
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			db, err := postgres.Open(context.Background(), dsn)
			if err == nil {
				db.Close()
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Errorf("Open: %v", err)
		}
	}
}

func TestBadDSNHidesPassword(t *testing.T) {
	_, err := postgres.Open(context.Background(), "postgres://u:hunter2@[::1")
	if err == nil {
		t.Fatal("Open accepted a malformed URL")
	}
	if got := err.Error(); strings.Contains(got, "hunter2") {
		t.Errorf("error leaks the password: %s", got)
	}
}
