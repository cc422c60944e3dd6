package sqldb_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/xmppd/xmppd/storage/sqldb"
)

// TestCheckWritable: a database that refuses writes is reported as
// read-only; a normal one passes. Root ignores file modes, so the
// read-only state comes from the engines themselves (SQLite's mode=ro,
// PostgreSQL's default_transaction_read_only), which hold for any user.
func TestCheckWritableSQLite(t *testing.T)   { testCheckWritable(t, sqliteBackend()) }
func TestCheckWritablePostgres(t *testing.T) { testCheckWritable(t, postgresBackend(t)) }

func testCheckWritable(t *testing.T, b backend) {
	driver, dsn := b.newDSN(t)
	db := open(t, driver, dsn)
	if err := db.CheckWritable(context.Background()); err != nil {
		t.Fatalf("writable database: %v", err)
	}
	var ro *sqldb.DB
	if driver == "sqlite" {
		ro = open(t, driver, "file:"+dsn+"?mode=ro")
	} else {
		ro = open(t, driver, withParam(dsn, "default_transaction_read_only", "on"))
	}
	err := ro.CheckWritable(context.Background())
	if err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("read-only database: %v", err)
	}
}

// withParam adds a run-time parameter to a pgx DSN in either form.
func withParam(dsn, key, value string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		q.Set(key, value)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " " + key + "=" + value
}
