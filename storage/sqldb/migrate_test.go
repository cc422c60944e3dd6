package sqldb

import (
	"path/filepath"
	"testing"
	"testing/fstest"
)

// TestMigrationAtomic checks "never half-applied": a migration whose last
// statement fails leaves neither its earlier statements nor its version
// row behind, and the database opens again afterwards.
func TestMigrationAtomic(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "xmppd.db")
	db, err := Open(ctx, "sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	before, err := db.SchemaVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}

	bad := fstest.MapFS{}
	real, err := migrationFS.ReadDir("migrations/sqlite")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range real {
		b, err := migrationFS.ReadFile("migrations/sqlite/" + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		bad["migrations/sqlite/"+e.Name()] = &fstest.MapFile{Data: b}
	}
	bad["migrations/sqlite/99999_broken.sql"] = &fstest.MapFile{Data: []byte(`-- +goose Up
CREATE TABLE half (x INTEGER);
INSERT INTO half VALUES (1);
INSERT INTO no_such_table VALUES (1);
-- +goose Down
DROP TABLE half;
`)}
	if err := db.migrate(ctx, bad); err == nil {
		t.Fatal("broken migration applied without error")
	}
	var n int
	if err := db.SQL().QueryRowContext(ctx,
		`SELECT count(*) FROM sqlite_master WHERE name = 'half'`).Scan(&n); err != nil {
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
	// The writer connection is usable again (the transaction was rolled
	// back, not left open).
	if err := db.CreateAccount(ctx, "example.org", "alice", nil); err != nil {
		t.Fatalf("CreateAccount after failed migration: %v", err)
	}
}
