package blocking

import (
	"context"
	"fmt"
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

// BenchmarkChatHooks is the blocking module's work on a chat message
// between two local accounts with empty block lists, as c2s and the router
// run it: HookOutbound (the sender's list) and HookRoute (both lists), with
// 1,000 accounts cached, looked up in a scattered order.
//
//	go test -run XXX -bench ChatHooks -benchmem ./modules/blocking/
func BenchmarkChatHooks(b *testing.B) {
	ctx := context.Background()
	db, err := sqldb.Open(ctx, "sqlite", filepath.Join(b.TempDir(), "x.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	m := &mod{
		h:     &module.Handle{Services: module.Services{Hosts: func(d string) bool { return d == "localhost" }, Logger: slog.New(slog.DiscardHandler)}},
		store: db,
		cache: newCache(db, 2000),
	}
	const n = 1000
	sts := make([]*module.Stanza, n)
	for i := range n {
		to := fmt.Sprintf("u%d@localhost/r", i^1)
		sts[i] = &module.Stanza{
			El:   xml.NewBuilder("message", xml.NSClient).Attr("to", to).Element(),
			From: jid.MustParse(fmt.Sprintf("u%d@localhost/r", i)),
			To:   jid.MustParse(to),
		}
		if m.outbound(ctx, sts[i]) || m.route(ctx, sts[i]) {
			b.Fatal("unblocked message stopped")
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		st := sts[(i*7919)%n]
		if m.outbound(ctx, st) || m.route(ctx, st) {
			b.Fatal("unblocked message stopped")
		}
	}
}
