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
	dave.Expect("presence", "alice@localhost/pc", "")

	// §4.6.2: delivered as addressed, to a bare and to a full JID.
	alice.Send("<presence to='bob@localhost'><status>hi bob</status></presence>")
	bob.Expect("presence", "alice@localhost/pc", "")
	alice.Send("<presence to='carol@localhost/pc'/>")
	carol.Expect("presence", "alice@localhost/pc", "")
	alice.Send("<presence to='dave@localhost'/>")
	dave.Expect("presence", "alice@localhost/pc", "")

	// §4.6.2: directed presence does not add the entity to the
	// broadcast; an update reaches dave only.
	alice.Send("<presence><show>away</show></presence>")
	alice.Expect("presence", "alice@localhost/pc", "")
	dave.Expect("presence", "alice@localhost/pc", "")
	bob.Quiet("bob after alice's broadcast update")
	carol.Quiet("carol after alice's broadcast update")

	// A directed unavailable ends it for carol.
	alice.Send("<presence to='carol@localhost/pc' type='unavailable'/>")
	carol.Expect("presence", "alice@localhost/pc", "unavailable")

	// Broadcast unavailable: bob gets it (with the status), carol does
	// not again, dave once (through the broadcast).
	alice.Send("<presence type='unavailable'><status>gone</status></presence>")
	alice.Expect("presence", "alice@localhost/pc", "unavailable")
	p := bob.Expect("presence", "alice@localhost/pc", "unavailable")
	if st := p.Child("status", ""); st == nil || st.Text() != "gone" {
		t.Errorf("bob's unavailable presence lost the status: %s", p)
	}
	dave.Expect("presence", "alice@localhost/pc", "unavailable")
	bob.Quiet("bob after the unavailable presence")
	carol.Quiet("carol after the unavailable presence")
	dave.Quiet("dave after the unavailable presence")

	// The set was emptied: going available and unavailable again sends
	// nothing to bob.
	alice.Send("<presence/>")
	alice.Expect("presence", "alice@localhost/pc", "")
	alice.Send("<presence type='unavailable'/>")
	alice.Expect("presence", "alice@localhost/pc", "unavailable")
	bob.Quiet("bob after a second session cycle")
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
			alice.Expect("presence", "alice@localhost/pc", "")
		}
		alice.Send("<presence to='bob@localhost/phone'/>")
		bob.Expect("presence", "alice@localhost/pc", "")
		alice.Conn.Close()
		bob.Expect("presence", "alice@localhost/pc", "unavailable")
		bob.Quiet("bob after alice's session ended")
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
	bob.Expect("presence", "alice@localhost/pc", "")
	alice.Send("<presence type='unavailable'/>")
	alice.Expect("presence", "alice@localhost/pc", "unavailable")
	bob.Quiet("bob/phone beyond the bound")
}
