package presence_test

import (
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/storage"
)

// RFC 6121 §4.5.2 at logout without a roster read: when the initial
// presence found no contact with a 'from' subscription and no roster
// write went through the server since, the unavailable presence goes to
// nobody beyond the user's own resources, and the roster is not read
// again. A write the server does not see (here straight into the store,
// as another process on the database would) is therefore not noticed:
// that is what shows the read was skipped.
func TestUnavailableWithoutRosterRead(t *testing.T) {
	s := testutil.Start(t, "")
	for _, u := range []string{"alice", "bob"} {
		s.AddUser(t, u, pw)
	}
	bob := available(t, s, "bob", "phone")
	alice := available(t, s, "alice", "pc")
	// The server handles alice's stanzas in order: once the ping is
	// answered, her broadcast (and its roster read) is done.
	alice.Quiet("alice after her initial presence")
	setItem(t, s, "alice", storage.RosterItem{JID: "bob@localhost", Subscription: "from"})
	alice.Send("<presence type='unavailable'/>")
	alice.Expect("presence", "alice@localhost/pc", "unavailable")
	alice.Quiet("alice after her unavailable presence")
	bob.Quiet("bob, whom alice's server does not know subscribed")

	// The next initial presence reads the roster, and so does its
	// unavailable presence: bob gets both.
	alice.Send("<presence/>")
	alice.Expect("presence", "alice@localhost/pc", "")
	bob.Expect("presence", "alice@localhost/pc", "")
	alice.Send("<presence type='unavailable'/>")
	alice.Expect("presence", "alice@localhost/pc", "unavailable")
	bob.Expect("presence", "alice@localhost/pc", "unavailable")
}

// A subscription approved while the user is available, through the
// server, is a roster change: the unavailable presence reads the roster
// again and reaches the new subscriber, who got the available presence
// with the approval (§3.1.5).
func TestUnavailableAfterApproval(t *testing.T) {
	s := testutil.Start(t, "")
	for _, u := range []string{"alice", "bob"} {
		s.AddUser(t, u, pw)
	}
	alice := available(t, s, "alice", "pc")
	bob := available(t, s, "bob", "phone")
	bob.Send("<presence to='alice@localhost' type='subscribe'/>")
	alice.Expect("presence", "bob@localhost", "subscribe")
	alice.Send("<presence to='bob@localhost' type='subscribed'/>")
	bob.Expect("presence", "alice@localhost", "subscribed")
	bob.Expect("presence", "alice@localhost/pc", "")
	alice.Send("<presence type='unavailable'/>")
	bob.Expect("presence", "alice@localhost/pc", "unavailable")
}

// available logs user in with resource res and sends initial presence,
// returning once the user's own copy came back.
func available(t *testing.T, s *testutil.Server, user, res string) *testutil.Client {
	t.Helper()
	c := testutil.Login(t, s, user, pw, res)
	c.Send("<presence/>")
	c.Expect("presence", user+"@localhost/"+res, "")
	return c
}
