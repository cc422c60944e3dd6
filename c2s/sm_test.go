package c2s_test

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/xml"
)

const (
	nsSM = "urn:xmpp:sm:3"
	pw   = "sm-password"
)

// authOnly logs in without binding a resource and returns the client with
// the post-authentication features.
func authOnly(t *testing.T, s *testutil.Server, user string) (*testutil.Client, *xml.Element) {
	t.Helper()
	c := testutil.NewClient(t, testutil.Dial(t, s.StartTLS))
	c.Open("localhost")
	c.StartTLS("localhost")
	if r := c.AuthSCRAM("SCRAM-SHA-256", user, pw, "", nil); !r.OK {
		t.Fatalf("login %s: %s", user, r.Condition)
	}
	return c, c.Restart("localhost")
}

// nextSkipR returns the next element that is not an ack request.
func nextSkipR(c *testutil.Client) *xml.Element {
	for {
		el := c.Next()
		if el.Name() != "r" || el.NS() != nsSM {
			return el
		}
	}
}

func enable(t *testing.T, c *testutil.Client, resume bool) *xml.Element {
	t.Helper()
	if resume {
		c.Send("<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
	} else {
		c.Send("<enable xmlns='urn:xmpp:sm:3'/>")
	}
	el := nextSkipR(c)
	if el.Name() != "enabled" || el.NS() != nsSM {
		t.Fatalf("enable: %s", el)
	}
	return el
}

func body(el *xml.Element) string {
	if b := el.Child("body", xml.NSClient); b != nil {
		return b.Text()
	}
	return ""
}

func TestSMAcknowledgements(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", pw)
	c, feats := authOnly(t, s, "alice")
	if feats.Child("sm", nsSM) == nil {
		t.Fatalf("no XEP-0198 feature after authentication: %s", feats)
	}
	// §3: enabling needs a bound resource.
	c.Send("<enable xmlns='urn:xmpp:sm:3'/>")
	if el := c.Next(); el.Name() != "failed" || el.Child(stanza.UnexpectedRequest, stanza.NSStanzas) == nil {
		t.Fatalf("enable before bind: %s", el)
	}
	c.Bind("phone")
	if en := enable(t, c, false); en.Attr("id") != "" || en.Attr("resume") != "" {
		t.Errorf("resumption offered though not asked for: %s", en)
	}
	c.Send("<enable xmlns='urn:xmpp:sm:3'/>")
	if el := nextSkipR(c); el.Name() != "failed" || el.Child(stanza.UnexpectedRequest, stanza.NSStanzas) == nil {
		t.Fatalf("second enable: %s", el)
	}

	// Three stanzas handled: the ack says so.
	for _, id := range []string{"p1", "p2", "p3"} {
		c.Send("<iq type='get' id='%s' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>", id)
	}
	c.Send("<r xmlns='urn:xmpp:sm:3'/>")
	results, sawR := 0, false
	for {
		el := c.Next()
		switch {
		case el.Name() == "iq" && el.Attr("type") == "result":
			results++
			continue
		case el.Name() == "r" && el.NS() == nsSM:
			sawR = true // the server asks for acks of what it sent
			continue
		case el.Name() == "a" && el.NS() == nsSM:
			if el.Attr("h") != "3" {
				t.Errorf("server's h = %s, want 3", el.Attr("h"))
			}
		default:
			t.Fatalf("unexpected %s", el)
		}
		break
	}
	if results != 3 {
		t.Errorf("%d ping results before the ack, want 3", results)
	}
	for !sawR {
		el := c.Next()
		sawR = el.Name() == "r" && el.NS() == nsSM
	}
	// Acknowledging the three results is fine; claiming more than was sent
	// is a stream error (§4).
	c.Send("<a xmlns='urn:xmpp:sm:3' h='3'/>")
	c.Send("<a xmlns='urn:xmpp:sm:3' h='7'/>")
	if cond := c.ExpectStreamError(); cond != stanza.StreamUndefinedCondition {
		t.Errorf("h too high: %q, want undefined-condition", cond)
	}
}

// adminListener gives a test server the admin API, whose session list
// tells when a broken session's transport is gone (WaitTransportGone).
const adminListener = `
[[listen]]
type = "admin"
address = "127.0.0.1:0"
`

func TestSMResume(t *testing.T) {
	s := testutil.Start(t, adminListener)
	s.AddUser(t, "alice", pw)
	s.AddUser(t, "bob", pw)
	bob := testutil.Login(t, s, "bob", pw, "pc")
	alice := testutil.Login(t, s, "alice", pw, "phone")
	en := enable(t, alice, true)
	id := en.Attr("id")
	if id == "" || en.Attr("resume") != "true" || en.Attr("max") != "300" {
		t.Fatalf("enabled: %s", en)
	}
	bob.Send("<message to='alice@localhost/phone' type='chat' id='m1'><body>one</body></message>")
	if m := nextSkipR(alice); body(m) != "one" {
		t.Fatalf("alice got %s", m)
	}
	// The connection breaks without a closing tag; the session stays.
	alice.Conn.Close()
	s.WaitTransportGone(t, "alice@localhost/phone") // the server noticed the break
	bob.Send("<message to='alice@localhost/phone' type='chat' id='m2'><body>two</body></message>")
	bob.Send("<iq type='get' id='fence' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
	if r := bob.NextNamed("iq"); r.Attr("id") != "fence" {
		t.Fatalf("bob: %s", r)
	}
	if s.Sessions() != 2 {
		t.Fatalf("%d sessions while alice hibernates, want 2", s.Sessions())
	}

	// Someone else cannot take the session; an unknown id is refused.
	other, _ := authOnly(t, s, "bob")
	other.Send("<resume xmlns='urn:xmpp:sm:3' previd='%s' h='0'/>", id)
	if el := other.Next(); el.Name() != "failed" || el.Child(stanza.ItemNotFound, stanza.NSStanzas) == nil {
		t.Fatalf("resume by another account: %s", el)
	}
	other.Send("<resume xmlns='urn:xmpp:sm:3' previd='nonesuch' h='0'/>")
	if el := other.Next(); el.Name() != "failed" || el.Child(stanza.ItemNotFound, stanza.NSStanzas) == nil {
		t.Fatalf("resume of an unknown session: %s", el)
	}
	other.Bind("second") // a failed resumption leaves the stream usable

	// alice resumes having handled nothing: both messages come again, in
	// order, after <resumed/>.
	a2, _ := authOnly(t, s, "alice")
	a2.Send("<resume xmlns='urn:xmpp:sm:3' previd='%s' h='0'/>", id)
	el := a2.Next()
	if el.Name() != "resumed" || el.Attr("previd") != id || el.Attr("h") != "0" {
		t.Fatalf("resume: %s", el)
	}
	if m := nextSkipR(a2); body(m) != "one" {
		t.Fatalf("first resent stanza: %s", m)
	}
	if m := nextSkipR(a2); body(m) != "two" {
		t.Fatalf("second resent stanza: %s", m)
	}
	// The resumed session is the old one: same full JID, counts go on.
	a2.Send("<message to='bob@localhost/pc' type='chat'><body>back</body></message>")
	if m := bob.NextNamed("message"); m.Attr("from") != "alice@localhost/phone" || body(m) != "back" {
		t.Fatalf("bob got %s", m)
	}
	a2.Send("<a xmlns='urn:xmpp:sm:3' h='2'/><r xmlns='urn:xmpp:sm:3'/>")
	if a := nextSkipR(a2); a.Name() != "a" || a.Attr("h") != "1" {
		t.Fatalf("ack after resumption: %s", a)
	}

	// The client notices a break before the server does and resumes on a
	// third connection: the second is closed, the session moves.
	a3, _ := authOnly(t, s, "alice")
	a3.Send("<resume xmlns='urn:xmpp:sm:3' previd='%s' h='2'/>", id)
	if el := a3.Next(); el.Name() != "resumed" || el.Attr("h") != "1" {
		t.Fatalf("second resume: %s", el)
	}
	for {
		_, err := a2.TryNext()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, xml.ErrStreamEnd) {
				t.Logf("old transport: %v", err)
			}
			break
		}
	}
	bob.Send("<message to='alice@localhost/phone' type='chat'><body>three</body></message>")
	if m := nextSkipR(a3); body(m) != "three" {
		t.Fatalf("after the second resumption: %s", m)
	}
	if n := s.Sessions(); n != 3 {
		t.Errorf("%d sessions, want 3 (bob, bob/second, alice)", n)
	}
}

// A session not resumed in time ends; the messages it never acknowledged
// go to offline storage (XEP-0198 §4: treated as undelivered).
func TestSMTimeoutReroutesUnacked(t *testing.T) {
	s := testutil.Start(t, "[limits]\nresume_timeout = \"300ms\"\n")
	s.AddUser(t, "alice", pw)
	s.AddUser(t, "bob", pw)
	bob := testutil.Login(t, s, "bob", pw, "pc")
	alice := testutil.Login(t, s, "alice", pw, "phone")
	enable(t, alice, true)
	alice.Send("<presence/>")
	bob.Send("<message to='alice@localhost' type='chat' id='m1'><body>kept</body></message>")
	if m := alice.NextNamed("message"); body(m) != "kept" {
		t.Fatalf("alice got %s", m)
	}
	alice.Conn.Close()
	waitFor(t, func() bool { return s.Sessions() == 1 })

	a2 := testutil.Login(t, s, "alice", pw, "laptop")
	a2.Send("<presence/>")
	m := a2.NextNamed("message")
	if body(m) != "kept" || m.Child("delay", "urn:xmpp:delay") == nil {
		t.Fatalf("offline delivery of the unacknowledged message: %s", m)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A resumed session outlives the authentication deadline of the
// connection it came back on (that deadline is for binding, and binding
// is what resumption replaces).
func TestSMResumedSessionOutlivesAuthTimeout(t *testing.T) {
	s := testutil.Start(t, adminListener+"[limits]\nauth_timeout = \"300ms\"\n")
	s.AddUser(t, "alice", pw)
	s.AddUser(t, "bob", pw)
	bob := testutil.Login(t, s, "bob", pw, "pc")
	alice := testutil.Login(t, s, "alice", pw, "phone")
	id := enable(t, alice, true).Attr("id")
	alice.Conn.Close()
	s.WaitTransportGone(t, "alice@localhost/phone") // hibernating
	a2, _ := authOnly(t, s, "alice")
	a2.Send("<resume xmlns='urn:xmpp:sm:3' previd='%s' h='0'/>", id)
	if el := a2.Next(); el.Name() != "resumed" {
		t.Fatalf("resume: %s", el)
	}
	// The scenario is the time passing: the resumed stream stays quiet
	// past its connection's auth_timeout (300ms).
	time.Sleep(600 * time.Millisecond)
	bob.Send("<message to='alice@localhost/phone' type='chat'><body>still there</body></message>")
	if m := nextSkipR(a2); m.Name() != "message" || body(m) != "still there" {
		t.Fatalf("after the auth timeout: %s", m)
	}
}

// Malformed stream-management input: a non-numeric h in <a/> ends the
// stream (invalid-xml); a resume with a bad h is refused with bad-request
// and the stream stays usable.
func TestSMMalformed(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", pw)
	c, _ := authOnly(t, s, "alice")
	c.Send("<resume xmlns='urn:xmpp:sm:3' previd='x' h='minus one'/>")
	if el := c.Next(); el.Name() != "failed" || el.Child(stanza.BadRequest, stanza.NSStanzas) == nil {
		t.Fatalf("resume with a bad h: %s", el)
	}
	c.Bind("phone")
	enable(t, c, true)
	c.Send("<a xmlns='urn:xmpp:sm:3' h='many'/>")
	if cond := c.ExpectStreamError(); cond != stanza.StreamInvalidXML {
		t.Errorf("<a/> with a bad h: %q, want invalid-xml", cond)
	}
}

// TestSMClosedStreamHandlesNothing: once the server closed a stream
// (here <conflict/>: the same full JID bound again), it can acknowledge
// nothing more, so what the XEP-0198 client still sends on it is not
// handled: the client sends it again on its next stream (XEP-0198 §4),
// and handling it as well would deliver it twice.
func TestSMClosedStreamHandlesNothing(t *testing.T) {
	s := testutil.Start(t, adminListener)
	s.AddUser(t, "alice", pw)
	s.AddUser(t, "bob", pw)
	bob, _ := authOnly(t, s, "bob")
	bob.Bind("pc")
	bob.Send("<presence/>")
	old, _ := authOnly(t, s, "alice")
	old.Bind("phone")
	enable(t, old, false)
	repl, _ := authOnly(t, s, "alice")
	repl.Bind("phone")
	for {
		el := old.Next()
		if el.Name() == "error" && el.NS() == xml.NSStream {
			break
		}
	}
	// The server closed the old stream; the client still sends, then
	// closes its side. The server reads both in order, so once it has
	// counted the connection closed (after its reader ended) the message
	// was handled or dropped. (The socket's end is no fence: the server
	// half-closes it as soon as its closing tag is out.)
	old.Send("<message to='bob@localhost/pc' type='chat' id='late'><body>after close</body></message></stream:stream>")
	for deadline := time.Now().Add(testutil.Timeout); s.Metric(t, `xmppd_connections_open{listener="c2s"}`) > 2; {
		if time.Now().After(deadline) {
			t.Fatal("the old connection never closed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	bob.Send("<iq type='get' id='fence' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
	for {
		el := bob.Next()
		if el.Name() == "message" && el.Attr("id") == "late" {
			t.Fatalf("bob got what alice sent on a stream the server had closed: %s", el)
		}
		if el.Name() == "iq" && el.Attr("id") == "fence" {
			break
		}
	}
}
