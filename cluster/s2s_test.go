package cluster_test

import (
	"fmt"
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/s2s"
)

// federation gives each node an s2s listener; self-signed certificates,
// so every stream authenticates with dialback (XEP-0220).
const federation = `
[[listen]]
type = "s2s"
address = "127.0.0.1:0"

[s2s]
tls_verify = false
connect_timeout = "10s"
`

// TestFederationAcrossNodes: a plain xmppd serving b.test federates with a
// two-node cluster serving example.test, and reaches "the cluster" only at
// n2's s2s listener (as if DNS named n2 alone), while alice's session is on
// n1. Each node opens its own outbound streams (docs/clustering.md, "Federation").
//
//   - alice (n1) → bob: n1 opens the stream to b.test and sends a dialback
//     key; b.test checks it with the authoritative server for example.test,
//     which for b.test is n2. n2 did not make the key but derives the same
//     dialback secret from the cluster secret, so it answers valid
//     (XEP-0185 §3, XEP-0220 §2.1.2). With per-node secrets b.test is told
//     invalid and the message bounces.
//   - bob → alice: b.test's stream lands on n2, whose router hands the
//     stanzas (full JID, bare JID, an IQ whose answer leaves from n1) to
//     the node with alice's session; so does a presence subscription, which
//     n2's presence module handles for a user whose session is on n1.
func TestFederationAcrossNodes(t *testing.T) {
	nodes := testutil.StartCluster(t, 2, federation)
	n1, n2 := nodes[0], nodes[1]
	db := t.TempDir()
	b := testutil.StartIn(t, db, fmt.Sprintf(`
data_dir = %q
[[host]]
domain = "b.test"
[[listen]]
type = "c2s"
address = "127.0.0.1:0"
%s`, db, federation))
	b.S2S().SetRoute("example.test", s2s.Route{Address: n2.S2SAddr})
	for _, n := range nodes {
		n.S2S().SetRoute("b.test", s2s.Route{Address: b.S2SAddr})
	}
	n1.AddUser(t, "alice@example.test", pw)
	b.AddUser(t, "bob@b.test", pw)

	alice := testutil.Login(t, n1, "alice@example.test", pw, "pc")
	alice.Send("<presence/>")
	alice.Expect("presence", "alice@example.test/pc", "")
	seen(t, nodes, "alice@example.test/pc", true)
	bob := testutil.Login(t, b, "bob@b.test", pw, "res")
	bob.Send("<presence/>")
	bob.Expect("presence", "bob@b.test/res", "")

	// Outbound from n1, its dialback key verified by n2.
	alice.Send("<message to='bob@b.test/res' type='chat' id='a1'><body>hello b</body></message>")
	if m := nextMessage(t, bob); m.Attr("type") == "error" || body(m) != "hello b" || m.Attr("from") != "alice@example.test/pc" {
		t.Fatalf("bob got %s", m)
	}
	if _, out := n1.S2S().Streams(); out != 1 {
		t.Fatalf("n1 has %d outbound streams, want 1 (its own to b.test)", out)
	}

	// Inbound on n2 for alice on n1.
	bob.Send("<message to='alice@example.test/pc' type='chat' id='b1'><body>full</body></message>")
	if m := nextMessage(t, alice); body(m) != "full" || m.Attr("from") != "bob@b.test/res" {
		t.Fatalf("alice got %s", m)
	}
	bob.Send("<message to='alice@example.test' type='chat' id='b2'><body>bare</body></message>")
	if m := nextMessage(t, alice); body(m) != "bare" || m.Attr("from") != "bob@b.test/res" {
		t.Fatalf("alice got %s", m)
	}
	bob.Send("<iq to='alice@example.test/pc' type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>")
	ping := alice.Expect("iq", "bob@b.test/res", "get")
	alice.Send("<iq to='bob@b.test/res' type='result' id='%s'/>", ping.Attr("id"))
	bob.Expect("iq", "alice@example.test/pc", "result")

	// A subscription (RFC 6121 §3.1): bob asks (lands on n2), alice on n1
	// is asked and approves; her approval and presence go out from n1.
	bob.Send("<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>")
	for el := bob.NextNamed("iq"); el.Attr("id") != "r1"; el = bob.NextNamed("iq") {
	}
	bob.Send("<presence to='alice@example.test' type='subscribe'/>")
	alice.Expect("presence", "bob@b.test", "subscribe")
	alice.Send("<presence to='bob@b.test' type='subscribed'/>")
	bob.Expect("presence", "alice@example.test", "subscribed")
	bob.Expect("presence", "alice@example.test/pc", "")

	// b.test never dialled n1: every inbound stream, the dialback
	// verification of n1's key included, was n2's.
	if in, _ := n1.S2S().Streams(); in != 0 {
		t.Fatalf("n1 has %d inbound streams, want 0", in)
	}
	if in, _ := n2.S2S().Streams(); in == 0 {
		t.Fatal("n2 has no inbound stream from b.test")
	}
}
