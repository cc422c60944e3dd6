package pubsub_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
	xep0115 "github.com/xmppd/xmppd/modules/internal/caps"
	"github.com/xmppd/xmppd/modules/pubsub/engine"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/xml"
)

const (
	nsDevices     = "eu.siacs.conversations.axolotl.devicelist"
	nsBundles     = "eu.siacs.conversations.axolotl.bundles:31415"
	nsOMEMO       = "eu.siacs.conversations.axolotl"
	nsDiscoInfo   = "http://jabber.org/protocol/disco#info"
	capsSoftware  = "https://xmppd.test/client"
	publishOpen   = `<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='pubsub#access_model'><value>open</value></field></x></publish-options>`
	devicesItem   = `<item id='current'><list xmlns='eu.siacs.conversations.axolotl'><device id='%d'/></list></item>`
	bundleItem    = `<item id='current'><bundle xmlns='eu.siacs.conversations.axolotl'><signedPreKeyPublic signedPreKeyId='1'>AAAA</signedPreKeyPublic><identityKey>BBBB</identityKey></bundle></item>`
	pubsubOpenTag = `<pubsub xmlns='http://jabber.org/protocol/pubsub'>`
)

// env is a server with users whose rosters the test sets.
type env struct {
	t      *testing.T
	s      *testutil.Server
	synced map[string]bool // accounts whose sync node exists (see online)
}

func newEnv(t *testing.T, users ...string) *env {
	t.Helper()
	s := testutil.Start(t, "")
	for _, u := range users {
		s.AddUser(t, u, "pw")
	}
	return &env{t, s, map[string]bool{}}
}

// nsSync is a node every test client asks notifications for, so that
// online can tell when the server has learnt its caps: the last item of
// the account's own sync node (whitelist: contacts never see it) comes
// first once they are known.
const nsSync = "urn:xmpp:test:sync"

// friends makes a and b subscribed to each other's presence.
func (e *env) friends(a, b string) {
	e.t.Helper()
	e.sub(a, b, "both", nil)
	e.sub(b, a, "both", nil)
}

// sub sets owner's roster item for contact.
func (e *env) sub(owner, contact, state string, groups []string) {
	e.t.Helper()
	rs := e.s.Accounts().(storage.Rosters)
	if _, err := rs.SetRosterItem(context.Background(), "localhost", owner, storage.RosterItem{JID: contact + "@localhost", Subscription: state, Groups: groups}); err != nil {
		e.t.Fatal(err)
	}
}

// client is a logged-in test client.
type client struct {
	*testutil.Client
	t      *testing.T
	e      *env
	seq    int
	queued []*xml.Element // notifications read early, for event
}

func (e *env) login(user, resource string) *client {
	e.t.Helper()
	return &client{Client: testutil.Login(e.t, e.s, user, "pw", resource), t: e.t, e: e}
}

// caps is a client's disco#info: the presence that announces it and the
// answer to the server's query.
type caps struct {
	query string // the <query/> without node
	ver   string
}

func newCaps(t *testing.T, features ...string) caps {
	t.Helper()
	var b strings.Builder
	b.WriteString("<query xmlns='http://jabber.org/protocol/disco#info'><identity category='client' type='phone' name='test'/>")
	for _, f := range append([]string{nsDiscoInfo, "http://jabber.org/protocol/caps", nsSync + "+notify"}, features...) {
		fmt.Fprintf(&b, "<feature var='%s'/>", f)
	}
	b.WriteString("</query>")
	q, err := engine.Parse([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	ver, err := xep0115.Ver(q, "sha-1")
	if err != nil {
		t.Fatal(err)
	}
	return caps{b.String(), ver}
}

// online sends initial presence with caps, answers the server's
// disco#info query for them (XEP-0115 §6.2) and waits until the server
// has taken them in: the last item of its account's sync node arrives
// (the first of the last items, which start with the account's own).
func (c *client) online(cp caps) {
	c.t.Helper()
	bare, _, _ := strings.Cut(c.JID, "/")
	if c.e != nil && !c.e.synced[bare] {
		opts := "<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='pubsub#access_model'><value>whitelist</value></field></x></publish-options>"
		ok(c.t, c.iq(publish(nsSync, "<item id='sync'><sync xmlns='urn:xmpp:test:sync'/></item>", opts)))
		c.e.synced[bare] = true
	}
	c.answerCaps(cp)
	// The account's other last items may come first (by node name); they
	// are kept for event to return.
	var before []*xml.Element
	for {
		msg, ev := c.event()
		if items := ev.Child("items", engine.NSEvent); msg.Attr("from") == bare && items != nil && items.Attr("node") == nsSync {
			break
		}
		before = append(before, msg)
	}
	c.queued = append(before, c.queued...)
}

// answerCaps sends initial presence with caps and answers the server's
// disco#info query for them.
func (c *client) answerCaps(cp caps) {
	c.t.Helper()
	c.Send("<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='%s' ver='%s'/></presence>", capsSoftware, cp.ver)
	for {
		el := c.Next()
		if el.Name() == "message" && el.Child("event", engine.NSEvent) != nil {
			c.t.Fatalf("%s: notification before the caps query: %s", c.JID, el)
		}
		if el.Name() != "iq" || el.Attr("type") != "get" {
			continue
		}
		q := el.Child("query", nsDiscoInfo)
		if q == nil {
			c.t.Fatalf("unexpected iq %s", el)
		}
		if want := capsSoftware + "#" + cp.ver; q.Attr("node") != want {
			c.t.Fatalf("caps query for node %q, want %q", q.Attr("node"), want)
		}
		answer := strings.Replace(cp.query, "<query xmlns='http://jabber.org/protocol/disco#info'>",
			fmt.Sprintf("<query xmlns='http://jabber.org/protocol/disco#info' node='%s#%s'>", capsSoftware, cp.ver), 1)
		c.Send("<iq type='result' id='%s' to='%s'>%s</iq>", el.Attr("id"), el.Attr("from"), answer)
		return
	}
}

// iq sends an IQ (format holds one %s for the id) and returns the reply,
// failing on any pubsub notification that arrives first.
func (c *client) iq(format string, args ...any) *xml.Element {
	c.t.Helper()
	c.seq++
	id := fmt.Sprintf("q%d", c.seq)
	c.Send("%s", fmt.Sprintf(format, append([]any{id}, args...)...))
	for {
		el := c.Next()
		if el.Name() == "message" && el.Child("event", engine.NSEvent) != nil {
			c.t.Fatalf("%s: unexpected notification %s", c.JID, el)
		}
		if el.Name() == "iq" && el.Attr("id") == id {
			return el
		}
	}
}

// ok fails unless el is an IQ result.
func ok(t *testing.T, el *xml.Element) *xml.Element {
	t.Helper()
	if el.Attr("type") != "result" {
		t.Fatalf("want result, got %s", el)
	}
	return el
}

// wantError fails unless el is an error with condition cond and (if app
// is not "") pubsub#errors condition app.
func wantError(t *testing.T, el *xml.Element, cond, app string) {
	t.Helper()
	e := el.Child("error", "")
	if el.Attr("type") != "error" || e == nil {
		t.Fatalf("want error %s/%s, got %s", cond, app, el)
	}
	var gotCond, gotApp string
	for c := range e.Children() {
		switch c.NS() {
		case "urn:ietf:params:xml:ns:xmpp-stanzas":
			if c.Name() != "text" {
				gotCond = c.Name()
			}
		case engine.NSErrors:
			gotApp = c.Name()
		}
	}
	if gotCond != cond || gotApp != app {
		t.Fatalf("error %s/%s, want %s/%s: %s", gotCond, gotApp, cond, app, el)
	}
}

// quiet checks that nothing pubsub is pending for c: a ping's answer
// comes first (the server handles c's stanzas in order and delivers what
// it routed earlier before the answer).
func (c *client) quiet() {
	c.t.Helper()
	if len(c.queued) > 0 {
		c.t.Fatalf("%s: unread notifications %v", c.JID, c.queued)
	}
	c.iq("<iq type='get' id='%s' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
}

// event reads until a pubsub event message and returns it with its event.
func (c *client) event() (*xml.Element, *xml.Element) {
	c.t.Helper()
	if len(c.queued) > 0 {
		msg := c.queued[0]
		c.queued = c.queued[1:]
		return msg, msg.Child("event", engine.NSEvent)
	}
	for {
		el := c.Next()
		if el.Name() == "message" {
			if ev := el.Child("event", engine.NSEvent); ev != nil {
				return el, ev
			}
		}
		if el.Name() == "iq" && el.Attr("type") == "get" {
			c.t.Fatalf("%s: unexpected request %s", c.JID, el)
		}
	}
}

// wantItem reads the next event and checks it carries item id of node,
// from 'from', whose payload contains text.
func (c *client) wantItem(from, node, id, text string) *xml.Element {
	c.t.Helper()
	msg, ev := c.event()
	items := ev.Child("items", engine.NSEvent)
	if msg.Attr("from") != from || items == nil || items.Attr("node") != node {
		c.t.Fatalf("%s: want an item of %s from %s, got %s", c.JID, node, from, msg)
	}
	it := items.Child("item", engine.NSEvent)
	if it == nil || it.Attr("id") != id || !strings.Contains(it.String(), text) {
		c.t.Fatalf("%s: want item %s with %q, got %s", c.JID, id, text, msg)
	}
	return msg
}

func publish(node, item, options string) string {
	return "<iq type='set' id='%s'>" + pubsubOpenTag + "<publish node='" + node + "'>" + item + "</publish>" + options + "</pubsub></iq>"
}

func itemsGet(to, node, extra string) string {
	if to != "" {
		to = " to='" + to + "'"
	}
	return "<iq type='get' id='%s'" + to + ">" + pubsubOpenTag + "<items node='" + node + "'" + extra + "</pubsub></iq>"
}

// itemIDs lists the ids of the items in an items result.
func itemIDs(t *testing.T, res *xml.Element) []string {
	t.Helper()
	items := res.Child("pubsub", engine.NS).Child("items", engine.NS)
	out := []string{}
	for it := range items.Children() {
		out = append(out, it.Attr("id"))
	}
	return out
}

// iqEvents is iq for a request whose own notifications may come to c
// before the reply (c publishes to a node it is interested in): it
// returns them with the reply.
func (c *client) iqEvents(format string, args ...any) (*xml.Element, []*xml.Element) {
	c.t.Helper()
	c.seq++
	id := fmt.Sprintf("q%d", c.seq)
	c.Send("%s", fmt.Sprintf(format, append([]any{id}, args...)...))
	var evs []*xml.Element
	for {
		el := c.Next()
		if el.Name() == "message" && el.Child("event", engine.NSEvent) != nil {
			evs = append(evs, el)
		}
		if el.Name() == "iq" && el.Attr("id") == id {
			return el, evs
		}
	}
}
