package push_test

import (
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/testutil"
)

// publishDisplayed publishes c's XEP-0490 displayed marker for chat, as
// §4 says: a PEP item whose id is the chat's JID, with the publish
// options the XEP requires.
func publishDisplayed(t *testing.T, c *testutil.Client, chat, by, sid string) {
	t.Helper()
	wantResult(t, c.IQ("mds", `<iq type='set' id='mds'><pubsub xmlns='http://jabber.org/protocol/pubsub'>`+
		`<publish node='urn:xmpp:mds:displayed:0'><item id='%s'><displayed xmlns='urn:xmpp:mds:displayed:0'>`+
		`<stanza-id xmlns='urn:xmpp:sid:0' by='%s' id='%s'/></displayed></item></publish>`+
		`<publish-options><x xmlns='jabber:x:data' type='submit'>`+
		`<field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>`+
		`<field var='pubsub#persist_items'><value>true</value></field>`+
		`<field var='pubsub#max_items'><value>max</value></field>`+
		`<field var='pubsub#send_last_published_item'><value>never</value></field>`+
		`<field var='pubsub#access_model'><value>whitelist</value></field>`+
		`</x></publish-options></pubsub></iq>`, chat, by, sid))
}

// archiveIDs reads c's whole archive (XEP-0313) to where, and returns
// each message's archive id (its stanza-id) by body.
func archiveIDs(t *testing.T, c *testutil.Client, to string) map[string]string {
	t.Helper()
	toAttr := ""
	if to != "" {
		toAttr = " to='" + to + "'"
	}
	c.Send("<iq type='set' id='mam'%s><query xmlns='urn:xmpp:mam:2' queryid='q'/></iq>", toAttr)
	out := map[string]string{}
	for {
		el := c.Next()
		if el.Name() == "iq" && el.Attr("id") == "mam" {
			wantResult(t, el)
			return out
		}
		res := el.Child("result", "urn:xmpp:mam:2")
		if el.Name() != "message" || res == nil {
			continue
		}
		fwd := res.Child("forwarded", "urn:xmpp:forward:0")
		if fwd == nil || fwd.Child("message", "jabber:client") == nil {
			t.Fatalf("archive result without a forwarded message: %s", el)
		}
		if b := fwd.Child("message", "jabber:client").Child("body", ""); b != nil {
			out[b.Text()] = res.Attr("id")
		}
	}
}

// count sends a message from c to alice and returns the message-count of
// the notification it causes.
func count(t *testing.T, comp, c *testutil.Client, body string) string {
	t.Helper()
	send(c, body)
	n := nextPublish(t, comp, "")
	if n.from != "alice@localhost" {
		t.Fatalf("publish from %q", n.from)
	}
	return n.fields["message-count"]
}

// XEP-0490: what one device marked displayed no longer counts as unread
// in the notifications another device's push service gets.
func TestPushDisplayedSync(t *testing.T) { displayedSync(t, testutil.Start(t, conf)) }

// The markers are read from the pubsub tables (and the archive ids come
// from the archive): the same on PostgreSQL.
func TestPushDisplayedSyncPostgres(t *testing.T) {
	displayedSync(t, startPostgres(t))
}

func displayedSync(t *testing.T, s *testutil.Server) {
	for _, u := range []string{"alice", "bob", "carol"} {
		s.AddUser(t, u, pw)
	}
	comp := connectComponent(t, s)
	bob := testutil.Login(t, s, "bob", pw, "r")
	carol := testutil.Login(t, s, "carol", pw, "r")

	// The phone enables push; its client keeps XEP-0490 markers (one for
	// an older chat exists), then it goes to sleep.
	phone := online(t, s, "alice", "phone")
	enable(t, phone, "n1", false)
	publishDisplayed(t, phone, "dave@localhost", "alice@localhost", "older-chat")
	offline(t, s, phone)
	for _, tc := range []struct {
		from *testutil.Client
		body string
		want string
	}{{bob, "b1", "1"}, {bob, "b2", "2"}, {carol, "c1", "3"}} {
		if got := count(t, comp, tc.from, tc.body); got != tc.want {
			t.Fatalf("%s: message-count %s, want %s", tc.body, got, tc.want)
		}
	}

	// The desktop comes online with a negative priority (RFC 6121
	// §8.5.2.1.1: messages to the bare JID go to offline storage, and
	// push, while it is the only resource), reads the archive and marks
	// bob's chat displayed up to b2. Binding it does not reset the count:
	// the account keeps markers, they say what was read.
	desk := testutil.Login(t, s, "alice", pw, "desk")
	desk.Send("<presence><priority>-1</priority></presence>")
	ids := archiveIDs(t, desk, "")
	if ids["b1"] == "" || ids["b2"] == "" || ids["c1"] == "" {
		t.Fatalf("archive ids: %v", ids)
	}
	publishDisplayed(t, desk, "bob@localhost", "alice@localhost", ids["b2"])
	if got := count(t, comp, bob, "b3"); got != "2" { // c1, b3
		t.Fatalf("after bob's chat was displayed up to b2: message-count %s, want 2", got)
	}
	publishDisplayed(t, desk, "carol@localhost", "alice@localhost", ids["c1"])
	if got := count(t, comp, bob, "b4"); got != "2" { // b3, b4
		t.Fatalf("after carol's chat was displayed: message-count %s, want 2", got)
	}
	// §5.1: the displayed state only moves forward; an older marker
	// brings nothing back, and one with another 'by' means nothing here.
	publishDisplayed(t, desk, "bob@localhost", "alice@localhost", ids["b1"])
	publishDisplayed(t, desk, "carol@localhost", "carol@localhost", ids["c1"])
	if got := count(t, comp, bob, "b5"); got != "3" { // b3, b4, b5
		t.Fatalf("after an older marker: message-count %s, want 3", got)
	}

	// A marker may name a message never notified, such as one alice
	// sent (§5.1: "displayed up to this point"): everything of that chat
	// before it is displayed. The pause puts alice's message in a later
	// millisecond than b5 (archive ids order by milliseconds).
	time.Sleep(2 * time.Millisecond)
	desk.Send("<message to='bob@localhost' type='chat' id='reply'><body>a1</body></message>")
	ids = archiveIDs(t, desk, "")
	if ids["a1"] == "" {
		t.Fatalf("alice's reply not archived: %v", ids)
	}
	publishDisplayed(t, desk, "bob@localhost", "alice@localhost", ids["a1"])
	if got := count(t, comp, carol, "c2"); got != "1" {
		t.Fatalf("after bob's chat was displayed up to alice's reply: message-count %s, want 1", got)
	}

	// XEP-0490 §6: the marker rides on a message to carol (server
	// assistance, modules/pubsub); once the item is stored, carol's chat
	// no longer counts.
	ids = archiveIDs(t, desk, "")
	desk.Send("<message to='carol@localhost' type='chat'><body>seen</body>"+
		"<displayed xmlns='urn:xmpp:mds:displayed:0'><stanza-id xmlns='urn:xmpp:sid:0' by='alice@localhost' id='%s'/></displayed></message>", ids["c2"])
	for i := 0; !strings.Contains(desk.IQ("items", "<iq type='get' id='items'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:mds:displayed:0'/></pubsub></iq>").String(), ids["c2"]); i++ {
		if i == 1000 {
			t.Fatal("the server-assisted marker was never stored")
		}
	}
	if got := count(t, comp, bob, "b6"); got != "1" {
		t.Fatalf("after carol's chat was displayed with server assistance: message-count %s, want 1", got)
	}
}

// An account that keeps no markers: binding a session resets the count,
// as before XEP-0490 (the user opened a client).
func TestPushCountWithoutMarkers(t *testing.T) {
	s, comp, bob, a := alicePhone(t, "")
	enable(t, a, "n1", false)
	offline(t, s, a)
	count(t, comp, bob, "one")
	if got := count(t, comp, bob, "two"); got != "2" {
		t.Fatalf("message-count %s, want 2", got)
	}
	desk := testutil.Login(t, s, "alice", pw, "desk")
	desk.Send("<presence><priority>-1</priority></presence>")
	wantResult(t, desk.IQ("fence", "<iq type='get' id='fence' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>"))
	if got := count(t, comp, bob, "three"); got != "1" {
		t.Fatalf("after a login: message-count %s, want 1", got)
	}
}

// A message the phone received but never acknowledged goes to offline
// storage when its session ends (XEP-0198); if another device has marked
// it displayed meanwhile (XEP-0490), it is not notified.
func TestPushDisplayedNotNotified(t *testing.T) {
	s, comp, bob, phone := alicePhone(t, "[limits]\nresume_timeout = \"1s\"\n")
	enable(t, phone, "n1", true)
	phone.Send("<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
	for phone.Next().Name() != "enabled" {
	}
	send(bob, "read elsewhere")
	var sid string
	for sid == "" {
		el := phone.Next()
		if el.Name() != "message" || !strings.Contains(el.String(), "read elsewhere") {
			continue
		}
		for c := range el.Children() {
			if c.Name() == "stanza-id" && c.Attr("by") == "alice@localhost" {
				sid = c.Attr("id")
			}
		}
		if sid == "" {
			t.Fatalf("message without alice's stanza-id: %s", el)
		}
	}
	// Not acknowledged. The desktop (negative priority: messages to the
	// bare JID do not come to it) marks the chat displayed.
	desk := testutil.Login(t, s, "alice", pw, "desk")
	desk.Send("<presence><priority>-1</priority></presence>")
	publishDisplayed(t, desk, "bob@localhost", "alice@localhost", sid)

	n := s.Sessions()
	phone.Conn.Close() // no closing tag: the session waits for resumption, 1s
	waitSessions(t, s, n-1)
	noPublish(t, comp, bob, "message displayed on the desktop, handed to offline storage")
	send(bob, "new")
	if p := nextPublish(t, comp, ""); p.fields["last-message-body"] != "new" || p.fields["message-count"] != "1" {
		t.Fatalf("next publish: %+v", p.fields)
	}
	// The message did go to offline storage (the path the push hook sits on).
	a := testutil.Login(t, s, "alice", pw, "phone")
	a.Send("<presence/>")
	if m := a.NextNamed("message"); !strings.Contains(m.String(), "read elsewhere") {
		t.Fatalf("offline message: %s", m)
	}
}
