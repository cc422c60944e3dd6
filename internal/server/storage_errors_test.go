package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/config"
	"github.com/xmppd/xmppd/internal/server"
	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/storage/sqldb"
)

const adminListener = `
[[listen]]
type = "admin"
address = "127.0.0.1:0"
`

// waitMetric polls until sample reaches at least want: some writes (the
// archive's, last activity at logout) happen after the client saw its
// answer.
func waitMetric(t *testing.T, s *testutil.Server, sample string, want float64) float64 {
	t.Helper()
	var got float64
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if got = s.Metric(t, sample); got >= want {
			return got
		}
	}
	t.Fatalf("%s = %v, want %v", sample, got, want)
	return got
}

// TestStorageErrorsCounted makes the database read-only under a running
// server (SQLite's query_only on the one writer connection: unlike file
// permissions it holds for root too) and checks that the failed writes of
// offline storage, the archive, the roster and last activity are counted
// on /metrics by operation.
func TestStorageErrorsCounted(t *testing.T) {
	s := testutil.Start(t, adminListener)
	s.AddUser(t, "alice", "alice pass")
	s.AddUser(t, "bob", "bob pass")
	bob := testutil.Login(t, s, "bob", "bob pass", "pc")
	bob.Send("<presence/>")

	db := s.Accounts().(*sqldb.DB)
	ctx := context.Background()
	if _, err := db.SQL().ExecContext(ctx, "PRAGMA query_only = 1"); err != nil {
		t.Fatal(err)
	}
	// Writable again before the server stops, so that only what the test
	// provoked fails.
	defer db.SQL().ExecContext(ctx, "PRAGMA query_only = 0")

	const n = 3
	for i := range n {
		bob.Send("<message to='alice@localhost' type='chat' id='m%d'><body>hello %d</body></message>", i, i)
	}
	// alice is offline: each message is refused by offline storage.
	for range n {
		if el := bob.NextNamed("message"); el.Attr("type") != "error" {
			t.Fatalf("want an error bounce, got %s", el)
		}
	}
	bob.Send("<iq type='set' id='r1'><query xmlns='jabber:iq:roster'><item jid='carol@localhost'/></query></iq>")
	if el := bob.NextNamed("iq"); el.Attr("type") != "error" {
		t.Fatalf("roster set on a read-only database: %s", el)
	}
	bob.Close()

	if got := waitMetric(t, s, `xmppd_storage_errors_total{operation="StoreOffline"}`, n); got != n {
		t.Errorf("StoreOffline failures = %v, want %d", got, n)
	}
	waitMetric(t, s, `xmppd_storage_errors_total{operation="SetRosterItem"}`, 1)
	// Last activity is written in batches (modules/lastactivity).
	waitMetric(t, s, `xmppd_storage_errors_total{operation="SetLastActivities"}`, 1)
	// The archive writes in batches, off the delivery path.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if s.Metric(t, `xmppd_storage_errors_total{operation="AppendBatch"}`)+s.Metric(t, `xmppd_storage_errors_total{operation="Append"}`) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("archive writes failed uncounted")
		}
	}
}

// newServer runs server.New on a full configuration and returns its error
// (nil after stopping the server it made).
func newServer(t *testing.T, toml string) error {
	t.Helper()
	cfg, err := config.Parse([]byte(toml), "test.toml")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err == nil {
		srv.Shutdown(context.Background())
	}
	return err
}

// TestReadOnlyDatabaseAtStart: a database that opens but refuses writes
// stops the start with a message that says so, instead of a server that
// fails every write. mode=ro makes it read-only for root too.
func TestReadOnlyDatabaseAtStart(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "xmppd.db")
	db, err := sqldb.Open(context.Background(), "sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	err = newServer(t, testutil.BaseConfig(dir)+fmt.Sprintf("\n[storage]\ndriver = \"sqlite\"\ndsn = %q\n", "file:"+dbPath+"?mode=ro"))
	if err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("start on a read-only database: %v", err)
	}
}
