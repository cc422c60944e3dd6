package mam

import (
	"context"
	"testing"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/xml"
)

// TestRouteHookFree: the HookRoute hook runs for every routed stanza; for
// the ones it does not archive or rewrite it must cost no allocation and
// no lookup beyond the in-memory directory.
func TestRouteHookFree(t *testing.T) {
	m := &mod{h: &module.Handle{Services: module.Services{
		Hosts: func(d string) bool { return d == "localhost" },
	}}}
	ctx := context.Background()
	msg := func(to string, children ...string) *xml.Element {
		b := xml.NewBuilder("message", xml.NSClient).Attr("to", to).Attr("type", "chat")
		for _, c := range children {
			b.Start(c, xml.NSClient).End()
		}
		return b.Element()
	}
	for _, c := range []struct {
		name string
		st   *module.Stanza
	}{
		{"presence", &module.Stanza{El: xml.NewBuilder("presence", xml.NSClient).Element(),
			From: jid.MustParse("a@localhost/r"), To: jid.MustParse("b@localhost")}},
		{"iq", &module.Stanza{El: xml.NewBuilder("iq", xml.NSClient).Attr("type", "get").Element(),
			From: jid.MustParse("a@localhost/r"), To: jid.MustParse("localhost")}},
		{"message to a remote domain", &module.Stanza{El: msg("b@remote.example", "body"),
			From: jid.MustParse("a@localhost/r"), To: jid.MustParse("b@remote.example")}},
		{"body-less message to a local account", &module.Stanza{El: msg("b@localhost", "active"),
			From: jid.MustParse("a@remote.example/r"), To: jid.MustParse("b@localhost")}},
	} {
		if m.route(ctx, c.st) {
			t.Fatalf("%s: route stopped the chain", c.name)
		}
		if n := testing.AllocsPerRun(100, func() { m.route(ctx, c.st) }); n != 0 {
			t.Errorf("%s: route allocates %v times", c.name, n)
		}
	}
}
