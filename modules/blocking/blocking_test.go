package blocking_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/modules/blocking"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/xml"
)

const pw = "secret"

var ids atomic.Int64

// request sends an IQ (format with one %s for the id) and returns its
// answer, with everything else that arrived meanwhile.
func request(t *testing.T, c *testutil.Client, format string) (*xml.Element, []*xml.Element) {
	t.Helper()
	id := fmt.Sprintf("q%d", ids.Add(1))
	c.Send(format, id)
	var other []*xml.Element
	for {
		el := c.Next()
		if el.Name() == "iq" && el.Attr("id") == id && (el.Attr("type") == "result" || el.Attr("type") == "error") {
			return el, other
		}
		other = append(other, el)
	}
}

func condition(el *xml.Element) (cond string, blocked bool) {
	e := el.Child("error", xml.NSClient)
	if e == nil {
		return "", false
	}
	for c := range e.Children() {
		switch c.NS() {
		case "urn:ietf:params:xml:ns:xmpp-stanzas":
			if c.Name() != "text" {
				cond = c.Name()
			}
		case blocking.NSErrors:
			blocked = c.Name() == "blocked"
		}
	}
	return cond, blocked
}

func blocklist(t *testing.T, c *testutil.Client) []string {
	t.Helper()
	r, _ := request(t, c, "<iq type='get' id='%s'><blocklist xmlns='urn:xmpp:blocking'/></iq>")
	if r.Attr("type") != "result" {
		t.Fatalf("blocklist: %s", r)
	}
	bl := r.Child("blocklist", blocking.NS)
	if bl == nil {
		t.Fatalf("blocklist result without <blocklist/>: %s", r)
	}
	out := []string{}
	for it := range bl.Children() {
		out = append(out, it.Attr("jid"))
	}
	return out
}

func set(t *testing.T, c *testutil.Client, payload string) {
	t.Helper()
	r, _ := request(t, c, "<iq type='set' id='%s'>"+payload+"</iq>")
	if r.Attr("type") != "result" {
		t.Fatalf("set %s: %s", payload, r)
	}
}

func block(t *testing.T, c *testutil.Client, jids ...string) {
	t.Helper()
	var b strings.Builder
	for _, j := range jids {
		fmt.Fprintf(&b, "<item jid='%s'/>", j)
	}
	set(t, c, "<block xmlns='urn:xmpp:blocking'>"+b.String()+"</block>")
}

func stored(t *testing.T, s *testutil.Server, user string) []string {
	t.Helper()
	l, err := s.Accounts().(storage.BlockLists).BlockList(context.Background(), "localhost", user)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func setItem(t *testing.T, s *testutil.Server, user string, it storage.RosterItem) {
	t.Helper()
	if _, err := s.Accounts().(storage.Rosters).SetRosterItem(context.Background(), "localhost", user, it); err != nil {
		t.Fatal(err)
	}
}

func TestDiscoFeature(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", pw)
	a := testutil.Login(t, s, "alice", pw, "a")
	r, _ := request(t, a, "<iq type='get' id='%s' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	q := r.Child("query", "http://jabber.org/protocol/disco#info")
	if q == nil {
		t.Fatalf("disco: %s", r)
	}
	for f := range q.Children() {
		if f.Attr("var") == blocking.NS {
			return
		}
	}
	t.Fatalf("disco#info lacks %s: %s", blocking.NS, r)
}

func TestBlockListLifecycle(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", pw)
	a := testutil.Login(t, s, "alice", pw, "a")

	if got := blocklist(t, a); len(got) != 0 {
		t.Fatalf("new account's block list = %q", got)
	}
	// Several items at once, in all four forms; they come back
	// normalized (the localpart is case-folded) and sorted.
	block(t, a, "Romeo@Montague.net", "iago@shakespeare.lit/evil", "example.net", "example.net/res")
	want := []string{"example.net", "example.net/res", "iago@shakespeare.lit/evil", "romeo@montague.net"}
	if got := blocklist(t, a); !slices.Equal(got, want) {
		t.Fatalf("block list = %q, want %q", got, want)
	}
	if got := stored(t, s, "alice"); !slices.Equal(got, want) {
		t.Fatalf("stored = %q, want %q", got, want)
	}
	// Blocking again is harmless.
	block(t, a, "romeo@montague.net")
	set(t, a, "<unblock xmlns='urn:xmpp:blocking'><item jid='romeo@montague.net'/><item jid='example.net'/><item jid='never@blocked'/></unblock>")
	want = []string{"example.net/res", "iago@shakespeare.lit/evil"}
	if got := blocklist(t, a); !slices.Equal(got, want) {
		t.Fatalf("after unblock = %q, want %q", got, want)
	}
	// The list outlives the session.
	a.Close()
	a = testutil.Login(t, s, "alice", pw, "again")
	if got := blocklist(t, a); !slices.Equal(got, want) {
		t.Fatalf("next session's block list = %q, want %q", got, want)
	}
	// §3.6: an empty unblock unblocks everyone.
	set(t, a, "<unblock xmlns='urn:xmpp:blocking'/>")
	if got := blocklist(t, a); len(got) != 0 {
		t.Fatalf("after unblock all = %q", got)
	}
	if got := stored(t, s, "alice"); len(got) != 0 {
		t.Fatalf("stored after unblock all = %q", got)
	}
}

func TestBadRequests(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", pw)
	s.AddUser(t, "bob", pw)
	a := testutil.Login(t, s, "alice", pw, "a")
	block(t, a, "keep@example.net")
	for _, tc := range []struct {
		name, iq, cond string
	}{
		{"empty block", "<iq type='set' id='%s'><block xmlns='urn:xmpp:blocking'/></iq>", "bad-request"},
		{"invalid JID", "<iq type='set' id='%s'><block xmlns='urn:xmpp:blocking'><item jid='ok@example.net'/><item jid='a@b@c'/></block></iq>", "bad-request"},
		{"empty JID", "<iq type='set' id='%s'><block xmlns='urn:xmpp:blocking'><item jid=''/></block></iq>", "bad-request"},
		{"item without jid", "<iq type='set' id='%s'><block xmlns='urn:xmpp:blocking'><item/></block></iq>", "bad-request"},
		{"unblock invalid JID", "<iq type='set' id='%s'><unblock xmlns='urn:xmpp:blocking'><item jid='@x'/></unblock></iq>", "bad-request"},
		{"blocklist in a set", "<iq type='set' id='%s'><blocklist xmlns='urn:xmpp:blocking'/></iq>", "bad-request"},
		{"block in a get", "<iq type='get' id='%s'><block xmlns='urn:xmpp:blocking'><item jid='x@y'/></block></iq>", "bad-request"},
		{"someone else's list", "<iq type='get' id='%s' to='bob@localhost'><blocklist xmlns='urn:xmpp:blocking'/></iq>", "forbidden"},
		{"block on someone else's list", "<iq type='set' id='%s' to='bob@localhost'><block xmlns='urn:xmpp:blocking'><item jid='x@y'/></block></iq>", "forbidden"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := request(t, a, tc.iq)
			if cond, _ := condition(r); r.Attr("type") != "error" || cond != tc.cond {
				t.Fatalf("got %s, want %s", r, tc.cond)
			}
		})
	}
	// A refused command changed nothing.
	if got := blocklist(t, a); !slices.Equal(got, []string{"keep@example.net"}) {
		t.Fatalf("block list after refused commands = %q", got)
	}
}

func TestPushes(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", pw)
	a1 := testutil.Login(t, s, "alice", pw, "one")
	a2 := testutil.Login(t, s, "alice", pw, "two")
	a3 := testutil.Login(t, s, "alice", pw, "three") // never asks for the list
	blocklist(t, a1)
	blocklist(t, a2)

	pushOf := func(t *testing.T, c *testutil.Client, els []*xml.Element, name string) []string {
		t.Helper()
		for _, el := range els {
			if p := el.Child(name, blocking.NS); el.Name() == "iq" && el.Attr("type") == "set" && p != nil {
				if el.Attr("to") != c.JID {
					t.Errorf("push to %q, want %q", el.Attr("to"), c.JID)
				}
				if f := el.Attr("from"); f != "" && f != "alice@localhost" {
					t.Errorf("push from %q", f)
				}
				c.Send("<iq type='result' id='%s'/>", el.Attr("id"))
				out := []string{}
				for it := range p.Children() {
					out = append(out, it.Attr("jid"))
				}
				return out
			}
		}
		t.Fatalf("%s: no <%s/> push in %v", c.JID, name, els)
		return nil
	}
	// The initiating resource gets its push before the result.
	_, before := request(t, a1, "<iq type='set' id='%s'><block xmlns='urn:xmpp:blocking'><item jid='romeo@montague.net'/><item jid='iago@shakespeare.lit'/></block></iq>")
	if got := pushOf(t, a1, before, "block"); !slices.Equal(got, []string{"romeo@montague.net", "iago@shakespeare.lit"}) {
		t.Fatalf("block push to the initiator = %q", got)
	}
	if got := pushOf(t, a2, []*xml.Element{a2.NextNamed("iq")}, "block"); !slices.Equal(got, []string{"romeo@montague.net", "iago@shakespeare.lit"}) {
		t.Fatalf("block push to the other resource = %q", got)
	}
	a3.Quiet("resource that never requested the block list")

	_, before = request(t, a2, "<iq type='set' id='%s'><unblock xmlns='urn:xmpp:blocking'><item jid='romeo@montague.net'/></unblock></iq>")
	if got := pushOf(t, a2, before, "unblock"); !slices.Equal(got, []string{"romeo@montague.net"}) {
		t.Fatalf("unblock push = %q", got)
	}
	if got := pushOf(t, a1, []*xml.Element{a1.NextNamed("iq")}, "unblock"); !slices.Equal(got, []string{"romeo@montague.net"}) {
		t.Fatalf("unblock push = %q", got)
	}

	_, before = request(t, a1, "<iq type='set' id='%s'><unblock xmlns='urn:xmpp:blocking'/></iq>")
	if got := pushOf(t, a1, before, "unblock"); len(got) != 0 {
		t.Fatalf("unblock-all push has items %q", got)
	}
	if got := pushOf(t, a2, []*xml.Element{a2.NextNamed("iq")}, "unblock"); len(got) != 0 {
		t.Fatalf("unblock-all push has items %q", got)
	}
	a3.Quiet("resource that never requested the block list")
	a1.Quiet("initiator after its push")
	a2.Quiet("other resource after its push")
}

// TestPushesWhenSessionsComeAndGo: the cache holds an account's first
// session apart from the others (cache.go, sessionSet); pushes still
// reach exactly the sessions that requested the list (XEP-0191 §3.3)
// after that first one has gone and others have come.
func TestPushesWhenSessionsComeAndGo(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", pw)
	a1 := testutil.Login(t, s, "alice", pw, "one")
	a2 := testutil.Login(t, s, "alice", pw, "two")
	a3 := testutil.Login(t, s, "alice", pw, "three") // never asks for the list
	blocklist(t, a1)
	blocklist(t, a2)
	a1.Close()
	// pushed waits for c's push of the block of j and answers it.
	pushed := func(t *testing.T, c *testutil.Client, els []*xml.Element, j string) {
		t.Helper()
		for _, el := range els {
			if p := el.Child("block", blocking.NS); el.Name() == "iq" && el.Attr("type") == "set" && p != nil {
				c.Send("<iq type='result' id='%s'/>", el.Attr("id"))
				if it := p.Child("item", blocking.NS); it == nil || it.Attr("jid") != j {
					t.Fatalf("%s: push %s, want one of %s", c.JID, el, j)
				}
				return
			}
		}
		t.Fatalf("%s: no push of %s in %v", c.JID, j, els)
	}
	_, before := request(t, a2, "<iq type='set' id='%s'><block xmlns='urn:xmpp:blocking'><item jid='romeo@montague.net'/></block></iq>")
	pushed(t, a2, before, "romeo@montague.net")
	a3.Quiet("resource that never requested the block list")

	a4 := testutil.Login(t, s, "alice", pw, "four")
	blocklist(t, a4)
	_, before = request(t, a4, "<iq type='set' id='%s'><block xmlns='urn:xmpp:blocking'><item jid='iago@shakespeare.lit'/></block></iq>")
	pushed(t, a4, before, "iago@shakespeare.lit")
	pushed(t, a2, []*xml.Element{a2.NextNamed("iq")}, "iago@shakespeare.lit")
	a3.Quiet("resource that never requested the block list")
	a2.Quiet("other resource after its push")
	if got := blocklist(t, a3); !slices.Equal(got, []string{"iago@shakespeare.lit", "romeo@montague.net"}) && !slices.Equal(got, []string{"romeo@montague.net", "iago@shakespeare.lit"}) {
		t.Fatalf("block list = %q", got)
	}
}
