package interop_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/xml"
)

// TestConverseJSModeration: Converse.js, in Chromium over WebSocket, is
// the owner (so a moderator) of a room and retracts a TCP occupant's
// message through its own Retract action and reason prompt (XEP-0425).
// The other occupant gets the room's retraction naming Converse's nick and
// the reason, and the room's archive keeps only a tombstone.
func TestConverseJSModeration(t *testing.T) {
	defer func(d time.Duration) { testutil.Timeout = d }(testutil.Timeout)
	testutil.Timeout = 60 * time.Second // bob waits for the browser between reads
	dir, s := webServer(t)
	s.AddUser(t, "alice", "alice-pw")
	s.AddUser(t, "bob", "bob-pw")
	const room = "lounge@conference.localhost"

	// alice makes the room persistent and leaves it: when she comes back
	// with Converse she is its owner, so a moderator.
	setup := testutil.Login(t, s, "alice", "alice-pw", "setup")
	setup.Send("<presence to='%s/alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>", room)
	for el := setup.NextNamed("presence"); !strings.Contains(el.String(), "code='110'"); el = setup.NextNamed("presence") {
	}
	setup.Send("<iq type='set' id='cfg' to='%s'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'>"+
		"<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>"+
		"<field var='muc#roomconfig_persistentroom'><value>1</value></field></x></query></iq>", room)
	if r := untilID(setup, "cfg"); r.Attr("type") != "result" {
		t.Fatalf("configure: %s", r)
	}
	setup.Send("<presence type='unavailable' to='%s/alice'/>", room)
	setup.Close()

	bob := testutil.Login(t, s, "bob", "bob-pw", "pc")
	bob.Send("<presence to='%s/bob'><x xmlns='http://jabber.org/protocol/muc'/></presence>", room)

	page := conversePage(t, dir)
	defer page.Close()
	q := url.Values{"ws": {"wss://" + s.HTTP + "/xmpp-websocket"}, "jid": {"alice@localhost"}, "password": {"alice-pw"},
		"room": {room}, "nick": {"alice-web"}}
	const spam = "DM me for free magic potions"
	converse := runNode(t, 120*time.Second, dir, "converse_moderate.mjs", page.URL+"/?"+q.Encode(), spam, "spam, says the test")

	// Converse is in when bob sees its nick's presence; then bob speaks.
	for el := bob.NextNamed("presence"); el.Attr("from") != room+"/alice-web"; el = bob.NextNamed("presence") {
	}
	bob.Send("<message type='groupchat' to='%s' id='spam1'><body>%s</body></message>", room, spam)
	var sid string
	var retract *xml.Element
	for retract == nil {
		m := bob.NextNamed("message")
		if m.Attr("id") == "spam1" {
			if s := m.Child("stanza-id", "urn:xmpp:sid:0"); s != nil {
				sid = s.Attr("id")
			}
		}
		retract = m.Child("retract", "urn:xmpp:message-retract:1")
		if retract != nil && m.Attr("from") != room {
			t.Fatalf("retraction not from the room: %s", m)
		}
	}
	mod := retract.Child("moderated", "urn:xmpp:message-moderate:1")
	if sid == "" || retract.Attr("id") != sid || mod == nil || mod.Attr("by") != room+"/alice-web" {
		t.Fatalf("retraction of %q: %s", sid, retract)
	}
	if r := retract.Child("reason", "urn:xmpp:message-moderate:1"); r == nil || r.Text() != "spam, says the test" {
		t.Errorf("reason: %s", retract)
	}
	converse.pass(t, "OK converse entered the room", "OK converse shows the message to moderate",
		"OK converse asked the room to retract it", "OK converse shows the message as retracted", "PASS")

	// The archive holds the tombstone.
	bob.Send("<iq type='set' id='mam' to='%s'><query xmlns='urn:xmpp:mam:2'/></iq>", room)
	for {
		m := bob.Next()
		if m.Name() == "iq" && m.Attr("id") == "mam" {
			break
		}
		if strings.Contains(m.String(), spam) {
			t.Fatalf("the archive still has the message: %s", m)
		}
	}
}

// untilID reads until the stanza with id.
func untilID(c *testutil.Client, id string) *xml.Element {
	for {
		if el := c.Next(); el.Attr("id") == id {
			return el
		}
	}
}
