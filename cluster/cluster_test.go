package cluster_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/cluster"
	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/xml"
)

const pw = "secret-password"

// waitFor polls cond: the directory reaches the other nodes through the
// replicated bucket, a few milliseconds after a bind.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// seen waits until every node's directory has full as available (or just
// bound, avail false).
func seen(t *testing.T, nodes []*testutil.Server, full string, avail bool) {
	t.Helper()
	j := jid.MustParse(full)
	for i, n := range nodes {
		waitFor(t, full+" on node "+n.Node().Name(), func() bool {
			s := n.Node().Directory().Session(j)
			return s != nil && (!avail || s.Available())
		})
		_ = i
	}
}

func gone(t *testing.T, nodes []*testutil.Server, full string) {
	t.Helper()
	j := jid.MustParse(full)
	for _, n := range nodes {
		waitFor(t, full+" gone from node "+n.Node().Name(), func() bool {
			return n.Node().Directory().Session(j) == nil
		})
	}
}

func body(el *xml.Element) string {
	if b := el.Child("body", xml.NSClient); b != nil {
		return b.Text()
	}
	return ""
}

func nextMessage(t *testing.T, c *testutil.Client) *xml.Element {
	t.Helper()
	for {
		el := c.Next()
		if el.Name() == "message" {
			return el
		}
	}
}

func setItem(t *testing.T, s *testutil.Server, user, contact, sub string) {
	t.Helper()
	r := s.Accounts().(storage.Rosters)
	if _, err := r.SetRosterItem(context.Background(), "localhost", user, storage.RosterItem{JID: contact, Subscription: sub}); err != nil {
		t.Fatal(err)
	}
}

// TestMessagesAcrossNodes: full and bare JIDs whose sessions are on other
// nodes, RFC 6121 §8.5 priorities across nodes, offline storage only with
// no available resource anywhere.
func TestMessagesAcrossNodes(t *testing.T) {
	// The nodes share the upload folder (a network file system in a real
	// cluster): a slot from one node is PUT and fetched on any node.
	shared := fmt.Sprintf("\n[[listen]]\ntype = \"http\"\naddress = \"127.0.0.1:0\"\ntls = \"direct\"\n[upload]\npath = %q\n", t.TempDir())
	nodes := testutil.StartCluster(t, 3, shared)
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	for _, u := range []string{"alice", "bob", "dave"} {
		n1.AddUser(t, u, pw)
	}
	alice := testutil.Login(t, n1, "alice", pw, "pc")
	alice.Send("<presence/>")
	bob := testutil.Login(t, n2, "bob", pw, "phone")
	seen(t, nodes, "bob@localhost/phone", false)
	seen(t, nodes, "alice@localhost/pc", true)

	// Full JID on another node.
	alice.Send("<message to='bob@localhost/phone' type='chat' id='m1'><body>hi bob</body></message>")
	if m := nextMessage(t, bob); body(m) != "hi bob" || m.Attr("from") != "alice@localhost/pc" {
		t.Fatalf("bob got %s", m)
	}

	// Bare JID: bob's two resources on two nodes, the higher priority
	// one (on n3) alone gets a chat message (§8.5.2.1.1).
	bob.Send("<presence><priority>1</priority></presence>")
	bob3 := testutil.Login(t, n3, "bob", pw, "tablet")
	bob3.Send("<presence><priority>5</priority></presence>")
	seen(t, nodes, "bob@localhost/phone", true)
	seen(t, nodes, "bob@localhost/tablet", true)
	waitFor(t, "tablet priority on n1", func() bool {
		return n1.Node().Directory().Session(jid.MustParse("bob@localhost/tablet")).Priority() == 5
	})
	alice.Send("<message to='bob@localhost' type='chat' id='m2'><body>to the best</body></message>")
	if m := nextMessage(t, bob3); body(m) != "to the best" {
		t.Fatalf("tablet got %s", m)
	}
	// The phone (priority 1) must not: fence it with a ping.
	bob.Send("<iq type='get' id='fence'><ping xmlns='urn:xmpp:ping'/></iq>")
	for {
		el := bob.Next()
		if el.Name() == "message" && body(el) == "to the best" {
			t.Fatalf("the lower-priority resource got the message")
		}
		if el.Name() == "iq" && el.Attr("id") == "fence" {
			break
		}
	}

	// A reply to alice's bare JID from n3 reaches n1.
	bob3.Send("<message to='alice@localhost' type='chat' id='m3'><body>back</body></message>")
	if m := nextMessage(t, alice); body(m) != "back" || m.Attr("from") != "bob@localhost/tablet" {
		t.Fatalf("alice got %s", m)
	}

	uploadAcrossNodes(t, nodes, alice)
	webAcrossNodes(t, nodes)

	// No available resource anywhere: offline storage, delivered when
	// dave logs in on another node.
	alice.Send("<message to='dave@localhost' type='chat' id='m4'><body>later</body></message>")
	waitFor(t, "the offline message stored", func() bool {
		n, err := n1.Accounts().(storage.Offline).CountOffline(context.Background(), "localhost", "dave")
		return err == nil && n == 1
	})
	dave := testutil.Login(t, n2, "dave", pw, "x")
	dave.Send("<presence/>")
	if m := nextMessage(t, dave); body(m) != "later" {
		t.Fatalf("dave got %s", m)
	}
}

// TestConflictAcrossNodes: a second bind of the same full JID on another
// node replaces the first (RFC 6120 §7.7.2.2).
func TestConflictAcrossNodes(t *testing.T) {
	nodes := testutil.StartCluster(t, 3, "")
	// Every node answers an unknown account with the same fake salt: which
	// node a client reached must not tell whether the account exists.
	if s1, s2 := fakeSalt(t, nodes[0]), fakeSalt(t, nodes[1]); s1 != s2 {
		t.Errorf("fake salts differ across nodes: %q, %q", s1, s2)
	}
	nodes[0].AddUser(t, "alice", pw)
	a1 := testutil.Login(t, nodes[0], "alice", pw, "pc")
	seen(t, nodes, "alice@localhost/pc", false)
	a2 := testutil.Login(t, nodes[1], "alice", pw, "pc")
	if cond := a1.ExpectStreamError(); cond != "conflict" {
		t.Fatalf("old session ended with %q, want conflict", cond)
	}
	// The new one is the session everywhere.
	waitFor(t, "old session gone from n1", func() bool {
		return nodes[0].Node().Directory().Local().Session(jid.MustParse("alice@localhost/pc")) == nil
	})
	seen(t, nodes, "alice@localhost/pc", false)
	nodes[0].AddUser(t, "bob", pw)
	bob := testutil.Login(t, nodes[2], "bob", pw, "x")
	bob.Send("<message to='alice@localhost/pc' type='chat'><body>which one</body></message>")
	if m := nextMessage(t, a2); body(m) != "which one" {
		t.Fatalf("new session got %s", m)
	}
	archivePrefsAcrossNodes(t, nodes[2], a2, bob)
	bindRefused(t, nodes)
}

// bindRefused: a bind whose session cannot be written to the directory
// is refused (RFC 6120 §7.6.2.1, resource-constraint of type wait) rather
// than left unreachable from the other nodes; the stream may bind again.
func bindRefused(t *testing.T, nodes []*testutil.Server) {
	t.Helper()
	n1 := nodes[0].Node()
	c := testutil.NewClient(t, testutil.Dial(t, nodes[0].StartTLS))
	c.Open("localhost")
	c.StartTLS("localhost")
	if r := c.AuthSCRAM("SCRAM-SHA-256", "bob", pw, "", nil); !r.OK {
		t.Fatalf("login: %s", r.Condition)
	}
	c.Restart("localhost")
	cluster.FailSessionWrites(n1, errors.New("directory unreachable (test)"))
	c.Send("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>cut</resource></bind></iq>")
	r := c.NextNamed("iq")
	if r.Attr("id") != "b1" || r.Attr("type") != "error" || testutil.ErrorCondition(r) != stanza.ResourceConstraint {
		t.Fatalf("bind while the directory cannot be written: %s", r)
	}
	if e := r.Child("error", xml.NSClient); e == nil || e.Attr("type") != "wait" {
		t.Errorf("error type: %s", r)
	}
	full := jid.MustParse("bob@localhost/cut")
	if n1.Directory().Session(full) != nil {
		t.Errorf("refused session bound on n1")
	}
	// Bind 2 (XEP-0386) in SASL2: authenticated, not bound (no <bound/>,
	// the bare JID); the client binds the legacy way.
	b2 := testutil.NewClient(t, testutil.Dial(t, nodes[0].StartTLS))
	b2.Open("localhost")
	b2.StartTLS("localhost")
	b2.Send("<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>%s</initial-response>"+
		"<bind xmlns='urn:xmpp:bind:0'><tag>t</tag></bind></authenticate>", base64.StdEncoding.EncodeToString([]byte("\x00bob\x00"+pw)))
	if s := b2.Next(); s.Name() != "success" || s.Child("bound", "urn:xmpp:bind:0") != nil ||
		s.Child("authorization-identifier", "urn:xmpp:sasl:2").Text() != "bob@localhost" {
		t.Fatalf("Bind 2 while the directory cannot be written: %s", s)
	}
	if f := b2.NextNamed("features"); f.Child("bind", "urn:ietf:params:xml:ns:xmpp-bind") == nil {
		t.Errorf("bind not offered after the refused Bind 2: %s", f)
	}
	if got := cluster.BindsRefused(n1); got != 2 {
		t.Errorf("binds refused: %d, want 2", got)
	}
	// Writable again: the same stream binds, and the session is seen on
	// every node.
	cluster.FailSessionWrites(n1, nil)
	c.Send("<iq type='set' id='b2'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>cut</resource></bind></iq>")
	if r := c.NextNamed("iq"); r.Attr("id") != "b2" || r.Attr("type") != "result" {
		t.Fatalf("bind once writable: %s", r)
	}
	seen(t, nodes, full.String(), false)
}

// archivePrefsAcrossNodes: archive preferences (XEP-0441) set on one node
// hold at once on the node that archives the next message (the sender's),
// though it had them cached.
func archivePrefsAcrossNodes(t *testing.T, archiver *testutil.Server, alice, bob *testutil.Client) {
	t.Helper()
	// The archiving node is slow to apply the changes: the results must
	// wait for it.
	cluster.DelayApply(archiver.Node(), 300*time.Millisecond)
	defer cluster.DelayApply(archiver.Node(), 0)
	alice.Send("<iq type='set' id='prefs'><prefs xmlns='urn:xmpp:mam:2' default='never'/></iq>")
	for el := alice.Next(); el.Attr("id") != "prefs"; el = alice.Next() {
	}
	bob.Send("<message to='alice@localhost/pc' type='chat'><body>not archived</body></message>")
	if m := nextMessage(t, alice); body(m) != "not archived" {
		t.Fatalf("alice got %s", m)
	}
	// The archive writes in batches: a fence archived after the change
	// back to 'always' shows that the writer is past "not archived".
	alice.Send("<iq type='set' id='prefs2'><prefs xmlns='urn:xmpp:mam:2' default='always'/></iq>")
	for el := alice.Next(); el.Attr("id") != "prefs2"; el = alice.Next() {
	}
	// The change is in force on bob's node (which archives) once the
	// result is in: one fence, archived by the new preferences.
	bob.Send("<message to='alice@localhost/pc' type='chat'><body>fence</body></message>")
	if m := nextMessage(t, alice); body(m) != "fence" {
		t.Fatalf("alice got %s", m)
	}
	var bodies []string
	waitFor(t, "the fence archived (written in batches)", func() bool {
		bodies = archiveBodies(alice)
		return slices.Contains(bodies, "fence")
	})
	if slices.Contains(bodies, "not archived") {
		t.Errorf("archived against the preferences set on another node: %v", bodies)
	}
	if len(bodies) == 0 || bodies[0] != "which one" {
		t.Errorf("archive %v, want the message from before the change first", bodies)
	}
}

// archiveBodies returns the bodies in c's archive (one MAM page).
func archiveBodies(c *testutil.Client) []string {
	c.Send("<iq type='set' id='q'><query xmlns='urn:xmpp:mam:2'/></iq>")
	var bodies []string
	for {
		el := c.Next()
		if el.Name() == "iq" && el.Attr("id") == "q" {
			return bodies
		}
		if r := el.Child("result", "urn:xmpp:mam:2"); r != nil {
			if f := r.Child("forwarded", "urn:xmpp:forward:0"); f != nil {
				if m := f.Child("message", xml.NSClient); m != nil {
					bodies = append(bodies, body(m))
				}
			}
		}
	}
}

// TestPresenceAcrossNodes: broadcast, probes answered from the directory,
// and the end of a session on another node.
func TestPresenceAcrossNodes(t *testing.T) {
	nodes := testutil.StartCluster(t, 3, "")
	n1, n2 := nodes[0], nodes[1]
	n1.AddUser(t, "alice", pw)
	n1.AddUser(t, "bob", pw)
	setItem(t, n1, "alice", "bob@localhost", "both")
	setItem(t, n1, "bob", "alice@localhost", "both")

	bob := testutil.Login(t, n2, "bob", pw, "phone")
	bob.Send("<presence><status>on n2</status></presence>")
	bob.Expect("presence", "bob@localhost/phone", "")
	seen(t, nodes, "bob@localhost/phone", true)

	alice := testutil.Login(t, n1, "alice", pw, "pc")
	alice.Send("<presence/>")
	// The probe is answered from bob's record on n1's mirror.
	p := alice.Expect("presence", "bob@localhost/phone", "")
	if st := p.Child("status", xml.NSClient); st == nil || st.Text() != "on n2" {
		t.Errorf("probe answer %s", p)
	}
	bob.Expect("presence", "alice@localhost/pc", "")

	bob.Conn.Close()
	alice.Expect("presence", "bob@localhost/phone", "unavailable")
	gone(t, nodes, "bob@localhost/phone")

	blockingAcrossNodes(t, nodes, alice)
	carbonsAndRosterAcrossNodes(t, nodes)
}

// carbonsAndRosterAcrossNodes: a message to one resource is copied to the
// account's resources with carbons enabled on other nodes (XEP-0280 §7),
// and a roster change reaches resources on other nodes that requested the
// roster (RFC 6121 §2.1.6), though the node doing the work is a third.
func carbonsAndRosterAcrossNodes(t *testing.T, nodes []*testutil.Server) {
	t.Helper()
	nodes[0].AddUser(t, "carol", pw)
	nodes[0].AddUser(t, "dan", pw)
	c1 := testutil.Login(t, nodes[0], "carol", pw, "one")
	c2 := testutil.Login(t, nodes[1], "carol", pw, "two")
	for i, c := range []*testutil.Client{c1, c2} {
		c.Send("<iq type='set' id='cb%d'><enable xmlns='urn:xmpp:carbons:2'/></iq>", i)
		for el := c.Next(); el.Attr("id") != fmt.Sprintf("cb%d", i); el = c.Next() {
		}
		c.Send("<iq type='get' id='r%d'><query xmlns='jabber:iq:roster'/></iq>", i)
		for el := c.Next(); el.Attr("id") != fmt.Sprintf("r%d", i); el = c.Next() {
		}
	}
	waitFor(t, "carol/two's flags on n3", func() bool {
		s := nodes[2].Node().Directory().Session(jid.MustParse("carol@localhost/two"))
		return s != nil && module.HasFlag(s, "carbons") && module.HasFlag(s, "roster")
	})
	dan := testutil.Login(t, nodes[2], "dan", pw, "x")
	dan.Send("<message to='carol@localhost/one' type='chat'><body>for one</body></message>")
	if m := nextMessage(t, c1); body(m) != "for one" {
		t.Fatalf("carol/one got %s", m)
	}
	m := nextMessage(t, c2)
	rc := m.Child("received", "urn:xmpp:carbons:2")
	if rc == nil {
		t.Fatalf("carol/two got %s, want a carbon", m)
	}
	// A roster change made by carol/one on n1 pushes to carol/two on n2.
	c1.Send("<iq type='set' id='set'><query xmlns='jabber:iq:roster'><item jid='dan@localhost' name='Dan'/></query></iq>")
	for {
		el := c2.Next()
		if el.Name() == "iq" && el.Attr("type") == "set" && el.Child("query", "jabber:iq:roster") != nil {
			if it := el.Child("query", "jabber:iq:roster").Child("item", "jabber:iq:roster"); it == nil || it.Attr("jid") != "dan@localhost" {
				t.Fatalf("push %s", el)
			}
			break
		}
	}
}

// blockingAcrossNodes: a block list changed on one node holds on the
// others at once (XEP-0191), though they had it cached, and alice's
// resource on another node that asked for the list gets the push.
func blockingAcrossNodes(t *testing.T, nodes []*testutil.Server, alice *testutil.Client) {
	t.Helper()
	nodes[0].AddUser(t, "eve", pw)
	eve := testutil.Login(t, nodes[1], "eve", pw, "x")
	alice2 := testutil.Login(t, nodes[2], "alice", pw, "tablet")
	alice2.Send("<iq type='get' id='bl'><blocklist xmlns='urn:xmpp:blocking'/></iq>")
	for el := alice2.Next(); el.Attr("id") != "bl"; el = alice2.Next() {
	}
	// n2 routes eve's message and caches alice's (empty) list.
	eve.Send("<message to='alice@localhost/pc' type='chat'><body>one</body></message>")
	if m := nextMessage(t, alice); body(m) != "one" {
		t.Fatalf("alice got %s", m)
	}
	// n2 is slow to apply the change: the result must wait for it
	// (XEP-0191 §3.3: once blocked, nothing from eve is delivered,
	// whichever node routes it), so eve's message right after the
	// result is refused although n2 had alice's list cached.
	cluster.DelayApply(nodes[1].Node(), 300*time.Millisecond)
	defer cluster.DelayApply(nodes[1].Node(), 0)
	alice.Send("<iq type='set' id='b1'><block xmlns='urn:xmpp:blocking'><item jid='eve@localhost'/></block></iq>")
	for el := alice.Next(); el.Attr("id") != "b1"; el = alice.Next() {
	}
	// XEP-0191 §3.4: eve's message is refused on n2, not delivered.
	eve.Send("<message to='alice@localhost/pc' type='chat' id='two'><body>two</body></message>")
	// The push to the resource on n3.
	for {
		el := alice2.Next()
		if el.Name() == "iq" && el.Attr("type") == "set" {
			if b := el.Child("block", "urn:xmpp:blocking"); b == nil || b.Child("item", "urn:xmpp:blocking").Attr("jid") != "eve@localhost" {
				t.Fatalf("push: %s", el)
			}
			break
		}
	}
	for {
		el := eve.Next()
		if el.Name() == "message" && el.Attr("id") == "two" {
			if el.Attr("type") != "error" {
				t.Fatalf("eve got %s", el)
			}
			break
		}
	}
	alice.Send("<iq type='get' id='fence'><ping xmlns='urn:xmpp:ping'/></iq>")
	for {
		el := alice.Next()
		if el.Name() == "message" && body(el) == "two" {
			t.Fatalf("the blocked message reached alice")
		}
		if el.Attr("id") == "fence" {
			break
		}
	}
}

// TestNodeDeath: a node that stops without a word (its NATS gone, as
// under kill -9) is noticed; its sessions leave the directory, their
// contacts get unavailable presence, and messages to them go offline.
// Messages that the dead node had taken but its client had not
// acknowledged (XEP-0198) are not lost: their sender's node kept copies
// and routes them again.
func TestNodeDeath(t *testing.T) {
	nodes := testutil.StartCluster(t, 3, "")
	n1, n3 := nodes[0], nodes[2]
	n1.AddUser(t, "alice", pw)
	n1.AddUser(t, "bob", pw)
	setItem(t, n1, "alice", "bob@localhost", "both")
	setItem(t, n1, "bob", "alice@localhost", "both")
	alice := testutil.Login(t, n1, "alice", pw, "pc")
	alice.Send("<presence/>")
	alice.Expect("presence", "alice@localhost/pc", "")
	bob := testutil.Login(t, n3, "bob", pw, "phone")
	bob.Send("<enable xmlns='urn:xmpp:sm:3'/>")
	if el := bob.Next(); el.Name() != "enabled" {
		t.Fatalf("enable: %s", el)
	}
	bob.Send("<presence/>")
	alice.Expect("presence", "bob@localhost/phone", "")
	seen(t, nodes, "bob@localhost/phone", true)

	// bob reads these but never acknowledges them: they are his node's
	// until he does.
	const unacked = 5
	for i := range unacked {
		alice.Send("<message to='bob@localhost' type='chat' id='u%d'><body>unacked %d</body></message>", i, i)
	}
	for range unacked {
		nextMessage(t, bob)
	}

	start := time.Now()
	n3.Node().Kill()
	alice.Expect("presence", "bob@localhost/phone", "unavailable")
	t.Logf("dead node noticed and its users' presence retracted in %s", time.Since(start).Round(time.Millisecond))
	gone(t, nodes[:2], "bob@localhost/phone")

	alice.Send("<message to='bob@localhost' type='chat'><body>while you were out</body></message>")
	waitFor(t, "the messages stored offline", func() bool {
		n, err := n1.Accounts().(storage.Offline).CountOffline(context.Background(), "localhost", "bob")
		return err == nil && n == unacked+1
	})
	bob2 := testutil.Login(t, nodes[1], "bob", pw, "phone")
	bob2.Send("<presence/>")
	got := map[string]bool{}
	for len(got) < unacked+1 {
		got[body(nextMessage(t, bob2))] = true
	}
	for i := range unacked {
		if !got[fmt.Sprintf("unacked %d", i)] {
			t.Errorf("lost: unacked %d (got %v)", i, got)
		}
	}
	if !got["while you were out"] {
		t.Errorf("lost the message sent after the death: %v", got)
	}
}

// fakeSalt is the salt a node offers in SCRAM for an account that does not
// exist (RFC 5802 §5.1 lets it answer as for any account).
func fakeSalt(t *testing.T, s *testutil.Server) string {
	t.Helper()
	c := testutil.NewClient(t, testutil.Dial(t, s.StartTLS))
	c.Open("localhost")
	c.StartTLS("localhost")
	c.Send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>%s</auth>", base64.StdEncoding.EncodeToString([]byte("n,,n=nobody,r=abcdefgh")))
	ch := c.Next()
	if ch.Name() != "challenge" {
		t.Fatalf("got %s", ch)
	}
	msg, err := base64.StdEncoding.DecodeString(ch.Text())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Split(string(msg), ",") {
		if v, ok := strings.CutPrefix(f, "s="); ok {
			return v
		}
	}
	t.Fatalf("no salt in %q", msg)
	return ""
}

// uploadAcrossNodes: a XEP-0363 slot handed out by one node is PUT on a
// second and fetched from a third.
func uploadAcrossNodes(t *testing.T, nodes []*testutil.Server, c *testutil.Client) {
	t.Helper()
	c.Send("<iq type='get' id='slot1' to='upload.localhost'><request xmlns='urn:xmpp:http:upload:0' filename='a.txt' size='5' content-type='text/plain'/></iq>")
	var r *xml.Element
	for r == nil || r.Attr("id") != "slot1" {
		r = c.NextNamed("iq")
	}
	slot := r.Child("slot", "urn:xmpp:http:upload:0")
	if slot == nil {
		t.Fatalf("slot: %s", r)
	}
	putURL := slot.Child("put", "urn:xmpp:http:upload:0").Attr("url")
	getURL := slot.Child("get", "urn:xmpp:http:upload:0").Attr("url")
	req, _ := http.NewRequest(http.MethodPut, putURL, strings.NewReader("hello"))
	req.Header.Set("Content-Type", "text/plain")
	resp, err := nodes[1].HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT on another node: %d", resp.StatusCode)
	}
	resp, err = nodes[2].HTTPClient().Get(getURL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(b) != "hello" {
		t.Fatalf("GET on a third node: %d %q", resp.StatusCode, b)
	}
}

// TestCutOff: a node that cannot reach a majority of the cluster takes no
// new logins (its view could be split from the others'), and says why;
// sessions it has keep working.
func TestCutOff(t *testing.T) {
	nodes := testutil.StartCluster(t, 3, "")
	n1 := nodes[0]
	n1.AddUser(t, "alice", pw)
	n1.AddUser(t, "bob", pw)
	alice := testutil.Login(t, n1, "alice", pw, "pc")
	nodes[1].Node().Kill()
	nodes[2].Node().Kill()
	waitFor(t, "n1 to see it is cut off", func() bool { return !n1.Node().Healthy() })

	c := testutil.NewClient(t, testutil.Dial(t, n1.StartTLS))
	c.Open("localhost")
	c.StartTLS("localhost")
	if r := c.AuthSCRAM("SCRAM-SHA-256", "bob", pw, "", nil); !r.OK {
		t.Fatalf("auth: %s", r.Condition)
	}
	c.Restart("localhost")
	c.Send("<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>x</resource></bind></iq>")
	el := c.Next()
	if el.Attr("type") != "error" || testutil.ErrorCondition(el) != "resource-constraint" {
		t.Fatalf("bind on a cut-off node: %s", el)
	}
	// alice's session is still served.
	alice.Send("<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>")
	if r := alice.NextNamed("iq"); r.Attr("id") != "p" || r.Attr("type") != "result" {
		t.Fatalf("ping: %s", r)
	}
}
