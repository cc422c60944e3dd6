package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/storage/sqldb"
)

// TestCLIModuleSchemas: commands that open storage without starting
// modules still apply the modules' own migrations (a new database made by
// "xmppd user add" has modules/push's table, versioned in its own
// table), and "xmppd user del" deletes the rows a module keeps for the
// account (push registrations go by their foreign key).
func TestCLIModuleSchemas(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "xmppd.toml")
	if err := os.WriteFile(cfgPath, []byte(testutil.BaseConfig(dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := cli(t, "password\n", "user", "add", "-config", cfgPath, "alice@localhost"); code != 0 {
		t.Fatalf("user add: %s", errs)
	}
	ctx := context.Background()
	db, err := sqldb.Open(ctx, "sqlite", filepath.Join(dir, "xmppd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int64
	if err := db.SQL().QueryRowContext(ctx, "SELECT max(version_id) FROM "+sqldb.ModuleVersionTable("push")).Scan(&v); err != nil || v < 1 {
		t.Fatalf("push schema after user add: version %d, %v", v, err)
	}
	if _, err := db.SQL().ExecContext(ctx, `INSERT INTO push_registrations (domain, username, service, node, options, include_body, created_ms)
		VALUES ('localhost', 'alice', 'push.example', 'n1', '', 0, 0)`); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := cli(t, "", "user", "del", "-config", cfgPath, "alice@localhost"); code != 0 {
		t.Fatalf("user del: %s", errs)
	}
	var n int
	if err := db.SQL().QueryRowContext(ctx, "SELECT count(*) FROM push_registrations").Scan(&n); err != nil || n != 0 {
		t.Fatalf("push registrations after user del: %d, %v", n, err)
	}
}
