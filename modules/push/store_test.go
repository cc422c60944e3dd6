package push

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/testutil/pgtest"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/storage/sqldb"
)

// The registrations' storage contract (formerly storage/storagetest's
// push suite), run on the real database: SQLite, and PostgreSQL with
// XMPPD_TEST_POSTGRES_DSN. The store is the module's own (store.go) on
// the tables its own migrations made.

// PushStore is what the suite needs: the registrations, and accounts to
// own them.
type PushStore interface {
	storage.Accounts
	registrations
}

type dbStore struct {
	*sqldb.DB
	sqlStore
}

// engine opens a fresh, empty database of one engine, core migrated.
type engine struct {
	name string
	open func(t *testing.T) *sqldb.DB
}

func engines() []engine {
	return []engine{
		{"SQLite", func(t *testing.T) *sqldb.DB {
			return openDB(t, "sqlite", filepath.Join(t.TempDir(), "xmppd.db"))
		}},
		{"PostgreSQL", func(t *testing.T) *sqldb.DB {
			return openDB(t, "pgx", pgtest.DSN(t, "xmppd_push_"))
		}},
	}
}

func openDB(t *testing.T, driver, dsn string) *sqldb.DB {
	t.Helper()
	db, err := sqldb.Open(t.Context(), driver, dsn)
	if err != nil {
		t.Fatalf("Open(%s): %v", driver, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// migrate applies the module's migrations as the server does.
func migrate(t *testing.T, db *sqldb.DB) {
	t.Helper()
	s := moduleSchema(t)
	if err := db.MigrateModule(t.Context(), "push", s.For(db.ModuleSQL().Dialect())); err != nil {
		t.Fatal(err)
	}
}

func newStore(t *testing.T, e engine) PushStore {
	db := e.open(t)
	migrate(t, db)
	return dbStore{db, sqlStore{db.ModuleSQL()}}
}

func TestRegistrations(t *testing.T) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			for _, tc := range []struct {
				name string
				fn   func(t *testing.T, ctx context.Context, s PushStore)
			}{
				{"Empty", testPushEmpty},
				{"EnableReplacesSameKey", testPushReplace},
				{"DisableOneNodeOrAll", testPushDisable},
				{"AccountsApart", testPushApart},
				{"MissingAccount", testPushMissingAccount},
				{"DeleteAccountCascades", testPushDeleteAccount},
			} {
				t.Run(tc.name, func(t *testing.T) {
					ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
					defer cancel()
					tc.fn(t, ctx, newStore(t, e))
				})
			}
		})
	}
}

func mustCreate(t *testing.T, ctx context.Context, s storage.Accounts, domain, user string, cs []storage.Credential) {
	t.Helper()
	if err := s.CreateAccount(ctx, domain, user, cs); err != nil {
		t.Fatalf("CreateAccount(%q, %q): %v", domain, user, err)
	}
}

func wantPush(t *testing.T, ctx context.Context, s PushStore, domain, user string, want []Registration) {
	t.Helper()
	got, err := s.PushRegistrations(ctx, domain, user)
	if err != nil {
		t.Fatalf("PushRegistrations(%q, %q): %v", domain, user, err)
	}
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("PushRegistrations(%q, %q) =\n%+v\nwant\n%+v", domain, user, got, want)
	}
}

func mustEnablePush(t *testing.T, ctx context.Context, s PushStore, domain, user string, r Registration) {
	t.Helper()
	if err := s.EnablePush(ctx, domain, user, r); err != nil {
		t.Fatalf("EnablePush(%q, %q, %+v): %v", domain, user, r, err)
	}
}

var pushAt = time.UnixMilli(1_700_000_000_123).UTC()

func testPushEmpty(t *testing.T, ctx context.Context, s PushStore) {
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	wantPush(t, ctx, s, "example.org", "alice", nil)
	wantPush(t, ctx, s, "example.org", "nobody", nil)
	if n, err := s.DisablePush(ctx, "example.org", "alice", "push.example", "", true); err != nil || n != 0 {
		t.Fatalf("DisablePush of nothing = %d, %v; want 0, nil", n, err)
	}
}

func testPushReplace(t *testing.T, ctx context.Context, s PushStore) {
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	// Created is kept to the millisecond and returned in UTC.
	at := time.Date(2026, 3, 1, 12, 0, 0, 987654321, time.FixedZone("X", 7200))
	a := Registration{Service: "push.example", Node: "n1", Options: "<x xmlns='jabber:x:data' type='submit'/>", Created: at}
	mustEnablePush(t, ctx, s, "example.org", "alice", a)
	a.Created = at.Truncate(time.Millisecond).UTC()
	wantPush(t, ctx, s, "example.org", "alice", []Registration{a})

	// Same service and node: the last request's options win (XEP-0357 §5).
	a2 := Registration{Service: "push.example", Node: "n1", Options: "", IncludeBody: true, Created: pushAt}
	mustEnablePush(t, ctx, s, "example.org", "alice", a2)
	// Another node of the same service, and an empty node, are separate.
	b := Registration{Service: "push.example", Node: "n0", Created: pushAt}
	c := Registration{Service: "a.push.example", Node: "", Created: pushAt}
	mustEnablePush(t, ctx, s, "example.org", "alice", b)
	mustEnablePush(t, ctx, s, "example.org", "alice", c)
	wantPush(t, ctx, s, "example.org", "alice", []Registration{c, b, a2})
}

func testPushDisable(t *testing.T, ctx context.Context, s PushStore) {
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	regs := []Registration{
		{Service: "other.example", Node: "n1", Created: pushAt},
		{Service: "push.example", Node: "n1", Created: pushAt},
		{Service: "push.example", Node: "n2", Created: pushAt},
	}
	for _, r := range regs {
		mustEnablePush(t, ctx, s, "example.org", "alice", r)
	}
	if n, err := s.DisablePush(ctx, "example.org", "alice", "push.example", "n2", false); err != nil || n != 1 {
		t.Fatalf("DisablePush one node = %d, %v; want 1", n, err)
	}
	if n, err := s.DisablePush(ctx, "example.org", "alice", "push.example", "n2", false); err != nil || n != 0 {
		t.Fatalf("DisablePush again = %d, %v; want 0", n, err)
	}
	wantPush(t, ctx, s, "example.org", "alice", regs[:2])
	mustEnablePush(t, ctx, s, "example.org", "alice", regs[2])
	if n, err := s.DisablePush(ctx, "example.org", "alice", "push.example", "", true); err != nil || n != 2 {
		t.Fatalf("DisablePush all nodes = %d, %v; want 2", n, err)
	}
	wantPush(t, ctx, s, "example.org", "alice", regs[:1])
}

func testPushApart(t *testing.T, ctx context.Context, s PushStore) {
	accts := [][2]string{{"example.org", "alice"}, {"example.org", "bob"}, {"example.net", "alice"}}
	for _, a := range accts {
		mustCreate(t, ctx, s, a[0], a[1], nil)
		mustEnablePush(t, ctx, s, a[0], a[1], Registration{Service: "push.example", Node: a[1] + "@" + a[0], Created: pushAt})
	}
	if _, err := s.DisablePush(ctx, "example.org", "alice", "push.example", "", true); err != nil {
		t.Fatal(err)
	}
	wantPush(t, ctx, s, "example.org", "alice", nil)
	for _, a := range accts[1:] {
		wantPush(t, ctx, s, a[0], a[1], []Registration{{Service: "push.example", Node: a[1] + "@" + a[0], Created: pushAt}})
	}
}

func testPushMissingAccount(t *testing.T, ctx context.Context, s PushStore) {
	err := s.EnablePush(ctx, "example.org", "nobody", Registration{Service: "push.example", Created: pushAt})
	if !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("EnablePush for a missing account = %v, want ErrNotFound", err)
	}
}

func testPushDeleteAccount(t *testing.T, ctx context.Context, s PushStore) {
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	mustEnablePush(t, ctx, s, "example.org", "alice", Registration{Service: "push.example", Node: "n", Created: pushAt})
	if err := s.DeleteAccount(ctx, "example.org", "alice"); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, ctx, s, "example.org", "alice", nil)
	wantPush(t, ctx, s, "example.org", "alice", nil)
}
