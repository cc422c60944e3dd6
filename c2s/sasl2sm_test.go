package c2s_test

import (
	"crypto/tls"
	"encoding/base64"
	"net"
	"strings"
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/xml"
)

// XEP-0198 §9: stream management inline in SASL2 and Bind 2.

// bind2SM logs user in over SASL2 with Bind 2 and stream management
// switched on inline; it returns the client, its full JID and the
// <enabled/> from <bound/>.
func bind2SM(t *testing.T, s *testutil.Server, user string) (*testutil.Client, string, *xml.Element) {
	t.Helper()
	c, _ := sasl2Open(t, s)
	el := sasl2SCRAM(t, c, user, pw, "<bind xmlns='urn:xmpp:bind:0'><tag>T</tag><enable xmlns='urn:xmpp:sm:3' resume='true'/></bind>")
	if el.Name() != "success" {
		t.Fatalf("Bind 2 with <enable/>: %s", el)
	}
	en := el.Child("bound", nsBind2).Child("enabled", nsSM)
	if en == nil {
		t.Fatalf("no <enabled/> in <bound/>: %s", el)
	}
	if f := c.Next(); f.Name() != "features" {
		t.Fatalf("features after <success/>: %s", f)
	}
	return c, authzID(el), en
}

func TestSASL2InlineSMFeatures(t *testing.T) {
	s := testutil.Start(t, "")
	_, f := sasl2Open(t, s)
	in := f.Child("authentication", nsSASL2).Child("inline", nsSASL2)
	if in.Child("sm", nsSM) == nil {
		t.Errorf("no <sm/> in SASL2's <inline/>: %s", in)
	}
	if !strings.Contains(in.Child("bind", nsBind2).String(), "var='urn:xmpp:sm:3'") {
		t.Errorf("no stream management among Bind 2's inline features: %s", in)
	}
}

// Bind 2 with <enable/>: <bound/> carries <enabled/>, and the session
// counts stanzas from the first one both ways.
func TestBind2EnableSM(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", pw)
	s.AddUser(t, "bob", pw)
	c, full, en := bind2SM(t, s, "alice")
	if en.Attr("id") == "" || en.Attr("resume") != "true" || en.Attr("max") != "300" {
		t.Fatalf("enabled: %s", en)
	}
	bob := testutil.Login(t, s, "bob", pw, "pc")
	bob.Send("<message to='%s' type='chat' id='m1'><body>one</body></message>", full)
	if m := nextSkipR(c); body(m) != "one" {
		t.Fatalf("alice got %s", m)
	}
	c.Send("<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq><r xmlns='urn:xmpp:sm:3'/>")
	if r := nextSkipR(c); r.Name() != "iq" || r.Attr("id") != "p1" {
		t.Fatalf("ping: %s", r)
	}
	if a := nextSkipR(c); a.Name() != "a" || a.Attr("h") != "1" {
		t.Fatalf("our count after one stanza: %s", a)
	}
	// Both stanzas to alice were counted: acknowledging two is fine,
	// three would be more than were sent.
	c.Send("<a xmlns='urn:xmpp:sm:3' h='2'/>")
	// Already on: a second <enable/> is refused, as on the legacy path.
	c.Send("<enable xmlns='urn:xmpp:sm:3'/>")
	if el := nextSkipR(c); el.Name() != "failed" || el.Child(stanza.UnexpectedRequest, stanza.NSStanzas) == nil {
		t.Fatalf("second enable: %s", el)
	}
}

// Resumption inline in <authenticate/>: <resumed/> in <success/>, the
// Bind 2 request beside it ignored, no features, and the stanzas the
// client missed follow at once. Another account, or an unknown id, gets
// <failed/> in <success/> and its Bind 2 request still binds.
func TestSASL2InlineResume(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", pw)
	s.AddUser(t, "bob", pw)
	a, full, en := bind2SM(t, s, "alice")
	id := en.Attr("id")
	bob := testutil.Login(t, s, "bob", pw, "pc")
	bob.Send("<message to='%s' type='chat' id='m1'><body>while away</body></message>", full)
	a.Conn.Close()
	bob.Send("<message to='%s' type='chat' id='m2'><body>still away</body></message>", full)

	// bob cannot take alice's session, with or without Bind 2.
	other, _ := sasl2Open(t, s)
	el := sasl2SCRAM(t, other, "bob", pw, "<resume xmlns='urn:xmpp:sm:3' previd='"+id+"' h='0'/>")
	if f := el.Child("failed", nsSM); el.Name() != "success" || el.Child("resumed", nsSM) != nil || f == nil || f.Child(stanza.ItemNotFound, stanza.NSStanzas) == nil {
		t.Fatalf("resume by another account: %s", el)
	}
	if authzID(el) != "bob@localhost" {
		t.Fatalf("authorization identifier after a failed resumption without Bind 2: %s", el)
	}
	if f := other.Next(); f.Name() != "features" || f.Child("bind", "urn:ietf:params:xml:ns:xmpp-bind") == nil {
		t.Fatalf("features after a failed resumption: %s", f)
	}
	if j := other.Bind("second"); j != "bob@localhost/second" {
		t.Fatalf("bind after a failed resumption: %s", j)
	}

	// An unknown id: <failed/>, then the Bind 2 request in the same
	// <authenticate/> binds a new session with stream management.
	fresh, _ := sasl2Open(t, s)
	el = sasl2SCRAM(t, fresh, "alice", pw, "<resume xmlns='urn:xmpp:sm:3' previd='nonesuch' h='0'/>"+
		"<bind xmlns='urn:xmpp:bind:0'><tag>T</tag><enable xmlns='urn:xmpp:sm:3' resume='true'/></bind>")
	fj := authzID(el)
	if el.Name() != "success" || el.Child("failed", nsSM) == nil || el.Child("failed", nsSM).Child(stanza.ItemNotFound, stanza.NSStanzas) == nil {
		t.Fatalf("resume of an unknown session: %s", el)
	}
	if !strings.HasPrefix(fj, "alice@localhost/T/") || fj == full {
		t.Fatalf("Bind 2 after a failed resumption: %s", el)
	}
	if e := el.Child("bound", nsBind2).Child("enabled", nsSM); e == nil || e.Attr("id") == "" || e.Attr("id") == id {
		t.Fatalf("<enabled/> of the new session: %s", el)
	}
	if f := fresh.Next(); f.Name() != "features" {
		t.Fatalf("features after Bind 2: %s", f)
	}
	fresh.Close()
	waitFor(t, func() bool { return s.Sessions() == 3 }) // bob×2, alice hibernating (fresh closed cleanly)

	// alice resumes, her Bind 2 request beside the <resume/> ignored.
	a2, _ := sasl2Open(t, s)
	el = sasl2SCRAM(t, a2, "alice", pw, "<resume xmlns='urn:xmpp:sm:3' previd='"+id+"' h='0'/>"+
		"<bind xmlns='urn:xmpp:bind:0'><tag>T</tag><enable xmlns='urn:xmpp:sm:3' resume='true'/></bind>")
	r := el.Child("resumed", nsSM)
	if el.Name() != "success" || r == nil || r.Attr("previd") != id || r.Attr("h") != "0" {
		t.Fatalf("inline resumption: %s", el)
	}
	if el.Child("bound", nsBind2) != nil || authzID(el) != full {
		t.Fatalf("a resumption binds nothing new: %s", el)
	}
	// No features: the missed stanzas come next, in order.
	if m := a2.Next(); m.Name() != "message" || body(m) != "while away" {
		t.Fatalf("first after <success/>: %s", m)
	}
	if m := nextSkipR(a2); body(m) != "still away" {
		t.Fatalf("second resent: %s", m)
	}
	if n := s.Sessions(); n != 3 {
		t.Errorf("%d sessions, want 3 (no new one for the resumption)", n)
	}
	// The same session: bob sees the old full JID, the counts go on.
	a2.Send("<message to='bob@localhost/pc' type='chat'><body>back</body></message>")
	if m := bob.NextNamed("message"); m.Attr("from") != full || body(m) != "back" {
		t.Fatalf("bob got %s", m)
	}
	a2.Send("<a xmlns='urn:xmpp:sm:3' h='2'/><r xmlns='urn:xmpp:sm:3'/>")
	if ack := nextSkipR(a2); ack.Name() != "a" || ack.Attr("h") != "1" {
		t.Fatalf("ack after resumption: %s", ack)
	}
}

// turnConn counts the client's round trips: each time it waits for the
// server after having sent something since it last waited.
type turnConn struct {
	net.Conn
	wrote bool
	turns int
}

func (c *turnConn) Write(b []byte) (int, error) {
	c.wrote = true
	return c.Conn.Write(b)
}

func (c *turnConn) Read(b []byte) (int, error) {
	if c.wrote {
		c.turns++
		c.wrote = false
	}
	return c.Conn.Read(b)
}

// tlsCounted does STARTTLS and returns a client whose round trips from
// the first byte after TLS are counted.
func tlsCounted(t *testing.T, s *testutil.Server) (*testutil.Client, *turnConn) {
	t.Helper()
	raw := testutil.Dial(t, s.StartTLS)
	pre := testutil.NewClient(t, raw)
	pre.Open("localhost")
	pre.Send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
	if el := pre.Next(); el.Name() != "proceed" {
		t.Fatalf("starttls: %s", el)
	}
	tc := tls.Client(raw, &tls.Config{ServerName: "localhost", InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	tr := &turnConn{Conn: tc}
	return testutil.NewClient(t, tr), tr
}

// The cost of a reconnect, counted in round trips after TLS: inline, the
// stream header and the mechanism's own exchange (XEP-0198 §9.2: the
// resumption takes none of its own); the legacy path adds the stream
// restart after <success/> and the <resume/>.
func TestSASL2InlineResumeRoundTrips(t *testing.T) {
	for _, tc := range []struct {
		mech   string
		rounds int // the mechanism's own round trips
	}{
		{"PLAIN", 1},
		{"SCRAM-SHA-256", 2},
	} {
		t.Run(tc.mech, func(t *testing.T) {
			s := testutil.Start(t, "")
			s.AddUser(t, "alice", pw)
			c, _, en := bind2SM(t, s, "alice")
			id := en.Attr("id")
			resume := "<resume xmlns='urn:xmpp:sm:3' previd='" + id + "' h='0'/>"

			// Inline.
			c.Conn.Close()
			c, tr := tlsCounted(t, s)
			c.Open("localhost")
			var el *xml.Element
			if tc.mech == "PLAIN" {
				c.Send("<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>%s</initial-response>%s</authenticate>",
					base64.StdEncoding.EncodeToString([]byte("\x00alice\x00"+pw)), resume)
				el = c.Next()
			} else {
				el = sasl2SCRAM(t, c, "alice", pw, resume)
			}
			if el.Name() != "success" || el.Child("resumed", nsSM) == nil {
				t.Fatalf("inline resumption: %s", el)
			}
			inline := tr.turns

			// Legacy: SASL, stream restart, <resume/>.
			c.Conn.Close()
			c, tr = tlsCounted(t, s)
			c.Open("localhost")
			var r testutil.SASLResult
			if tc.mech == "PLAIN" {
				r = c.AuthPLAIN("alice", pw)
			} else {
				r = c.AuthSCRAM(tc.mech, "alice", pw, "", nil)
			}
			if !r.OK {
				t.Fatalf("legacy SASL: %s", r.Condition)
			}
			c.Restart("localhost")
			c.Send("%s", resume)
			if el := c.Next(); el.Name() != "resumed" {
				t.Fatalf("legacy resumption: %s", el)
			}
			legacy := tr.turns

			t.Logf("%s: round trips after TLS to a resumed session: inline %d, legacy %d", tc.mech, inline, legacy)
			if want := 1 + tc.rounds; inline != want {
				t.Errorf("inline: %d round trips, want %d (stream header, then the mechanism's %d)", inline, want, tc.rounds)
			}
			if want := 3 + tc.rounds; legacy != want {
				t.Errorf("legacy: %d round trips, want %d (the counter is off?)", legacy, want)
			}
		})
	}
}
