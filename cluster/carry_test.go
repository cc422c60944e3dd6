package cluster_test

import (
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
)

const nsCarbons = "urn:xmpp:carbons:2"

// TestResumeCarriesState: what a session set up on n1 holds after it is
// resumed on n2 (XEP-0198 handover): the entities it sent directed
// presence to get its unavailable presence when it ends on n2, not when it
// leaves n1 (RFC 6121 §4.6.2); Message Carbons stay enabled (XEP-0280);
// an inactive client (XEP-0352) stays inactive.
func TestResumeCarriesState(t *testing.T) {
	nodes := testutil.StartCluster(t, 3, "")
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	n1.AddUser(t, "alice", pw)
	n1.AddUser(t, "bob", pw)
	bob := testutil.Login(t, n3, "bob", pw, "pc")
	laptop := testutil.Login(t, n3, "alice", pw, "laptop")
	laptop.Send("<presence/>")
	alice, id := smLogin(t, n1, "alice", "phone")
	alice.Send("<presence/>")
	alice.Send("<iq type='set' id='cb'><enable xmlns='%s'/></iq>", nsCarbons)
	for el := alice.next(); el.Attr("id") != "cb"; el = alice.next() {
	}
	// Bob is not her contact: her directed presence is remembered.
	alice.Send("<presence to='bob@localhost/pc'><status>hello bob</status></presence>")
	if p := bob.Expect("presence", "alice@localhost/phone", ""); status(p) != "hello bob" {
		t.Fatalf("bob got %s", p)
	}
	alice.Send("<inactive xmlns='urn:xmpp:csi:0'/>")
	alice.ack()
	acked := alice.h
	alice.Client.Sync()
	alice.Conn.Close()

	a2, el := resume(t, n2, "alice", id, acked)
	if el.Name() != "resumed" {
		t.Fatalf("resume on n2: %s", el)
	}
	onNode(t, nodes, "alice@localhost/phone", "n2")

	// Still inactive: a presence waits for the next message, and only
	// the newer of two is kept.
	bob.Send("<presence to='alice@localhost/phone'><status>one</status></presence>")
	bob.Send("<presence to='alice@localhost/phone'><status>two</status></presence>")
	bob.Send("<message to='alice@localhost/phone' type='chat'><body>wake up</body></message>")
	for {
		el := a2.next()
		if el.Name() == "presence" && el.Attr("from") == "bob@localhost/pc" {
			if status(el) != "two" {
				t.Fatalf("after the move, an inactive alice got %s (want the newer held presence)", el)
			}
			break
		}
	}
	// Her own presence, broadcast again from n2 after the move, may come
	// in between (CI saw it once).
	m := a2.next()
	for m.Name() == "presence" && m.Attr("from") == "alice@localhost/phone" {
		m = a2.next()
	}
	if m.Name() != "message" || body(m) != "wake up" {
		t.Fatalf("alice got %s", m)
	}
	a2.Send("<active xmlns='urn:xmpp:csi:0'/>")

	// Carbons still enabled: a message to her laptop is copied to the
	// phone on n2. n3 decides by the session's flag in the directory,
	// which the resumption sets a moment after <resumed/> (CI once sent
	// the laptop's message before n3 had it): wait for it.
	waitFor(t, "alice's carbons flag as seen by n3", func() bool {
		s := n3.Node().Directory().Session(jid.MustParse("alice@localhost/phone"))
		return s != nil && module.HasFlag(s, "carbons")
	})
	bob.Send("<message to='alice@localhost/laptop' type='chat'><body>to the laptop</body></message>")
	if m := nextMessage(t, laptop); body(m) != "to the laptop" {
		t.Fatalf("laptop got %s", m)
	}
	for {
		el := a2.next()
		if el.Name() != "message" {
			continue
		}
		rcv := el.Child("received", nsCarbons)
		if rcv == nil {
			t.Fatalf("phone got %s, want a received carbon", el)
		}
		break
	}

	// Bob got no unavailable presence when the session left n1; he gets
	// it when it ends on n2, once.
	a2.Send("<message to='bob@localhost/pc' type='chat' id='f1'><body>fence</body></message>")
	if el := bob.Next(); el.Name() != "message" || body(el) != "fence" {
		t.Fatalf("bob got %s before the fence (the move must not end directed presence)", el)
	}
	a2.Send("<presence type='unavailable'/>")
	bob.Expect("presence", "alice@localhost/phone", "unavailable")
	a2.Send("<message to='bob@localhost/pc' type='chat' id='f2'><body>fence 2</body></message>")
	if el := bob.Next(); el.Name() != "message" || body(el) != "fence 2" {
		t.Fatalf("bob got %s, want no second unavailable", el)
	}
}
