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

// fakeCluster owns every key on one node, "self" or another.
type fakeCluster struct {
	mu    sync.Mutex
	owner string
	fwd   []*module.Stanza
}

func (c *fakeCluster) Owner(string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.owner, c.owner == "self"
}

func (c *fakeCluster) Forward(_ string, st *module.Stanza) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fwd = append(c.fwd, st)
	return true
}

func (c *fakeCluster) OnMembership(func())                               {}
func (c *fakeCluster) Publish(string, []byte)                            {}
func (c *fakeCluster) PublishWait(context.Context, string, []byte) error { return nil }
func (c *fakeCluster) Subscribe(string, func([]byte))                    {}

// TestHandOff: a room whose key moves to another live node is handed
// off: its occupants are removed with 110 and 333 and the room is
// forgotten; later stanzas to it are forwarded, and a forwarded one is
// handled here whatever the owner (the hand-off test the 3-node test
// cannot do, since a test cluster cannot gain a node).
func TestHandOff(t *testing.T) {
	rr := &recordRouter{}
	fc := &fakeCluster{owner: "self"}
	h := module.NewRegistry().NewHandle("muc", module.Services{Router: rr, Cluster: fc, VHosts: localhost, Hosts: func(d string) bool { return d == "localhost" }})
	m := &mod{}
	if err := m.Start(h); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.stopAll() })
	s := m.services["conference.localhost"]
	alice := jid.MustParse("alice@localhost/r")
	send := func(ctx context.Context, el string) {
		e, err := xml.ParseFragment([]byte(el))
		if err != nil {
			t.Fatal(err)
		}
		s.handle(ctx, &module.Stanza{El: e, From: alice, To: jid.MustParse(e.Attr("to"))})
		m.settle()
	}
	send(context.Background(), "<presence xmlns='jabber:client' to='room@conference.localhost/alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
	if s.room("room") == nil || len(fc.fwd) != 0 {
		t.Fatalf("room not created here (forwarded %d)", len(fc.fwd))
	}

	fc.mu.Lock()
	fc.owner = "n2"
	fc.mu.Unlock()
	n := len(rr.out)
	m.membershipChanged()
	if s.room("room") != nil {
		t.Fatal("the room stays after the hand-off")
	}
	if len(rr.out) != n+1 {
		t.Fatalf("hand-off routed %d stanzas, want 1", len(rr.out)-n)
	}
	if p := rr.out[n]; p.To != alice || p.El.Attr("type") != "unavailable" ||
		!strings.Contains(p.El.String(), "<status code='110'/>") || !strings.Contains(p.El.String(), "<status code='333'/>") {
		t.Fatalf("hand-off presence: %s", p.El)
	}

	// Now the room is n2's: stanzas go there, nothing is answered here.
	n = len(rr.out)
	send(context.Background(), "<message xmlns='jabber:client' type='groupchat' to='room@conference.localhost'><body>hi</body></message>")
	if len(fc.fwd) != 1 || len(rr.out) != n {
		t.Fatalf("forwarded %d, routed %d", len(fc.fwd), len(rr.out)-n)
	}
	// A stanza another node forwarded is handled here: not an occupant
	// of a room that does not exist here, XEP-0410's not-acceptable.
	send(module.WithForwarded(context.Background()), "<iq xmlns='jabber:client' type='get' id='p1' to='room@conference.localhost/alice'><ping xmlns='urn:xmpp:ping'/></iq>")
	if len(fc.fwd) != 1 || len(rr.out) != n+1 || !strings.Contains(rr.out[n].El.String(), "not-acceptable") {
		t.Fatalf("forwarded self-ping: forwarded %d, answer %v", len(fc.fwd), rr.out[n:])
	}
}
