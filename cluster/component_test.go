package cluster_test

import (
	"testing"
	"time"

	"github.com/xmppd/xmppd/cluster"
	"github.com/xmppd/xmppd/component"
	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/xml"
)

const (
	gwSecret = "s3cret-component"
	gwConf   = `
[[listen]]
type = "component"
address = "127.0.0.1:0"

[[component]]
domain = "gw.localhost"
secret = "` + gwSecret + `"
`
)

// componentDial opens gw.localhost's component stream (XEP-0114) to s
// and sends the handshake; it returns the client and the server's answer.
func componentDial(t *testing.T, s *testutil.Server) (*testutil.Client, *xml.Element) {
	t.Helper()
	return testutil.DialComponent(t, s, "gw.localhost", gwSecret)
}

func componentConnect(t *testing.T, s *testutil.Server) *testutil.Client {
	t.Helper()
	c, el := componentDial(t, s)
	if el.Name() != "handshake" {
		t.Fatalf("handshake answer: %s", el)
	}
	return c
}

func componentAt(t *testing.T, nodes []*testutil.Server, want string) {
	t.Helper()
	for _, n := range nodes {
		waitFor(t, "gw.localhost at "+want+" as node "+n.Node().Name()+" sees it", func() bool {
			at := n.Node().ComponentNode("gw.localhost")
			return at == want || (at == "" && want == n.Node().Name())
		})
	}
}

// TestComponentAcrossNodes: an external component (XEP-0114) connected to
// one node serves its domain for clients of every node; a second
// connection for the domain on another node is refused as on one server;
// once it leaves, or its node dies, the other nodes answer for it with
// service-unavailable (RFC 6120 §8.3.3.19), and it may connect again to
// any node. A stanza forwarded to its node in the moment that node died
// comes back as service-unavailable too.
func TestComponentAcrossNodes(t *testing.T) {
	nodes := testutil.StartCluster(t, 3, gwConf)
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	n1.AddUser(t, "alice", pw)
	gw := componentConnect(t, n1)
	componentAt(t, nodes, "n1")

	alice := testutil.Login(t, n2, "alice", pw, "phone")
	seen(t, nodes, "alice@localhost/phone", false)
	alice.Send("<message to='bob@gw.localhost' type='chat' id='m1'><body>hi gateway</body></message>")
	el := gw.Next()
	if el.Name() != "message" || el.Attr("from") != "alice@localhost/phone" || el.Attr("to") != "bob@gw.localhost" || el.Child("body", component.NS) == nil {
		t.Fatalf("component got %s", el)
	}
	gw.Send("<message from='bob@gw.localhost/x' to='alice@localhost/phone' type='chat'><body>hello alice</body></message>")
	if m := nextMessage(t, alice); m.Attr("from") != "bob@gw.localhost/x" || body(m) != "hello alice" {
		t.Fatalf("alice got %s", m)
	}
	alice.Send("<iq to='gw.localhost' type='get' id='q1'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	if el := gw.Next(); el.Name() != "iq" || el.Attr("id") != "q1" || el.Attr("from") != "alice@localhost/phone" {
		t.Fatalf("component got %s", el)
	}
	gw.Send("<iq from='gw.localhost' to='alice@localhost/phone' type='result' id='q1'/>")
	if r := alice.NextNamed("iq"); r.Attr("id") != "q1" || r.Attr("type") != "result" || r.Attr("from") != "gw.localhost" {
		t.Fatalf("alice got %s", r)
	}

	// One program per domain in the cluster: the one connected keeps it.
	second, el := componentDial(t, n3)
	if el.Name() != "error" || el.Child(stanza.StreamConflict, "urn:ietf:params:xml:ns:xmpp-streams") == nil {
		t.Fatalf("second component on n3: %s", el)
	}
	second.Close()

	// It leaves: the others answer for it.
	gw.Send("</stream:stream>")
	gw.Close()
	componentAt(t, nodes, "") // nowhere
	alice.Send("<iq to='gw.localhost' type='get' id='q2'><ping xmlns='urn:xmpp:ping'/></iq>")
	if r := alice.NextNamed("iq"); r.Attr("id") != "q2" || testutil.ErrorCondition(r) != stanza.ServiceUnavailable {
		t.Fatalf("with the component gone, alice got %s", r)
	}

	// It comes back on n3, and n3 dies: the others answer for it again,
	// and it may connect to a survivor although n3's record may still be
	// in the directory.
	gw = componentConnect(t, n3)
	componentAt(t, nodes, "n3")
	alice.Send("<message to='gw.localhost' type='normal' id='m3'><body>again</body></message>")
	if el := gw.Next(); el.Name() != "message" || el.Attr("id") != "m3" {
		t.Fatalf("component on n3 got %s", el)
	}
	// Its receipt reached n2 (in a batch, within 20 ms): otherwise n2
	// would also bounce m3, which the component did get.
	waitFor(t, "n2's copy of m3 confirmed", func() bool { return cluster.Kept(n2.Node()) == 0 })
	n3.Node().Kill()
	// Before n2 has noticed: forwarded to the dead node's inbox, where
	// nobody listens any more. n2 kept a copy, and once it takes n3 for
	// dead the copy comes back as service-unavailable, not lost.
	alice.Send("<message to='gw.localhost' type='normal' id='m4a'><body>in the window</body></message>")
	if r := alice.NextNamed("message"); r.Attr("id") != "m4a" || testutil.ErrorCondition(r) != stanza.ServiceUnavailable {
		t.Fatalf("forwarded to the component's dead node, alice got %s", r)
	}
	survivors := nodes[:2]
	componentAt(t, survivors, "")
	alice.Send("<message to='gw.localhost' type='normal' id='m4'><body>anyone?</body></message>")
	if r := alice.NextNamed("message"); r.Attr("id") != "m4" || testutil.ErrorCondition(r) != stanza.ServiceUnavailable {
		t.Fatalf("with the component's node dead, alice got %s", r)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, el := componentDial(t, n1)
		if el.Name() == "handshake" {
			gw = c
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("component refused on n1 after n3 died: %s", el)
		}
		time.Sleep(100 * time.Millisecond)
	}
	componentAt(t, survivors, "n1")
	alice.Send("<message to='gw.localhost' type='normal' id='m5'><body>back</body></message>")
	if el := gw.Next(); el.Name() != "message" || el.Attr("id") != "m5" {
		t.Fatalf("component on n1 got %s", el)
	}
}
