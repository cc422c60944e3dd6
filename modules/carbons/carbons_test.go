package carbons_test

import (
	"fmt"
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/modules/carbons"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/xml"
)

const pw = "secret"

func enable(t *testing.T, c *testutil.Client, what string) {
	t.Helper()
	r, _ := c.Request("<iq type='set' id='%s'><" + what + " xmlns='urn:xmpp:carbons:2'/></iq>")
	if r.Attr("type") != "result" {
		t.Fatalf("%s: %s", what, r)
	}
}

// forwarded checks a carbon of kind ("sent"/"received") addressed to
// full and returns the forwarded message.
func forwarded(t *testing.T, m *xml.Element, kind, full string) *xml.Element {
	t.Helper()
	if m.Attr("from") != "alice@localhost" || m.Attr("to") != full {
		t.Fatalf("carbon addressing: %s", m)
	}
	k := m.Child(kind, carbons.NS)
	if k == nil {
		t.Fatalf("no <%s/> in %s", kind, m)
	}
	f := k.Child("forwarded", carbons.NSForward)
	if f == nil {
		t.Fatalf("no <forwarded/> in %s", m)
	}
	inner := f.Child("message", xml.NSClient)
	if inner == nil {
		t.Fatalf("no forwarded message in %s", m)
	}
	return inner
}

type world struct {
	a, b, c, bob *testutil.Client
}

// setup: alice on three resources (a and b enable carbons, c does not),
// all available with the given priorities; bob on one.
func setup(t *testing.T, pa, pb, pc int) world {
	t.Helper()
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", pw)
	s.AddUser(t, "bob", pw)
	w := world{
		a:   testutil.Login(t, s, "alice", pw, "a"),
		b:   testutil.Login(t, s, "alice", pw, "b"),
		c:   testutil.Login(t, s, "alice", pw, "c"),
		bob: testutil.Login(t, s, "bob", pw, "x"),
	}
	for i, cl := range []*testutil.Client{w.a, w.b, w.c} {
		cl.Send("<presence><priority>%d</priority></presence>", []int{pa, pb, pc}[i])
	}
	w.bob.Send("<presence/>")
	enable(t, w.a, "enable")
	enable(t, w.b, "enable")
	w.drain(t)
	return w
}

func (w world) drain(t *testing.T) {
	t.Helper()
	for _, c := range []*testutil.Client{w.a, w.b, w.c, w.bob} {
		c.Sync()
	}
}

func expectNone(t *testing.T, who string, c *testutil.Client) {
	t.Helper()
	if got := c.Sync(); len(got) != 0 {
		t.Fatalf("%s got %v", who, got)
	}
}

func TestReceivedFullJID(t *testing.T) {
	w := setup(t, 0, 0, 0)
	w.bob.Send("<message to='alice@localhost/a' type='chat' id='m1'><body>hi a</body></message>")
	w.bob.Sync()
	got := w.a.Sync()
	if len(got) != 1 || got[0].Attr("id") != "m1" || got[0].Child("received", carbons.NS) != nil {
		t.Fatalf("a got %v", got)
	}
	got = w.b.Sync()
	if len(got) != 1 {
		t.Fatalf("b got %v", got)
	}
	if got[0].Attr("type") != "chat" {
		t.Errorf("carbon type: %s", got[0])
	}
	inner := forwarded(t, got[0], "received", "alice@localhost/b")
	if inner.Attr("id") != "m1" || inner.Attr("from") != "bob@localhost/x" || inner.Attr("to") != "alice@localhost/a" ||
		inner.Child("body", xml.NSClient).Text() != "hi a" {
		t.Errorf("forwarded message: %s", inner)
	}
	expectNone(t, "c (carbons off)", w.c)
}

func TestReceivedBareJID(t *testing.T) {
	// a has the highest priority and gets the original; b gets a carbon.
	w := setup(t, 5, 1, 1)
	w.bob.Send("<message to='alice@localhost' id='m2'><body>normal with body</body></message>")
	w.bob.Sync()
	if got := w.a.Sync(); len(got) != 1 || got[0].Attr("id") != "m2" || got[0].Child("received", carbons.NS) != nil {
		t.Fatalf("a got %v", got)
	}
	got := w.b.Sync()
	if len(got) != 1 || forwarded(t, got[0], "received", "alice@localhost/b").Attr("id") != "m2" {
		t.Fatalf("b got %v", got)
	}
	expectNone(t, "c", w.c)
}

func TestSent(t *testing.T) {
	w := setup(t, 0, 0, 0)
	w.a.Send("<message to='bob@localhost/x' type='chat' id='s1'><body>from a</body></message>")
	// c sends too: c has carbons off but a and b still get <sent/> copies.
	expectNone(t, "a (its own message)", w.a)
	w.c.Send("<message to='bob@localhost' type='chat' id='s2'><body>from c</body></message>")
	expectNone(t, "c (carbons off)", w.c)
	if got := w.bob.Sync(); len(got) != 2 {
		t.Fatalf("bob got %v", got)
	}
	got := w.b.Sync()
	if len(got) != 2 {
		t.Fatalf("b got %v", got)
	}
	in := forwarded(t, got[0], "sent", "alice@localhost/b")
	if in.Attr("id") != "s1" || in.Attr("from") != "alice@localhost/a" || in.Attr("to") != "bob@localhost/x" {
		t.Errorf("sent carbon 1: %s", in)
	}
	if in := forwarded(t, got[1], "sent", "alice@localhost/b"); in.Attr("id") != "s2" || in.Attr("from") != "alice@localhost/c" {
		t.Errorf("sent carbon 2: %s", in)
	}
	// a got the copy of c's message but not of its own.
	got = w.a.Sync()
	if len(got) != 1 || forwarded(t, got[0], "sent", "alice@localhost/a").Attr("id") != "s2" {
		t.Fatalf("a got %v", got)
	}
}

func TestPrivateAndNoCopy(t *testing.T) {
	w := setup(t, 0, 0, 0)
	w.a.Send("<message to='bob@localhost/x' type='chat' id='p1'><body>secret</body><private xmlns='urn:xmpp:carbons:2'/><no-copy xmlns='urn:xmpp:hints'/></message>")
	w.a.Send("<message to='bob@localhost/x' type='chat' id='p2'><body>secret</body><no-copy xmlns='urn:xmpp:hints'/></message>")
	w.bob.Send("<message to='alice@localhost/a' type='chat' id='p3'><body>secret</body><private xmlns='urn:xmpp:carbons:2'/></message>")
	w.a.Sync()
	w.bob.Sync()
	if got := w.bob.Sync(); len(got) != 0 {
		t.Fatalf("bob got %v", got)
	}
	w.drain(t)
	expectNone(t, "b", w.b)
}

func TestEligibility(t *testing.T) {
	w := setup(t, 0, 0, 0)
	for _, m := range []string{
		"<message to='alice@localhost/a' id='n1'><x xmlns='urn:example'/></message>",                                            // normal, no body
		"<message to='alice@localhost/a' type='headline' id='n2'><body>news</body></message>",                                   // headline
		"<message to='alice@localhost/a' type='error' id='n3'><body>e</body></message>",                                         // error
		"<message to='alice@localhost/a' type='chat' id='y1'><active xmlns='http://jabber.org/protocol/chatstates'/></message>", // chat
		"<message to='alice@localhost/a' id='y2'><received xmlns='urn:xmpp:receipts' id='r'/></message>",                        // receipt
	} {
		w.bob.Send("%s", m)
	}
	w.bob.Sync()
	got := w.b.Sync()
	var ids []string
	for _, m := range got {
		ids = append(ids, forwarded(t, m, "received", "alice@localhost/b").Attr("id"))
	}
	if fmt.Sprint(ids) != "[y1 y2]" {
		t.Fatalf("carbons for %v, want [y1 y2]", ids)
	}
}

func TestDisableAndRepeat(t *testing.T) {
	w := setup(t, 0, 0, 0)
	enable(t, w.b, "enable") // again: still a result (§9.1)
	enable(t, w.b, "disable")
	enable(t, w.b, "disable")
	w.bob.Send("<message to='alice@localhost/a' type='chat'><body>x</body></message>")
	w.bob.Sync()
	expectNone(t, "b after disable", w.b)
	enable(t, w.c, "enable")
	w.bob.Send("<message to='alice@localhost/a' type='chat'><body>y</body></message>")
	w.bob.Sync()
	if got := w.c.Sync(); len(got) != 1 {
		t.Fatalf("c after enable got %v", got)
	}
}

func TestEnableOthersAndDisco(t *testing.T) {
	w := setup(t, 0, 0, 0)
	r, _ := w.bob.Request("<iq type='set' id='%s' to='alice@localhost'><enable xmlns='urn:xmpp:carbons:2'/></iq>")
	if testutil.ErrorCondition(r) != stanza.NotAllowed {
		t.Fatalf("enable for another account: %s", r)
	}
	r, _ = w.bob.Request("<iq type='get' id='%s' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	q := r.Child("query", "http://jabber.org/protocol/disco#info")
	if q == nil {
		t.Fatalf("disco: %s", r)
	}
	for f := range q.Children() {
		if f.Attr("var") == carbons.NS {
			return
		}
	}
	t.Fatalf("no %s in %s", carbons.NS, r)
}
