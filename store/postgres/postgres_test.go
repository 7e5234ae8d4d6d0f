package postgres_test

import (
	"context"
	"strings"
	"testing"

	"github.com/deploybot/deploybot/store/postgres"
	"github.com/deploybot/deploybot/store/postgres/pgtest"
	"github.com/deploybot/deploybot/store/storetest"
)

func testDSN(t *testing.T) string { return pgtest.DSN(t) }

func freshSchema(t *testing.T, dsn string) string { return pgtest.Schema(t, dsn) }

func TestConformance(t *testing.T) {
	dsn := testDSN(t)
	storetest.Run(t, func(t *testing.T) storetest.Store {
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
	storetest.RunShared(t, func(t *testing.T) (storetest.Store, storetest.Store) {
		schema := freshSchema(t, dsn)
		var handles [2]storetest.Store
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

// A DSN that does not parse is named in the error, without its password:
// pgx's own error quotes it, redacted only as well as pgx can guess.
func TestOpenDoesNotEchoThePassword(t *testing.T) {
	for _, dsn := range []string{
		"postgres://deploybot:hunter2@db:notaport/deploybot",
		"postgres://deploybot:hun/ter2@db:5432/deploybot",
		"host=db port=notaport user=deploybot password=hunter2",
	} {
		_, err := postgres.Open(context.Background(), dsn)
		if err == nil {
			t.Fatalf("Open(%q) succeeded", dsn)
		}
		if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "ter2") {
			t.Errorf("Open(%q): %v: the error holds the password", dsn, err)
		}
		if !strings.Contains(err.Error(), "xxxxx") {
			t.Errorf("Open(%q): %v: the error does not name the DSN", dsn, err)
		}
	}
}

func BenchmarkClaimFair(b *testing.B) {
	db, err := postgres.Open(context.Background(), pgtest.Schema(b, pgtest.DSN(b)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	storetest.BenchmarkClaimFair(b, db)
}
