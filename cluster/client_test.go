package cluster_test

import (
	"testing"
	"time"

	"github.com/xmppd/xmppd/cluster"
	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/xml"
)

const (
	pushSecret = "push-component-secret"
	// The push service (XEP-0357 app server) is a component the test
	// drives on the wire, as in modules/push's tests.
	clientConf = `
[[listen]]
type = "http"
address = "127.0.0.1:0"
tls = "direct"

[[listen]]
type = "component"
address = "127.0.0.1:0"

[[component]]
domain = "push.localhost"
secret = "` + pushSecret + `"

[[listen]]
type = "admin"
address = "127.0.0.1:0"

[limits]
resume_timeout = "2s"
`
)

// TestClientFeaturesAcrossNodes: what a client asks of its own node holds
// for stanzas that come from another node: CSI (XEP-0352) holds and
// flushes them, a push registration (XEP-0357) wakes the client once per
// message however many nodes are involved, and a BOSH session (XEP-0206)
// talks with a TCP session elsewhere.
func TestClientFeaturesAcrossNodes(t *testing.T) {
	nodes := testutil.StartCluster(t, 3, clientConf)
	for _, u := range []string{"carol", "dave", "erin", "frank", "gina", "hank"} {
		nodes[0].AddUser(t, u, pw)
	}
	csiAcrossNodes(t, nodes)
	boshAcrossNodes(t, nodes)
	pushAcrossNodes(t, nodes)
}

func status(el *xml.Element) string {
	if s := el.Child("status", xml.NSClient); s != nil {
		return s.Text()
	}
	return ""
}

// csiAcrossNodes: carol on n1 is inactive; what dave sends from n2 is held
// and flushed as on one node (c2s/csi_test.go).
func csiAcrossNodes(t *testing.T, nodes []*testutil.Server) {
	t.Helper()
	n1, n2 := nodes[0], nodes[1]
	carol := testutil.Login(t, n1, "carol", pw, "phone")
	carol.Send("<inactive xmlns='urn:xmpp:csi:0'/>")
	carol.Sync()
	dave := testutil.Login(t, n2, "dave", pw, "pc")
	seen(t, nodes, "carol@localhost/phone", false)

	// Two directed presences (only the newer matters) and a chat state
	// can wait; a message with a body cannot, and brings them first.
	dave.Send("<presence to='carol@localhost/phone'><status>one</status></presence>")
	dave.Send("<presence to='carol@localhost/phone'><status>two</status></presence>")
	dave.Send("<message to='carol@localhost/phone' type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>")
	dave.Send("<message to='carol@localhost/phone' type='chat'><body>wake up</body></message>")
	if p := carol.Next(); p.Name() != "presence" || status(p) != "two" {
		t.Fatalf("carol's first: %s (want the newer held presence)", p)
	}
	if cs := carol.Next(); cs.Name() != "message" || cs.Child("composing", "http://jabber.org/protocol/chatstates") == nil {
		t.Fatalf("carol's second: %s (want the held chat state)", cs)
	}
	if m := carol.Next(); m.Name() != "message" || body(m) != "wake up" {
		t.Fatalf("carol's third: %s", m)
	}

	// Held until <active/>: once n1 has handed both presences to the
	// session, going active brings only the newer.
	before := cluster.Delivered(n1.Node())
	dave.Send("<presence to='carol@localhost/phone'><status>three</status></presence>")
	dave.Send("<presence to='carol@localhost/phone'><status>four</status></presence>")
	waitFor(t, "two presences delivered on n1", func() bool { return cluster.Delivered(n1.Node()) >= before+2 })
	carol.Send("<active xmlns='urn:xmpp:csi:0'/>")
	if p := carol.Next(); p.Name() != "presence" || status(p) != "four" {
		t.Fatalf("after <active/>: %s", p)
	}
	dave.Send("<presence to='carol@localhost/phone'><status>five</status></presence>")
	if p := carol.Next(); p.Name() != "presence" || status(p) != "five" {
		t.Fatalf("active session: %s", p)
	}
	carol.Close()
	dave.Close()
}

// boshAcrossNodes: a BOSH session on n1 and a TCP session on n2 exchange
// messages.
func boshAcrossNodes(t *testing.T, nodes []*testutil.Server) {
	t.Helper()
	gina := testutil.NewBOSH(t, nodes[0])
	gina.Login("gina", pw, "web")
	seen(t, nodes, "gina@localhost/web", false)
	hank := testutil.Login(t, nodes[1], "hank", pw, "tcp")
	seen(t, nodes, "hank@localhost/tcp", false)
	hank.Send("<message to='gina@localhost/web' type='chat'><body>to the web</body></message>")
	if m := gina.Collect("message"); body(m) != "to the web" || m.Attr("from") != "hank@localhost/tcp" {
		t.Fatalf("gina got %s", m)
	}
	gina.Send("", "<message xmlns='jabber:client' to='hank@localhost/tcp' type='chat'><body>from the web</body></message>")
	if m := nextMessage(t, hank); body(m) != "from the web" || m.Attr("from") != "gina@localhost/web" {
		t.Fatalf("hank got %s", m)
	}
	gina.Send("type='terminate'", "")
	hank.Close()
}

// nextPublish reads the next stanza at the push service, which must be a
// publish for owner, answers it, and returns the notification's body.
func nextPublish(t *testing.T, comp *testutil.Client, owner string) string {
	t.Helper()
	el := comp.Next()
	ps := el.Child("pubsub", "http://jabber.org/protocol/pubsub")
	if el.Name() != "iq" || el.Attr("type") != "set" || ps == nil || el.Attr("from") != owner {
		t.Fatalf("push service got %s, want a publish from %s", el, owner)
	}
	comp.Send("<iq type='result' id='%s' from='push.localhost' to='%s'/>", el.Attr("id"), el.Attr("from"))
	last := ""
	if n := ps.Child("publish", "").Child("item", "").Child("notification", "urn:xmpp:push:0"); n != nil {
		if x := n.Child("x", "jabber:x:data"); x != nil {
			for f := range x.Children() {
				if f.Attr("var") == "last-message-body" {
					last = f.Child("value", "").Text()
				}
			}
		}
	}
	return last
}

// noPublish proves nothing more reached the push service
// (testutil.NothingArrives).
func noPublish(t *testing.T, comp, sender *testutil.Client, why string) {
	t.Helper()
	testutil.NothingArrives(t, comp, sender, "fence@push.localhost", 300*time.Millisecond, why)
}

// pushAcrossNodes: the push service is connected to n3, erin's session to
// n1, the sender to n2. A message to erin's hibernated session (XEP-0198,
// waiting for resumption) is notified once, by n1; when the session ends
// the held message goes to offline storage on n1 without a second
// notification; a message to erin with no session anywhere is notified
// once, by the node that routed it.
func pushAcrossNodes(t *testing.T, nodes []*testutil.Server) {
	t.Helper()
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	comp := testutil.ConnectComponent(t, n3, "push.localhost", pushSecret)
	componentAtPush := func() {
		for _, n := range nodes[:2] {
			waitFor(t, "push.localhost on n3 as "+n.Node().Name()+" sees it", func() bool { return n.Node().ComponentNode("push.localhost") == "n3" })
		}
	}
	componentAtPush()

	erin := smAuth(t, n1, "erin")
	erin.Bind("phone")
	erin.Send("<presence/>")
	erin.Send("<iq type='set' id='en'><enable xmlns='urn:xmpp:push:0' jid='push.localhost' node='erin-node'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='include-body'><value>true</value></field></x></enable></iq>")
	for el := erin.Next(); el.Attr("id") != "en"; el = erin.Next() {
		if el.Name() == "iq" && el.Attr("type") == "error" {
			t.Fatalf("enable: %s", el)
		}
	}
	erin.Send("<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
	for el := erin.Next(); el.Name() != "enabled"; el = erin.Next() {
	}
	frank := testutil.Login(t, n2, "frank", pw, "pc")
	seen(t, nodes, "erin@localhost/phone", true)
	noPublish(t, comp, frank, "erin connected")

	erin.Conn.Close() // no closing tag: the session waits for resumption
	n1.WaitTransportGone(t, "erin@localhost/phone")
	frank.Send("<message to='erin@localhost' type='chat' id='h1'><body>while asleep</body></message>")
	if b := nextPublish(t, comp, "erin@localhost"); b != "while asleep" {
		t.Fatalf("publish for the held message: body %q", b)
	}
	noPublish(t, comp, frank, "held message notified")

	// Not resumed: the session ends, the held message goes to offline
	// storage, not notified again.
	gone(t, nodes, "erin@localhost/phone")
	noPublish(t, comp, frank, "held message moved to offline storage")

	// No session anywhere: the node that routes the message notifies.
	frank.Send("<message to='erin@localhost' type='chat' id='o1'><body>now offline</body></message>")
	if b := nextPublish(t, comp, "erin@localhost"); b != "now offline" {
		t.Fatalf("publish for the offline message: body %q", b)
	}
	noPublish(t, comp, frank, "offline message notified")
}
