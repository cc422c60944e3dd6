package sqldb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/xmppd/xmppd/storage"
)

func TestMigrationAtomicSQLite(t *testing.T) {
	testMigrationAtomic(t, "sqlite", filepath.Join(t.TempDir(), "xmppd.db"))
}

func TestMigrationAtomicPostgres(t *testing.T) {
	dsn := os.Getenv("XMPPD_TEST_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("PostgreSQL tests skipped: set XMPPD_TEST_POSTGRES_DSN (run storage/sqldb/testdata/start-postgres.sh to get one)")
	}
	// A schema of its own, as in sqldb_test.go, so the broken migration
	// cannot touch anything else.
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	b := make([]byte, 6)
	rand.Read(b)
	schema := "xmppd_test_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(t.Context(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	defer admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
	sep := " "
	if strings.Contains(dsn, "://") {
		sep = "&"
		if !strings.Contains(dsn, "?") {
			sep = "?"
		}
		dsn += sep + "search_path=" + schema
	} else {
		dsn += " search_path=" + schema
	}
	testMigrationAtomic(t, "pgx", dsn)
}

// testMigrationAtomic checks "never half-applied": a migration whose last
// statement fails leaves neither its earlier statements nor its version
// row behind, and the database stays usable.
func testMigrationAtomic(t *testing.T, driver, dsn string) {
	ctx := t.Context()
	db, err := Open(ctx, driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	before, err := db.SchemaVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}

	dir := "migrations/" + string(db.dialect)
	bad := fstest.MapFS{}
	real, err := migrationFS.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range real {
		b, err := migrationFS.ReadFile(dir + "/" + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		bad[dir+"/"+e.Name()] = &fstest.MapFile{Data: b}
	}
	bad[dir+"/99999_broken.sql"] = &fstest.MapFile{Data: []byte(`-- +goose Up
CREATE TABLE half (x INTEGER);
INSERT INTO half VALUES (1);
INSERT INTO no_such_table VALUES (1);
-- +goose Down
DROP TABLE half;
`)}
	if err := db.migrate(ctx, bad); err == nil {
		t.Fatal("broken migration applied without error")
	}

	exists := `SELECT count(*) FROM sqlite_master WHERE name = 'half'`
	if db.dialect == Postgres {
		exists = `SELECT count(*) FROM information_schema.tables
			WHERE table_schema = current_schema() AND table_name = 'half'`
	}
	var n int
	if err := db.SQL().QueryRowContext(ctx, exists).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatal("table from the failed migration exists: migration was half-applied")
	}
	after, err := db.SchemaVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Fatalf("schema version %d after failed migration, want %d", after, before)
	}
	// The pool is usable again (the transaction was rolled back, not left
	// open on SQLite's single writer connection).
	if err := db.CreateAccount(ctx, "example.org", "alice", nil); err != nil {
		t.Fatalf("CreateAccount after failed migration: %v", err)
	}
}

// TestMigrationOutOfOrderSQLite: a database migrated without one migration
// (a branch merged later than a higher-numbered one) gets it on the next
// Open, instead of goose refusing to start.
func TestMigrationOutOfOrderSQLite(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "xmppd.db")
	db, err := openSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.connect(ctx); err != nil {
		t.Fatal(err)
	}
	dir := "migrations/sqlite"
	without := fstest.MapFS{}
	real, err := migrationFS.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range real {
		// 00018 changes 00009's triggers: they arrive together.
		if strings.HasPrefix(e.Name(), "00009_") || strings.HasPrefix(e.Name(), "00018_") {
			continue
		}
		b, err := migrationFS.ReadFile(dir + "/" + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		without[dir+"/"+e.Name()] = &fstest.MapFile{Data: b}
	}
	if err := db.migrate(ctx, without); err != nil {
		t.Fatal(err)
	}
	db.Close()

	db2, err := Open(ctx, "sqlite", path)
	if err != nil {
		t.Fatalf("Open after a missing migration: %v", err)
	}
	defer db2.Close()
	if _, err := db2.Append(ctx, "alice@example.org", storageMessage()); err != nil {
		t.Fatalf("the late migration's table: %v", err)
	}
}

func storageMessage() storage.ArchivedMessage {
	return storage.ArchivedMessage{Time: time.Now(), Stanza: []byte("<message/>")}
}
