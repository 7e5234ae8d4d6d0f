// Package pgtest gives tests a PostgreSQL schema of their own on the
// server named by DEPLOYBOT_TEST_POSTGRES.
package pgtest

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
)

// DSN returns the server to test against, or skips the test with the
// reason. .ci/run sets DEPLOYBOT_TEST_POSTGRES, so CI never skips.
func DSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("DEPLOYBOT_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("DEPLOYBOT_TEST_POSTGRES is not set (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable); skipping the PostgreSQL test (.ci/run sets it)")
	}
	return dsn
}

// Schema creates a schema for one test on dsn's server, dropped when the
// test ends, and returns a DSN whose search_path points at it, so tests
// neither see nor disturb each other's rows.
func Schema(t testing.TB, dsn string) string {
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
