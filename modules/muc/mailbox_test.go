package muc

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/xml"
)

// gateRouter holds every Route until the gate opens: a room's runner
// stuck behind it leaves its mailbox filling up.
type gateRouter struct {
	gate    chan struct{}
	entered chan struct{}
}

func (g *gateRouter) Route(context.Context, *module.Stanza) {
	select {
	case g.entered <- struct{}{}:
	default:
	}
	<-g.gate
}

// TestMailboxBound: a full mailbox makes a client's sender wait (here
// until its context ends: the stanza is then not taken), while the
// module's own runners are never made to wait; once the runner moves
// on, everything taken is handled.
func TestMailboxBound(t *testing.T) {
	g := &gateRouter{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	cfg := module.ConfigOf[*Config](module.NewRegistry().NewHandle("muc", module.Services{}))
	cfg.MessageRate = 0
	h := module.NewRegistry().NewHandle("muc", module.Services{Router: g, Sections: map[string]any{"muc": cfg}, VHosts: localhost, Hosts: func(d string) bool { return d == "localhost" }})
	m := &mod{}
	if err := m.Start(h); err != nil {
		t.Fatal(err)
	}
	s := m.services["conference.localhost"]
	alice := jid.MustParse("alice@localhost/r")
	to := jid.MustParse("room@conference.localhost/alice")
	join := &module.Stanza{El: xml.NewBuilder("presence", xml.NSClient).Start("x", NS).End().Element(), From: alice, To: to}
	s.handle(context.Background(), join)
	<-g.entered // the runner is inside Route, with nothing else taken
	r := s.room("room")
	ping := func() *module.Stanza {
		return &module.Stanza{El: xml.NewBuilder("iq", xml.NSClient).Attr("type", "get").Attr("id", "p").
			Start("ping", nsPing).End().Element(), From: alice, To: to.Bare()}
	}
	for range mailboxSize {
		s.handle(context.Background(), ping())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	s.handle(ctx, ping()) // the mailbox is full: waits, then gives up
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatal("a client's stanza was taken into a full mailbox")
	}
	internal := context.WithValue(context.Background(), internalKey{}, true)
	s.handle(internal, ping()) // a runner's: taken at once
	r.qmu.Lock()
	n := len(r.queue)
	r.qmu.Unlock()
	if n != mailboxSize+1 {
		t.Fatalf("%d queued, want %d", n, mailboxSize+1)
	}
	close(g.gate)
	m.settle()
	r.qmu.Lock()
	n = len(r.queue)
	r.qmu.Unlock()
	if n != 0 {
		t.Fatalf("%d left in the mailbox", n)
	}
	if err := m.stopAll(); err != nil {
		t.Fatal(err)
	}
}
