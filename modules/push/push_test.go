package push_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/testutil"
	_ "github.com/xmppd/xmppd/modules/all"
	"github.com/xmppd/xmppd/modules/push"
	"github.com/xmppd/xmppd/storage/sqldb"
	"github.com/xmppd/xmppd/xml"
)

// The app server's XMPP Push Service is played by an XEP-0114 component
// the test drives on the wire.
const (
	secret = "push-component-secret"
	conf   = `
[[listen]]
type = "component"
address = "127.0.0.1:0"

[[component]]
domain = "push.localhost"
secret = "` + secret + `"

[[listen]]
type = "admin"
address = "127.0.0.1:0"
`
	pw        = "password1"
	nsPubSub  = "http://jabber.org/protocol/pubsub"
	nsData    = "jabber:x:data"
	nsOptions = "http://jabber.org/protocol/pubsub#publish-options"
)

func connectComponent(t *testing.T, s *testutil.Server) *testutil.Client {
	t.Helper()
	return testutil.ConnectComponent(t, s, "push.localhost", secret)
}

func wantResult(t *testing.T, r *xml.Element) {
	t.Helper()
	if r.Attr("type") != "result" {
		t.Fatalf("want result, got %s", r)
	}
}

// online logs user in with initial presence, so messages to the bare JID
// reach the session instead of offline storage.
func online(t *testing.T, s *testutil.Server, user, resource string) *testutil.Client {
	t.Helper()
	c := testutil.Login(t, s, user, pw, resource)
	c.Send("<presence/>")
	wantResult(t, c.IQ("fence", "<iq type='get' id='fence' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>"))
	return c
}

// alicePhone starts a server with conf and extra, the push service's
// component connected (comp), bob logged in, and alice online as
// alice/phone.
func alicePhone(t *testing.T, extra string) (s *testutil.Server, comp, bob, alice *testutil.Client) {
	t.Helper()
	s = testutil.Start(t, conf+extra)
	s.AddUser(t, "alice", pw)
	s.AddUser(t, "bob", pw)
	comp = connectComponent(t, s)
	bob = testutil.Login(t, s, "bob", pw, "r")
	return s, comp, bob, online(t, s, "alice", "phone")
}

func waitSessions(t *testing.T, s *testutil.Server, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for s.Sessions() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions, want %d", s.Sessions(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// offline ends c's session and waits until the server has unbound it.
func offline(t *testing.T, s *testutil.Server, c *testutil.Client) {
	t.Helper()
	n := s.Sessions()
	c.Close()
	waitSessions(t, s, n-1)
}

const enableOpts = `<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>` + nsOptions + `</value></field><field var='secret'><value>s3cr3t</value></field>%s</x>`

func enable(t *testing.T, c *testutil.Client, node string, includeBody bool) {
	t.Helper()
	extra := ""
	if includeBody {
		extra = "<field var='include-body'><value>true</value></field>"
	}
	wantResult(t, c.IQ("en", "<iq type='set' id='en'><enable xmlns='urn:xmpp:push:0' jid='push.localhost' node='%s'>"+enableOpts+"</enable></iq>", node, extra))
}

// notification is what the test reads out of one publish.
type notification struct {
	from, node string
	fields     map[string]string
	options    map[string]string
}

func fields(x *xml.Element) map[string]string {
	out := map[string]string{}
	if x == nil {
		return out
	}
	for f := range x.Children() {
		v := ""
		if val := f.Child("value", nsData); val != nil {
			v = val.Text()
		}
		out[f.Attr("var")] = v
	}
	return out
}

// nextPublish reads the next stanza at the push service, which must be a
// publish; it answers it with answer ("" = an empty result).
func nextPublish(t *testing.T, comp *testutil.Client, answer string) notification {
	t.Helper()
	el := comp.Next()
	ps := el.Child("pubsub", nsPubSub)
	if el.Name() != "iq" || el.Attr("type") != "set" || ps == nil {
		t.Fatalf("push service got %s, want a publish", el)
	}
	pub := ps.Child("publish", nsPubSub)
	n := ps.Child("publish", nsPubSub).Child("item", nsPubSub).Child("notification", push.NS)
	if n == nil {
		t.Fatalf("publish without notification: %s", el)
	}
	var opts *xml.Element
	if po := ps.Child("publish-options", nsPubSub); po != nil {
		opts = po.Child("x", nsData)
	}
	if answer == "" {
		comp.Send("<iq type='result' id='%s' from='push.localhost' to='%s'/>", el.Attr("id"), el.Attr("from"))
	} else {
		comp.Send("<iq type='error' id='%s' from='push.localhost' to='%s'>%s</iq>", el.Attr("id"), el.Attr("from"), answer)
	}
	return notification{from: el.Attr("from"), node: pub.Attr("node"), fields: fields(n.Child("x", nsData)), options: fields(opts)}
}

// noPublish proves nothing more reached the push service
// (testutil.NothingArrives).
func noPublish(t *testing.T, comp, sender *testutil.Client, why string) {
	t.Helper()
	testutil.NothingArrives(t, comp, sender, "fence@push.localhost", 200*time.Millisecond, why)
}

func send(c *testutil.Client, body string) {
	c.Send("<message to='alice@localhost' type='chat'><body>%s</body></message>", body)
}

func TestPushOffline(t *testing.T) {
	s, comp, bob, a := alicePhone(t, "")
	r := a.IQ("d", "<iq type='get' id='d' to='alice@localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	if !strings.Contains(r.String(), "var='"+push.NS+"'") {
		t.Fatalf("account disco#info lacks %s: %s", push.NS, r)
	}
	enable(t, a, "n1", false)

	// Online: the message is delivered, nothing is pushed.
	send(bob, "while online")
	if m := a.NextNamed("message"); !strings.Contains(m.String(), "while online") {
		t.Fatalf("alice got %s", m)
	}
	noPublish(t, comp, bob, "message to an online account")

	// Offline: each message is pushed, counted, from alice's bare JID,
	// with the enable's publish options; no body unless asked for.
	offline(t, s, a)
	for i, want := range []string{"1", "2"} {
		send(bob, "secret words")
		n := nextPublish(t, comp, "")
		if n.from != "alice@localhost" || n.node != "n1" {
			t.Fatalf("publish %d from %q to node %q", i, n.from, n.node)
		}
		wantFields := map[string]string{"FORM_TYPE": push.NSSummary, "message-count": want, "last-message-sender": "bob@localhost/r"}
		if !equal(n.fields, wantFields) {
			t.Fatalf("publish %d summary %v, want %v", i, n.fields, wantFields)
		}
		if !equal(n.options, map[string]string{"FORM_TYPE": nsOptions, "secret": "s3cr3t"}) {
			t.Fatalf("publish %d options %v", i, n.options)
		}
	}
	// A chat state alone wakes nobody.
	bob.Send("<message to='alice@localhost' type='chat'><active xmlns='http://jabber.org/protocol/chatstates'/></message>")
	noPublish(t, comp, bob, "chat state")

	// A second node that asked for bodies; logging in resets the count.
	a = online(t, s, "alice", "phone")
	enable(t, a, "n2", true)
	offline(t, s, a)
	send(bob, "third")
	got := map[string]notification{}
	for range 2 {
		n := nextPublish(t, comp, "")
		got[n.node] = n
	}
	if got["n1"].fields["last-message-body"] != "" || got["n1"].fields["message-count"] != "1" {
		t.Fatalf("n1 after login: %v", got["n1"].fields)
	}
	if got["n2"].fields["last-message-body"] != "third" || got["n2"].options["include-body"] != "" {
		t.Fatalf("n2 (include-body): fields %v options %v", got["n2"].fields, got["n2"].options)
	}

	// Disabling one node, then the whole service (§6).
	a = online(t, s, "alice", "phone")
	wantResult(t, a.IQ("dis1", "<iq type='set' id='dis1'><disable xmlns='urn:xmpp:push:0' jid='push.localhost' node='n1'/></iq>"))
	offline(t, s, a)
	send(bob, "fourth")
	if n := nextPublish(t, comp, ""); n.node != "n2" {
		t.Fatalf("after disabling n1: publish to %q", n.node)
	}
	noPublish(t, comp, bob, "n1 disabled")
	a = online(t, s, "alice", "phone")
	wantResult(t, a.IQ("dis2", "<iq type='set' id='dis2'><disable xmlns='urn:xmpp:push:0' jid='push.localhost'/></iq>"))
	offline(t, s, a)
	send(bob, "fifth")
	noPublish(t, comp, bob, "service disabled")
}

func equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// A session kept for XEP-0198 resumption stays available, so the message
// is not offline; it waits for the client, which is asleep: pushed.
func TestPushHeldSession(t *testing.T) {
	s, comp, bob, a := alicePhone(t, "[limits]\nresume_timeout = \"1s\"\n")
	enable(t, a, "n1", true)
	a.Send("<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
	for {
		el := a.Next()
		if el.Name() == "enabled" {
			break
		}
	}
	send(bob, "before the break")
	// Read up to the message, counting stanzas, and acknowledge them all:
	// an unacknowledged message would be handed to offline storage (and
	// notified) when the session ends.
	handled := 0
	for {
		el := a.Next()
		if el.NS() == "urn:xmpp:sm:3" {
			continue
		}
		handled++
		if el.Name() == "message" && strings.Contains(el.String(), "before the break") {
			break
		}
	}
	a.Send("<a xmlns='urn:xmpp:sm:3' h='%d'/>", handled)
	noPublish(t, comp, bob, "session connected")

	a.Conn.Close() // no closing tag: the session hibernates
	s.WaitTransportGone(t, "alice@localhost/phone")
	if s.Sessions() != 2 {
		t.Fatalf("%d sessions, want alice's kept for resumption and bob's", s.Sessions())
	}
	send(bob, "while asleep")
	n := nextPublish(t, comp, "")
	if n.from != "alice@localhost" || n.node != "n1" || n.fields["last-message-body"] != "while asleep" || n.fields["last-message-sender"] != "bob@localhost/r" {
		t.Fatalf("publish for a held session: %+v", n)
	}

	// Not resumed within resume_timeout: the session ends and the held
	// message goes to offline storage, without a second notification.
	waitSessions(t, s, 1)
	noPublish(t, comp, bob, "held message moved to offline storage")
	send(bob, "now offline")
	if n := nextPublish(t, comp, ""); n.fields["message-count"] != "2" || n.fields["last-message-body"] != "now offline" {
		t.Fatalf("publish after the session ended: %+v", n)
	}
	a = testutil.Login(t, s, "alice", pw, "phone")
	a.Send("<presence/>") // XEP-0160: the offline messages follow
	for _, want := range []string{"while asleep", "now offline"} {
		if m := a.NextNamed("message"); !strings.Contains(m.String(), want) {
			t.Fatalf("offline message %q: got %s", want, m)
		}
	}
}

// §7.1: a publish answered with a permanent error disables the
// registration; a temporary one keeps it.
func TestPushErrorDisables(t *testing.T) {
	s, comp, bob, a := alicePhone(t, "")
	enable(t, a, "n1", false)
	offline(t, s, a)

	send(bob, "one")
	nextPublish(t, comp, "<error type='wait'><resource-constraint xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>")
	send(bob, "two")
	nextPublish(t, comp, "<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>")
	// The answer is handled on the publish's goroutine: wait until the
	// registration is gone from the database.
	regs := push.StoreOf(s.Accounts().(*sqldb.DB).ModuleSQL())
	deadline := time.Now().Add(5 * time.Second)
	for {
		rs, err := regs.PushRegistrations(context.Background(), "localhost", "alice")
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("registration still there after item-not-found: %+v", rs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	send(bob, "three")
	noPublish(t, comp, bob, "after item-not-found")
}

func TestPushEnableErrors(t *testing.T) {
	s := testutil.Start(t, conf+"[push]\nmax_registrations = 2\n")
	s.AddUser(t, "alice", pw)
	a := testutil.Login(t, s, "alice", pw, "r")
	for _, tc := range []struct{ name, iq, cond string }{
		{"no jid", "<iq type='set' id='x'><enable xmlns='urn:xmpp:push:0' node='n'/></iq>", "jid-malformed"},
		{"bad jid", "<iq type='set' id='x'><enable xmlns='urn:xmpp:push:0' jid='a@b@c' node='n'/></iq>", "jid-malformed"},
		// Another account's push services are none of alice's business
		// (the core answers IQs to accounts the way RFC 6121 §8.5 says).
		{"other account", "<iq type='set' id='x' to='bob@localhost'><enable xmlns='urn:xmpp:push:0' jid='push.localhost' node='n'/></iq>", "service-unavailable"},
		{"form of another type", "<iq type='set' id='x'><enable xmlns='urn:xmpp:push:0' jid='push.localhost' node='n'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:other</value></field></x></enable></iq>", "bad-request"},
		{"disable without jid", "<iq type='set' id='x'><disable xmlns='urn:xmpp:push:0'/></iq>", "jid-malformed"},
	} {
		r := a.IQ("x", "%s", tc.iq)
		if r.Attr("type") != "error" || !strings.Contains(r.String(), "<"+tc.cond+" ") {
			t.Errorf("%s: want %s, got %s", tc.name, tc.cond, r)
		}
	}
	// max_registrations = 2: a third pair is refused, re-enabling a known
	// one is not.
	enable(t, a, "n1", false)
	enable(t, a, "n2", false)
	enable(t, a, "n1", true)
	r := a.IQ("en", "<iq type='set' id='en'><enable xmlns='urn:xmpp:push:0' jid='push.localhost' node='n3'/></iq>")
	if r.Attr("type") != "error" || !strings.Contains(r.String(), "<resource-constraint ") {
		t.Fatalf("third registration: %s", r)
	}
}
