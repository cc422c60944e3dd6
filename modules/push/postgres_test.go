package push_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // driver "pgx" for the schema set-up
)

// postgresStorage returns a [storage] table for a fresh schema in the
// test database named by XMPPD_TEST_POSTGRES_DSN (as the sqldb tests use
// it), or skips.
func postgresStorage(t *testing.T) string {
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
	b := make([]byte, 6)
	rand.Read(b)
	schema := "xmppd_push_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(t.Context(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() { admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE") })
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return fmt.Sprintf("\n[storage]\ndriver = \"postgres\"\ndsn = %q\n", u.String())
}
