package blocking_test

import (
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/storage"
)

// TestDomainBlock: XEP-0191 §7, a domain item matches the domain and any
// JID at it, and nothing elsewhere.
func TestDomainBlock(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", pw)
	s.AddUser(t, "bob", pw)
	s.AddUser(t, "carol@example.test", pw)
	s.AddUser(t, "dave@example.test", pw)
	a := online(t, s, "alice", "a")
	b := online(t, s, "bob", "b")
	c := online(t, s, "carol@example.test", "c")
	d := online(t, s, "dave@example.test", "d")
	block(t, a, "example.test")

	for _, x := range []*testutil.Client{c, d} {
		x.Send("<message to='alice@localhost' type='chat'><body>hi</body></message>")
		wantError(t, x, "message", "alice@localhost", "service-unavailable", false)
	}
	a.Send("<message to='dave@example.test/d' type='chat'><body>hi</body></message>")
	wantError(t, a, "message", "dave@example.test/d", "not-acceptable", true)
	// The domain itself (the server) is blocked too.
	a.Send("<iq type='get' id='p' to='example.test'><ping xmlns='urn:xmpp:ping'/></iq>")
	wantError(t, a, "iq", "example.test", "not-acceptable", true)
	d.Quiet("blocked domain's user")

	// Other domains are not affected.
	b.Send("<message to='alice@localhost' type='chat'><body>from bob</body></message>")
	wantMessage(t, a, "bob@localhost/b", "from bob")
	// Nor is a user at the domain when the user blocks only another
	// domain's resource.
	set(t, a, "<unblock xmlns='urn:xmpp:blocking'/>")
	block(t, a, "example.test/d")
	d.Send("<message to='alice@localhost' type='chat'><body>from dave</body></message>")
	wantMessage(t, a, "dave@example.test/d", "from dave")
}

// TestFullJIDBlock: a full-JID item blocks that resource only, presence
// broadcasts included.
func TestFullJIDBlock(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", pw)
	s.AddUser(t, "bob", pw)
	setItem(t, s, "alice", storage.RosterItem{JID: "bob@localhost", Subscription: "both"})
	setItem(t, s, "bob", storage.RosterItem{JID: "alice@localhost", Subscription: "both"})
	phone := online(t, s, "bob", "phone")
	laptop := online(t, s, "bob", "laptop")
	a := testutil.Login(t, s, "alice", pw, "a")
	a.Send("<presence/>")
	drain(t, a)
	phone.Expect("presence", "alice@localhost/a", "")
	laptop.Expect("presence", "alice@localhost/a", "")
	drain(t, phone)
	drain(t, laptop)

	block(t, a, "bob@localhost/phone")
	// §3.4 on the blocked resource only.
	phone.Expect("presence", "alice@localhost/a", "unavailable")
	laptop.Quiet("unblocked resource after the block")

	phone.Send("<message to='alice@localhost' type='chat'><body>p</body></message>")
	wantError(t, phone, "message", "alice@localhost", "service-unavailable", false)
	laptop.Send("<message to='alice@localhost' type='chat'><body>l</body></message>")
	wantMessage(t, a, "bob@localhost/laptop", "l")

	a.Send("<message to='bob@localhost/phone' type='chat'><body>1</body></message>")
	wantError(t, a, "message", "bob@localhost/phone", "not-acceptable", true)
	a.Send("<message to='bob@localhost/laptop' type='chat'><body>2</body></message>")
	wantMessage(t, laptop, "alice@localhost/a", "2")

	// A broadcast to the bare JID reaches the other resource only.
	a.Send("<presence><status>update</status></presence>")
	a.Expect("presence", "alice@localhost/a", "")
	laptop.Expect("presence", "alice@localhost/a", "")
	phone.Quiet("blocked resource after a presence broadcast")
	phone.Send("<presence><status>phone update</status></presence>")
	phone.Expect("presence", "bob@localhost/phone", "")
	a.Quiet("user after the blocked resource's presence")

	// Unblocking sends the current presence to that resource.
	set(t, a, "<unblock xmlns='urn:xmpp:blocking'><item jid='bob@localhost/phone'/></unblock>")
	el := phone.Expect("presence", "alice@localhost/a", "")
	if st := el.Child("status", "jabber:client"); st == nil || st.Text() != "update" {
		t.Fatalf("presence after unblock: %s", el)
	}
}
