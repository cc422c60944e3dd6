package acme

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"slices"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/acme/acmetest"
	"github.com/xmppd/xmppd/internal/testutil/pgtest"
	"github.com/xmppd/xmppd/storage/sqldb"
)

// postgresDSN returns a DSN for a fresh, migrated schema in the test
// database named by XMPPD_TEST_POSTGRES_DSN, or skips.
func postgresDSN(t *testing.T) string {
	t.Helper()
	dsn := pgtest.DSN(t, "xmppd_acme_")
	db, err := sqldb.Open(t.Context(), "pgx", dsn) // migrates
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	return dsn
}

// node is one xmppd node's storage: a pool of its own on the database.
func node(t *testing.T, dsn string) *PostgresStorage {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(4)
	t.Cleanup(func() { db.Close() })
	return &PostgresStorage{DB: db}
}

func TestPostgresStorage(t *testing.T) {
	s := node(t, postgresDSN(t))
	ctx := t.Context()
	if _, err := s.Load(ctx, "a/b"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load of a missing key: %v, want fs.ErrNotExist", err)
	}
	for _, k := range []string{"a/b", "a/c/d", "a/c/e", "ab"} {
		if err := s.Store(ctx, k, []byte("v "+k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Store(ctx, "a/b", []byte("new")); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Load(ctx, "a/b"); err != nil || string(v) != "new" {
		t.Fatalf("Load after overwrite: %q, %v", v, err)
	}
	if !s.Exists(ctx, "a/c") || !s.Exists(ctx, "ab") || s.Exists(ctx, "a/x") {
		t.Error("Exists")
	}
	if got, _ := s.List(ctx, "a", false); !slices.Equal(got, []string{"a/b", "a/c"}) {
		t.Errorf("List a = %q", got)
	}
	if got, _ := s.List(ctx, "a", true); !slices.Equal(got, []string{"a/b", "a/c/d", "a/c/e"}) {
		t.Errorf("List a recursive = %q", got)
	}
	if ki, err := s.Stat(ctx, "a/b"); err != nil || !ki.IsTerminal || ki.Size != 3 || time.Since(ki.Modified) > time.Hour {
		t.Errorf("Stat a/b = %+v, %v", ki, err)
	}
	if ki, err := s.Stat(ctx, "a/c"); err != nil || ki.IsTerminal {
		t.Errorf("Stat a/c = %+v, %v", ki, err)
	}
	if err := s.Delete(ctx, "a/c"); err != nil {
		t.Fatal(err)
	}
	if s.Exists(ctx, "a/c/d") || !s.Exists(ctx, "a/b") || !s.Exists(ctx, "ab") {
		t.Error("Delete of a folder removed the wrong keys")
	}
	if err := s.Delete(ctx, "nothing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Delete of a missing key: %v", err)
	}
}

// TestPostgresLock: a lock held by one node keeps another out until it
// is released; a wait given up leaves nothing held.
func TestPostgresLock(t *testing.T) {
	dsn := postgresDSN(t)
	a, b := node(t, dsn), node(t, dsn)
	ctx := t.Context()
	if err := a.Lock(ctx, "cert"); err != nil {
		t.Fatal(err)
	}
	// Another name is free.
	if err := b.Lock(ctx, "other"); err != nil {
		t.Fatal(err)
	}
	b.Unlock(ctx, "other")

	got := make(chan error, 1)
	go func() { got <- b.Lock(ctx, "cert") }()
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if err := node(t, dsn).Lock(short, "cert"); err == nil {
		t.Fatal("a third node got a lock that is held")
	}
	select {
	case err := <-got:
		t.Fatalf("b got the lock while a holds it (%v)", err)
	default:
	}
	if err := a.Unlock(ctx, "cert"); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("b after a's unlock: %v", err)
	}
	if err := b.Unlock(ctx, "cert"); err != nil {
		t.Fatal(err)
	}
	// The abandoned wait left no session holding it.
	if err := a.Lock(ctx, "cert"); err != nil {
		t.Fatal(err)
	}
	a.Unlock(ctx, "cert")
	if err := a.Unlock(ctx, "cert"); err == nil {
		t.Error("unlocking a lock not held succeeded")
	}
}

// TestClusterRenewsOncePostgres: TestClusterRenewsOnce with the nodes
// sharing the database instead of a folder.
func TestClusterRenewsOncePostgres(t *testing.T) {
	dsn := postgresDSN(t)
	ln := listen(t)
	p := acmetest.Start(t, acmetest.Options{HTTPPort: port(ln)})
	gotA, gotB := make(installs, 4), make(installs, 4)
	a := newManagerOn(t, p, node(t, dsn), Config{HTTPAddress: ln.Addr().String(), Install: gotA.install})
	b := newManagerOn(t, p, node(t, dsn), Config{HTTPAddress: ln.Addr().String(), Install: gotB.install})
	serveHTTP(t, ln, a)
	a.Start(context.Background())
	b.Start(context.Background())
	ca, cb := gotA.next(t), gotB.next(t)
	if !ca.Leaf.Equal(cb.Leaf) {
		t.Error("the two nodes use different certificates")
	}
	if n := p.Finalized.Load(); n != 1 {
		t.Errorf("%d certificates issued, want 1", n)
	}
}
