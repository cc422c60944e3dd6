package cluster_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/xml"
)

const nsSM = "urn:xmpp:sm:3"

// smAuth logs in on s without binding.
func smAuth(t *testing.T, s *testutil.Server, user string) *testutil.Client {
	t.Helper()
	c := testutil.NewClient(t, testutil.Dial(t, s.StartTLS))
	c.Open("localhost")
	c.StartTLS("localhost")
	if r := c.AuthSCRAM("SCRAM-SHA-256", user, pw, "", nil); !r.OK {
		t.Fatalf("login %s: %s", user, r.Condition)
	}
	c.Restart("localhost")
	return c
}

// smClient counts the stanzas it received, as a XEP-0198 client does
// for its <a h=.../>.
type smClient struct {
	*testutil.Client
	h int
}

// smNext returns the next element that is not an ack request.
func smNext(c *testutil.Client) *xml.Element {
	for {
		el := c.Next()
		if el.Name() != "r" || el.NS() != nsSM {
			return el
		}
	}
}

// next returns the next stanza, counted.
func (c *smClient) next() *xml.Element {
	for {
		el := smNext(c.Client)
		if el.NS() == nsSM {
			continue
		}
		c.h++
		return el
	}
}

// bodies reads stanzas until it has n messages, and returns their bodies.
func (c *smClient) bodies(n int) []string {
	var out []string
	for len(out) < n {
		if el := c.next(); el.Name() == "message" {
			out = append(out, body(el))
		}
	}
	return out
}

// ack answers the next ack request... or sends <a/> now with the count.
func (c *smClient) ack() { c.Send("<a xmlns='urn:xmpp:sm:3' h='%d'/>", c.h) }

// ackNext sends <r/> and returns the server's <a/>'s h.
func (c *smClient) ackNext(t *testing.T) string {
	t.Helper()
	c.Send("<r xmlns='urn:xmpp:sm:3'/>")
	for {
		el := c.Next()
		if el.NS() == nsSM && el.Name() == "a" {
			return el.Attr("h")
		}
		if el.NS() != nsSM {
			c.h++
		}
	}
}

// smLogin binds resource on s with resumable stream management and
// returns the client and the resumption id.
func smLogin(t *testing.T, s *testutil.Server, user, resource string) (*smClient, string) {
	t.Helper()
	c := smAuth(t, s, user)
	c.Bind(resource)
	c.Send("<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
	el := smNext(c)
	if el.Name() != "enabled" || el.Attr("id") == "" {
		t.Fatalf("enable: %s", el)
	}
	return &smClient{Client: c}, el.Attr("id")
}

// resume resumes previd on s with h and returns the answer (<resumed/> or
// <failed/>).
func resume(t *testing.T, s *testutil.Server, user, previd string, h int) (*smClient, *xml.Element) {
	t.Helper()
	c := smAuth(t, s, user)
	c.Send("<resume xmlns='urn:xmpp:sm:3' previd='%s' h='%d'/>", previd, h)
	return &smClient{Client: c, h: h}, c.Next()
}

// onNode waits until every node's directory has full on node name.
func onNode(t *testing.T, nodes []*testutil.Server, full, name string) {
	t.Helper()
	j := jid.MustParse(full)
	for _, n := range nodes {
		waitFor(t, full+" on "+name+" as seen by "+n.Node().Name(), func() bool {
			s := n.Node().Directory().Session(j)
			if s == nil {
				return false
			}
			if p, ok := s.(module.Proxy); ok {
				return p.NodeName() == name
			}
			return n.Node().Name() == name
		})
	}
}

// TestResumeOnAnotherNode: XEP-0198 §5 across nodes. A session enabled on
// n1 whose connection breaks is resumed on n2: <resumed/> with n1's
// count, the stanzas the client had not acknowledged again, counts going
// on, and later messages reach it on n2. Then n2 shuts down (a rolling
// upgrade): its client's connection breaks without a stream error, and
// it resumes on n1 with nothing lost while n2 waits for it.
func TestResumeOnAnotherNode(t *testing.T) {
	nodes := testutil.StartCluster(t, 3, "")
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	n1.AddUser(t, "alice", pw)
	n1.AddUser(t, "bob", pw)
	alice, id := smLogin(t, n1, "alice", "phone")
	// Interested in roster pushes (RFC 6121 §2.1.6): that moves too.
	alice.Send("<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>")
	if r := alice.next(); r.Attr("id") != "r1" {
		t.Fatalf("roster: %s", r)
	}
	alice.Send("<presence/>")
	if p := alice.next(); p.Name() != "presence" {
		t.Fatalf("alice got %s", p)
	}
	bob := testutil.Login(t, n3, "bob", pw, "pc")
	seen(t, nodes, "alice@localhost/phone", true)

	for i := 1; i <= 3; i++ {
		bob.Send("<message to='alice@localhost/phone' type='chat' id='m%d'><body>m%d</body></message>", i, i)
	}
	if got := alice.bodies(1); got[0] != "m1" {
		t.Fatalf("alice got %v", got)
	}
	alice.ack() // up to m1 handled
	acked := alice.h
	if got := alice.bodies(2); fmt.Sprint(got) != "[m2 m3]" {
		t.Fatalf("alice got %v", got)
	}
	alice.Send("<message to='bob@localhost/pc' type='chat'><body>from n1</body></message>")
	if m := nextMessage(t, bob); body(m) != "from n1" {
		t.Fatalf("bob got %s", m)
	}
	alice.Conn.Close()

	// n1 handled three of hers (roster get, presence, message).
	a2, el := resume(t, n2, "alice", id, acked)
	if el.Name() != "resumed" || el.Attr("previd") != id || el.Attr("h") != "3" {
		t.Fatalf("resume on n2: %s", el)
	}
	if got := a2.bodies(2); fmt.Sprint(got) != "[m2 m3]" {
		t.Fatalf("resent on n2: %v", got)
	}
	onNode(t, nodes, "alice@localhost/phone", "n2")
	if s := n1.Node().Directory().Local().Session(jid.MustParse("alice@localhost/phone")); s != nil {
		t.Fatalf("n1 still has the session")
	}
	if !n3.Node().Directory().Session(jid.MustParse("alice@localhost/phone")).Available() {
		t.Errorf("the session is not available after moving to n2")
	}
	bob.Send("<message to='alice@localhost/phone' type='chat' id='m4'><body>m4</body></message>")
	if got := a2.bodies(1); got[0] != "m4" {
		t.Fatalf("after resumption: %v", got)
	}
	// Still interested in roster pushes on n2.
	a2.Send("<iq type='set' id='rs'><query xmlns='jabber:iq:roster'><item jid='carol@localhost'/></query></iq>")
	for push, result := false, false; !push || !result; {
		el := a2.next()
		switch {
		case el.Name() == "iq" && el.Attr("type") == "set" && el.Child("query", "jabber:iq:roster") != nil:
			push = true
		case el.Name() == "iq" && el.Attr("id") == "rs":
			result = true
		}
	}
	// The counts go on: n2 counts her stanzas after the three n1 handled.
	a2.ack()
	a2.Send("<message to='bob@localhost/pc' type='chat'><body>from n2</body></message>")
	if m := nextMessage(t, bob); body(m) != "from n2" || m.Attr("from") != "alice@localhost/phone" {
		t.Fatalf("bob got %s", m)
	}
	if h := a2.ackNext(t); h != "5" {
		t.Fatalf("n2 counts %s stanzas from alice, want 5", h)
	}

	// Rolling upgrade: n2 shuts down with m5 acknowledged, m6 and m7
	// delivered and not.
	for i := 5; i <= 7; i++ {
		bob.Send("<message to='alice@localhost/phone' type='chat'><body>m%d</body></message>", i)
	}
	if got := a2.bodies(1); got[0] != "m5" {
		t.Fatalf("alice got %v", got)
	}
	a2.ack()
	acked = a2.h
	if got := a2.bodies(2); fmt.Sprint(got) != "[m6 m7]" {
		t.Fatalf("alice got %v", got)
	}
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		stopped <- n2.Shutdown(ctx)
	}()
	// The connection ends without a stream error: the client resumes.
	for {
		el, err := a2.TryNext()
		if err != nil {
			break
		}
		if el.Name() == "error" {
			t.Fatalf("shutdown sent a stream error to a resumable session: %s", el)
		}
	}
	select {
	case err := <-stopped:
		t.Fatalf("n2 stopped (%v) before its session was resumed elsewhere", err)
	default:
	}
	a3, el := resume(t, n1, "alice", id, acked)
	if el.Name() != "resumed" || el.Attr("h") != "5" {
		t.Fatalf("resume on n1 during n2's shutdown: %s", el)
	}
	if got := a3.bodies(2); fmt.Sprint(got) != "[m6 m7]" {
		t.Fatalf("resent on n1: %v", got)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("n2 shutdown: %v", err)
	}
	onNode(t, []*testutil.Server{n1, n3}, "alice@localhost/phone", "n1")
	bob.Send("<message to='alice@localhost/phone' type='chat'><body>m8</body></message>")
	if got := a3.bodies(1); got[0] != "m8" {
		t.Fatalf("after the second resumption: %v", got)
	}
	if h := a3.ackNext(t); h != "5" {
		t.Fatalf("n1 counts %s stanzas from alice, want 5", h)
	}

	// Inline in SASL2 (XEP-0198 §9.2), on n3: m9 is not acknowledged.
	a3.ack()
	bob.Send("<message to='alice@localhost/phone' type='chat'><body>m9</body></message>")
	if got := a3.bodies(1); got[0] != "m9" {
		t.Fatalf("alice got %v", got)
	}
	a3.Conn.Close()
	c := testutil.NewClient(t, testutil.Dial(t, n3.StartTLS))
	c.Open("localhost")
	c.StartTLS("localhost")
	c.Send("<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>%s</initial-response>"+
		"<resume xmlns='urn:xmpp:sm:3' previd='%s' h='%d'/></authenticate>",
		base64.StdEncoding.EncodeToString([]byte("\x00alice\x00"+pw)), id, a3.h-1)
	success := c.Next()
	r := success.Child("resumed", nsSM)
	if success.Name() != "success" || r == nil || r.Attr("h") != "5" ||
		success.Child("authorization-identifier", "urn:xmpp:sasl:2").Text() != "alice@localhost/phone" {
		t.Fatalf("SASL2 resumption on n3: %s", success)
	}
	a4 := &smClient{Client: c, h: a3.h - 1}
	if got := a4.bodies(1); got[0] != "m9" {
		t.Fatalf("resent on n3: %v", got)
	}
	onNode(t, []*testutil.Server{n1, n3}, "alice@localhost/phone", "n3")
	bob.Send("<message to='alice@localhost/phone' type='chat'><body>m10</body></message>")
	if got := a4.bodies(1); got[0] != "m10" {
		t.Fatalf("after the SASL2 resumption: %v", got)
	}

	// The client resumes on n1 before n3 noticed the break (its
	// connection still open): n3 ends that connection and hands over.
	a5, el := resume(t, n1, "alice", id, a4.h)
	if el.Name() != "resumed" || el.Attr("h") != "5" {
		t.Fatalf("resume on n1 with the n3 connection open: %s", el)
	}
	for {
		if _, err := a4.TryNext(); err != nil {
			break // closed by n3
		}
	}
	onNode(t, []*testutil.Server{n1, n3}, "alice@localhost/phone", "n1")
	bob.Send("<message to='alice@localhost/phone' type='chat'><body>m11</body></message>")
	if got := a5.bodies(1); got[0] != "m11" {
		t.Fatalf("after resuming over an open connection: %v", got)
	}
	// Closed, the session ends: n1's shutdown at the end of the test
	// then has nobody to wait for.
	a5.Close()
}

// TestResumeAfterNodeDeath: a session whose node died cannot be resumed
// (its state died with it): <failed><item-not-found/></failed>, whether or
// not the others noticed the death yet, and binding anew works.
func TestResumeAfterNodeDeath(t *testing.T) {
	nodes := testutil.StartCluster(t, 3, "")
	n1, n2 := nodes[0], nodes[1]
	n1.AddUser(t, "alice", pw)
	n1.AddUser(t, "bob", pw)
	alice, id := smLogin(t, n1, "alice", "phone")
	alice.Send("<presence/>")
	seen(t, nodes, "alice@localhost/phone", true)
	n1.Node().Kill()
	alice.Conn.Close()

	// n2 still lists the session: its node does not answer.
	c, el := resume(t, n2, "alice", id, 0)
	if el.Name() != "failed" || el.Child("item-not-found", "urn:ietf:params:xml:ns:xmpp-stanzas") == nil {
		t.Fatalf("resume with the node dead: %s", el)
	}
	c.Conn.Close()
	gone(t, nodes[1:], "alice@localhost/phone")
	c, el = resume(t, n2, "alice", id, 0)
	if el.Name() != "failed" || el.Child("item-not-found", "urn:ietf:params:xml:ns:xmpp-stanzas") == nil {
		t.Fatalf("resume once the node is buried: %s", el)
	}
	c.Client.Bind("phone") // the stream goes on: a fresh session
	c.Send("<presence/>")
	// bob on the same node: with a third of the cluster just gone, the
	// test is about the fresh bind, not about the survivors' routes.
	bob := testutil.Login(t, n2, "bob", pw, "pc")
	onNode(t, nodes[1:2], "alice@localhost/phone", "n2")
	bob.Send("<message to='alice@localhost/phone' type='chat'><body>fresh</body></message>")
	if m := nextMessage(t, c.Client); body(m) != "fresh" {
		t.Fatalf("alice got %s", m)
	}
}
