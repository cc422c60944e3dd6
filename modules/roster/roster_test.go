package roster_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/modules/roster"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/xml"
)

const pw = "secret"

// item is a roster item as seen on the wire.
type item struct {
	JID, Name, Subscription, Ask string
	Groups                       []string
}

func parseItems(t *testing.T, q *xml.Element) []item {
	t.Helper()
	var out []item
	for c := range q.Children() {
		if c.Name() != "item" || c.NS() != roster.NS {
			t.Fatalf("unexpected child %s", c)
		}
		it := item{JID: c.Attr("jid"), Name: c.Attr("name"), Subscription: c.Attr("subscription"), Ask: c.Attr("ask")}
		for g := range c.Children() {
			it.Groups = append(it.Groups, g.Text())
		}
		out = append(out, it)
	}
	return out
}

func sameItems(a, b []item) bool {
	return slices.EqualFunc(a, b, func(x, y item) bool {
		return x.JID == y.JID && x.Name == y.Name && x.Subscription == y.Subscription && x.Ask == y.Ask && slices.Equal(x.Groups, y.Groups)
	})
}

var idSeq int

// request sends an IQ with a fresh id and returns the reply, skipping and
// collecting roster pushes that arrive before it.
func request(t *testing.T, c *testutil.Client, typ, to, payload string) (reply *xml.Element, pushes []*xml.Element) {
	t.Helper()
	idSeq++
	id := fmt.Sprintf("r%d", idSeq)
	toAttr := ""
	if to != "" {
		toAttr = fmt.Sprintf(" to='%s'", to)
	}
	c.Send("<iq type='%s' id='%s'%s>%s</iq>", typ, id, toAttr, payload)
	for {
		el := c.NextNamed("iq")
		if el.Attr("id") == id {
			return el, pushes
		}
		if el.Attr("type") == "set" && el.Child("query", roster.NS) != nil {
			pushes = append(pushes, el)
			continue
		}
		t.Fatalf("unexpected %s while waiting for %s", el, id)
	}
}

// getRoster requests the roster (with ver if non-nil) and returns the result.
func getRoster(t *testing.T, c *testutil.Client, ver *string) *xml.Element {
	t.Helper()
	q := "<query xmlns='jabber:iq:roster'/>"
	if ver != nil {
		q = fmt.Sprintf("<query xmlns='jabber:iq:roster' ver='%s'/>", *ver)
	}
	el, pushes := request(t, c, "get", "", q)
	if len(pushes) != 0 {
		t.Fatalf("unexpected pushes before roster result: %v", pushes)
	}
	if el.Attr("type") != "result" {
		t.Fatalf("roster get: %s", el)
	}
	return el
}

// set sends a roster set and expects a result, returning the pushes that
// came before it (the initiating resource's own push).
func set(t *testing.T, c *testutil.Client, itemXML string) []*xml.Element {
	t.Helper()
	el, pushes := request(t, c, "set", "", "<query xmlns='jabber:iq:roster'>"+itemXML+"</query>")
	if el.Attr("type") != "result" {
		t.Fatalf("roster set %s: %s", itemXML, el)
	}
	return pushes
}

func setErr(t *testing.T, c *testutil.Client, query string) string {
	t.Helper()
	el, pushes := request(t, c, "set", "", query)
	if el.Attr("type") != "error" {
		t.Fatalf("roster set %s: want error, got %s", query, el)
	}
	if len(pushes) != 0 {
		t.Fatalf("failed set pushed %v", pushes)
	}
	return testutil.ErrorCondition(el)
}

// checkPush checks one roster push to c: addressed to c's full JID, from
// the bare JID, carrying one item and a version; returns item and version.
func checkPush(t *testing.T, c *testutil.Client, el *xml.Element) (item, string) {
	t.Helper()
	bare, _, _ := strings.Cut(c.JID, "/")
	if el.Name() != "iq" || el.Attr("type") != "set" || el.Attr("id") == "" {
		t.Fatalf("push: %s", el)
	}
	if el.Attr("to") != c.JID || (el.Attr("from") != "" && el.Attr("from") != bare) {
		t.Fatalf("push addressed wrongly (to %q from %q), want to %q from %q or none", el.Attr("to"), el.Attr("from"), c.JID, bare)
	}
	q := el.Child("query", roster.NS)
	items := parseItems(t, q)
	if len(items) != 1 {
		t.Fatalf("push with %d items: %s", len(items), el)
	}
	ver, ok := q.LookupAttr("ver")
	if !ok || ver == "" {
		t.Fatalf("push without ver: %s", el)
	}
	// Acknowledge it as a client must (§2.1.6); the server ignores results.
	c.Send("<iq type='result' id='%s'/>", el.Attr("id"))
	return items[0], ver
}

// nextPush reads the next stanza on c and checks it is a roster push.
func nextPush(t *testing.T, c *testutil.Client) (item, string) {
	t.Helper()
	return checkPush(t, c, c.NextNamed("iq"))
}

// quiet checks that nothing is queued for c: a ping's result is the next stanza.
func quiet(t *testing.T, c *testutil.Client) {
	t.Helper()
	c.Send("<iq type='get' id='quiet'><ping xmlns='urn:xmpp:ping'/></iq>")
	if el := c.NextNamed("iq"); el.Attr("id") != "quiet" {
		t.Fatalf("expected nothing before the ping result, got %s", el)
	}
}

func TestEmptyRosterAndFeature(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", pw)

	// The stream feature is offered after authentication.
	c := testutil.NewClient(t, testutil.Dial(t, s.StartTLS))
	c.Open("localhost")
	c.StartTLS("localhost")
	if r := c.AuthSCRAM("SCRAM-SHA-256", "alice", pw, "", nil); !r.OK {
		t.Fatal(r.Condition)
	}
	f := c.Restart("localhost")
	if f.Child("ver", roster.NSVer) == nil {
		t.Fatalf("stream features lack roster versioning: %s", f)
	}
	c.Bind("r1")

	el := getRoster(t, c, nil)
	q := el.Child("query", roster.NS)
	if q == nil || q.FirstChild() != nil {
		t.Fatalf("empty roster: %s", el)
	}
	if v, ok := q.LookupAttr("ver"); !ok || v == "" {
		t.Fatalf("roster result without ver: %s", el)
	}
	if el.Attr("to") != c.JID {
		t.Fatalf("result to %q, want %q", el.Attr("to"), c.JID)
	}
	// Addressed explicitly to the user's own bare JID works too.
	el, _ = request(t, c, "get", "alice@localhost", "<query xmlns='jabber:iq:roster'/>")
	if el.Attr("type") != "result" || el.Child("query", roster.NS) == nil {
		t.Fatalf("roster get to own bare JID: %s", el)
	}
}

func TestAddUpdateRemoveWithPushes(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", pw)
	a1 := testutil.Login(t, s, "alice", pw, "one")
	a2 := testutil.Login(t, s, "alice", pw, "two")
	a3 := testutil.Login(t, s, "alice", pw, "three") // never asks for the roster
	getRoster(t, a1, nil)
	getRoster(t, a2, nil)

	// Add: a result to the sender and a push to both interested resources.
	pushes := set(t, a1, "<item jid='Romeo@Example.NET' name='Romeo'><group>Friends</group></item>")
	if len(pushes) != 1 {
		t.Fatalf("initiating resource got %d pushes before the result, want 1", len(pushes))
	}
	want := item{JID: "romeo@example.net", Name: "Romeo", Subscription: "none", Groups: []string{"Friends"}}
	it1, v1 := checkPush(t, a1, pushes[0])
	it2, v2 := nextPush(t, a2)
	for _, it := range []item{it1, it2} {
		if !sameItems([]item{it}, []item{want}) {
			t.Fatalf("pushed %+v, want %+v", it, want)
		}
	}
	if v1 != v2 {
		t.Fatalf("pushes carry versions %q and %q", v1, v2)
	}
	quiet(t, a3)
	quiet(t, a2)

	q := getRoster(t, a2, nil).Child("query", roster.NS)
	if got := parseItems(t, q); !sameItems(got, []item{want}) {
		t.Fatalf("roster %+v, want %+v", got, []item{want})
	}
	if q.Attr("ver") != v1 {
		t.Fatalf("roster ver %q, push ver %q", q.Attr("ver"), v1)
	}

	// Update name and groups; a 'subscription' other than remove is ignored.
	pushes = set(t, a2, "<item jid='romeo@example.net' name='R.' subscription='both' ask='subscribe'><group>B</group><group>A</group></item>")
	want = item{JID: "romeo@example.net", Name: "R.", Subscription: "none", Groups: []string{"B", "A"}}
	it2, v3 := checkPush(t, a2, pushes[0])
	it1, _ = nextPush(t, a1)
	if !sameItems([]item{it1, it2}, []item{want, want}) {
		t.Fatalf("update pushed %+v / %+v, want %+v", it1, it2, want)
	}
	if v3 == v1 {
		t.Fatalf("version did not change on update: %q", v3)
	}
	quiet(t, a3)

	// Add a second one, then remove the first.
	set(t, a1, "<item jid='nurse@example.com'/>")
	nextPush(t, a2)
	pushes = set(t, a1, "<item jid='romeo@example.net' subscription='remove'/>")
	rm, _ := checkPush(t, a1, pushes[0])
	rm2, vr := nextPush(t, a2)
	for _, it := range []item{rm, rm2} {
		if it.JID != "romeo@example.net" || it.Subscription != "remove" {
			t.Fatalf("remove push %+v", it)
		}
	}
	quiet(t, a3)
	q = getRoster(t, a1, nil).Child("query", roster.NS)
	if got := parseItems(t, q); !sameItems(got, []item{{JID: "nurse@example.com", Subscription: "none"}}) {
		t.Fatalf("roster after remove: %+v", got)
	}
	if q.Attr("ver") != vr {
		t.Fatalf("roster ver %q, last push ver %q", q.Attr("ver"), vr)
	}

	// Removing an absent item: item-not-found, no push.
	if c := setErr(t, a1, "<query xmlns='jabber:iq:roster'><item jid='romeo@example.net' subscription='remove'/></query>"); c != stanza.ItemNotFound {
		t.Fatalf("remove absent: %q, want item-not-found", c)
	}
	quiet(t, a2)

	// A resource that asks for the roster later becomes interested.
	getRoster(t, a3, nil)
	set(t, a1, "<item jid='tybalt@example.net'/>")
	nextPush(t, a3)
	nextPush(t, a2)
}

func TestBadSets(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", pw)
	c := testutil.Login(t, s, "alice", pw, "r")
	getRoster(t, c, nil)
	long := strings.Repeat("x", roster.MaxNameBytes+1)
	longGroup := strings.Repeat("g", roster.MaxGroupBytes+1)
	var manyGroups strings.Builder
	for i := range roster.MaxGroups + 1 {
		fmt.Fprintf(&manyGroups, "<group>g%d</group>", i)
	}
	for _, tc := range []struct{ name, query, want string }{
		{"two items", "<query xmlns='jabber:iq:roster'><item jid='a@example.net'/><item jid='b@example.net'/></query>", stanza.BadRequest},
		{"no item", "<query xmlns='jabber:iq:roster'/>", stanza.BadRequest},
		{"no jid", "<query xmlns='jabber:iq:roster'><item name='x'/></query>", stanza.BadRequest},
		{"invalid jid", "<query xmlns='jabber:iq:roster'><item jid='a@b@c'/></query>", stanza.JIDMalformed},
		{"empty jid", "<query xmlns='jabber:iq:roster'><item jid=''/></query>", stanza.JIDMalformed},
		{"full jid", "<query xmlns='jabber:iq:roster'><item jid='a@example.net/res'/></query>", stanza.BadRequest},
		{"long name", "<query xmlns='jabber:iq:roster'><item jid='a@example.net' name='" + long + "'/></query>", stanza.NotAcceptable},
		{"duplicate groups", "<query xmlns='jabber:iq:roster'><item jid='a@example.net'><group>A</group><group>A</group></item></query>", stanza.BadRequest},
		{"empty group", "<query xmlns='jabber:iq:roster'><item jid='a@example.net'><group></group></item></query>", stanza.NotAcceptable},
		{"long group", "<query xmlns='jabber:iq:roster'><item jid='a@example.net'><group>" + longGroup + "</group></item></query>", stanza.NotAcceptable},
		{"too many groups", "<query xmlns='jabber:iq:roster'><item jid='a@example.net'>" + manyGroups.String() + "</item></query>", stanza.NotAcceptable},
	} {
		if got := setErr(t, c, tc.query); got != tc.want {
			t.Errorf("%s: error %q, want %q", tc.name, got, tc.want)
		}
	}
	// Nothing was stored.
	if items := parseItems(t, getRoster(t, c, nil).Child("query", roster.NS)); len(items) != 0 {
		t.Fatalf("roster after refused sets: %+v", items)
	}
	// The user's own bare JID and a domain JID are acceptable items.
	set(t, c, "<item jid='alice@localhost'/>")
	set(t, c, "<item jid='example.net'/>")
}

func TestRosterSizeLimit(t *testing.T) {
	s := testutil.Start(t, "[roster]\nmax_items = 2\n")
	s.AddUser(t, "alice", pw)
	c := testutil.Login(t, s, "alice", pw, "r")
	set(t, c, "<item jid='a@example.net'/>")
	set(t, c, "<item jid='b@example.net'/>")
	if got := setErr(t, c, "<query xmlns='jabber:iq:roster'><item jid='c@example.net'/></query>"); got != stanza.NotAcceptable {
		t.Fatalf("third item: %q, want not-acceptable", got)
	}
	// Updating an existing item is still allowed at the limit.
	set(t, c, "<item jid='b@example.net' name='B'/>")
}

func TestVersioning(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", pw)
	c := testutil.Login(t, s, "alice", pw, "r")

	v0 := getRoster(t, c, nil).Child("query", roster.NS).Attr("ver")
	// Same version: an empty result.
	if el := getRoster(t, c, &v0); el.FirstChild() != nil {
		t.Fatalf("roster get with current ver: %s, want empty result", el)
	}
	pushes := set(t, c, "<item jid='a@example.net' name='A'/>")
	_, pv := checkPush(t, c, pushes[0])
	if pv == v0 {
		t.Fatalf("push ver %q equals the old version", pv)
	}
	// Old version: the full roster with the new version.
	q := getRoster(t, c, &v0).Child("query", roster.NS)
	if q == nil || q.Attr("ver") != pv {
		t.Fatalf("roster get with old ver: %v, want full roster with ver %q", q, pv)
	}
	if got := parseItems(t, q); !sameItems(got, []item{{JID: "a@example.net", Name: "A", Subscription: "none"}}) {
		t.Fatalf("items %+v", got)
	}
	// Empty ver (a client without a cache that supports versioning): full roster.
	empty := ""
	if q := getRoster(t, c, &empty).Child("query", roster.NS); q == nil || q.Attr("ver") != pv || q.FirstChild() == nil {
		t.Fatalf("roster get with ver='': %v", q)
	}
	if el := getRoster(t, c, &pv); el.FirstChild() != nil {
		t.Fatalf("roster get with current ver after change: %s", el)
	}
	// A failed remove leaves the version alone.
	setErr(t, c, "<query xmlns='jabber:iq:roster'><item jid='zz@example.net' subscription='remove'/></query>")
	if el := getRoster(t, c, &pv); el.FirstChild() != nil {
		t.Fatalf("version changed by a failed remove: %s", el)
	}
}

func TestPersistsAcrossRestart(t *testing.T) {
	s := testutil.Start(t, "")
	dir := s.DataDir
	s.AddUser(t, "alice", pw)
	c := testutil.Login(t, s, "alice", pw, "r")
	set(t, c, "<item jid='romeo@example.net' name='Romeo'><group>Friends</group><group>Verona</group></item>")
	v := getRoster(t, c, nil).Child("query", roster.NS).Attr("ver")
	c.Close()
	s.Stop(t)

	s2 := testutil.StartIn(t, dir, testutil.BaseConfig(dir))
	c2 := testutil.Login(t, s2, "alice", pw, "r")
	if el := getRoster(t, c2, &v); el.FirstChild() != nil {
		t.Fatalf("version not kept across restart: %s", el)
	}
	q := getRoster(t, c2, nil).Child("query", roster.NS)
	want := []item{{JID: "romeo@example.net", Name: "Romeo", Subscription: "none", Groups: []string{"Friends", "Verona"}}}
	if got := parseItems(t, q); !sameItems(got, want) || q.Attr("ver") != v {
		t.Fatalf("after restart: %+v ver %q, want %+v ver %q", got, q.Attr("ver"), want, v)
	}
}

func TestOtherUsersRosterForbidden(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", pw)
	s.AddUser(t, "bob", pw)
	a := testutil.Login(t, s, "alice", pw, "r")
	b := testutil.Login(t, s, "bob", pw, "r")
	getRoster(t, b, nil)
	set(t, b, "<item jid='carol@example.net'/>")

	for _, tc := range []struct{ typ, payload string }{
		{"get", "<query xmlns='jabber:iq:roster'/>"},
		{"set", "<query xmlns='jabber:iq:roster'><item jid='mallory@example.net'/></query>"},
		{"set", "<query xmlns='jabber:iq:roster'><item jid='carol@example.net' subscription='remove'/></query>"},
	} {
		el, _ := request(t, a, tc.typ, "bob@localhost", tc.payload)
		if el.Attr("type") != "error" || testutil.ErrorCondition(el) != stanza.Forbidden {
			t.Fatalf("%s of bob's roster by alice: %s, want forbidden", tc.typ, el)
		}
	}
	// Bob's roster is untouched and bob got no push.
	quiet(t, b)
	if got := parseItems(t, getRoster(t, b, nil).Child("query", roster.NS)); !sameItems(got, []item{{JID: "carol@example.net", Subscription: "none"}}) {
		t.Fatalf("bob's roster: %+v", got)
	}
	// Also when bob is offline.
	b.Close()
	el, _ := request(t, a, "get", "bob@localhost", "<query xmlns='jabber:iq:roster'/>")
	if testutil.ErrorCondition(el) != stanza.Forbidden {
		t.Fatalf("get of offline bob's roster: %s", el)
	}
}

func TestReplacedSessionIsNotInterested(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", pw)
	old := testutil.Login(t, s, "alice", pw, "one")
	getRoster(t, old, nil)
	other := testutil.Login(t, s, "alice", pw, "two")

	// A new session with the same full JID replaces the old one; it has
	// not asked for the roster, so it gets no push.
	repl := testutil.Login(t, s, "alice", pw, "one")
	if cond := old.ExpectStreamError(); cond != "conflict" {
		t.Fatalf("replaced session: stream error %q, want conflict", cond)
	}
	set(t, other, "<item jid='a@example.net'/>")
	quiet(t, repl)

	// Once it asks, it does.
	getRoster(t, repl, nil)
	set(t, other, "<item jid='b@example.net'/>")
	if it, _ := nextPush(t, repl); it.JID != "b@example.net" {
		t.Fatalf("push %+v", it)
	}
}
