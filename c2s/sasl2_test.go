package c2s_test

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/xdg-go/scram"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/xml"
)

const (
	nsSASL2 = "urn:xmpp:sasl:2"
	nsBind2 = "urn:xmpp:bind:0"
)

// sasl2Open connects with STARTTLS and returns the client and the
// features offered for authentication.
func sasl2Open(t *testing.T, s *testutil.Server) (*testutil.Client, *xml.Element) {
	t.Helper()
	c := testutil.NewClient(t, testutil.Dial(t, s.StartTLS))
	c.Open("localhost")
	return c, c.StartTLS("localhost")
}

// sasl2SCRAM authenticates with SCRAM-SHA-256 over SASL2, the extra
// children (Bind 2, user agent) in <authenticate/>. It returns the
// <success/> (its additional data verified) or the <failure/>.
func sasl2SCRAM(t *testing.T, c *testutil.Client, user, pass, extra string) *xml.Element {
	t.Helper()
	cl, err := scram.SHA256.NewClient(user, pass, "")
	if err != nil {
		t.Fatal(err)
	}
	conv := cl.NewConversation()
	first, _ := conv.Step("")
	c.Send("<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-256'><initial-response>%s</initial-response>%s</authenticate>",
		base64.StdEncoding.EncodeToString([]byte(first)), extra)
	for {
		el := c.Next()
		if el.NS() != nsSASL2 {
			t.Fatalf("outside SASL2 during the exchange: %s", el)
		}
		switch el.Name() {
		case "challenge":
			ch, _ := base64.StdEncoding.DecodeString(el.Text())
			resp, err := conv.Step(string(ch))
			if err != nil {
				t.Fatalf("client step: %v", err)
			}
			c.Send("<response xmlns='urn:xmpp:sasl:2'>%s</response>", base64.StdEncoding.EncodeToString([]byte(resp)))
		case "success":
			ad := el.Child("additional-data", nsSASL2)
			if ad == nil {
				t.Fatalf("success without the server's final message: %s", el)
			}
			fin, _ := base64.StdEncoding.DecodeString(ad.Text())
			if _, err := conv.Step(string(fin)); err != nil || !conv.Valid() {
				t.Fatalf("server signature: %v", err)
			}
			return el
		case "failure":
			return el
		default:
			t.Fatalf("unexpected %s", el)
		}
	}
}

func authzID(el *xml.Element) string {
	if a := el.Child("authorization-identifier", nsSASL2); a != nil {
		return a.Text()
	}
	return ""
}

func TestSASL2Features(t *testing.T) {
	s := testutil.Start(t, "")
	_, f := sasl2Open(t, s)
	a := f.Child("authentication", nsSASL2)
	if a == nil {
		t.Fatalf("no SASL2 feature: %s", f)
	}
	var mechs []string
	for m := range a.Children() {
		if m.Name() == "mechanism" {
			mechs = append(mechs, m.Text())
		}
	}
	if strings.Join(mechs, " ") != strings.Join(mechanisms(f), " ") {
		t.Errorf("SASL2 offers %v, SASL %v", mechs, mechanisms(f))
	}
	b := a.Child("inline", nsSASL2).Child("bind", nsBind2)
	if b == nil || !strings.Contains(b.String(), "var='urn:xmpp:carbons:2'") || !strings.Contains(b.String(), "var='urn:xmpp:csi:0'") {
		t.Fatalf("Bind 2 inline: %s", a)
	}
	// Not before TLS where TLS is required.
	c := testutil.NewClient(t, testutil.Dial(t, s.StartTLS))
	if f := c.Open("localhost"); f.Child("authentication", nsSASL2) != nil {
		t.Errorf("SASL2 offered before STARTTLS: %s", f)
	}
}

// Without Bind 2: success names the bare JID, the stream is not
// restarted, the features follow at once and the legacy bind works.
func TestSASL2WithoutBind(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", "secret")
	c, _ := sasl2Open(t, s)
	el := sasl2SCRAM(t, c, "alice", "secret", "<user-agent id='d4565fa7-4d72-4749-b3d3-740edbf87770'><software>test</software></user-agent>")
	if el.Name() != "success" || authzID(el) != "alice@localhost" {
		t.Fatalf("success: %s", el)
	}
	f := c.Next()
	if f.Name() != "features" || f.Child("bind", "urn:ietf:params:xml:ns:xmpp-bind") == nil || f.Child("sm", "urn:xmpp:sm:3") == nil {
		t.Fatalf("features after SASL2 success: %s", f)
	}
	if j := c.Bind("laptop"); j != "alice@localhost/laptop" {
		t.Fatalf("bind: %s", j)
	}
	c.Send("<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
	if r := c.NextNamed("iq"); r.Attr("type") != "result" {
		t.Fatalf("ping: %s", r)
	}
}

func TestSASL2Failure(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", "secret")
	c, _ := sasl2Open(t, s)
	el := sasl2SCRAM(t, c, "alice", "wrong", "<bind xmlns='urn:xmpp:bind:0'><tag>x</tag></bind>")
	if el.Name() != "failure" || el.Child("not-authorized", "urn:ietf:params:xml:ns:xmpp-sasl") == nil {
		t.Fatalf("want failure with not-authorized: %s", el)
	}
	if s.Sessions() != 0 {
		t.Fatalf("a failed authentication bound a session")
	}
	c.Send("<authenticate xmlns='urn:xmpp:sasl:2' mechanism='NOPE'/>")
	if el := c.Next(); el.Name() != "failure" || el.Child("invalid-mechanism", "urn:ietf:params:xml:ns:xmpp-sasl") == nil {
		t.Fatalf("unknown mechanism: %s", el)
	}
	// Malformed input: bad base64, then an aborted exchange (no initial
	// response: the server's empty challenge, then <abort/>).
	c.Send("<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>!!not base64</initial-response></authenticate>")
	if el := c.Next(); el.Name() != "failure" || el.Child("incorrect-encoding", "urn:ietf:params:xml:ns:xmpp-sasl") == nil {
		t.Fatalf("bad base64: %s", el)
	}
	c.Send("<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-256'/>")
	if el := c.Next(); el.Name() != "challenge" || el.NS() != nsSASL2 || el.Text() != "" {
		t.Fatalf("want an empty SASL2 challenge: %s", el)
	}
	c.Send("<abort xmlns='urn:xmpp:sasl:2'/>")
	if el := c.Next(); el.Name() != "failure" || el.Child("aborted", "urn:ietf:params:xml:ns:xmpp-sasl") == nil {
		t.Fatalf("abort: %s", el)
	}
	// The stream goes on: PLAIN with an initial response.
	c.Send("<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>%s</initial-response></authenticate>",
		base64.StdEncoding.EncodeToString([]byte("\x00alice\x00secret")))
	if el := c.Next(); el.Name() != "success" || authzID(el) != "alice@localhost" {
		t.Fatalf("PLAIN over SASL2: %s", el)
	}
}

// Bind 2: one round trip to a bound session with carbons on; the same
// client's older session is replaced.
func TestBind2(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", "secret")
	s.AddUser(t, "bob", "secret")
	const agent = "<user-agent id='0f6c7e1a-5b0c-4c3e-9d5e-2f1a7c9b8e01'><software>t</software></user-agent>"
	bind := "<bind xmlns='urn:xmpp:bind:0'><tag>AwesomeXMPP</tag><enable xmlns='urn:xmpp:carbons:2'/></bind>"
	c, _ := sasl2Open(t, s)
	el := sasl2SCRAM(t, c, "alice", "secret", agent+bind)
	full := authzID(el)
	if el.Name() != "success" || !strings.HasPrefix(full, "alice@localhost/AwesomeXMPP/") || el.Child("bound", nsBind2) == nil {
		t.Fatalf("Bind 2 success: %s", el)
	}
	if md := el.Child("bound", nsBind2).Child("metadata", "urn:xmpp:mam:2"); md == nil || md.FirstChild() != nil {
		t.Fatalf("the empty archive's metadata in <bound/>: %s", el)
	}
	f := c.Next()
	if f.Name() != "features" || f.Child("bind", "urn:ietf:params:xml:ns:xmpp-bind") != nil || f.Child("sm", "urn:xmpp:sm:3") == nil {
		t.Fatalf("features of the bound stream: %s", f)
	}
	c.Send("<presence/>")

	// The session is there: bob reaches its full JID.
	bob := testutil.Login(t, s, "bob", "secret", "pc")
	bob.Send("<message to='%s' type='chat' id='m1'><body>hi</body></message>", full)
	if m := c.NextNamed("message"); m.Attr("id") != "m1" || m.Attr("from") != "bob@localhost/pc" {
		t.Fatalf("message to the Bind 2 session: %s", m)
	}
	// Carbons were switched on inline: alice's other session's message
	// to bob comes back to this one as a sent carbon.
	other := testutil.Login(t, s, "alice", "secret", "phone")
	other.Send("<message to='bob@localhost' type='chat' id='m2'><body>from the phone</body></message>")
	if m := c.NextNamed("message"); m.Child("sent", "urn:xmpp:carbons:2") == nil {
		t.Fatalf("no sent carbon: %s", m)
	}

	// The same client (user agent) logs in again: its old session ends.
	c2, _ := sasl2Open(t, s)
	el = sasl2SCRAM(t, c2, "alice", "secret", agent+"<bind xmlns='urn:xmpp:bind:0'><tag>AwesomeXMPP</tag></bind>")
	if el.Name() != "success" || authzID(el) == full {
		t.Fatalf("second Bind 2: %s", el)
	}
	// The archive now holds bob's and the phone's messages.
	if md := el.Child("bound", nsBind2).Child("metadata", "urn:xmpp:mam:2"); md == nil || md.Child("start", "") == nil || md.Child("end", "").Attr("id") == "" {
		t.Fatalf("archive metadata in <bound/>: %s", el)
	}
	if cond := c.ExpectStreamError(); cond != "conflict" {
		t.Errorf("old session of the same client: %q, want conflict", cond)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.Sessions() != 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // the old session's teardown
	}
	if n := s.Sessions(); n != 3 {
		t.Errorf("%d sessions, want 3 (bob, alice's phone, the new one)", n)
	}
}

// A tag that is no valid resourcepart still gets a session, with a
// server-made resource.
func TestBind2BadTag(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", "secret")
	c, _ := sasl2Open(t, s)
	tag := strings.Repeat("x", 1100) // longer than a resourcepart may be
	el := sasl2SCRAM(t, c, "alice", "secret", fmt.Sprintf("<bind xmlns='urn:xmpp:bind:0'><tag>%s</tag></bind>", tag))
	if j := authzID(el); el.Name() != "success" || !strings.HasPrefix(j, "alice@localhost/") || strings.Contains(j, tag) {
		t.Fatalf("success: %s", el)
	}
}

// A Bind 2 session with stream management is resumed after a SASL2
// authentication without Bind 2: <resume/> as on the legacy path.
func TestSASL2Resume(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", "secret")
	s.AddUser(t, "bob", "secret")
	c, _ := sasl2Open(t, s)
	el := sasl2SCRAM(t, c, "alice", "secret", "<bind xmlns='urn:xmpp:bind:0'><tag>T</tag></bind>")
	full := authzID(el)
	c.Next() // features
	c.Send("<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
	en := c.Next()
	if en.Name() != "enabled" || en.Attr("id") == "" {
		t.Fatalf("enable: %s", en)
	}
	bob := testutil.Login(t, s, "bob", "secret", "pc")
	bob.Send("<message to='%s' type='chat' id='m1'><body>while away</body></message>", full)
	c.Conn.Close()

	c2, _ := sasl2Open(t, s)
	if el := sasl2SCRAM(t, c2, "alice", "secret", ""); el.Name() != "success" || authzID(el) != "alice@localhost" {
		t.Fatalf("re-authentication: %s", el)
	}
	c2.Next() // features
	c2.Send("<resume xmlns='urn:xmpp:sm:3' previd='%s' h='0'/>", en.Attr("id"))
	if r := c2.Next(); r.Name() != "resumed" {
		t.Fatalf("resume: %s", r)
	}
	for {
		m := c2.Next()
		if m.Name() == "message" {
			if m.Attr("id") != "m1" || m.Attr("to") != full {
				t.Fatalf("resent: %s", m)
			}
			break
		}
	}
}

// [auth] mechanisms limits what is offered, in SASL and SASL2, and so what
// is accepted.
func TestMechanismsConfigured(t *testing.T) {
	s := testutil.Start(t, "[auth]\nmechanisms = [\"SCRAM-SHA-1\", \"plain\"]")
	s.AddUser(t, "alice", "secret")
	c, f := sasl2Open(t, s)
	if got := strings.Join(mechanisms(f), " "); got != "SCRAM-SHA-1 PLAIN" {
		t.Fatalf("offered %q", got)
	}
	a := f.Child("authentication", nsSASL2)
	if a == nil {
		t.Fatalf("no SASL2: %s", f)
	}
	for m := range a.Children() {
		// The XEP-0480 upgrades stay offered: they add the keys that
		// let the operator allow SCRAM-SHA-256 later.
		if m.Name() == "mechanism" && strings.Contains(m.Text(), "SHA-256") {
			t.Fatalf("SASL2 offers: %s", f)
		}
	}
	if r := c.AuthSCRAM("SCRAM-SHA-256", "alice", "secret", "", nil); r.OK || r.Condition != "invalid-mechanism" {
		t.Fatalf("SCRAM-SHA-256 not offered but: %+v", r)
	}
	if r := c.AuthSCRAM("SCRAM-SHA-1", "alice", "secret", "", nil); !r.OK {
		t.Fatalf("SCRAM-SHA-1: %+v", r)
	}
}

// XEP-0386 §3.1: a Bind 2 session does not get the offline messages its
// archive holds (its client fetches them from there); those the archive
// did not keep still come, and offline storage is cleared either way.
func TestBind2Offline(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", "secret")
	s.AddUser(t, "bob", "secret")
	bob := testutil.Login(t, s, "bob", "secret", "pc")
	fence := func(c *testutil.Client, id string) {
		t.Helper()
		c.Send("<iq type='get' id='%s' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>", id)
		for el := c.Next(); el.Attr("id") != id; el = c.Next() {
			if el.Name() == "message" {
				t.Fatalf("%s: unexpected %s", id, el)
			}
		}
	}
	bob.Send("<message to='alice@localhost' type='chat' id='archived'><body>in the archive</body></message>")
	fence(bob, "f1")

	bind2 := func() *testutil.Client {
		c, _ := sasl2Open(t, s)
		if el := sasl2SCRAM(t, c, "alice", "secret", "<bind xmlns='urn:xmpp:bind:0'><tag>T</tag></bind>"); el.Name() != "success" {
			t.Fatalf("Bind 2: %s", el)
		}
		c.Next() // features
		c.Send("<presence/>")
		return c
	}
	a := bind2()
	fence(a, "f2") // no offline delivery of the archived message
	a.Send("<iq type='set' id='q1'><query xmlns='urn:xmpp:mam:2'/></iq>")
	found := false
	for el := a.Next(); el.Attr("id") != "q1"; el = a.Next() {
		found = found || strings.Contains(el.String(), "in the archive")
	}
	if !found {
		t.Fatal("the message is not in the archive")
	}
	// Cleared: a legacy session gets nothing either.
	legacy := testutil.Login(t, s, "alice", "secret", "old")
	legacy.Send("<presence/>")
	fence(legacy, "f3")

	// With archiving off for alice, offline storage is all there is.
	legacy.Send("<iq type='set' id='p1'><prefs xmlns='urn:xmpp:mam:2' default='never'/></iq>")
	for el := legacy.Next(); el.Attr("id") != "p1"; el = legacy.Next() {
	}
	a.Close()
	legacy.Close()
	waitSessions := func(n int) {
		deadline := time.Now().Add(5 * time.Second)
		for s.Sessions() != n && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitSessions(1)
	bob.Send("<message to='alice@localhost' type='chat' id='kept'><body>not archived</body></message>")
	fence(bob, "f4")
	a = bind2()
	for {
		el := a.Next()
		if el.Name() == "message" {
			if el.Attr("id") != "kept" {
				t.Fatalf("offline delivery: %s", el)
			}
			break
		}
	}
}
