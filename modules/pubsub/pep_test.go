package pubsub_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/xmppd/xmppd/modules/pubsub/engine"
)

// The OMEMO test: what Conversations-style clients do every day (XEP-0384
// over XEP-0163). alice publishes her device list and a bundle with
// publish-options access_model=open; bob (a contact) and carol (not one)
// read them back; bob's resource that asked for devicelist+notify in its
// caps gets the last item when it comes online and each new publish, one
// that did not gets neither; alice's own interested resource too.
func TestOMEMO(t *testing.T) {
	e := newEnv(t, "alice", "bob", "carol")
	e.friends("alice", "bob")
	alice := e.login("alice", "pc")
	alice.Send("<presence/>")

	ok(t, alice.iq(publish(nsDevices, fmt.Sprintf(devicesItem, 1111), publishOpen)))
	res := ok(t, alice.iq(publish(nsBundles, bundleItem, publishOpen)))
	if id := res.Child("pubsub", engine.NS).Child("publish", engine.NS).Child("item", engine.NS).Attr("id"); id != "current" {
		t.Errorf("publish result item id %q, want current", id)
	}

	// bob/phone asks for device lists: it gets the last one on coming
	// online, with its original time.
	phone := e.login("bob", "phone")
	phone.online(newCaps(t, nsOMEMO, nsDevices+"+notify"))
	msg := phone.wantItem("alice@localhost", nsDevices, "current", "1111")
	if msg.Attr("type") != "headline" || msg.Child("delay", "urn:xmpp:delay") == nil {
		t.Errorf("last item: want a headline with a delay, got %s", msg)
	}
	// bob/laptop asks for bundles only: it gets the bundle, never the list.
	laptop := e.login("bob", "laptop")
	laptop.online(newCaps(t, nsOMEMO, nsBundles+"+notify"))
	laptop.wantItem("alice@localhost", nsBundles, "current", "BBBB")

	// alice's second resource asks too: the owner's resources count.
	tablet := e.login("alice", "tablet")
	tablet.online(newCaps(t, nsDevices+"+notify"))
	tablet.wantItem("alice@localhost", nsDevices, "current", "1111")

	ok(t, alice.iq(publish(nsDevices, fmt.Sprintf(devicesItem, 2222), publishOpen)))
	phone.wantItem("alice@localhost", nsDevices, "current", "2222")
	tablet.wantItem("alice@localhost", nsDevices, "current", "2222")
	laptop.quiet()
	alice.quiet() // no caps: no notifications

	// Items get: bob (contact) and carol (no relation; the nodes are open).
	carol := e.login("carol", "x")
	for _, c := range []*client{phone, carol} {
		res := ok(t, c.iq(itemsGet("alice@localhost", nsDevices, "/>")))
		if ids := itemIDs(t, res); !slices.Equal(ids, []string{"current"}) {
			t.Errorf("%s: device list items %v", c.JID, ids)
		}
		if s := res.String(); !contains(s, "2222") || contains(s, "1111") {
			t.Errorf("%s: device list %s", c.JID, s)
		}
		res = ok(t, c.iq(itemsGet("alice@localhost", nsBundles, "><item id='current'/></items>")))
		if s := res.String(); !contains(s, "signedPreKeyPublic") {
			t.Errorf("%s: bundle %s", c.JID, s)
		}
	}
	// carol is no contact: nothing reaches her unasked.
	carol.quiet()

	// The node remembers the access model publish-options gave it; a
	// precondition that does not hold is refused (XEP-0060 §7.1.5).
	presence := `<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='pubsub#access_model'><value>presence</value></field></x></publish-options>`
	wantError(t, alice.iq(publish(nsDevices, fmt.Sprintf(devicesItem, 3), presence)), "conflict", "precondition-not-met")
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// XEP-0163 §4 auto-subscribe: once bob's presence subscription to alice
// is approved, bob's interested resource gets alice's last item, without
// having to come online again.
func TestAutoSubscribe(t *testing.T) {
	e := newEnv(t, "alice", "bob")
	alice := e.login("alice", "pc")
	alice.Send("<presence/>")
	ok(t, alice.iq(publish("http://jabber.org/protocol/tune", "<item id='current'><tune xmlns='http://jabber.org/protocol/tune'><title>Introduction</title></tune></item>", "")))
	bob := e.login("bob", "pc")
	bob.online(newCaps(t, "http://jabber.org/protocol/tune+notify"))
	bob.quiet() // no relation yet: nothing
	wantError(t, bob.iq(itemsGet("alice@localhost", "http://jabber.org/protocol/tune", "/>")), "not-authorized", "presence-subscription-required")

	bob.Send("<presence type='subscribe' to='alice@localhost'/>")
	alice.NextNamed("presence") // the request
	alice.Send("<presence type='subscribed' to='bob@localhost'/>")
	bob.wantItem("alice@localhost", "http://jabber.org/protocol/tune", "current", "Introduction")
	// And later publishes as they happen.
	ok(t, alice.iq(publish("http://jabber.org/protocol/tune", "<item id='current'><tune xmlns='http://jabber.org/protocol/tune'><title>Allegro</title></tune></item>", "")))
	bob.wantItem("alice@localhost", "http://jabber.org/protocol/tune", "current", "Allegro")
}

// OMEMO 2 (XEP-0384 v0.8+): one bundles node with an item per device,
// published with max_items=max; a non-contact reads a device's bundle by
// id.
func TestOMEMO2(t *testing.T) {
	e := newEnv(t, "alice", "carol")
	alice := e.login("alice", "pc")
	opts := "<publish-options>" + form(engine.NSPublishOptions, "pubsub#access_model", "open", "pubsub#max_items", "max") + "</publish-options>"
	ok(t, alice.iq(publish("urn:xmpp:omemo:2:devices", "<item id='current'><devices xmlns='urn:xmpp:omemo:2'><device id='1'/><device id='2'/></devices></item>", publishOpen)))
	for _, id := range []string{"1", "2"} {
		ok(t, alice.iq(publish("urn:xmpp:omemo:2:bundles", "<item id='"+id+"'><bundle xmlns='urn:xmpp:omemo:2'><ik>key"+id+"</ik></bundle></item>", opts)))
	}
	carol := e.login("carol", "pc")
	res := ok(t, carol.iq(itemsGet("alice@localhost", "urn:xmpp:omemo:2:bundles", "><item id='2'/></items>")))
	if ids := itemIDs(t, res); !slices.Equal(ids, []string{"2"}) || !strings.Contains(res.String(), "key2") {
		t.Errorf("bundle 2: %s", res)
	}
	if ids := itemIDs(t, ok(t, carol.iq(itemsGet("alice@localhost", "urn:xmpp:omemo:2:bundles", "/>")))); !slices.Equal(ids, []string{"1", "2"}) {
		t.Errorf("bundles %v", ids)
	}
	if ids := itemIDs(t, ok(t, carol.iq(itemsGet("alice@localhost", "urn:xmpp:omemo:2:devices", "/>")))); !slices.Equal(ids, []string{"current"}) {
		t.Errorf("devices %v", ids)
	}
}

// XEP-0163 §4.3.3: no notifications to a contact the owner blocked
// (XEP-0191; the notifications are routed, so the block list applies).
func TestBlockedContactNotNotified(t *testing.T) {
	e := newEnv(t, "alice", "bob")
	e.friends("alice", "bob")
	bob := e.login("bob", "pc")
	bob.online(newCaps(t, "http://jabber.org/protocol/mood+notify"))
	alice := e.login("alice", "pc")
	ok(t, alice.iq(publish("http://jabber.org/protocol/mood", "<item id='current'><mood xmlns='http://jabber.org/protocol/mood'><happy/></mood></item>", "")))
	bob.wantItem("alice@localhost", "http://jabber.org/protocol/mood", "current", "happy")
	ok(t, alice.iq("<iq type='set' id='%s'><block xmlns='urn:xmpp:blocking'><item jid='bob@localhost'/></block></iq>"))
	ok(t, alice.iq(publish("http://jabber.org/protocol/mood", "<item id='current'><mood xmlns='http://jabber.org/protocol/mood'><sad/></mood></item>", "")))
	bob.quiet()
}
