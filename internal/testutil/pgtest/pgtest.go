// Package pgtest gives tests a PostgreSQL schema of their own in the test
// database named by XMPPD_TEST_POSTGRES_DSN (scripts/test.sh starts one;
// storage/sqldb/testdata/start-postgres.sh prints a value for it).
//
// It imports nothing of xmppd, so that a package internal/testutil
// imports (the server and what it is made of) can use it in its own
// tests without an import cycle.
package pgtest

import (
	"context"
	"database/sql"
	"net/url"
	"os"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver

	"github.com/xmppd/xmppd/internal/randid"
)

// DSN returns a DSN whose search_path is a fresh schema named prefix and
// a random suffix, dropped at test end, or skips the test without
// XMPPD_TEST_POSTGRES_DSN. The schema is empty: the caller's
// sqldb.Open migrates it.
func DSN(t testing.TB, prefix string) string {
	t.Helper()
	dsn := os.Getenv("XMPPD_TEST_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("PostgreSQL run skipped: set XMPPD_TEST_POSTGRES_DSN (storage/sqldb/testdata/start-postgres.sh)")
	}
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Skipf("PostgreSQL run needs a URL DSN, got %q", dsn)
	}
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	schema := prefix + randid.Hex(6)
	if _, err := admin.ExecContext(context.Background(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() { admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE") })
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
