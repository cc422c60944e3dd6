package server_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/storage/sqldb"
)

// probe is a schema of this test binary's own: every server these tests
// start applies it. Its one migration fails only on a database that
// already has the table, which TestModuleMigrationFailsStart makes.
func init() {
	probe := fstest.MapFS{"00001_probe.sql": &fstest.MapFile{Data: []byte(
		"-- +goose Up\nCREATE TABLE servertest_probe (x INTEGER);\n-- +goose Down\nDROP TABLE servertest_probe;\n")}}
	module.RegisterSchema("servertest_probe", module.Schema{SQLite: probe, Postgres: probe})
}

// TestModuleMigrationFailsStart: a module's migration that fails stops
// the server's start with an error naming the module and the file.
func TestModuleMigrationFailsStart(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "xmppd.db")
	db, err := sqldb.Open(context.Background(), "sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.SQL().Exec("CREATE TABLE servertest_probe (y TEXT)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	err = newServer(t, testutil.BaseConfig(dir)+fmt.Sprintf("\n[storage]\ndriver = \"sqlite\"\ndsn = %q\n", dbPath))
	if err == nil {
		t.Fatal("the server started although a module's migration failed")
	}
	for _, want := range []string{"module servertest_probe", "00001_probe.sql", "already exists"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("start error %q does not name %q", err, want)
		}
	}
}

// TestModuleSchemasApplied: a started server has applied every declared
// schema, each in its own version table.
func TestModuleSchemasApplied(t *testing.T) {
	s := testutil.Start(t, "")
	db := s.Accounts().(*sqldb.DB)
	if len(module.Schemas()) < 2 {
		t.Fatalf("schemas declared: %v (modules/all not linked?)", module.Schemas())
	}
	for _, sc := range module.Schemas() {
		var v int64
		if err := db.SQL().QueryRow("SELECT max(version_id) FROM " + sqldb.ModuleVersionTable(sc.Module)).Scan(&v); err != nil || v < 1 {
			t.Errorf("module %s: version %d, %v", sc.Module, v, err)
		}
	}
}

// TestModuleSQLFailuresCounted: a module's failed statement on its own
// tables is counted on /metrics under the module's name, as the core
// stores' failures are (TestStorageErrorsCounted).
func TestModuleSQLFailuresCounted(t *testing.T) {
	s := testutil.Start(t, adminListener)
	s.AddUser(t, "alice", "alice pass")
	a := testutil.Login(t, s, "alice", "alice pass", "phone")
	db := s.Accounts().(*sqldb.DB)
	ctx := context.Background()
	if _, err := db.SQL().ExecContext(ctx, "PRAGMA query_only = 1"); err != nil {
		t.Fatal(err)
	}
	defer db.SQL().ExecContext(ctx, "PRAGMA query_only = 0")
	a.Send("<iq type='set' id='e1'><enable xmlns='urn:xmpp:push:0' jid='push.example' node='n1'/></iq>")
	if el := a.NextNamed("iq"); el.Attr("type") != "error" {
		t.Fatalf("push enable on a read-only database: %s", el)
	}
	waitMetric(t, s, `xmppd_storage_errors_total{operation="push.Exec"}`, 1)
}
