package blocking

import (
	"context"
	"log/slog"
	"testing"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/router"
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
