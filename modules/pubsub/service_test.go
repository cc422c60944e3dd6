package pubsub_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/xmppd/xmppd/modules/pubsub/engine"
)

const svc = "pubsub.localhost"

func to(s, jid string) string { return strings.Replace(s, "id='%s'", "id='%s' to='"+jid+"'", 1) }

// The pubsub.<host> service (XEP-0060 generic service): found in the
// host's disco#items, create with a configure form and instant nodes,
// configure, subscribe, publish with notifications to subscribers only,
// affiliations, access.
func TestService(t *testing.T) {
	e := newEnv(t, "alice", "bob", "carol")
	alice := e.login("alice", "pc")
	bob := e.login("bob", "pc")
	carol := e.login("carol", "pc")
	// A notification to a bare JID goes to its available resources.
	bob.Send("<presence/>")

	items := ok(t, alice.iq("<iq type='get' id='%s' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>"))
	if !strings.Contains(items.String(), "jid='"+svc+"'") {
		t.Fatalf("host disco#items lacks %s: %s", svc, items)
	}
	info := ok(t, alice.iq("<iq type='get' id='%s' to='"+svc+"'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")).String()
	for _, want := range []string{"category='pubsub' type='service'", engine.NS + "#publish'", engine.NS + "#create-nodes'"} {
		if !strings.Contains(info, want) {
			t.Errorf("service disco#info lacks %s: %s", want, info)
		}
	}

	ok(t, alice.iq(to(create("news", "pubsub#title", "News", "pubsub#max_items", "5"), svc)))
	wantError(t, bob.iq(to(create("news"), svc)), "conflict", "")
	// Instant node (§8.1.2): the service names it.
	res := ok(t, alice.iq(to("<iq type='set' id='%s'>"+pubsubOpenTag+"<create/></pubsub></iq>", svc)))
	if c := res.Child("pubsub", engine.NS).Child("create", engine.NS); c == nil || c.Attr("node") == "" {
		t.Errorf("instant node result %s", res)
	}

	// bob subscribes (open by default) and gets items; carol does not.
	sub := ok(t, bob.iq("<iq type='set' id='%s' to='"+svc+"'>"+pubsubOpenTag+"<subscribe node='news' jid='bob@localhost'/></pubsub></iq>"))
	if s := sub.Child("pubsub", engine.NS).Child("subscription", engine.NS); s == nil || s.Attr("subscription") != "subscribed" {
		t.Errorf("subscription result %s", sub)
	}
	// Publishing is for owners and publishers (publish_model publishers).
	wantError(t, bob.iq(to(publish("news", "<item><entry xmlns='http://www.w3.org/2005/Atom'>x</entry></item>", ""), svc)), "forbidden", "")
	res = ok(t, alice.iq(to(publish("news", "<item><entry xmlns='http://www.w3.org/2005/Atom'><title>One</title></entry></item>", ""), svc)))
	id := res.Child("pubsub", engine.NS).Child("publish", engine.NS).Child("item", engine.NS).Attr("id")
	if id == "" {
		t.Fatalf("no server-made id: %s", res)
	}
	msg := bob.wantItem(svc, "news", id, "One")
	if msg.Attr("to") != "bob@localhost" {
		t.Errorf("notification to %s, want the subscribed bare JID", msg.Attr("to"))
	}
	carol.quiet()
	alice.quiet()

	// A publisher affiliation lets bob publish; the owner sees it.
	ok(t, alice.iq(owner(svc, "<affiliations node='news'><affiliation jid='bob@localhost' affiliation='publisher'/></affiliations>")))
	// bob publishes and is subscribed: the event comes before the result.
	bob.Send("%s", strings.Replace(to(publish("news", "<item id='two'><entry xmlns='http://www.w3.org/2005/Atom'><title>Two</title></entry></item>", ""), svc), "%s", "pub2", 1))
	bob.wantItem(svc, "news", "two", "Two")
	if r := bob.NextNamed("iq"); r.Attr("id") != "pub2" || r.Attr("type") != "result" {
		t.Fatalf("publish by a publisher: %s", r)
	}
	// The owner manages subscriptions (§8.8): carol's resource is
	// subscribed by alice, notified, then unsubscribed.
	ok(t, alice.iq(owner(svc, "<subscriptions node='news'><subscription jid='carol@localhost/pc' subscription='subscribed'/></subscriptions>")))
	ok(t, alice.iq(to(publish("news", "<item id='three'><entry xmlns='http://www.w3.org/2005/Atom'><title>Three</title></entry></item>", ""), svc)))
	carol.wantItem(svc, "news", "three", "Three")
	bob.wantItem(svc, "news", "three", "Three")
	if s := ok(t, alice.iq(get(owner(svc, "<subscriptions node='news'/>")))).String(); !strings.Contains(s, "jid='carol@localhost/pc'") {
		t.Errorf("owner's subscriptions %s", s)
	}
	ok(t, alice.iq(owner(svc, "<subscriptions node='news'><subscription jid='carol@localhost/pc' subscription='none'/></subscriptions>")))
	// The node must keep an owner.
	wantError(t, alice.iq(owner(svc, "<affiliations node='news'><affiliation jid='alice@localhost' affiliation='none'/></affiliations>")), "not-acceptable", "")

	if ids := itemIDs(t, ok(t, carol.iq(itemsGet(svc, "news", "/>")))); !slices.Equal(ids, []string{id, "two", "three"}) {
		t.Errorf("items %v", ids)
	}
	// Whitelisting closes the node to carol; bob stays (publisher).
	ok(t, alice.iq(owner(svc, "<configure node='news'>"+form(engine.NSNodeConfig, "pubsub#access_model", "whitelist")+"</configure>")))
	wantError(t, carol.iq(itemsGet(svc, "news", "/>")), "not-allowed", "closed-node")
	ok(t, bob.iq(itemsGet(svc, "news", " max_items='1'/>")))

	// Node meta-data (§5.4).
	meta := ok(t, bob.iq("<iq type='get' id='%s' to='"+svc+"'><query xmlns='http://jabber.org/protocol/disco#info' node='news'/></iq>")).String()
	for _, want := range []string{"type='leaf'", engine.NS + "#meta-data", "<value>News</value>", "<value>whitelist</value>"} {
		if !strings.Contains(meta, want) {
			t.Errorf("node disco#info lacks %s: %s", want, meta)
		}
	}
	wantError(t, carol.iq("<iq type='get' id='%s' to='"+svc+"'><query xmlns='http://jabber.org/protocol/disco#info' node='news'/></iq>"), "item-not-found", "")
	// The service lists its nodes; the entity's own subscriptions and
	// affiliations (§5.6, §5.7).
	list := ok(t, bob.iq("<iq type='get' id='%s' to='"+svc+"'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>")).String()
	if !strings.Contains(list, "node='news'") || !strings.Contains(list, "name='News'") {
		t.Errorf("service disco#items %s", list)
	}
	subs := ok(t, bob.iq("<iq type='get' id='%s' to='"+svc+"'>"+pubsubOpenTag+"<subscriptions/></pubsub></iq>")).String()
	if !strings.Contains(subs, "node='news'") || !strings.Contains(subs, "subscription='subscribed'") {
		t.Errorf("bob's subscriptions %s", subs)
	}
	affs := ok(t, bob.iq("<iq type='get' id='%s' to='"+svc+"'>"+pubsubOpenTag+"<affiliations/></pubsub></iq>")).String()
	if !strings.Contains(affs, "affiliation='publisher'") {
		t.Errorf("bob's affiliations %s", affs)
	}
	// Asked about one node, the answer names it and lists that node's
	// entries only.
	for _, q := range []struct{ el, node, entry string }{
		{"subscriptions", "news", "<subscription "}, {"subscriptions", "elsewhere", ""},
		{"affiliations", "news", "<affiliation "}, {"affiliations", "elsewhere", ""},
	} {
		got := ok(t, bob.iq("<iq type='get' id='%s' to='"+svc+"'>"+pubsubOpenTag+"<"+q.el+" node='"+q.node+"'/></pubsub></iq>")).String()
		entries := strings.Contains(got, "<"+strings.TrimSuffix(q.el, "s")+" ")
		if !strings.Contains(got, "<"+q.el+" node='"+q.node+"'") || entries != (q.entry != "") {
			t.Errorf("bob's %s of node %s: %s", q.el, q.node, got)
		}
	}
	// Subscription options, minimal (§6.3).
	opts := ok(t, bob.iq("<iq type='get' id='%s' to='"+svc+"'>"+pubsubOpenTag+"<options node='news' jid='bob@localhost'/></pubsub></iq>")).String()
	if !strings.Contains(opts, engine.NSSubOptions) {
		t.Errorf("options %s", opts)
	}
	// Deleting tells the subscribers.
	ok(t, alice.iq(owner(svc, "<delete node='news'/>")))
	if _, ev := bob.event(); ev.Child("delete", engine.NSEvent) == nil {
		t.Errorf("delete event %s", ev)
	}
	wantError(t, bob.iq(itemsGet(svc, "news", "/>")), "item-not-found", "")
}
