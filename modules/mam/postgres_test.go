package mam_test

import (
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
	return testutil.PostgresStorage(t, "xmppd_mam_")
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
