package pubsub_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/xmppd/xmppd/modules/pubsub/engine"
)

// form renders a submitted data form of formType; each pair is a var and
// its values separated by "|".
func form(formType string, pairs ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>%s</value></field>", formType)
	for i := 0; i+1 < len(pairs); i += 2 {
		fmt.Fprintf(&b, "<field var='%s'>", pairs[i])
		for _, v := range strings.Split(pairs[i+1], "|") {
			fmt.Fprintf(&b, "<value>%s</value>", v)
		}
		b.WriteString("</field>")
	}
	b.WriteString("</x>")
	return b.String()
}

func create(node string, pairs ...string) string {
	cfg := ""
	if len(pairs) > 0 {
		cfg = "<configure>" + form(engine.NSNodeConfig, pairs...) + "</configure>"
	}
	return "<iq type='set' id='%s'>" + pubsubOpenTag + "<create node='" + node + "'/>" + cfg + "</pubsub></iq>"
}

func owner(to, inner string) string {
	t := ""
	if to != "" {
		t = " to='" + to + "'"
	}
	return "<iq type='set' id='%s'" + t + "><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'>" + inner + "</pubsub></iq>"
}

// Access models (XEP-0060 §4.5, §6.1.3, §6.5.9) on alice's PEP service:
// who may retrieve items and subscribe, with the errors the XEP gives.
func TestAccessModels(t *testing.T) {
	e := newEnv(t, "alice", "bob", "carol", "dave", "erin")
	e.sub("alice", "bob", "both", []string{"friends"})
	e.sub("alice", "dave", "from", nil) // dave is subscribed to alice
	e.sub("alice", "erin", "to", nil)   // alice is subscribed to erin, not the reverse
	alice := e.login("alice", "pc")
	for _, c := range []struct{ node, model string }{
		{"n-presence", ""}, // the PEP default
		{"n-roster", "roster"},
		{"n-whitelist", "whitelist"},
		{"n-open", "open"},
	} {
		if c.model == "" {
			ok(t, alice.iq(create(c.node)))
		} else if c.model == "roster" {
			ok(t, alice.iq(create(c.node, "pubsub#access_model", "roster", "pubsub#roster_groups_allowed", "friends")))
		} else {
			ok(t, alice.iq(create(c.node, "pubsub#access_model", c.model)))
		}
		ok(t, alice.iq(publish(c.node, "<item id='i1'><x xmlns='urn:example'/></item>", "")))
	}
	wantError(t, alice.iq(create("n-open")), "conflict", "")

	clients := map[string]*client{}
	for _, u := range []string{"bob", "carol", "dave", "erin"} {
		clients[u] = e.login(u, "r")
	}
	const (
		allowed  = ""
		presence = "not-authorized/presence-subscription-required"
		group    = "not-authorized/not-in-roster-group"
		closed   = "not-allowed/closed-node"
	)
	for _, tc := range []struct {
		node, user, want string
	}{
		{"n-presence", "bob", allowed},
		{"n-presence", "dave", allowed},
		{"n-presence", "erin", presence},
		{"n-presence", "carol", presence},
		{"n-roster", "bob", allowed},
		{"n-roster", "dave", group},
		{"n-roster", "carol", group},
		{"n-whitelist", "bob", closed},
		{"n-whitelist", "carol", closed},
		{"n-open", "carol", allowed},
		{"n-open", "erin", allowed},
	} {
		t.Run(tc.node+"/"+tc.user, func(t *testing.T) {
			c := clients[tc.user]
			for i, req := range []string{
				itemsGet("alice@localhost", tc.node, "/>"),
				"<iq type='set' id='%s' to='alice@localhost'>" + pubsubOpenTag + "<subscribe node='" + tc.node + "' jid='" + c.JID + "'/></pubsub></iq>",
			} {
				res := c.iq(req)
				if tc.want == allowed {
					ok(t, res)
					if i == 1 {
						// §6.1.7: the last item follows the result.
						c.wantItem("alice@localhost", tc.node, "i1", "urn:example")
					}
					continue
				}
				cond, app, _ := strings.Cut(tc.want, "/")
				wantError(t, res, cond, app)
			}
		})
	}

	// Whitelisting bob (member) lets him in; an outcast is refused even
	// on an open node.
	ok(t, alice.iq(owner("", "<affiliations node='n-whitelist'><affiliation jid='bob@localhost' affiliation='member'/></affiliations>")))
	ok(t, clients["bob"].iq(itemsGet("alice@localhost", "n-whitelist", "/>")))
	ok(t, alice.iq(owner("", "<affiliations node='n-open'><affiliation jid='carol@localhost' affiliation='outcast'/></affiliations>")))
	wantError(t, clients["carol"].iq(itemsGet("alice@localhost", "n-open", "/>")), "forbidden", "")
	res := ok(t, alice.iq(strings.Replace(owner("", "<affiliations node='n-open'/>"), "type='set'", "type='get'", 1)))
	if s := res.String(); !strings.Contains(s, "carol@localhost") || !strings.Contains(s, "outcast") {
		t.Errorf("affiliations %s", s)
	}
	// Only the owner configures, publishes, deletes.
	wantError(t, clients["bob"].iq(owner("alice@localhost", "<delete node='n-whitelist'/>")), "forbidden", "")
	wantError(t, clients["bob"].iq(strings.Replace(publish("n-open", "<item><x xmlns='urn:example'/></item>", ""), "id='%s'", "id='%s' to='alice@localhost'", 1)), "forbidden", "")

	// An explicit subscription to an open node of a non-contact brings
	// notifications (XEP-0163 §4 rule 1); unsubscribing ends them.
	erin := clients["erin"]
	ok(t, alice.iq(publish("n-open", "<item id='i2'><x xmlns='urn:example'>two</x></item>", "")))
	erin.wantItem("alice@localhost", "n-open", "i2", "two")
	ok(t, erin.iq("<iq type='set' id='%s' to='alice@localhost'>"+pubsubOpenTag+"<unsubscribe node='n-open' jid='"+erin.JID+"'/></pubsub></iq>"))
	wantError(t, erin.iq("<iq type='set' id='%s' to='alice@localhost'>"+pubsubOpenTag+"<unsubscribe node='n-open' jid='"+erin.JID+"'/></pubsub></iq>"), "unexpected-request", "not-subscribed")
	ok(t, alice.iq(publish("n-open", "<item id='i3'><x xmlns='urn:example'>three</x></item>", "")))
	erin.quiet()
	// Subscriptions of the owner's node, seen by the owner.
	res = ok(t, alice.iq(strings.Replace(owner("", "<subscriptions node='n-open'/>"), "type='set'", "type='get'", 1)))
	if s := res.String(); strings.Contains(s, "erin") {
		t.Errorf("erin still subscribed: %s", s)
	}
	// disco#info on a PEP node (§5.3), for who may access it.
	info := ok(t, clients["bob"].iq("<iq type='get' id='%s' to='alice@localhost'><query xmlns='http://jabber.org/protocol/disco#info' node='n-presence'/></iq>")).String()
	if !strings.Contains(info, "type='leaf'") || !strings.Contains(info, "<value>presence</value>") {
		t.Errorf("PEP node info %s", info)
	}
	wantError(t, clients["carol"].iq("<iq type='get' id='%s' to='alice@localhost'><query xmlns='http://jabber.org/protocol/disco#info' node='n-presence'/></iq>"), "item-not-found", "")
	wantError(t, clients["bob"].iq("<iq type='get' id='%s' to='alice@localhost'><query xmlns='http://jabber.org/protocol/disco#info' node='nope'/></iq>"), "item-not-found", "")
	// disco#items on alice lists what the requester may see.
	res = ok(t, clients["carol"].iq("<iq type='get' id='%s' to='alice@localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>"))
	var nodes []string
	for it := range res.Child("query", "").Children() {
		nodes = append(nodes, it.Attr("node"))
	}
	if !slices.Equal(nodes, []string(nil)) && !slices.Equal(nodes, []string{}) {
		t.Errorf("carol (outcast of n-open, no contact) sees %v", nodes)
	}
	res = ok(t, clients["bob"].iq("<iq type='get' id='%s' to='alice@localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>"))
	nodes = nil
	for it := range res.Child("query", "").Children() {
		nodes = append(nodes, it.Attr("node"))
	}
	if !slices.Equal(nodes, []string{"n-open", "n-presence", "n-roster", "n-whitelist"}) {
		t.Errorf("bob sees %v", nodes)
	}
}
