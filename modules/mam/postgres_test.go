package mam_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"slices"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // driver "pgx" for the schema set-up

	"github.com/xmppd/xmppd/internal/testutil"
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
	schema := "xmppd_mam_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(t.Context(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() { admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE") })
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return fmt.Sprintf("\n[storage]\ndriver = \"postgres\"\ndsn = %q\n", u.String())
}

// TestPostgres runs the module's main paths on PostgreSQL: both
// directions, paging backwards, preferences, a restart.
func TestPostgres(t *testing.T) {
	storage := postgresStorage(t)
	dir := t.TempDir()
	cfg := testutil.BaseConfig(dir) + storage
	s := testutil.StartIn(t, dir, cfg)
	s.AddUser(t, "alice", pw)
	s.AddUser(t, "bob", pw)
	alice := testutil.Login(t, s, "alice", pw, "laptop")
	alice.Send("<presence/>")
	bob := testutil.Login(t, s, "bob", pw, "phone")
	sync(t, alice)
	chat(t, bob, "alice@localhost", "in", 5)
	got := sync(t, alice)
	if len(got) != 5 || len(stanzaIDs(got[0])) != 1 {
		t.Fatalf("alice got %d messages: %v", len(got), got)
	}
	chat(t, alice, "bob@localhost", "out", 2)
	want := []string{"in0", "in1", "in2", "in3", "in4", "out0", "out1"}
	if r := mustQuery(t, alice, ""); !slices.Equal(r.bodies, want) || r.count != 7 || !r.complete {
		t.Fatalf("archive %v count %d complete %v", r.bodies, r.count, r.complete)
	}
	r := mustQuery(t, alice, rsm("<max>3</max><before/>"))
	if !slices.Equal(r.bodies, want[4:]) || r.complete {
		t.Fatalf("last page %v", r.bodies)
	}
	r = mustQuery(t, alice, rsm("<max>3</max><before>"+r.first+"</before>"))
	if !slices.Equal(r.bodies, want[1:4]) {
		t.Fatalf("page before %v", r.bodies)
	}
	if r := mustQuery(t, alice, form("with", "bob@localhost", "after-id", r.ids[0])); r.count != 5 {
		t.Fatalf("with + after-id count %d", r.count)
	}
	if r, _ := request(t, alice, "<iq type='set' id='%s'><prefs xmlns='urn:xmpp:mam:2' default='never'/></iq>"); r.Attr("type") != "result" {
		t.Fatalf("prefs: %s", r)
	}
	chat(t, bob, "alice@localhost", "skipped", 1)
	alice.Close()
	bob.Close()
	s.Stop(t)

	s2 := testutil.StartIn(t, dir, cfg)
	alice = testutil.Login(t, s2, "alice", pw, "laptop")
	if r := mustQuery(t, alice, ""); !slices.Equal(r.bodies, want) {
		t.Fatalf("after restart %v", r.bodies)
	}
	r2, _ := request(t, alice, "<iq type='get' id='%s'><prefs xmlns='urn:xmpp:mam:2'/></iq>")
	if p := r2.Child("prefs", "urn:xmpp:mam:2"); p == nil || p.Attr("default") != "never" {
		t.Fatalf("prefs after restart: %s", r2)
	}
}
