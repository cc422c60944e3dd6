package blocking

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/router"
	"github.com/xmppd/xmppd/storage/sqldb"
	"github.com/xmppd/xmppd/xml"
)

type nopRemote struct{}

func (nopRemote) RouteRemote(context.Context, *module.Stanza) error { return nil }

// TestRouteHookFree: with no HookRoute registered, calling the hook at the
// start of Router.Route costs no allocation (the rest of the path to a
// remote domain allocates nothing either, so any allocation is the hook's).
func TestRouteHookFree(t *testing.T) {
	r := &router.Router{
		Registry: module.NewRegistry(),
		Dir:      router.NewLocal(),
		Hosts:    func(string) bool { return false },
		Remote:   nopRemote{},
		Log:      slog.New(slog.DiscardHandler),
	}
	st := &module.Stanza{
		El:   xml.NewBuilder("message", xml.NSClient).Attr("to", "b@remote.example").Element(),
		From: jid.MustParse("a@localhost/r"),
		To:   jid.MustParse("b@remote.example"),
	}
	ctx := context.Background()
	if n := testing.AllocsPerRun(100, func() { r.Route(ctx, st) }); n != 0 {
		t.Fatalf("Route allocates %v times per stanza with no hook", n)
	}
}

// TestRouteHookCachedFree: the blocking hook itself costs no allocation
// for a stanza it lets through once both lists are cached.
func TestRouteHookCachedFree(t *testing.T) {
	ctx := context.Background()
	db, err := sqldb.Open(ctx, "sqlite", filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, u := range []string{"alice", "bob"} {
		if err := db.CreateAccount(ctx, "localhost", u, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Block(ctx, "localhost", "alice", []string{"eve@localhost", "bob@localhost/other", "spam.example"}); err != nil {
		t.Fatal(err)
	}
	m := &mod{
		h:     &module.Handle{Services: module.Services{Hosts: func(d string) bool { return d == "localhost" }, Logger: slog.New(slog.DiscardHandler)}},
		store: db,
		cache: newCache(db, 16),
	}
	st := &module.Stanza{
		El:   xml.NewBuilder("message", xml.NSClient).Attr("to", "bob@localhost/r").Element(),
		From: jid.MustParse("alice@localhost/r"),
		To:   jid.MustParse("bob@localhost/r"),
	}
	if m.route(ctx, st) {
		t.Fatal("unblocked message stopped")
	}
	if n := testing.AllocsPerRun(100, func() { m.route(ctx, st) }); n != 0 {
		t.Fatalf("route allocates %v times per stanza", n)
	}
}
