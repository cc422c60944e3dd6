package push

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/storage/sqldb"
)

// moduleSchema is the schema the module declared (store.go's init), as
// the server finds it.
func moduleSchema(t *testing.T) module.Schema {
	t.Helper()
	for _, s := range module.Schemas() {
		if s.Module == "push" {
			return s.Schema
		}
	}
	t.Fatal("modules/push declares no schema")
	return module.Schema{}
}

func tableExists(t *testing.T, db *sqldb.DB, table string) bool {
	t.Helper()
	q := `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = $1`
	if db.Dialect() == sqldb.Postgres {
		q = `SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1`
	}
	var n int
	if err := db.SQL().QueryRowContext(t.Context(), q, table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// moduleVersion is the highest version recorded in the module's own
// version table.
func moduleVersion(t *testing.T, db *sqldb.DB) int64 {
	t.Helper()
	var v int64
	err := db.SQL().QueryRowContext(t.Context(), `SELECT max(version_id) FROM `+sqldb.ModuleVersionTable("push")).Scan(&v)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestSchemaNewDatabase: on a new database the core's migrations no
// longer make the table (00012 is empty now); the module's make it, and
// record their version in the module's own table, not in the core's.
func TestSchemaNewDatabase(t *testing.T) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			db := e.open(t)
			core, err := db.SchemaVersion(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if tableExists(t, db, "push_registrations") {
				t.Fatal("the core's migrations made push_registrations: the module's schema is not its own")
			}
			migrate(t, db)
			if !tableExists(t, db, "push_registrations") {
				t.Fatal("no push_registrations after the module's migrations")
			}
			if v := moduleVersion(t, db); v != 1 {
				t.Fatalf("%s at version %d, want 1", sqldb.ModuleVersionTable("push"), v)
			}
			if after, err := db.SchemaVersion(t.Context()); err != nil || after != core {
				t.Fatalf("core schema version %d, %v after the module's migrations; want %d", after, err, core)
			}
			migrate(t, db) // again: nothing pending
		})
	}
}

// TestSchemaTakesOverPreviousRelease: a database made by the release
// before the move has push_registrations (the core's 00012 made it) with
// rows in it. The module's first migration takes the table over as it
// is: the rows stay, the module reads and writes them, and deleting the
// account still deletes them (the old table's foreign key).
func TestSchemaTakesOverPreviousRelease(t *testing.T) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			db := e.open(t)
			ctx := t.Context()
			// The previous release's 00012, as it shipped.
			old, err := os.ReadFile(filepath.Join("testdata", "previous-release", string(db.Dialect()), "00012_push.sql"))
			if err != nil {
				t.Fatal(err)
			}
			_, up, _ := strings.Cut(string(old), "-- +goose Up")
			up, _, _ = strings.Cut(up, "-- +goose Down")
			if _, err := db.SQL().ExecContext(ctx, up); err != nil {
				t.Fatalf("previous release's push_registrations: %v", err)
			}
			mustCreate(t, ctx, db, "example.org", "alice", nil)
			at := time.UnixMilli(1_700_000_000_123).UTC()
			if _, err := db.SQL().ExecContext(ctx, `INSERT INTO push_registrations (domain, username, service, node, options, include_body, created_ms)
				VALUES ('example.org', 'alice', 'push.example', 'n1', '', $1, $2)`, true, at.UnixMilli()); err != nil {
				t.Fatal(err)
			}

			migrate(t, db)
			if v := moduleVersion(t, db); v != 1 {
				t.Fatalf("%s at version %d, want 1", sqldb.ModuleVersionTable("push"), v)
			}
			s := dbStore{db, sqlStore{db.ModuleSQL()}}
			kept := Registration{Service: "push.example", Node: "n1", IncludeBody: true, Created: at}
			wantPush(t, ctx, s, "example.org", "alice", []Registration{kept})
			added := Registration{Service: "push.example", Node: "n2", Created: at}
			mustEnablePush(t, ctx, s, "example.org", "alice", added)
			wantPush(t, ctx, s, "example.org", "alice", []Registration{kept, added})
			if err := db.DeleteAccount(ctx, "example.org", "alice"); err != nil {
				t.Fatal(err)
			}
			mustCreate(t, ctx, db, "example.org", "alice", nil)
			wantPush(t, ctx, s, "example.org", "alice", nil)
		})
	}
}
