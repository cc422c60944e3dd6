package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/xmppd/xmppd/cluster"
	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/storage"
)

const nsCarbons = "urn:xmpp:carbons:2"

// complete: alice's record on n2 with what n1 had: available at
// priority 5, with her last presence, carbons enabled, interested in
// roster pushes.
func complete(r cluster.Record) bool {
	return r.Node == "n2" && r.Avail && r.Prio == 5 && r.Pres != "" &&
		slices.Contains(r.Flags, "carbons") && slices.Contains(r.Flags, "roster")
}

// TestResumeCarriesState: what a session set up on n1 holds after it is
// resumed on n2 (XEP-0198 handover): the entities it sent directed
// presence to get its unavailable presence when it ends on n2, not when it
// leaves n1 (RFC 6121 §4.6.2); Message Carbons stay enabled (XEP-0280);
// an inactive client (XEP-0352) stays inactive. The other nodes see all
// that the session's record holds (availability, priority, flags) from
// its first record on n2, written before <resumed/>. Then resumeRefused.
func TestResumeCarriesState(t *testing.T) {
	nodes := testutil.StartCluster(t, 3, "")
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	n1.AddUser(t, "alice", pw)
	n1.AddUser(t, "bob", pw)
	bob := testutil.Login(t, n3, "bob", pw, "pc")
	laptop := testutil.Login(t, n3, "alice", pw, "laptop")
	laptop.Send("<presence/>")
	alice, id := smLogin(t, n1, "alice", "phone")
	alice.Send("<presence><priority>5</priority></presence>")
	alice.Send("<iq type='set' id='cb'><enable xmlns='%s'/></iq>", nsCarbons)
	for el := alice.next(); el.Attr("id") != "cb"; el = alice.next() {
	}
	// Interested in roster pushes (RFC 6121 §2.1.6): another flag.
	alice.Send("<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>")
	for el := alice.next(); el.Attr("id") != "r1"; el = alice.next() {
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

	// Every record of the session that n3 takes from n2, in order.
	var mu sync.Mutex
	var fromN2 []cluster.Record
	cluster.WatchRecords(n3.Node(), func(r cluster.Record) {
		if r.JID == "alice@localhost/phone" && r.Node == "n2" {
			mu.Lock()
			fromN2 = append(fromN2, r)
			mu.Unlock()
		}
	})
	defer cluster.WatchRecords(n3.Node(), nil)
	a2, el := resume(t, n2, "alice", id, acked)
	if el.Name() != "resumed" {
		t.Fatalf("resume on n2: %s", el)
	}
	// The record names n2, complete, before <resumed/> (as a bind's is
	// there before its result).
	if r, err := cluster.StoredRecord(n2.Node(), "alice@localhost/phone"); err != nil || !complete(r) {
		t.Errorf("the directory at <resumed/>: %+v (%v), want alice on n2, available, priority 5, flags carbons and roster", r, err)
	}
	onNode(t, nodes, "alice@localhost/phone", "n2")
	// The first record the other nodes see of the session on n2 has it
	// all: no moment when a message routed by n3 would miss the carbon
	// or take the session for another priority.
	mu.Lock()
	first := fromN2[0]
	mu.Unlock()
	if !complete(first) {
		t.Errorf("n3's first record of alice on n2: %+v, want available, priority 5, flags carbons and roster", first)
	}

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
	// there since n3 first saw the session on n2 (no waiting for it).
	if s := n3.Node().Directory().Session(jid.MustParse("alice@localhost/phone")); s == nil || !module.HasFlag(s, "carbons") {
		t.Fatalf("n3 has alice on n2 without her carbons flag")
	}
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

	resumeRefused(t, nodes, bob)
}

// resumeRefused: a session whose record its node cannot move to the node
// where its client resumes it stays where it was, whole: the client gets
// <failed/> with resource-constraint (XEP-0198 §5), resumes it again with
// nothing lost once the directory can be written; or, refused, binds anew
// and gets what the session had not had acknowledged from offline storage
// (§4), once the new bind ended the old session (RFC 6120 §7.7.2.2).
func resumeRefused(t *testing.T, nodes []*testutil.Server, bob *testutil.Client) {
	t.Helper()
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	const full = "carol@localhost/phone"
	unreachable := errors.New("directory unreachable (test)")
	n1.AddUser(t, "carol", pw)
	carol, id := smLogin(t, n1, "carol", "phone")
	carol.Send("<presence/>")
	if p := carol.next(); p.Name() != "presence" {
		t.Fatalf("carol got %s", p)
	}
	carol.ack()
	acked := carol.h
	seen(t, nodes, full, true)
	bob.Send("<message to='%s' type='chat'><body>m1</body></message>", full)
	bob.Send("<message to='%s' type='chat'><body>m2</body></message>", full)
	if got := carol.bodies(2); fmt.Sprint(got) != "[m1 m2]" {
		t.Fatalf("carol got %v", got)
	}
	carol.Conn.Close()

	cluster.FailSessionWrites(n1.Node(), unreachable)
	c, el := resume(t, n2, "carol", id, acked)
	if el.Name() != "failed" || el.Child(stanza.ResourceConstraint, stanza.NSStanzas) == nil {
		t.Fatalf("resume on n2 while n1 cannot write the directory: %s", el)
	}
	c.Close()
	if got := cluster.ResumptionsRefused(n1.Node()); got != 1 {
		t.Errorf("resumptions refused by n1: %d, want 1", got)
	}
	onNode(t, nodes, full, "n1")
	cluster.FailSessionWrites(n1.Node(), nil)
	c2, el := resume(t, n2, "carol", id, acked)
	if el.Name() != "resumed" {
		t.Fatalf("resume on n2 once n1 can write: %s", el)
	}
	if got := c2.bodies(2); fmt.Sprint(got) != "[m1 m2]" {
		t.Fatalf("resent after the refused resumption: %v", got)
	}
	onNode(t, nodes, full, "n2")
	bob.Send("<message to='%s' type='chat'><body>m3</body></message>", full)
	if got := c2.bodies(1); got[0] != "m3" {
		t.Fatalf("carol got %v on n2", got)
	}
	c2.ack()
	acked = c2.h

	// Refused again (n2 cannot write now), the client binds anew.
	bob.Send("<message to='%s' type='chat'><body>m4</body></message>", full)
	if got := c2.bodies(1); got[0] != "m4" {
		t.Fatalf("carol got %v on n2", got)
	}
	c2.Conn.Close()
	cluster.FailSessionWrites(n2.Node(), unreachable)
	c3, el := resume(t, n3, "carol", id, acked)
	if el.Name() != "failed" || el.Child(stanza.ResourceConstraint, stanza.NSStanzas) == nil {
		t.Fatalf("resume on n3 while n2 cannot write the directory: %s", el)
	}
	cluster.FailSessionWrites(n2.Node(), nil)
	c3.Client.Bind("phone")
	// No available resource: m4 goes to offline storage when n2 ends
	// the replaced session.
	waitFor(t, "m4 stored offline", func() bool {
		n, err := n1.Accounts().(storage.Offline).CountOffline(context.Background(), "localhost", "carol")
		return err == nil && n == 1
	})
	c3.Send("<presence/>")
	if m := nextMessage(t, c3.Client); body(m) != "m4" {
		t.Fatalf("carol's new session got %s", m)
	}
	c3.Close()

	// A handover whose answer never reached the asking node (it gave up
	// waiting) leaves a record naming that node for a session it does
	// not have: that node deletes it, and the others stop routing there.
	const lost = "carol@localhost/lost"
	cluster.OrphanAfter(n2.Node(), 2*time.Second)
	if err := cluster.PutOrphan(n2.Node(), lost); err != nil {
		t.Fatal(err)
	}
	seen(t, []*testutil.Server{n3}, lost, true)
	gone(t, nodes, lost)
}
