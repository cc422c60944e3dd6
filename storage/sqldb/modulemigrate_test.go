package sqldb

import (
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/xmppd/xmppd/internal/testutil/pgtest"
)

// moduleEngines opens a fresh database of each engine, core migrated.
var moduleEngines = []struct {
	name string
	open func(t *testing.T) *DB
}{
	{"SQLite", func(t *testing.T) *DB { return openT(t, "sqlite", filepath.Join(t.TempDir(), "xmppd.db")) }},
	{"PostgreSQL", func(t *testing.T) *DB { return openT(t, "pgx", pgtest.DSN(t, "xmppd_modmig_")) }},
}

func openT(t *testing.T, driver, dsn string) *DB {
	t.Helper()
	db, err := Open(t.Context(), driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func migrationFile(up, down string) *fstest.MapFile {
	return &fstest.MapFile{Data: []byte("-- +goose Up\n" + up + "\n-- +goose Down\n" + down + "\n")}
}

func versionOf(t *testing.T, db *DB, table string) int64 {
	t.Helper()
	var v int64
	if err := db.write.QueryRowContext(t.Context(), `SELECT max(version_id) FROM `+table).Scan(&v); err != nil {
		t.Fatalf("version in %s: %v", table, err)
	}
	return v
}

// TestModuleMigrationsIndependent: each module's migrations are versioned
// in its own table. Module a at version 3 does not make module b's
// version 1 look applied (the same numbers in one table would), b's
// later 00002 is applied although a is further, and neither moves the
// core's version.
func TestModuleMigrationsIndependent(t *testing.T) {
	for _, e := range moduleEngines {
		t.Run(e.name, func(t *testing.T) {
			db := e.open(t)
			ctx := t.Context()
			core, err := db.SchemaVersion(ctx)
			if err != nil {
				t.Fatal(err)
			}
			a := fstest.MapFS{
				"00001_a.sql": migrationFile("CREATE TABLE mod_a (x INTEGER);", "DROP TABLE mod_a;"),
				"00002_a.sql": migrationFile("ALTER TABLE mod_a ADD COLUMN y INTEGER;", "SELECT 1;"),
				"00003_a.sql": migrationFile("INSERT INTO mod_a (x, y) VALUES (1, 2);", "DELETE FROM mod_a;"),
			}
			if err := db.MigrateModule(ctx, "a", a); err != nil {
				t.Fatal(err)
			}
			b := fstest.MapFS{"00001_b.sql": migrationFile("CREATE TABLE mod_b (x INTEGER);", "DROP TABLE mod_b;")}
			if err := db.MigrateModule(ctx, "b", b); err != nil {
				t.Fatalf("module b's 00001 after module a's 00003: %v", err)
			}
			b["00002_b.sql"] = migrationFile("INSERT INTO mod_b (x) VALUES (7);", "DELETE FROM mod_b;")
			if err := db.MigrateModule(ctx, "b", b); err != nil {
				t.Fatal(err)
			}
			if err := db.MigrateModule(ctx, "a", a); err != nil {
				t.Fatalf("module a again, nothing pending: %v", err)
			}
			if v := versionOf(t, db, ModuleVersionTable("a")); v != 3 {
				t.Errorf("module a at version %d, want 3", v)
			}
			if v := versionOf(t, db, ModuleVersionTable("b")); v != 2 {
				t.Errorf("module b at version %d, want 2", v)
			}
			var n int
			if err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM mod_a WHERE y = 2`).Scan(&n); err != nil || n != 1 {
				t.Errorf("module a's 00003: %d rows, %v", n, err)
			}
			if err := db.read.QueryRowContext(ctx, `SELECT x FROM mod_b`).Scan(&n); err != nil || n != 7 {
				t.Errorf("module b's 00002: %d, %v", n, err)
			}
			if after, err := db.SchemaVersion(ctx); err != nil || after != core {
				t.Errorf("core schema version %d, %v; want %d", after, err, core)
			}
		})
	}
}

// TestModuleMigrationFails: a module migration that fails is an error
// naming the module and the file; the files before it stay applied, the
// failed one leaves nothing (its transaction rolled back) and is tried
// again next time.
func TestModuleMigrationFails(t *testing.T) {
	for _, e := range moduleEngines {
		t.Run(e.name, func(t *testing.T) {
			db := e.open(t)
			ctx := t.Context()
			fsys := fstest.MapFS{
				"00001_ok.sql": migrationFile("CREATE TABLE mod_ok (x INTEGER);", "DROP TABLE mod_ok;"),
				"00002_broken.sql": migrationFile("CREATE TABLE mod_half (x INTEGER);\nINSERT INTO no_such_table VALUES (1);",
					"DROP TABLE mod_half;"),
			}
			err := db.MigrateModule(ctx, "broken", fsys)
			if err == nil {
				t.Fatal("a failing module migration was applied without error")
			}
			for _, want := range []string{"module broken", "00002_broken.sql", "no_such_table"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %q", err, want)
				}
			}
			if v := versionOf(t, db, ModuleVersionTable("broken")); v != 1 {
				t.Errorf("module at version %d after the failure, want 1", v)
			}
			var n int
			q := `SELECT count(*) FROM sqlite_master WHERE name = 'mod_half'`
			if db.dialect == Postgres {
				q = `SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'mod_half'`
			}
			if err := db.write.QueryRowContext(ctx, q).Scan(&n); err != nil || n != 0 {
				t.Fatalf("the failed migration's table: %d, %v (half-applied)", n, err)
			}
			fsys["00002_broken.sql"] = migrationFile("CREATE TABLE mod_half (x INTEGER);", "DROP TABLE mod_half;")
			if err := db.MigrateModule(ctx, "broken", fsys); err != nil {
				t.Fatalf("the repaired migration: %v", err)
			}
		})
	}
}

// TestModuleMigrationsMissingDialect: a module without files for the
// database's dialect is refused by name, not skipped.
func TestModuleMigrationsMissingDialect(t *testing.T) {
	db := openT(t, "sqlite", filepath.Join(t.TempDir(), "xmppd.db"))
	if err := db.MigrateModule(t.Context(), "nodialect", nil); err == nil || !strings.Contains(err.Error(), "module nodialect") {
		t.Fatalf("MigrateModule without files = %v", err)
	}
}

// TestModuleMigrationsConcurrent: several processes (the daemon and the
// CLI, cluster nodes) migrating one module of one database at once all
// succeed, and each version is recorded once.
func TestModuleMigrationsConcurrent(t *testing.T) {
	for _, e := range []struct {
		name string
		dsn  func(t *testing.T) (string, string)
	}{
		{"SQLite", func(t *testing.T) (string, string) { return "sqlite", filepath.Join(t.TempDir(), "xmppd.db") }},
		{"PostgreSQL", func(t *testing.T) (string, string) { return "pgx", pgtest.DSN(t, "xmppd_modmig_") }},
	} {
		t.Run(e.name, func(t *testing.T) {
			driver, dsn := e.dsn(t)
			const n = 4
			dbs := make([]*DB, n)
			for i := range dbs {
				dbs[i] = openT(t, driver, dsn)
			}
			fsys := fstest.MapFS{
				"00001_a.sql": migrationFile("CREATE TABLE mod_a (x INTEGER);", "DROP TABLE mod_a;"),
				"00002_a.sql": migrationFile("CREATE TABLE mod_a2 (x INTEGER);", "DROP TABLE mod_a2;"),
			}
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range dbs {
				wg.Go(func() { errs[i] = dbs[i].MigrateModule(t.Context(), "a", fsys) })
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("MigrateModule %d: %v", i, err)
				}
			}
			var dup int
			if err := dbs[0].write.QueryRowContext(t.Context(), `SELECT count(*) FROM (SELECT version_id FROM `+
				ModuleVersionTable("a")+` GROUP BY version_id HAVING count(*) > 1) d`).Scan(&dup); err != nil || dup != 0 {
				t.Fatalf("versions recorded more than once: %d, %v", dup, err)
			}
		})
	}
}
