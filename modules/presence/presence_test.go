package presence_test

import (
	"context"
	"strings"
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/xml"
)

const pw = "secret"

func setItem(t *testing.T, s *testutil.Server, user string, it storage.RosterItem) {
	t.Helper()
	r := s.Accounts().(storage.Rosters)
	if _, err := r.SetRosterItem(context.Background(), "localhost", user, it); err != nil {
		t.Fatal(err)
	}
}

func roster(t *testing.T, s *testutil.Server, user string) map[string]storage.RosterItem {
	t.Helper()
	items, _, err := s.Accounts().(storage.Rosters).Roster(context.Background(), "localhost", user)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]storage.RosterItem{}
	for _, it := range items {
		out[it.JID] = it
	}
	return out
}

func TestBroadcastAndProbe(t *testing.T) {
	s := testutil.Start(t, "")
	for _, u := range []string{"alice", "bob", "eve"} {
		s.AddUser(t, u, pw)
	}
	setItem(t, s, "alice", storage.RosterItem{JID: "bob@localhost", Subscription: "both"})
	setItem(t, s, "bob", storage.RosterItem{JID: "alice@localhost", Subscription: "both"})
	// eve is subscribed to alice only in her own roster: alice's side
	// does not agree, so eve must see nothing.
	setItem(t, s, "eve", storage.RosterItem{JID: "alice@localhost", Subscription: "to"})

	bob := testutil.Login(t, s, "bob", pw, "phone")
	bob.Send("<presence><status>bob here</status></presence>")
	// §4.2.2: the sender gets its own initial presence back.
	bob.Expect("presence", "bob@localhost/phone", "")

	eve := testutil.Login(t, s, "eve", pw, "x")
	eve.Send("<presence/>")
	eve.Expect("presence", "eve@localhost/x", "")

	alice := testutil.Login(t, s, "alice", pw, "pc")
	alice2 := testutil.Login(t, s, "alice", pw, "tablet")
	alice2.Send("<presence/>")
	alice2.Expect("presence", "alice@localhost/tablet", "")
	alice2.Expect("presence", "bob@localhost/phone", "") // probe answer
	bob.Expect("presence", "alice@localhost/tablet", "")

	alice.Send("<presence><show>away</show></presence>")
	alice.Expect("presence", "alice@localhost/pc", "")
	p := alice.Expect("presence", "bob@localhost/phone", "")
	if st := p.Child("status", xml.NSClient); st == nil || st.Text() != "bob here" {
		t.Errorf("probe answer lost the status: %s", p)
	}
	// The other resource and the contact get it; eve does not.
	alice2.Expect("presence", "alice@localhost/pc", "")
	p = bob.Expect("presence", "alice@localhost/pc", "")
	if p.Attr("to") != "bob@localhost" {
		t.Errorf("broadcast to=%q", p.Attr("to"))
	}

	// An update is not initial: no probe answers.
	alice.Send("<presence><show>dnd</show></presence>")
	alice.Expect("presence", "alice@localhost/pc", "")
	bob.Expect("presence", "alice@localhost/pc", "")
	alice2.Expect("presence", "alice@localhost/pc", "")
	alice.Quiet("after an update")

	// Explicit unavailable: contacts, other resources and the sender.
	alice.Send("<presence type='unavailable'/>")
	alice.Expect("presence", "alice@localhost/pc", "unavailable")
	alice2.Expect("presence", "alice@localhost/pc", "unavailable")
	bob.Expect("presence", "alice@localhost/pc", "unavailable")

	// Abrupt end of an available session.
	alice2.Conn.Close()
	bob.Expect("presence", "alice@localhost/tablet", "unavailable")

	eve.Quiet("eve (not subscribed)")
	bob.Quiet("bob")
}

// A contact on a domain we do not serve: the broadcast goes through the
// router, which answers remote-server-not-found (federation is off in
// test servers that do not configure it).
func TestRemoteContact(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", pw)
	setItem(t, s, "alice", storage.RosterItem{JID: "romeo@remote.example", Subscription: "from"})
	alice := testutil.Login(t, s, "alice", pw, "pc")
	alice.Send("<presence/>")
	alice.Expect("presence", "alice@localhost/pc", "")
	el := alice.Expect("presence", "romeo@remote.example", "error")
	if !strings.Contains(el.String(), "remote-server-not-found") {
		t.Errorf("got %s", el)
	}
}
