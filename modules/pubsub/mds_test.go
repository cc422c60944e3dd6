package pubsub_test

import (
	"strings"
	"testing"

	"github.com/xmppd/xmppd/xml"
)

// XEP-0490 §6 server assistance: the <displayed/> a client puts into a
// message goes to its PEP node, never to the contact, the archive or the
// carbon copies.
func TestMDSServerAssist(t *testing.T) {
	e := newEnv(t, "alice", "bob")
	desk := e.login("alice", "desk")
	desk.online(newCaps(t))
	phone := e.login("alice", "phone")
	phone.online(newCaps(t, "urn:xmpp:mds:displayed:0+notify"))
	ok(t, phone.iq("<iq type='set' id='%s'><enable xmlns='urn:xmpp:carbons:2'/></iq>"))
	bob := e.login("bob", "pc")
	bob.online(newCaps(t, "urn:xmpp:test:bob"))

	info := ok(t, desk.iq("<iq type='get' id='%s' to='alice@localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")).String()
	if !strings.Contains(info, "urn:xmpp:mds:server-assist:0") {
		t.Fatalf("account disco#info lacks urn:xmpp:mds:server-assist:0: %s", info)
	}

	desk.Send("<message to='bob@localhost' type='chat' id='m1'><body>seen it</body>" +
		"<displayed xmlns='urn:xmpp:chat-markers:0' id='orig-1'/>" +
		"<displayed xmlns='urn:xmpp:mds:displayed:0'><stanza-id xmlns='urn:xmpp:sid:0' by='alice@localhost' id='sid-1'/></displayed></message>")
	m := bob.NextNamed("message")
	if m.Child("displayed", "urn:xmpp:chat-markers:0") == nil || m.Child("displayed", "urn:xmpp:mds:displayed:0") != nil {
		t.Fatalf("bob got %s, want the XEP-0333 marker without the XEP-0490 element", m)
	}

	// The phone: the notification of the new item and the carbon copy,
	// in either order (the publish runs off the message's path).
	var carbon, event *xml.Element
	for carbon == nil || event == nil {
		el := phone.NextNamed("message")
		if el.Child("sent", "urn:xmpp:carbons:2") != nil {
			carbon = el
		} else if el.Child("event", "http://jabber.org/protocol/pubsub#event") != nil {
			event = el
		}
	}
	if strings.Contains(carbon.String(), "urn:xmpp:mds:displayed:0") {
		t.Fatalf("carbon copy carries the displayed element: %s", carbon)
	}
	if s := event.String(); !strings.Contains(s, "node='urn:xmpp:mds:displayed:0'") || !strings.Contains(s, "id='bob@localhost'") || !strings.Contains(s, "id='sid-1'") {
		t.Fatalf("notification %s", event)
	}

	res := ok(t, desk.iq(itemsGet("", "urn:xmpp:mds:displayed:0", "/>"))).String()
	if !strings.Contains(res, "<item id='bob@localhost'>") || !strings.Contains(res, "by='alice@localhost' id='sid-1'") {
		t.Fatalf("items %s", res)
	}
	cfg := ok(t, desk.iq(get(owner("", "<configure node='urn:xmpp:mds:displayed:0'/>")))).String()
	if !strings.Contains(cfg, "<value>whitelist</value>") || !strings.Contains(cfg, "<value>max</value>") {
		t.Fatalf("node configuration %s", cfg)
	}
	// Bob cannot read it (whitelist).
	wantError(t, bob.iq(itemsGet("alice@localhost", "urn:xmpp:mds:displayed:0", "/>")), "not-allowed", "closed-node")

	// Nor does the archive keep it (§7.2: stripped before archiving).
	desk.Send("<iq type='set' id='mam'><query xmlns='urn:xmpp:mam:2'/></iq>")
	for {
		el := desk.Next()
		if strings.Contains(el.String(), "seen it") && strings.Contains(el.String(), "urn:xmpp:mds:displayed:0") {
			t.Fatalf("archived with the displayed element: %s", el)
		}
		if el.Name() == "iq" && el.Attr("id") == "mam" {
			ok(t, el)
			break
		}
	}
}
