package lastactivity_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/testutil"
	_ "github.com/xmppd/xmppd/modules/all"
	"github.com/xmppd/xmppd/storage"
)

func TestServerUptime(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", "a")
	c := testutil.Login(t, s, "alice", "a", "r")
	ask := func() int {
		c.Send("<iq type='get' id='l' to='localhost'><query xmlns='jabber:iq:last'/></iq>")
		r := c.NextNamed("iq")
		q := r.Child("query", "jabber:iq:last")
		if r.Attr("type") != "result" || q == nil {
			t.Fatalf("reply: %s", r)
		}
		n, err := strconv.Atoi(q.Attr("seconds"))
		if err != nil || n < 0 {
			t.Fatalf("seconds: %s", q)
		}
		return n
	}
	first := ask()
	if second := until(t, ask, func(n int) bool { return n >= first+1 }); second < first+1 {
		t.Fatalf("uptime did not advance: %d then %d", first, second)
	}
	c.Send("<iq type='get' id='d' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	if r := c.NextNamed("iq"); !strings.Contains(r.String(), "var='jabber:iq:last'") {
		t.Fatalf("disco#info lacks the feature: %s", r)
	}
}

// until asks again, pausing between tries, until ok holds of the answer or
// 10 seconds passed, and returns the last answer: a test waits for the
// second it needs to see pass, not for a guessed sleep.
func until[T any](t *testing.T, ask func() T, ok func(T) bool) T {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		v := ask()
		if ok(v) || time.Now().After(deadline) {
			return v
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lastReply is the part of a jabber:iq:last answer a test checks.
type lastReply struct {
	typ     string // "result" or "error"
	seconds int    // -1 when absent
	text    string
	cond    string // the error condition
}

func askLast(t *testing.T, c *testutil.Client, to string) lastReply {
	t.Helper()
	if to == "" {
		c.Send("<iq type='get' id='q'><query xmlns='jabber:iq:last'/></iq>")
	} else {
		c.Send("<iq type='get' id='q' to='%s'><query xmlns='jabber:iq:last'/></iq>", to)
	}
	for {
		r := c.NextNamed("iq")
		if r.Attr("id") != "q" {
			continue
		}
		out := lastReply{typ: r.Attr("type"), seconds: -1}
		if q := r.Child("query", "jabber:iq:last"); q != nil && out.typ == "result" {
			if n, err := strconv.Atoi(q.Attr("seconds")); err == nil {
				out.seconds = n
			}
			out.text = q.Text()
		}
		if e := r.Child("error", ""); e != nil {
			if c := e.FirstChild(); c != nil {
				out.cond = c.Name()
			}
		}
		return out
	}
}

// XEP-0012 §3: a query to an account's bare JID.
func TestAccountLastActivity(t *testing.T) {
	s := testutil.Start(t, "")
	for _, u := range []string{"alice", "bob", "eve", "carol", "dan"} {
		s.AddUser(t, u, "pw")
	}
	rs := s.Accounts().(storage.Rosters)
	for _, it := range []struct{ own, contact, sub string }{
		{"alice", "bob@localhost", "from"},
		{"alice", "dan@localhost", "both"},
		{"alice", "eve@localhost", "to"}, // eve may not see alice's presence
	} {
		if _, err := rs.SetRosterItem(context.Background(), "localhost", it.own, storage.RosterItem{JID: it.contact, Subscription: it.sub}); err != nil {
			t.Fatal(err)
		}
	}
	alice := testutil.Login(t, s, "alice", "pw", "pc")
	alice.Send("<presence/>")
	alice.NextNamed("presence")
	bob := testutil.Login(t, s, "bob", "pw", "x")
	eve := testutil.Login(t, s, "eve", "pw", "x")
	dan := testutil.Login(t, s, "dan", "pw", "x")

	// Online: 0, for a subscriber and for the user itself (with and
	// without 'to').
	for _, c := range []struct {
		name string
		c    *testutil.Client
		to   string
	}{{"bob", bob, "alice@localhost"}, {"dan", dan, "alice@localhost"}, {"self", alice, "alice@localhost"}, {"self, no to", alice, ""}} {
		if r := askLast(t, c.c, c.to); r.typ != "result" || r.seconds != 0 || r.text != "" {
			t.Errorf("%s, alice online: %+v, want seconds 0", c.name, r)
		}
	}
	// A full JID is the client's: the query reaches alice's session.
	bob.Send("<iq type='get' id='full' to='alice@localhost/pc'><query xmlns='jabber:iq:last'/></iq>")
	if el := alice.NextNamed("iq"); el.Attr("id") != "full" || el.Attr("from") != "bob@localhost/x" {
		t.Errorf("alice got %s, want bob's query", el)
	}

	alice.Send("<presence type='unavailable'><status>Heading Home</status></presence>")
	alice.NextNamed("presence")
	alice.Close()
	// The logout is recorded and a second has passed.
	until(t, func() lastReply { return askLast(t, bob, "alice@localhost") }, func(r lastReply) bool {
		return r.typ == "result" && r.seconds >= 1
	})

	for _, c := range []struct {
		name string
		c    *testutil.Client
		to   string
		want lastReply
	}{
		{"subscriber from", bob, "alice@localhost", lastReply{typ: "result", seconds: 1, text: "Heading Home"}},
		{"subscriber both", dan, "alice@localhost", lastReply{typ: "result", seconds: 1, text: "Heading Home"}},
		{"not subscribed", eve, "alice@localhost", lastReply{typ: "error", seconds: -1, cond: "forbidden"}},
		{"not subscribed to carol", dan, "carol@localhost", lastReply{typ: "error", seconds: -1, cond: "forbidden"}},
		{"no such account", bob, "nobody@localhost", lastReply{typ: "error", seconds: -1, cond: "service-unavailable"}},
	} {
		r := askLast(t, c.c, c.to)
		if r.seconds > 1 && c.want.seconds == 1 {
			r.seconds = 1 // a slow machine
		}
		if r != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, r, c.want)
		}
	}
	// carol has never logged out, and is connected but not available.
	carol := testutil.Login(t, s, "carol", "pw", "x")
	if r := askLast(t, carol, ""); r.typ != "error" || r.cond != "service-unavailable" {
		t.Errorf("carol, never logged out and not available: %+v, want service-unavailable", r)
	}

	// The record survives a restart.
	s.Stop(t)
	s = testutil.StartIn(t, s.DataDir, testutil.BaseConfig(s.DataDir))
	bob = testutil.Login(t, s, "bob", "pw", "x")
	if r := askLast(t, bob, "alice@localhost"); r.typ != "result" || r.seconds < 1 || r.text != "Heading Home" {
		t.Errorf("after a restart: %+v, want seconds >= 1 and the status", r)
	}

	// An abrupt end records a logout without status.
	alice = testutil.Login(t, s, "alice", "pw", "pc")
	alice.Send("<presence/>")
	alice.NextNamed("presence")
	alice.Conn.Close()
	// Still online would say 0; the old record would carry the status.
	r := until(t, func() lastReply { return askLast(t, bob, "alice@localhost") }, func(r lastReply) bool {
		return r.typ == "result" && r.seconds >= 1 && r.text == ""
	})
	if r.typ != "result" || r.seconds < 1 || r.seconds > 5 || r.text != "" {
		t.Errorf("after an abrupt end: %+v, want about 1 second, no status", r)
	}
}

// Logouts are written in batches: a query answers with one not yet written,
// and stopping the server writes those still pending.
func TestLastActivityBatched(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", "pw")
	s.AddUser(t, "bob", "pw")
	rs := s.Accounts().(storage.Rosters)
	if _, err := rs.SetRosterItem(context.Background(), "localhost", "alice", storage.RosterItem{JID: "bob@localhost", Subscription: "from"}); err != nil {
		t.Fatal(err)
	}
	phone := testutil.Login(t, s, "alice", "pw", "phone")
	bob := testutil.Login(t, s, "bob", "pw", "x")
	for _, status := range []string{"first", "second", "last"} {
		phone.Send("<presence/>")
		phone.NextNamed("presence")
		phone.Send("<presence type='unavailable'><status>%s</status></presence>", status)
		phone.NextNamed("presence") // handled, so recorded
		if r := askLast(t, bob, "alice@localhost"); r.typ != "result" || r.text != status {
			t.Fatalf("right after unavailable %q: %+v", status, r)
		}
	}
	// alice's session ends with the server, with the status of its last
	// unavailable presence.
	s.Stop(t)
	s = testutil.StartIn(t, s.DataDir, testutil.BaseConfig(s.DataDir))
	bob = testutil.Login(t, s, "bob", "pw", "x")
	if r := askLast(t, bob, "alice@localhost"); r.typ != "result" || r.text != "last" {
		t.Errorf("after stopping right after the logout: %+v, want status %q", r, "last")
	}
}
