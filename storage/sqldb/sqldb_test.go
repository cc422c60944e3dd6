package sqldb_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/storage/sqldb"
	"github.com/xmppd/xmppd/storage/storagetest"
)

// postgresEnv names the variable that enables the PostgreSQL runs;
// testdata/start-postgres.sh prints a value for it.
const postgresEnv = "XMPPD_TEST_POSTGRES_DSN"

// backend opens a fresh, empty database of one engine.
type backend struct {
	name string
	// newDSN returns a driver and DSN naming a new, empty database that
	// is cleaned up with t.
	newDSN func(t testing.TB) (driver, dsn string)
}

func sqliteBackend() backend {
	return backend{"SQLite", func(t testing.TB) (string, string) {
		// A real file: WAL, the separate reader pool and the busy
		// handling only exist for files, not for :memory:.
		return "sqlite", filepath.Join(t.TempDir(), "xmppd.db")
	}}
}

// postgresBackend gives each database its own schema in the test
// database, so subtests are isolated without CREATE DATABASE rights.
func postgresBackend(t testing.TB) backend {
	dsn := os.Getenv(postgresEnv)
	if dsn == "" {
		t.Skipf("PostgreSQL tests skipped: set %s (run storage/sqldb/testdata/start-postgres.sh to get one)", postgresEnv)
	}
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	if err := admin.PingContext(t.Context()); err != nil {
		t.Fatalf("PostgreSQL at %s=%q: %v", postgresEnv, dsn, err)
	}
	return backend{"PostgreSQL", func(t testing.TB) (string, string) {
		b := make([]byte, 6)
		rand.Read(b)
		schema := "xmppd_test_" + hex.EncodeToString(b)
		if _, err := admin.ExecContext(context.Background(), "CREATE SCHEMA "+schema); err != nil {
			t.Fatalf("create schema: %v", err)
		}
		t.Cleanup(func() {
			if _, err := admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
				t.Errorf("drop schema: %v", err)
			}
		})
		return "pgx", withSearchPath(dsn, schema)
	}}
}

// withSearchPath adds a search_path run-time parameter to a pgx DSN in
// either URL or keyword/value form.
func withSearchPath(dsn, schema string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err == nil {
			q := u.Query()
			q.Set("search_path", schema)
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	return dsn + " search_path=" + schema
}

func open(t testing.TB, driver, dsn string) *sqldb.DB {
	t.Helper()
	db, err := sqldb.Open(t.Context(), driver, dsn)
	if err != nil {
		t.Fatalf("Open(%s): %v", driver, err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

func openNew(t testing.TB, b backend) *sqldb.DB {
	t.Helper()
	driver, dsn := b.newDSN(t)
	return open(t, driver, dsn)
}

func runAccounts(t *testing.T, b backend) {
	storagetest.RunAccounts(t, func(t *testing.T) storage.Accounts {
		return openNew(t, b)
	})
}

func TestAccountsSQLite(t *testing.T)   { runAccounts(t, sqliteBackend()) }
func TestAccountsPostgres(t *testing.T) { runAccounts(t, postgresBackend(t)) }

func runRosters(t *testing.T, b backend) {
	storagetest.RunRosters(t, func(t *testing.T) storagetest.RosterStore {
		return openNew(t, b)
	})
}

func TestRostersSQLite(t *testing.T)   { runRosters(t, sqliteBackend()) }
func TestRostersPostgres(t *testing.T) { runRosters(t, postgresBackend(t)) }

func runOffline(t *testing.T, b backend) {
	storagetest.RunOffline(t, func(t *testing.T) storagetest.OfflineStore {
		return openNew(t, b)
	})
}

func TestOfflineSQLite(t *testing.T)   { runOffline(t, sqliteBackend()) }
func TestOfflinePostgres(t *testing.T) { runOffline(t, postgresBackend(t)) }

func runPrivate(t *testing.T, b backend) {
	storagetest.RunPrivate(t, func(t *testing.T) storagetest.PrivateStore {
		return openNew(t, b)
	})
}

func TestPrivateSQLite(t *testing.T)   { runPrivate(t, sqliteBackend()) }
func TestPrivatePostgres(t *testing.T) { runPrivate(t, postgresBackend(t)) }

func TestReopenSQLite(t *testing.T)   { testReopen(t, sqliteBackend()) }
func TestReopenPostgres(t *testing.T) { testReopen(t, postgresBackend(t)) }

// testReopen opens an existing database again: the data is kept and no
// migration runs twice.
func testReopen(t *testing.T, b backend) {
	ctx := t.Context()
	driver, dsn := b.newDSN(t)

	db1, err := sqldb.Open(ctx, driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	v1, err := db1.SchemaVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v1 < 1 {
		t.Fatalf("schema version after first Open = %d, want >= 1", v1)
	}
	cred := storage.Credential{Hash: "SHA-256", Salt: []byte("salt"), Iterations: 4096, StoredKey: []byte{0, 1, 2}, ServerKey: []byte{3, 4, 5}}
	if err := db1.CreateAccount(ctx, "example.org", "alice", []storage.Credential{cred}); err != nil {
		t.Fatal(err)
	}
	rows1 := gooseRows(t, db1)
	if err := db1.Close(); err != nil {
		t.Fatal(err)
	}

	db2 := open(t, driver, dsn)
	v2, err := db2.SchemaVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v2 != v1 {
		t.Fatalf("schema version after reopen = %d, want %d", v2, v1)
	}
	if rows2 := gooseRows(t, db2); rows2 != rows1 {
		t.Fatalf("goose_db_version has %d rows after reopen, %d before: migrations re-applied", rows2, rows1)
	}
	got, err := db2.Credential(ctx, "example.org", "alice", "SHA-256")
	if err != nil {
		t.Fatalf("Credential after reopen: %v", err)
	}
	if string(got.StoredKey) != string(cred.StoredKey) || got.Iterations != cred.Iterations {
		t.Fatalf("Credential after reopen = %+v, want %+v", got, cred)
	}
}

func gooseRows(t *testing.T, db *sqldb.DB) int {
	t.Helper()
	var n int
	if err := db.SQL().QueryRowContext(t.Context(), `SELECT count(*) FROM goose_db_version`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSQLitePragmas checks the per-connection settings Open promises, on
// both pools (pragmas are per connection, so a pool that skipped them
// would silently lose cascades or wait no time for locks).
func TestSQLitePragmas(t *testing.T) {
	db := openNew(t, sqliteBackend())
	ctx := t.Context()
	for _, c := range []struct {
		pool         *sql.DB
		name, pragma string
		want         string
	}{
		{db.SQL(), "writer", "journal_mode", "wal"},
		{db.SQL(), "writer", "foreign_keys", "1"},
		{db.SQL(), "writer", "synchronous", "1"}, // NORMAL
		{db.SQL(), "writer", "busy_timeout", "10000"},
		{db.SQL(), "writer", "query_only", "0"},
		{db.SQL(), "writer", "wal_autocheckpoint", "8192"}, // issue 18: see openSQLite
		{db.ReadSQL(), "reader", "journal_mode", "wal"},
		{db.ReadSQL(), "reader", "foreign_keys", "1"},
		{db.ReadSQL(), "reader", "busy_timeout", "10000"},
		{db.ReadSQL(), "reader", "query_only", "1"},
	} {
		var got string
		if err := c.pool.QueryRowContext(ctx, "PRAGMA "+c.pragma).Scan(&got); err != nil {
			t.Fatalf("%s PRAGMA %s: %v", c.name, c.pragma, err)
		}
		if got != c.want {
			t.Errorf("%s PRAGMA %s = %q, want %q", c.name, c.pragma, got, c.want)
		}
	}
	if st := db.SQL().Stats(); st.MaxOpenConnections != 1 {
		t.Errorf("writer pool MaxOpenConnections = %d, want 1", st.MaxOpenConnections)
	}
}

// TestSQLiteTwoProcesses simulates the daemon and `xmppd user add` on one
// file: two DBs, each with its own writer, write at once. Across pools
// SQLite's busy_timeout and BEGIN IMMEDIATE must keep SQLITE_BUSY away.
func TestSQLiteTwoProcesses(t *testing.T) {
	driver, dsn := sqliteBackend().newDSN(t)
	dbs := []*sqldb.DB{open(t, driver, dsn), open(t, driver, dsn)}
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for p, db := range dbs {
		for g := range 4 {
			wg.Go(func() {
				for i := range 30 {
					user := fmt.Sprintf("p%d-g%d-%d", p, g, i)
					cs := []storage.Credential{{Hash: "SHA-256", Salt: []byte{1}, Iterations: 1, StoredKey: []byte{2}, ServerKey: []byte{3}}}
					if err := db.CreateAccount(ctx, "example.org", user, cs); err != nil {
						errs <- err
						return
					}
					if err := db.SetCredentials(ctx, "example.org", user, cs); err != nil {
						errs <- err
						return
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	list, err := dbs[0].ListAccounts(ctx, "example.org")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2*4*30 {
		t.Fatalf("%d accounts, want %d", len(list), 2*4*30)
	}
}

func TestSQLiteMemory(t *testing.T) {
	// :memory: is one database per connection, so Open must keep a
	// single connection for it; the migrated schema must be visible.
	db := open(t, "sqlite", ":memory:")
	ctx := t.Context()
	if err := db.CreateAccount(ctx, "example.org", "alice", nil); err != nil {
		t.Fatal(err)
	}
	if ok, err := db.AccountExists(ctx, "example.org", "alice"); err != nil || !ok {
		t.Fatalf("AccountExists = %v, %v", ok, err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := t.Context()
	if _, err := sqldb.Open(ctx, "mysql", "x"); err == nil {
		t.Error("Open with unknown driver succeeded")
	}
	if _, err := sqldb.Open(ctx, "sqlite", ""); err == nil {
		t.Error("Open with empty SQLite path succeeded")
	}
	// A directory that does not exist cannot hold the file.
	if _, err := sqldb.Open(ctx, "sqlite", filepath.Join(t.TempDir(), "missing", "x.db")); err == nil {
		t.Error("Open in a missing directory succeeded")
	}
}

func TestInvalidCredentials(t *testing.T) {
	db := openNew(t, sqliteBackend())
	ctx := t.Context()
	dup := []storage.Credential{
		{Hash: "SHA-1", Iterations: 1},
		{Hash: "SHA-1", Iterations: 1},
	}
	err := db.CreateAccount(ctx, "example.org", "alice", dup)
	if err == nil || errors.Is(err, storage.ErrExists) {
		t.Fatalf("CreateAccount with duplicate hash: err = %v, want a validation error", err)
	}
	if ok, _ := db.AccountExists(ctx, "example.org", "alice"); ok {
		t.Fatal("account created despite invalid credentials")
	}
	if err := db.CreateAccount(ctx, "example.org", "alice", []storage.Credential{{Hash: "SHA-1"}}); err == nil {
		t.Fatal("CreateAccount with zero iterations succeeded")
	}
}

func TestConcurrentOpenSQLite(t *testing.T)   { testConcurrentOpen(t, sqliteBackend()) }
func TestConcurrentOpenPostgres(t *testing.T) { testConcurrentOpen(t, postgresBackend(t)) }

// testConcurrentOpen starts several "processes" on one new database at
// once (cluster nodes, or the daemon and the CLI): all must open, and
// each migration must be recorded once.
func testConcurrentOpen(t *testing.T, b backend) {
	driver, dsn := b.newDSN(t)
	const n = 4
	dbs := make([]*sqldb.DB, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { dbs[i], errs[i] = sqldb.Open(t.Context(), driver, dsn) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Errorf("Open %d: %v", i, errs[i])
			continue
		}
		defer dbs[i].Close()
	}
	if t.Failed() {
		return
	}
	var dup int
	if err := dbs[0].SQL().QueryRowContext(t.Context(),
		`SELECT count(*) FROM (SELECT version_id FROM goose_db_version
		 GROUP BY version_id HAVING count(*) > 1) d`).Scan(&dup); err != nil {
		t.Fatal(err)
	}
	if dup != 0 {
		t.Fatalf("%d migration versions recorded more than once", dup)
	}
}

func runBlockLists(t *testing.T, b backend) {
	storagetest.RunBlockLists(t, func(t *testing.T) storagetest.BlockListStore {
		return openNew(t, b)
	})
}

func runLastActivity(t *testing.T, b backend) {
	storagetest.RunLastActivity(t, func(t *testing.T) storagetest.LastActivityStore {
		return openNew(t, b)
	})
}

func TestBlockListsSQLite(t *testing.T)     { runBlockLists(t, sqliteBackend()) }
func TestBlockListsPostgres(t *testing.T)   { runBlockLists(t, postgresBackend(t)) }
func TestLastActivitySQLite(t *testing.T)   { runLastActivity(t, sqliteBackend()) }
func TestLastActivityPostgres(t *testing.T) { runLastActivity(t, postgresBackend(t)) }

func runPubSub(t *testing.T, b backend) {
	storagetest.RunPubSub(t, func(t *testing.T) storagetest.PubSubStore { return openNew(t, b) })
}

func TestPubSubSQLite(t *testing.T)   { runPubSub(t, sqliteBackend()) }
func TestPubSubPostgres(t *testing.T) { runPubSub(t, postgresBackend(t)) }

func runArchive(t *testing.T, b backend) {
	storagetest.RunArchive(t, func(t *testing.T) storagetest.ArchiveStore {
		return openNew(t, b)
	})
}

func TestArchiveSQLite(t *testing.T)   { runArchive(t, sqliteBackend()) }
func TestArchivePostgres(t *testing.T) { runArchive(t, postgresBackend(t)) }

func runMUCRooms(t *testing.T, b backend) {
	storagetest.RunMUCRooms(t, func(t *testing.T) storage.MUCRooms {
		return openNew(t, b)
	})
}

func TestMUCRoomsSQLite(t *testing.T)   { runMUCRooms(t, sqliteBackend()) }
func TestMUCRoomsPostgres(t *testing.T) { runMUCRooms(t, postgresBackend(t)) }

func runInvites(t *testing.T, b backend) {
	storagetest.RunInvites(t, func(t *testing.T) storagetest.InviteStore { return openNew(t, b) })
}

func TestInvitesSQLite(t *testing.T)   { runInvites(t, sqliteBackend()) }
func TestInvitesPostgres(t *testing.T) { runInvites(t, postgresBackend(t)) }
func runFastTokens(t *testing.T, b backend) {
	storagetest.RunFastTokens(t, func(t *testing.T) storagetest.FastStore {
		return openNew(t, b)
	})
}

func TestFastTokensSQLite(t *testing.T)   { runFastTokens(t, sqliteBackend()) }
func TestFastTokensPostgres(t *testing.T) { runFastTokens(t, postgresBackend(t)) }
