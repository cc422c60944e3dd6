package push

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/storage/sqldb"
	"github.com/xmppd/xmppd/xml"
)

// lockedBuffer is a log destination the notification goroutine and the
// test share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// slowRead is the real database whose registrations read is still under
// way when the server stops: it waits for its context to end, then asks
// the database, which refuses a cancelled context as it would mid-query.
type slowRead struct {
	db      registrations
	reading chan struct{}
}

func (s slowRead) EnablePush(ctx context.Context, domain, username string, r Registration) error {
	return s.db.EnablePush(ctx, domain, username, r)
}

func (s slowRead) DisablePush(ctx context.Context, domain, username, service, node string, all bool) (int, error) {
	return s.db.DisablePush(ctx, domain, username, service, node, all)
}

func (s slowRead) PushRegistrations(ctx context.Context, domain, username string) ([]Registration, error) {
	close(s.reading)
	<-ctx.Done()
	return s.db.PushRegistrations(ctx, domain, username)
}

// TestShutdownLogsNoError: a notification whose storage read the
// shutdown cancels is abandoned quietly; an ERROR line at every SIGTERM
// would teach operators to ignore ERROR lines.
func TestShutdownLogsNoError(t *testing.T) {
	db, err := sqldb.Open(context.Background(), "sqlite", filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	migrate(t, db)
	var logs lockedBuffer
	store := slowRead{db: sqlStore{db.ModuleSQL()}, reading: make(chan struct{})}
	m := &mod{
		log:   slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		store: store,
		accts: map[string]*account{},
		sem:   make(chan struct{}, maxInFlight),
	}
	m.h = module.NewRegistry().NewHandle("push", module.Services{})
	msg := xml.NewBuilder("message", xml.NSClient).Attr("type", "chat").Start("body", "").Text("hi").End().Element()
	m.notify(jid.MustParse("alice@localhost"), &module.Stanza{El: msg, From: jid.MustParse("bob@localhost/pc")})
	<-store.reading
	if err := module.StopAll(context.Background(), []module.Started{{Name: "push", Module: m, Handle: m.h}}); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	if strings.Contains(out, "level=ERROR") {
		t.Fatalf("shutdown logged an error:\n%s", out)
	}
	if !strings.Contains(out, "abandoned at shutdown") {
		t.Fatalf("no trace of the abandoned notification:\n%s", out)
	}
}
