package muc

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/xml"
)

// recordRouter keeps what the module routes.
type recordRouter struct {
	mu  sync.Mutex
	out []*module.Stanza
}

func (r *recordRouter) Route(_ context.Context, st *module.Stanza) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.out = append(r.out, st)
}

// TestStopSends332: a module that stops tells the occupants still in
// (§11.2, code 332).
func TestStopSends332(t *testing.T) {
	rr := &recordRouter{}
	h := module.NewRegistry().NewHandle("muc", module.Services{Router: rr, VHosts: localhost, Hosts: func(d string) bool { return d == "localhost" }})
	m := &mod{}
	if err := m.Start(h); err != nil {
		t.Fatal(err)
	}
	s := m.services["conference.localhost"]
	from := jid.MustParse("alice@localhost/r")
	to := jid.MustParse("room@conference.localhost/alice")
	s.handle(context.Background(), &module.Stanza{El: xml.NewBuilder("presence", xml.NSClient).Attr("from", from.String()).Attr("to", to.String()).Start("x", NS).End().Element(), From: from, To: to})
	if err := m.stopAll(); err != nil {
		t.Fatal(err)
	}
	last := rr.out[len(rr.out)-1]
	if last.To != from || last.El.Attr("type") != "unavailable" || !strings.Contains(last.El.String(), "<status code='332'/>") {
		t.Fatalf("last stanza: %s", last.El)
	}
	if s.room("room") != nil {
		t.Fatal("room survives Stop")
	}
}

// localhost is the one virtual host of the tests that start the module
// by hand.
var localhost = []module.VHost{{Domain: "localhost"}}
