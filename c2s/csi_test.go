package c2s_test

import (
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/xml"
)

func status(el *xml.Element) string {
	if s := el.Child("status", xml.NSClient); s != nil {
		return s.Text()
	}
	return ""
}

func TestClientStateIndication(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", pw)
	s.AddUser(t, "bob", pw)
	c, feats := authOnly(t, s, "alice")
	if feats.Child("csi", "urn:xmpp:csi:0") == nil {
		t.Fatalf("no XEP-0352 feature: %s", feats)
	}
	c.Bind("phone")
	alice := c
	bob := testutil.Login(t, s, "bob", pw, "pc")

	alice.Send("<inactive xmlns='urn:xmpp:csi:0'/>")
	alice.Sync()
	// Directed presence twice and a chat state: all can wait; of the two
	// presences only the newer matters.
	bob.Send("<presence to='alice@localhost/phone'><status>one</status></presence>")
	bob.Send("<presence to='alice@localhost/phone'><status>two</status></presence>")
	bob.Send("<message to='alice@localhost/phone' type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>")
	// Two PEP notifications for one node: only the newer matters.
	for _, id := range []string{"old", "new"} {
		bob.Send("<message to='alice@localhost/phone' type='headline'><event xmlns='http://jabber.org/protocol/pubsub#event'><items node='urn:xmpp:avatar:metadata'><item id='%s'/></items></event></message>", id)
	}
	bob.Sync()
	// A message with a body cannot wait: what was held comes first, in
	// order, then the message.
	bob.Send("<message to='alice@localhost/phone' type='chat'><body>wake up</body></message>")
	if p := alice.Next(); p.Name() != "presence" || status(p) != "two" {
		t.Fatalf("first after the message: %s (want the newer held presence)", p)
	}
	if cs := alice.Next(); cs.Name() != "message" || cs.Child("composing", "http://jabber.org/protocol/chatstates") == nil {
		t.Fatalf("second: %s (want the held chat state)", cs)
	}
	ev := alice.Next()
	if items := ev.Child("event", "http://jabber.org/protocol/pubsub#event"); items == nil || items.FirstChild().FirstChild().Attr("id") != "new" {
		t.Fatalf("third: %s (want the newer held PEP notification)", ev)
	}
	if m := alice.Next(); m.Name() != "message" || body(m) != "wake up" {
		t.Fatalf("fourth: %s", m)
	}

	// Going active sends what was held since.
	bob.Send("<presence to='alice@localhost/phone'><status>three</status></presence>")
	bob.Sync()
	alice.Send("<active xmlns='urn:xmpp:csi:0'/>")
	if p := alice.Next(); p.Name() != "presence" || status(p) != "three" {
		t.Fatalf("after <active/>: %s", p)
	}
	// Active: presence comes at once.
	bob.Send("<presence to='alice@localhost/phone'><status>four</status></presence>")
	if p := alice.Next(); p.Name() != "presence" || status(p) != "four" {
		t.Fatalf("active session: %s", p)
	}
}
