package presence_test

import (
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/xml"
)

// online logs in, asks for the roster (to receive pushes) and sends
// initial presence, consuming the answers.
func online(t *testing.T, s *testutil.Server, user, res string) *testutil.Client {
	t.Helper()
	c := testutil.Login(t, s, user, pw, res)
	c.Send("<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>")
	for el := c.Next(); el.Attr("id") != "r"; el = c.Next() {
	}
	c.Send("<presence/>")
	c.Expect("presence", user+"@localhost/"+res, "")
	return c
}

// push reads until a roster push and returns its item.
func push(t *testing.T, c *testutil.Client) *xml.Element {
	t.Helper()
	for {
		el := c.NextNamed("iq")
		if q := el.Child("query", "jabber:iq:roster"); el.Attr("type") == "set" && q != nil {
			c.Send("<iq type='result' id='%s'/>", el.Attr("id"))
			return q.FirstChild()
		}
	}
}

func wantPush(t *testing.T, c *testutil.Client, jid, sub, ask string) {
	t.Helper()
	it := push(t, c)
	if it.Attr("jid") != jid || it.Attr("subscription") != sub || it.Attr("ask") != ask {
		t.Fatalf("push %s, want jid=%s subscription=%s ask=%q", it, jid, sub, ask)
	}
}

func wantPushApproved(t *testing.T, c *testutil.Client, jid, sub, ask string, approved bool) {
	t.Helper()
	it := push(t, c)
	if it.Attr("jid") != jid || it.Attr("subscription") != sub || it.Attr("ask") != ask || (it.Attr("approved") == "true") != approved {
		t.Fatalf("push %s, want jid=%s subscription=%s ask=%q approved=%v", it, jid, sub, ask, approved)
	}
}

func wantState(t *testing.T, s *testutil.Server, user, contact, sub string, ask, pendingIn bool) {
	t.Helper()
	it, ok := roster(t, s, user)[contact]
	if !ok || it.Subscription != sub || it.Ask != ask || it.PendingIn != pendingIn {
		t.Fatalf("%s's item %s = %+v (found %v), want %s ask=%v pendingIn=%v", user, contact, it, ok, sub, ask, pendingIn)
	}
}

func TestSubscriptionLifecycle(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", pw)
	s.AddUser(t, "bob", pw)
	alice := online(t, s, "alice", "pc")
	bob := online(t, s, "bob", "phone")

	// §3.1: alice asks.
	alice.Send("<presence to='bob@localhost/phone' type='subscribe'/>")
	wantPush(t, alice, "bob@localhost", "none", "subscribe")
	el := bob.Expect("presence", "alice@localhost", "subscribe")
	if el.Attr("to") != "bob@localhost" {
		t.Errorf("request to=%q", el.Attr("to"))
	}
	wantState(t, s, "alice", "bob@localhost", "none", true, false)
	wantState(t, s, "bob", "alice@localhost", "none", false, true)

	// §3.2: bob approves; alice gets subscribed and bob's presence.
	bob.Send("<presence to='alice@localhost' type='subscribed'/>")
	wantPush(t, bob, "alice@localhost", "from", "")
	// §3.1.6: the approval is delivered before the roster push.
	alice.Expect("presence", "bob@localhost", "subscribed")
	wantPush(t, alice, "bob@localhost", "to", "")
	alice.Expect("presence", "bob@localhost/phone", "")
	wantState(t, s, "alice", "bob@localhost", "to", false, false)
	wantState(t, s, "bob", "alice@localhost", "from", false, false)

	// Presence now flows bob → alice on update.
	bob.Send("<presence><show>away</show></presence>")
	bob.Expect("presence", "bob@localhost/phone", "")
	alice.Expect("presence", "bob@localhost/phone", "")

	// A repeated request is answered by the server (§3.1.3).
	alice.Send("<presence to='bob@localhost' type='subscribe'/>")
	bob.Quiet("bob after a repeated request")
	wantState(t, s, "alice", "bob@localhost", "to", false, false)

	// The other direction: both.
	bob.Send("<presence to='alice@localhost' type='subscribe'/>")
	wantPush(t, bob, "alice@localhost", "from", "subscribe")
	alice.Expect("presence", "bob@localhost", "subscribe")
	alice.Send("<presence to='bob@localhost' type='subscribed'/>")
	wantPush(t, alice, "bob@localhost", "both", "")
	bob.Expect("presence", "alice@localhost", "subscribed")
	wantPush(t, bob, "alice@localhost", "both", "")
	bob.Expect("presence", "alice@localhost/pc", "")

	// §3.3: alice unsubscribes from bob's presence.
	alice.Send("<presence to='bob@localhost' type='unsubscribe'/>")
	wantPush(t, alice, "bob@localhost", "from", "")
	bob.Expect("presence", "alice@localhost", "unsubscribe")
	wantPush(t, bob, "alice@localhost", "to", "")
	alice.Expect("presence", "bob@localhost/phone", "unavailable")

	// §3.2.2: alice cancels bob's subscription to her.
	alice.Send("<presence to='bob@localhost' type='unsubscribed'/>")
	wantPush(t, alice, "bob@localhost", "none", "")
	// §3.2.2: the unavailable presence comes first, while bob is still
	// subscribed; §3.2.3: the cancellation is delivered before the push.
	if el := bob.Next(); el.Name() != "presence" || el.Attr("type") != "unavailable" || el.Attr("from") != "alice@localhost/pc" {
		t.Fatalf("bob got %s, want alice's unavailable presence first", el)
	}
	if el := bob.Next(); el.Name() != "presence" || el.Attr("type") != "unsubscribed" {
		t.Fatalf("bob got %s, want the unsubscribed before the push", el)
	}
	wantPush(t, bob, "alice@localhost", "none", "")
	wantState(t, s, "alice", "bob@localhost", "none", false, false)
	wantState(t, s, "bob", "alice@localhost", "none", false, false)

	// No subscription left: updates go nowhere.
	alice.Send("<presence><show>dnd</show></presence>")
	alice.Expect("presence", "alice@localhost/pc", "")
	bob.Quiet("bob after all subscriptions ended")

	// An approval nobody asked for is not routed: it is a pre-approval
	// (§3.4).
	alice.Send("<presence to='bob@localhost' type='subscribed'/>")
	wantPushApproved(t, alice, "bob@localhost", "none", "", true)
	bob.Quiet("bob after an unrequested approval")
}

// §3.1.3: a request for a contact with no available resource is stored and
// delivered at the contact's next initial presence, until answered.
func TestSubscriptionOffline(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "carol", pw)
	s.AddUser(t, "dave", pw)
	carol := online(t, s, "carol", "pc")
	carol.Send("<presence to='dave@localhost' type='subscribe'/>")
	wantPush(t, carol, "dave@localhost", "none", "subscribe")
	// carol's session handles her stanzas in order: once her ping is
	// answered, the request has been stored on dave's side too.
	carol.Quiet("carol after her request")
	// dave is connected but not available: the request waits.
	dave := testutil.Login(t, s, "dave", pw, "home")
	dave.Quiet("unavailable dave")
	wantState(t, s, "dave", "carol@localhost", "none", false, true)

	dave.Send("<presence/>")
	dave.Expect("presence", "carol@localhost", "subscribe")
	dave.Close()

	// Not answered: delivered again next time.
	dave = testutil.Login(t, s, "dave", pw, "home")
	dave.Send("<presence/>")
	dave.Expect("presence", "carol@localhost", "subscribe")
	dave.Send("<presence to='carol@localhost' type='subscribed'/>")
	carol.Expect("presence", "dave@localhost", "subscribed")
	carol.Expect("presence", "dave@localhost/home", "")
	wantState(t, s, "dave", "carol@localhost", "from", false, false)
	wantState(t, s, "carol", "dave@localhost", "to", false, false)
}

// A contact on a domain we do not serve: the request is recorded and the
// router answers remote-server-not-found.
func TestSubscribeRemote(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", pw)
	alice := online(t, s, "alice", "pc")
	alice.Send("<presence to='romeo@remote.example' type='subscribe'/>")
	wantPush(t, alice, "romeo@remote.example", "none", "subscribe")
	alice.Expect("presence", "romeo@remote.example", "error")
}

// Appendix A.3.1 "None + Pending In": a duplicate request is not delivered
// again; A.3.2 "None + Pending In": an unsubscribe withdraws it and is
// delivered. States are set up directly in storage.
func TestAppendixWire(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", pw)
	s.AddUser(t, "bob", pw)
	setItem(t, s, "alice", storage.RosterItem{JID: "bob@localhost", Subscription: "none", Ask: true})
	setItem(t, s, "bob", storage.RosterItem{JID: "alice@localhost", Subscription: "none", PendingIn: true})
	alice := online(t, s, "alice", "pc")
	bob := online(t, s, "bob", "phone")
	bob.Expect("presence", "alice@localhost", "subscribe") // stored request

	alice.Send("<presence to='bob@localhost' type='subscribe'/>")
	bob.Quiet("bob after a duplicate request (A.3.1)")
	wantState(t, s, "bob", "alice@localhost", "none", false, true)

	alice.Send("<presence to='bob@localhost' type='unsubscribe'/>")
	wantPush(t, alice, "bob@localhost", "none", "")
	bob.Expect("presence", "alice@localhost", "unsubscribe")
	bob.Quiet("bob after the withdrawn request (A.3.2)")
	wantState(t, s, "bob", "alice@localhost", "none", false, false)
	wantState(t, s, "alice", "bob@localhost", "none", false, false)

	// A.3.3 "None": an approval nobody asked for is not delivered. Sent
	// by bob's session it is not even routed (A.2.3 "None").
	// (It is a pre-approval, §3.4: bob's item is marked approved.)
	bob.Send("<presence to='alice@localhost' type='subscribed'/>")
	wantPushApproved(t, bob, "alice@localhost", "none", "", true)
	alice.Quiet("alice after an unrequested approval")

	// A.3.4 "To": a cancelled subscription is delivered.
	setItem(t, s, "alice", storage.RosterItem{JID: "bob@localhost", Subscription: "to"})
	setItem(t, s, "bob", storage.RosterItem{JID: "alice@localhost", Subscription: "from"})
	bob.Send("<presence to='alice@localhost' type='unsubscribed'/>")
	wantPush(t, bob, "alice@localhost", "none", "")
	alice.Expect("presence", "bob@localhost", "unsubscribed")
	wantPush(t, alice, "bob@localhost", "none", "")
	wantState(t, s, "alice", "bob@localhost", "none", false, false)
}

// §3.4 on the wire: the feature is offered; bob pre-approves alice (who is
// not in his roster), alice's later request is approved by the server.
func TestPreApprovalWire(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", pw)
	s.AddUser(t, "bob", pw)

	c := testutil.NewClient(t, testutil.Dial(t, s.StartTLS))
	c.Open("localhost")
	c.StartTLS("localhost")
	if r := c.AuthSCRAM("SCRAM-SHA-256", "bob", pw, "", nil); !r.OK {
		t.Fatal(r.Condition)
	}
	if f := c.Restart("localhost"); f.Child("sub", "urn:xmpp:features:pre-approval") == nil {
		t.Fatalf("no pre-approval in stream features: %s", f)
	}
	c.Close()

	alice := online(t, s, "alice", "pc")
	bob := online(t, s, "bob", "phone")
	bob.Send("<presence to='alice@localhost' type='subscribed'/>")
	wantPushApproved(t, bob, "alice@localhost", "none", "", true)
	alice.Quiet("alice after bob's pre-approval")
	if it := roster(t, s, "bob")["alice@localhost"]; !it.Approved || it.Subscription != "none" {
		t.Fatalf("bob's item %+v, want none, approved", it)
	}

	alice.Send("<presence to='bob@localhost' type='subscribe'/>")
	wantPush(t, alice, "bob@localhost", "none", "subscribe")
	alice.Expect("presence", "bob@localhost", "subscribed")
	alice.Expect("presence", "bob@localhost/phone", "")
	wantPushApproved(t, bob, "alice@localhost", "from", "", false)
	bob.Quiet("bob after a pre-approved request")
	wantState(t, s, "bob", "alice@localhost", "from", false, false)
	wantState(t, s, "alice", "bob@localhost", "to", false, false)
	if roster(t, s, "bob")["alice@localhost"].Approved {
		t.Error("approved not cleared")
	}

	// Presence flows bob → alice.
	bob.Send("<presence><show>away</show></presence>")
	alice.Expect("presence", "bob@localhost/phone", "")

	// A pre-approval cancelled by unsubscribed, which is not routed in
	// "None" (A.2.4).
	s.AddUser(t, "carol", pw)
	carol := online(t, s, "carol", "pc")
	setItem(t, s, "bob", storage.RosterItem{JID: "carol@localhost", Subscription: "none", Approved: true})
	bob.Send("<presence to='carol@localhost' type='unsubscribed'/>")
	wantPushApproved(t, bob, "carol@localhost", "none", "", false)
	carol.Quiet("carol after the cancelled pre-approval (A.2.4 None: not routed)")
	if roster(t, s, "bob")["carol@localhost"].Approved {
		t.Error("unsubscribed kept the pre-approval")
	}
}

// rosterJIDs is what a client's roster get shows.
func rosterJIDs(t *testing.T, c *testutil.Client) map[string]string {
	t.Helper()
	c.Send("<iq type='get' id='rg'><query xmlns='jabber:iq:roster'/></iq>")
	for {
		el := c.NextNamed("iq")
		if el.Attr("id") != "rg" {
			continue
		}
		out := map[string]string{}
		for it := range el.Child("query", "jabber:iq:roster").Children() {
			out[it.Attr("jid")] = it.Attr("subscription")
		}
		return out
	}
}

// A request from someone the user never added is kept, but no roster
// item is created for it (RFC 6121 Appendix A.1, §3.1.3): the user's
// roster does not show the stranger until the user answers.
func TestStrangerRequestNotInRoster(t *testing.T) {
	s := testutil.Start(t, "[roster]\nmax_items = 2\n")
	for _, u := range []string{"alice", "bob", "carol", "dave"} {
		s.AddUser(t, u, pw)
	}
	bob := online(t, s, "bob", "b")
	carol := online(t, s, "carol", "c")
	alice := online(t, s, "alice", "a")
	// Fence: alice's initial presence (which delivers stored requests) is
	// handled completely before bob asks, or his request would come twice
	// (live and stored), which clients accept but the test does not.
	alice.Quiet("alice after her initial presence")

	bob.Send("<presence to='alice@localhost' type='subscribe'/>")
	alice.Expect("presence", "bob@localhost", "subscribe")
	alice.Quiet("alice after the request (no roster push)")
	if r := rosterJIDs(t, alice); len(r) != 0 {
		t.Fatalf("roster shows the stranger: %v", r)
	}
	// Removing what the client cannot see is item-not-found (§2.5.3).
	alice.Send("<iq type='set' id='rm'><query xmlns='jabber:iq:roster'><item jid='bob@localhost' subscription='remove'/></query></iq>")
	if r := alice.NextNamed("iq"); r.Attr("type") != "error" || r.Child("error", "").Child("item-not-found", "") == nil {
		t.Fatalf("remove of a placeholder: %s", r)
	}
	// Still pending: delivered again at the next login.
	alice.Close()
	alice = testutil.Login(t, s, "alice", pw, "a")
	alice.Send("<presence/>")
	alice.Expect("presence", "bob@localhost", "subscribe")

	// carol asks too, then withdraws: nothing of her is left.
	carol.Send("<presence to='alice@localhost' type='subscribe'/>")
	alice.Expect("presence", "carol@localhost", "subscribe")
	carol.Send("<presence to='alice@localhost' type='unsubscribe'/>")
	alice.Expect("presence", "carol@localhost", "unsubscribe")
	if _, ok := roster(t, s, "alice")["carol@localhost"]; ok {
		t.Error("a withdrawn request left its placeholder behind")
	}

	// Approving makes bob a contact, shown and pushed (§3.1.5).
	alice.Send("<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>")
	alice.NextNamed("iq")
	alice.Send("<presence to='bob@localhost' type='subscribed'/>")
	wantPush(t, alice, "bob@localhost", "from", "")
	if r := rosterJIDs(t, alice); r["bob@localhost"] != "from" || len(r) != 1 {
		t.Fatalf("roster after approval: %v", r)
	}
}

// Strangers cannot grow an account's stored requests beyond the roster
// limit.
func TestStrangerRequestsBounded(t *testing.T) {
	s := testutil.Start(t, "[roster]\nmax_items = 1\n")
	for _, u := range []string{"alice", "bob", "carol"} {
		s.AddUser(t, u, pw)
	}
	bob := online(t, s, "bob", "b")
	carol := online(t, s, "carol", "c")
	// One at a time: a session's stanzas are handled in order, so bob's
	// ping fence means his request reached alice's side first.
	bob.Send("<presence to='alice@localhost' type='subscribe'/>")
	wantPush(t, bob, "alice@localhost", "none", "subscribe")
	bob.Quiet("bob")
	carol.Send("<presence to='alice@localhost' type='subscribe'/>")
	wantPush(t, carol, "alice@localhost", "none", "subscribe")
	carol.Quiet("carol")
	r := roster(t, s, "alice")
	if len(r) != 1 || !r["bob@localhost"].PendingIn {
		t.Fatalf("alice's stored requests: %+v, want only bob's", r)
	}
	// The held request does not use up alice's own roster limit.
	alice := online(t, s, "alice", "a")
	alice.Send("<iq type='set' id='add'><query xmlns='jabber:iq:roster'><item jid='carol@localhost'/></query></iq>")
	for {
		el := alice.NextNamed("iq")
		if el.Attr("id") != "add" {
			continue
		}
		if el.Attr("type") != "result" {
			t.Fatalf("adding a contact with a stranger's request held: %s", el)
		}
		break
	}
}
