package blocking_test

import (
	"context"
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/xml"
)

// drain skips whatever has arrived (presence noise), using a ping fence.
func drain(t *testing.T, c *testutil.Client) {
	t.Helper()
	c.Send("<iq type='get' id='drain'><ping xmlns='urn:xmpp:ping'/></iq>")
	for {
		if el := c.Next(); el.Name() == "iq" && el.Attr("id") == "drain" {
			return
		}
	}
}

// online logs in and sends initial presence.
func online(t *testing.T, s *testutil.Server, user, resource string) *testutil.Client {
	t.Helper()
	c := testutil.Login(t, s, user, pw, resource)
	c.Send("<presence/>")
	drain(t, c)
	return c
}

// wantError reads until an error stanza named name arrives and checks its
// sender and condition.
func wantError(t *testing.T, c *testutil.Client, name, from, cond string, blockedApp bool) {
	t.Helper()
	el := c.Expect(name, from, "error")
	got, app := condition(el)
	if got != cond || app != blockedApp {
		t.Fatalf("error %s: condition %q blocked %v, want %q blocked %v", el, got, app, cond, blockedApp)
	}
}

// wantMessage reads until a message with a body arrives (carbons and
// chat states are skipped) and checks it.
func wantMessage(t *testing.T, c *testutil.Client, from, body string) {
	t.Helper()
	for {
		el := c.NextNamed("message")
		b := el.Child("body", xml.NSClient)
		if b == nil {
			continue
		}
		if el.Attr("from") != from || b.Text() != body {
			t.Fatalf("got %s, want message %q from %s", el, body, from)
		}
		return
	}
}

func offlineCount(t *testing.T, s *testutil.Server, user string) int {
	t.Helper()
	n, err := s.Accounts().(storage.Offline).CountOffline(context.Background(), "localhost", user)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestInboundRefused: XEP-0191 §3.4, stanzas from a blocked JID to the
// user.
func TestInboundRefused(t *testing.T) {
	s := testutil.Start(t, "")
	for _, u := range []string{"alice", "bob", "carol"} {
		s.AddUser(t, u, pw)
	}
	a := online(t, s, "alice", "a")
	b := online(t, s, "bob", "b")
	block(t, a, "bob@localhost")

	for _, tc := range []struct {
		name, stanza, errFrom, errName string // errName "": silently dropped
	}{
		{"chat to bare", "<message to='alice@localhost' type='chat'><body>hi</body></message>", "alice@localhost", "message"},
		{"normal to full", "<message to='alice@localhost/a'><body>hi</body></message>", "alice@localhost/a", "message"},
		{"headline", "<message to='alice@localhost' type='headline'><body>hi</body></message>", "alice@localhost", "message"},
		{"iq get to full", "<iq type='get' id='v1' to='alice@localhost/a'><query xmlns='jabber:iq:version'/></iq>", "alice@localhost/a", "iq"},
		{"iq set to bare", "<iq type='set' id='v2' to='alice@localhost'><query xmlns='jabber:iq:private'><x xmlns='y'/></query></iq>", "alice@localhost", "iq"},
		{"iq result", "<iq type='result' id='r1' to='alice@localhost/a'/>", "", ""},
		{"message error", "<message type='error' to='alice@localhost/a'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>", "", ""},
		{"directed presence", "<presence to='alice@localhost/a'/>", "", ""},
		{"presence probe", "<presence type='probe' to='alice@localhost'/>", "", ""},
		{"subscribe", "<presence type='subscribe' to='alice@localhost'/>", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b.Send("%s", tc.stanza)
			if tc.errName != "" {
				// "The user will appear offline": what the router says
				// for an unavailable user, service-unavailable.
				wantError(t, b, tc.errName, tc.errFrom, "service-unavailable", false)
			}
			b.Quiet("blocked sender")
			a.Quiet("user who blocked the sender")
		})
	}
	// The subscription request was not stored as pending either.
	items, _, err := s.Accounts().(storage.Rosters).Roster(context.Background(), "localhost", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 0 {
		t.Fatalf("alice's roster after a blocked subscribe: %+v", items)
	}

	// Offline: refused and not stored, while an unblocked sender's
	// message is.
	a.Close()
	c := online(t, s, "carol", "c")
	b.Send("<message to='alice@localhost' type='chat'><body>from bob</body></message>")
	wantError(t, b, "message", "alice@localhost", "service-unavailable", false)
	c.Send("<message to='alice@localhost' type='chat'><body>from carol</body></message>")
	c.Quiet("unblocked sender to an offline user")
	if n := offlineCount(t, s, "alice"); n != 1 {
		t.Fatalf("alice has %d offline messages, want 1 (carol's only)", n)
	}
	a = testutil.Login(t, s, "alice", pw, "later")
	a.Send("<presence/>")
	wantMessage(t, a, "carol@localhost/c", "from carol")
	drain(t, a)

	// After unblocking, bob gets through again.
	set(t, a, "<unblock xmlns='urn:xmpp:blocking'/>")
	b.Send("<message to='alice@localhost' type='chat'><body>again</body></message>")
	wantMessage(t, a, "bob@localhost/b", "again")
}

// TestOutboundRefused: XEP-0191 §3.4, the user's own stanzas to a blocked
// JID.
func TestOutboundRefused(t *testing.T) {
	s := testutil.Start(t, "")
	for _, u := range []string{"alice", "bob"} {
		s.AddUser(t, u, pw)
	}
	a := online(t, s, "alice", "a")
	a2 := online(t, s, "alice", "a2")
	a2.Send("<iq type='set' id='c'><enable xmlns='urn:xmpp:carbons:2'/></iq>")
	drain(t, a2)
	b := online(t, s, "bob", "b")
	block(t, a, "bob@localhost")
	drain(t, a2)

	for _, tc := range []struct {
		name, stanza, errFrom, errName string
	}{
		{"chat to bare", "<message to='bob@localhost' type='chat'><body>hi</body></message>", "bob@localhost", "message"},
		{"normal to full", "<message to='bob@localhost/b'><body>hi</body></message>", "bob@localhost/b", "message"},
		{"iq get", "<iq type='get' id='v1' to='bob@localhost/b'><query xmlns='jabber:iq:version'/></iq>", "bob@localhost/b", "iq"},
		{"iq result", "<iq type='result' id='r1' to='bob@localhost/b'/>", "", ""},
		{"directed presence", "<presence to='bob@localhost/b'/>", "", ""},
		{"subscribe", "<presence type='subscribe' to='bob@localhost'/>", "", ""},
		{"subscribed", "<presence type='subscribed' to='bob@localhost'/>", "", ""},
		{"probe", "<presence type='probe' to='bob@localhost'/>", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a.Send("%s", tc.stanza)
			if tc.errName != "" {
				wantError(t, a, tc.errName, tc.errFrom, "not-acceptable", true)
			}
			a.Quiet("user")
			b.Quiet("blocked contact")
			// No carbon copy of what never went out.
			a2.Quiet("user's other resource")
		})
	}
	// The subscription requests had no effect on either roster.
	for _, u := range []string{"alice", "bob"} {
		items, _, err := s.Accounts().(storage.Rosters).Roster(context.Background(), "localhost", u)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) != 0 {
			t.Fatalf("%s's roster after blocked subscription requests: %+v", u, items)
		}
	}
	// Between the user's own resources nothing is blocked, even with the
	// user's own JID on the list.
	block(t, a, "alice@localhost", "localhost")
	a.Send("<message to='alice@localhost/a2' type='chat'><body>self</body></message>")
	wantMessage(t, a2, "alice@localhost/a", "self")
}

// TestPresenceNotLeaked: two accounts with a mutual subscription; blocking
// sends unavailable (§3.4) and stops presence both ways, unblocking sends
// the current presence (§3.5) and presence flows again.
func TestPresenceNotLeaked(t *testing.T) {
	s := testutil.Start(t, "")
	for _, u := range []string{"alice", "bob"} {
		s.AddUser(t, u, pw)
	}
	setItem(t, s, "alice", storage.RosterItem{JID: "bob@localhost", Subscription: "both"})
	setItem(t, s, "bob", storage.RosterItem{JID: "alice@localhost", Subscription: "both"})
	b := online(t, s, "bob", "b")
	a := testutil.Login(t, s, "alice", pw, "a")
	a.Send("<presence><status>here</status></presence>")
	b.Expect("presence", "alice@localhost/a", "")
	drain(t, a)

	block(t, a, "bob@localhost")
	b.Expect("presence", "alice@localhost/a", "unavailable")
	b.Quiet("blocked contact after the unavailable")

	a.Send("<presence><show>away</show><status>gone</status></presence>")
	a.Expect("presence", "alice@localhost/a", "") // own broadcast
	b.Quiet("blocked contact after the user's presence update")
	b.Send("<presence><show>dnd</show></presence>")
	b.Expect("presence", "bob@localhost/b", "")
	a.Quiet("user after the blocked contact's presence update")
	// A second resource's initial presence (broadcast and probes) leaks
	// nothing either way.
	a2 := testutil.Login(t, s, "alice", pw, "a2")
	a2.Send("<presence/>")
	for _, el := range drainAll(t, a2) {
		if el.Attr("from") == "bob@localhost/b" {
			// Probe answers go through Router.Route (modules/presence),
			// so HookRoute filters them like any other stanza.
			t.Errorf("second resource got the blocked contact's presence: %s", el)
		}
	}
	b.Quiet("blocked contact after the user's second resource came online")
	drain(t, a)

	r, before := request(t, a, "<iq type='set' id='%s'><unblock xmlns='urn:xmpp:blocking'><item jid='bob@localhost'/></unblock></iq>")
	if r.Attr("type") != "result" {
		t.Fatalf("unblock: %s", r)
	}
	// §3.5: the contact gets the current presence of each available
	// resource...
	show := map[string]string{}
	for len(show) < 2 {
		el := b.NextNamed("presence")
		if el.Attr("type") != "" {
			t.Fatalf("after unblock: %s", el)
		}
		sh := ""
		if c := el.Child("show", xml.NSClient); c != nil {
			sh = c.Text()
		}
		show[el.Attr("from")] = sh
	}
	if show["alice@localhost/a"] != "away" || show["alice@localhost/a2"] != "" {
		t.Fatalf("presence after unblock: %v", show)
	}
	// ...and the user's resources get the contact's (the probe's answer).
	// The unblocking resource may get it before the IQ result.
	var fromBob *xml.Element
	for _, el := range before {
		if el.Name() == "presence" && el.Attr("from") == "bob@localhost/b" {
			fromBob = el
		}
	}
	if fromBob == nil {
		fromBob = a.Expect("presence", "bob@localhost/b", "")
	}
	for c, el := range map[*testutil.Client]*xml.Element{a: fromBob, a2: a2.Expect("presence", "bob@localhost/b", "")} {
		if sh := el.Child("show", xml.NSClient); el.Attr("type") != "" || sh == nil || sh.Text() != "dnd" {
			t.Fatalf("%s: bob's presence after unblock: %s", c.JID, el)
		}
	}
	// Updates flow again both ways.
	a.Send("<presence><status>back</status></presence>")
	b.Expect("presence", "alice@localhost/a", "")
	b.Send("<presence/>")
	a.Expect("presence", "bob@localhost/b", "")
}

func drainAll(t *testing.T, c *testutil.Client) []*xml.Element {
	t.Helper()
	c.Send("<iq type='get' id='drainall'><ping xmlns='urn:xmpp:ping'/></iq>")
	var out []*xml.Element
	for {
		el := c.Next()
		if el.Name() == "iq" && el.Attr("id") == "drainall" {
			return out
		}
		out = append(out, el)
	}
}
