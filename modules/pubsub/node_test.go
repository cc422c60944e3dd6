package pubsub_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/modules/pubsub/engine"
)

func get(s string) string { return strings.Replace(s, "type='set'", "type='get'", 1) }

// max_items (a number, then "max"), retract with notify, purge, delete
// with notification, configure get/set, on alice's PEP service with bob
// subscribed explicitly.
func TestNodeLifecycle(t *testing.T) {
	e := newEnv(t, "alice", "bob")
	e.friends("alice", "bob")
	alice := e.login("alice", "pc")
	bob := e.login("bob", "pc")
	ok(t, alice.iq(create("n", "pubsub#max_items", "2")))
	ok(t, bob.iq("<iq type='set' id='%s' to='alice@localhost'>"+pubsubOpenTag+"<subscribe node='n' jid='bob@localhost/pc'/></pubsub></iq>"))

	for i := 1; i <= 3; i++ {
		ok(t, alice.iq(publish("n", fmt.Sprintf("<item id='i%d'><x xmlns='urn:example'>%d</x></item>", i, i), "")))
		bob.wantItem("alice@localhost", "n", fmt.Sprintf("i%d", i), fmt.Sprint(i))
	}
	if ids := itemIDs(t, ok(t, alice.iq(itemsGet("", "n", "/>")))); !slices.Equal(ids, []string{"i2", "i3"}) {
		t.Errorf("max_items 2: items %v, want [i2 i3]", ids)
	}
	// "max" (XEP-0060 §16.4.4 config-node-max): the server's limit.
	ok(t, alice.iq(owner("", "<configure node='n'>"+form(engine.NSNodeConfig, "pubsub#max_items", "max")+"</configure>")))
	for i := 4; i <= 6; i++ {
		ok(t, alice.iq(publish("n", fmt.Sprintf("<item id='i%d'><x xmlns='urn:example'>%d</x></item>", i, i), "")))
		bob.wantItem("alice@localhost", "n", fmt.Sprintf("i%d", i), fmt.Sprint(i))
	}
	if ids := itemIDs(t, ok(t, alice.iq(itemsGet("", "n", "/>")))); !slices.Equal(ids, []string{"i2", "i3", "i4", "i5", "i6"}) {
		t.Errorf("max: items %v", ids)
	}
	if ids := itemIDs(t, ok(t, alice.iq(itemsGet("", "n", " max_items='2'/>")))); !slices.Equal(ids, []string{"i5", "i6"}) {
		t.Errorf("max_items='2': items %v, want the newest two", ids)
	}
	// Republishing an id replaces the item and makes it the newest.
	ok(t, alice.iq(publish("n", "<item id='i2'><x xmlns='urn:example'>again</x></item>", "")))
	bob.wantItem("alice@localhost", "n", "i2", "again")
	if ids := itemIDs(t, ok(t, alice.iq(itemsGet("", "n", " max_items='1'/>")))); !slices.Equal(ids, []string{"i2"}) {
		t.Errorf("newest after republish %v", ids)
	}
	// Configure get shows the stored value.
	cfg := ok(t, alice.iq(get(owner("", "<configure node='n'/>")))).String()
	if !strings.Contains(cfg, "<field var='pubsub#max_items'") || !strings.Contains(cfg, "<value>max</value>") {
		t.Errorf("configure form %s", cfg)
	}
	// Lowering max_items drops the oldest.
	ok(t, alice.iq(owner("", "<configure node='n'>"+form(engine.NSNodeConfig, "pubsub#max_items", "3")+"</configure>")))
	if ids := itemIDs(t, ok(t, alice.iq(itemsGet("", "n", "/>")))); !slices.Equal(ids, []string{"i5", "i6", "i2"}) {
		t.Errorf("after lowering max_items: %v", ids)
	}
	wantError(t, alice.iq(owner("", "<configure node='n'>"+form(engine.NSNodeConfig, "pubsub#max_items", "zero")+"</configure>")), "not-acceptable", "")

	// Retract with notify (§7.2.2.1).
	ok(t, alice.iq("<iq type='set' id='%s'>"+pubsubOpenTag+"<retract node='n' notify='true'><item id='i5'/></retract></pubsub></iq>"))
	_, ev := bob.event()
	if r := ev.Child("items", engine.NSEvent).Child("retract", engine.NSEvent); r == nil || r.Attr("id") != "i5" {
		t.Errorf("retract notification %s", ev)
	}
	wantError(t, alice.iq("<iq type='set' id='%s'>"+pubsubOpenTag+"<retract node='n'><item id='i5'/></retract></pubsub></iq>"), "item-not-found", "")
	wantError(t, alice.iq("<iq type='set' id='%s'>"+pubsubOpenTag+"<retract node='n'><item/></retract></pubsub></iq>"), "bad-request", "item-required")
	// notify='false' overrides notify_retract.
	ok(t, alice.iq("<iq type='set' id='%s'>"+pubsubOpenTag+"<retract node='n' notify='false'><item id='i6'/></retract></pubsub></iq>"))
	bob.quiet()

	// Purge (§8.5) notifies with <purge/>.
	ok(t, alice.iq(owner("", "<purge node='n'/>")))
	if _, ev := bob.event(); ev.Child("purge", engine.NSEvent) == nil {
		t.Errorf("purge notification %s", ev)
	}
	if ids := itemIDs(t, ok(t, alice.iq(itemsGet("", "n", "/>")))); len(ids) != 0 {
		t.Errorf("after purge %v", ids)
	}
	// Delete (§8.4) notifies with <delete/>; the node is gone.
	ok(t, alice.iq(owner("", "<delete node='n'/>")))
	if _, ev := bob.event(); ev.Child("delete", engine.NSEvent) == nil || ev.Child("delete", engine.NSEvent).Attr("node") != "n" {
		t.Errorf("delete notification %s", ev)
	}
	wantError(t, alice.iq(itemsGet("", "n", "/>")), "item-not-found", "")
	wantError(t, alice.iq(owner("", "<delete node='n'/>")), "item-not-found", "")
}

// The errors of XEP-0060 §6-8 that clients meet.
func TestErrors(t *testing.T) {
	e := newEnv(t, "alice", "bob")
	alice := e.login("alice", "pc")
	bob := e.login("bob", "pc")
	ok(t, alice.iq(create("n")))
	for _, tc := range []struct {
		name, req, cond, app string
		c                    *client
	}{
		{"items of a missing node", itemsGet("", "missing", "/>"), "item-not-found", "", alice},
		{"items without node", itemsGet("", "", "/>"), "bad-request", "nodeid-required", alice},
		{"publish to another's missing node", strings.Replace(publish("x", "<item><x xmlns='urn:e'/></item>", ""), "id='%s'", "id='%s' to='alice@localhost'", 1), "forbidden", "", bob},
		{"two payloads", publish("n", "<item><x xmlns='urn:e'/><y xmlns='urn:e'/></item>", ""), "bad-request", "invalid-payload", alice},
		{"no item", publish("n", "", ""), "bad-request", "item-required", alice},
		{"no payload", publish("n", "<item id='a'/>", ""), "bad-request", "payload-required", alice},
		{"payload too big", publish("n", "<item><x xmlns='urn:e'>"+strings.Repeat("a", 140<<10)+"</x></item>", ""), "not-acceptable", "payload-too-big", alice},
		{"unknown publish option", publish("n", "<item><x xmlns='urn:e'/></item>", "<publish-options>"+form(engine.NSPublishOptions, "pubsub#frobnicate", "1")+"</publish-options>"), "not-acceptable", "", alice},
		{"instant PEP node", "<iq type='set' id='%s'>" + pubsubOpenTag + "<create/></pubsub></iq>", "not-acceptable", "nodeid-required", alice},
		{"create on another's PEP", strings.Replace(create("b"), "id='%s'", "id='%s' to='alice@localhost'", 1), "forbidden", "", bob},
		{"subscribe someone else", "<iq type='set' id='%s' to='alice@localhost'>" + pubsubOpenTag + "<subscribe node='n' jid='alice@localhost'/></pubsub></iq>", "bad-request", "invalid-jid", bob},
		{"configure by non-owner", get(owner("alice@localhost", "<configure node='n'/>")), "forbidden", "", bob},
		{"unsupported request", "<iq type='set' id='%s'>" + pubsubOpenTag + "<collection node='n'/></pubsub></iq>", "feature-not-implemented", "unsupported", alice},
		{"unknown access model", create("m", "pubsub#access_model", "authorize"), "not-acceptable", "", alice},
	} {
		t.Run(tc.name, func(t *testing.T) { wantError(t, tc.c.iq(tc.req), tc.cond, tc.app) })
	}
}

// Items survive a restart (persistent items on disk, SQLite).
func TestPersistence(t *testing.T) {
	dir := t.TempDir()
	s := testutil.StartIn(t, dir, testutil.BaseConfig(dir))
	s.AddUser(t, "alice", "pw")
	alice := &client{Client: testutil.Login(t, s, "alice", "pw", "pc"), t: t}
	ok(t, alice.iq(publish(nsDevices, fmt.Sprintf(devicesItem, 77), publishOpen)))
	alice.Close()
	s.Stop(t)

	s = testutil.StartIn(t, dir, testutil.BaseConfig(dir))
	alice = &client{Client: testutil.Login(t, s, "alice", "pw", "pc"), t: t}
	res := ok(t, alice.iq(itemsGet("", nsDevices, "/>")))
	if !strings.Contains(res.String(), "device id='77'") {
		t.Errorf("after restart %s", res)
	}
	cfg := ok(t, alice.iq(get(owner("", "<configure node='"+nsDevices+"'/>")))).String()
	if !strings.Contains(cfg, "<value>open</value>") {
		t.Errorf("access model lost in restart: %s", cfg)
	}
}

// Deleting an account (XEP-0077 <remove/>) deletes its PEP nodes: a new
// account of the same name starts with none.
func TestAccountRemovalDeletesNodes(t *testing.T) {
	e := newEnv(t, "alice")
	alice := e.login("alice", "pc")
	ok(t, alice.iq(publish(nsDevices, fmt.Sprintf(devicesItem, 5), publishOpen)))
	alice.Send("<iq type='set' id='rm'><query xmlns='jabber:iq:register'><remove/></query></iq>")
	for {
		el, err := alice.TryNext()
		if err != nil || (el.Name() == "iq" && el.Attr("id") == "rm") {
			break
		}
	}
	e.s.AddUser(t, "alice", "pw")
	alice = e.login("alice", "pc")
	wantError(t, alice.iq(itemsGet("", nsDevices, "/>")), "item-not-found", "")
	if res := ok(t, alice.iq("<iq type='get' id='%s'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>")); res.Child("query", "").FirstChild() != nil {
		t.Errorf("new account has nodes: %s", res)
	}
}
