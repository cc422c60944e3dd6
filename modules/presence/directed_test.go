package presence_test

import (
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/modules/presence"
	"github.com/xmppd/xmppd/storage"
)

// RFC 6121 §4.6: directed presence to entities outside the broadcast.
func TestDirectedPresence(t *testing.T) {
	s := testutil.Start(t, "")
	for _, u := range []string{"alice", "bob", "carol", "dave"} {
		s.AddUser(t, u, pw)
	}
	// dave is subscribed to alice: the broadcast covers him.
	setItem(t, s, "alice", storage.RosterItem{JID: "dave@localhost", Subscription: "from"})
	setItem(t, s, "dave", storage.RosterItem{JID: "alice@localhost", Subscription: "to"})
	bob := online(t, s, "bob", "phone")
	carol := online(t, s, "carol", "pc")
	dave := online(t, s, "dave", "pc")
	alice := online(t, s, "alice", "pc")
	expect(t, dave, "presence", "alice@localhost/pc", "")

	// §4.6.2: delivered as addressed, to a bare and to a full JID.
	alice.Send("<presence to='bob@localhost'><status>hi bob</status></presence>")
	expect(t, bob, "presence", "alice@localhost/pc", "")
	alice.Send("<presence to='carol@localhost/pc'/>")
	expect(t, carol, "presence", "alice@localhost/pc", "")
	alice.Send("<presence to='dave@localhost'/>")
	expect(t, dave, "presence", "alice@localhost/pc", "")

	// §4.6.2: directed presence does not add the entity to the
	// broadcast; an update reaches dave only.
	alice.Send("<presence><show>away</show></presence>")
	expect(t, alice, "presence", "alice@localhost/pc", "")
	expect(t, dave, "presence", "alice@localhost/pc", "")
	quiet(t, bob, "bob after alice's broadcast update")
	quiet(t, carol, "carol after alice's broadcast update")

	// A directed unavailable ends it for carol.
	alice.Send("<presence to='carol@localhost/pc' type='unavailable'/>")
	expect(t, carol, "presence", "alice@localhost/pc", "unavailable")

	// Broadcast unavailable: bob gets it (with the status), carol does
	// not again, dave once (through the broadcast).
	alice.Send("<presence type='unavailable'><status>gone</status></presence>")
	expect(t, alice, "presence", "alice@localhost/pc", "unavailable")
	p := expect(t, bob, "presence", "alice@localhost/pc", "unavailable")
	if st := p.Child("status", ""); st == nil || st.Text() != "gone" {
		t.Errorf("bob's unavailable presence lost the status: %s", p)
	}
	expect(t, dave, "presence", "alice@localhost/pc", "unavailable")
	quiet(t, bob, "bob after the unavailable presence")
	quiet(t, carol, "carol after the unavailable presence")
	quiet(t, dave, "dave after the unavailable presence")

	// The set was emptied: going available and unavailable again sends
	// nothing to bob.
	alice.Send("<presence/>")
	expect(t, alice, "presence", "alice@localhost/pc", "")
	alice.Send("<presence type='unavailable'/>")
	expect(t, alice, "presence", "alice@localhost/pc", "unavailable")
	quiet(t, bob, "bob after a second session cycle")
}

// §4.6.2 with an abrupt end: an available session and one that never sent
// initial presence both leave unavailable presence behind.
func TestDirectedPresenceDisconnect(t *testing.T) {
	s := testutil.Start(t, "")
	for _, u := range []string{"alice", "bob"} {
		s.AddUser(t, u, pw)
	}
	bob := online(t, s, "bob", "phone")

	for _, initial := range []bool{true, false} {
		alice := testutil.Login(t, s, "alice", pw, "pc")
		if initial {
			alice.Send("<presence/>")
			expect(t, alice, "presence", "alice@localhost/pc", "")
		}
		alice.Send("<presence to='bob@localhost/phone'/>")
		expect(t, bob, "presence", "alice@localhost/pc", "")
		alice.Conn.Close()
		expect(t, bob, "presence", "alice@localhost/pc", "unavailable")
		quiet(t, bob, "bob after alice's session ended")
	}
}

// The tracking is bounded per session.
func TestDirectedPresenceBound(t *testing.T) {
	defer presence.SetMaxDirected(2)()
	s := testutil.Start(t, "")
	for _, u := range []string{"alice", "bob"} {
		s.AddUser(t, u, pw)
	}
	bob := online(t, s, "bob", "phone")
	alice := online(t, s, "alice", "pc")
	// Two entities fill the set (bob/a and bob/b, not bound: the router
	// drops presence for them); bob/phone is the third and not tracked.
	for _, r := range []string{"a", "b"} {
		alice.Send("<presence to='bob@localhost/%s'/>", r)
	}
	alice.Send("<presence to='bob@localhost/phone'/>")
	expect(t, bob, "presence", "alice@localhost/pc", "")
	alice.Send("<presence type='unavailable'/>")
	expect(t, alice, "presence", "alice@localhost/pc", "unavailable")
	quiet(t, bob, "bob/phone beyond the bound")
}
