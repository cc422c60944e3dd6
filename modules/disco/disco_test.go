package disco_test

import (
	"crypto/sha1"
	"encoding/base64"
	"sort"
	"strings"
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
	_ "github.com/xmppd/xmppd/modules/all"
	"github.com/xmppd/xmppd/modules/internal/caps"
)

// The caps hash in the stream features must be the hash of what disco#info
// says, computed here from the wire reply (XEP-0115 §5.1), and the caps
// node must be answered.
func TestCapsInStreamFeatures(t *testing.T) {
	s := testutil.Start(t, `
[contact]
abuse = ["mailto:abuse@localhost"]
support = ["xmpp:support@localhost", "https://localhost/help"]
`)
	s.AddUser(t, "alice", "a")
	c := testutil.NewClient(t, testutil.Dial(t, s.StartTLS))
	c.Open("localhost")
	c.StartTLS("localhost")
	if r := c.AuthSCRAM("SCRAM-SHA-256", "alice", "a", "", nil); !r.OK {
		t.Fatal(r.Condition)
	}
	f := c.Restart("localhost")
	caps := f.Child("c", "http://jabber.org/protocol/caps")
	if caps == nil || caps.Attr("hash") != "sha-1" || caps.Attr("node") == "" {
		t.Fatalf("no caps in stream features: %s", f)
	}
	c.Bind("r")
	c.Send("<iq type='get' id='i' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	q := c.NextNamed("iq").Child("query", "http://jabber.org/protocol/disco#info")
	var ids, feats []string
	form := ""
	for ch := range q.Children() {
		switch ch.Name() {
		case "identity":
			ids = append(ids, ch.Attr("category")+"/"+ch.Attr("type")+"/"+ch.Attr("xml:lang")+"/"+ch.Attr("name"))
		case "feature":
			feats = append(feats, ch.Attr("var"))
		case "x":
			// XEP-0157 contact addresses, hashed per XEP-0115 §5.1 step 8.
			var fields []string
			for f := range ch.Children() {
				var vals []string
				for v := range f.Children() {
					vals = append(vals, v.Text())
				}
				if f.Attr("var") == "FORM_TYPE" {
					form = vals[0] + "<" + form
					continue
				}
				sort.Strings(vals)
				fields = append(fields, f.Attr("var")+"<"+strings.Join(vals, "<")+"<")
			}
			sort.Strings(fields)
			form += strings.Join(fields, "")
		}
	}
	if !strings.Contains(form, "abuse-addresses<mailto:abuse@localhost<") || !strings.Contains(form, "support-addresses<https://localhost/help<xmpp:support@localhost<") {
		t.Fatalf("contact addresses (XEP-0157) missing from disco#info: %s", q)
	}
	sort.Strings(ids)
	sort.Strings(feats)
	sum := sha1.Sum([]byte(strings.Join(ids, "<") + "<" + strings.Join(feats, "<") + "<" + form))
	if want := base64.StdEncoding.EncodeToString(sum[:]); caps.Attr("ver") != want {
		t.Fatalf("caps ver %s, disco#info hashes to %s", caps.Attr("ver"), want)
	}
	node := caps.Attr("node") + "#" + caps.Attr("ver")
	c.Send("<iq type='get' id='n' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info' node='%s'/></iq>", node)
	r := c.NextNamed("iq")
	if r.Attr("type") != "result" || r.Child("query", "").Attr("node") != node || len(r.Child("query", "").String()) != len(q.String())+len(" node=''")+len(node) {
		t.Fatalf("caps node: %s", r)
	}
	c.Send("<iq type='get' id='x' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info' node='other'/></iq>")
	if r := c.NextNamed("iq"); !strings.Contains(r.String(), "item-not-found") {
		t.Fatalf("unknown node: %s", r)
	}
}

func TestAccountDisco(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", "a")
	s.AddUser(t, "bob", "b")
	c := testutil.Login(t, s, "alice", "a", "r")
	for _, to := range []string{"alice@localhost", "bob@localhost"} {
		c.Send("<iq type='get' id='i' to='%s'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>", to)
		r := c.NextNamed("iq")
		id := r.Child("query", "http://jabber.org/protocol/disco#info").Child("identity", "")
		if r.Attr("type") != "result" || r.Attr("from") != to || id == nil || id.Attr("category") != "account" || id.Attr("type") != "registered" {
			t.Fatalf("%s: %s", to, r)
		}
		c.Send("<iq type='get' id='j' to='%s'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>", to)
		if r := c.NextNamed("iq"); r.Attr("type") != "result" {
			t.Fatalf("%s items: %s", to, r)
		}
	}
	c.Send("<iq type='get' id='k' to='nobody@localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	if r := c.NextNamed("iq"); r.Attr("type") != "error" || !strings.Contains(r.String(), "service-unavailable") {
		t.Fatalf("nonexistent account: %s", r)
	}
}

// TestCapsPerHost: a host that disables a module ([[host]]
// disable_modules) answers disco#info without its feature, so the caps ver
// in its stream features must hash that reply, not the server-wide
// features (XEP-0115 §5: the ver is over exactly what disco#info returns;
// a client caching by ver would take one host's features for the
// other's), and its caps node (node#ver, §6.2) must be answered there.
func TestCapsPerHost(t *testing.T) {
	dir := t.TempDir()
	s := testutil.StartIn(t, dir, `
data_dir = "`+dir+`"

[[host]]
domain = "localhost"
disable_modules = ["ping"]

[[host]]
domain = "example.test"

[[listen]]
type = "c2s"
address = "127.0.0.1:0"
`)
	vers := map[string]string{}
	for _, tc := range []struct {
		user, domain string
		ping         bool
	}{
		{"alice", "localhost", false},
		{"bob", "example.test", true},
	} {
		s.AddUser(t, tc.user+"@"+tc.domain, "p")
		c := testutil.NewClient(t, testutil.Dial(t, s.StartTLS))
		c.Open(tc.domain)
		c.StartTLS(tc.domain)
		if r := c.AuthSCRAM("SCRAM-SHA-256", tc.user, "p", "", nil); !r.OK {
			t.Fatal(r.Condition)
		}
		el := c.Restart(tc.domain).Child("c", caps.NS)
		if el == nil || el.Attr("hash") != "sha-1" {
			t.Fatalf("%s: no sha-1 caps in stream features", tc.domain)
		}
		c.Bind("r")
		c.Send("<iq type='get' id='i' to='%s'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>", tc.domain)
		q := c.NextNamed("iq").Child("query", "http://jabber.org/protocol/disco#info")
		if q == nil {
			t.Fatalf("%s: no disco#info", tc.domain)
		}
		if got := strings.Contains(q.String(), "urn:xmpp:ping"); got != tc.ping {
			t.Fatalf("%s: ping announced %v, want %v: %s", tc.domain, got, tc.ping, q)
		}
		want, err := caps.Ver(q, "sha-1")
		if err != nil {
			t.Fatal(err)
		}
		if el.Attr("ver") != want {
			t.Errorf("%s: caps ver %s, its disco#info hashes to %s", tc.domain, el.Attr("ver"), want)
		}
		node := el.Attr("node") + "#" + el.Attr("ver")
		c.Send("<iq type='get' id='n' to='%s'><query xmlns='http://jabber.org/protocol/disco#info' node='%s'/></iq>", tc.domain, node)
		if r := c.NextNamed("iq"); r.Attr("type") != "result" || strings.Contains(r.String(), "urn:xmpp:ping") != tc.ping {
			t.Errorf("%s: caps node %s: %s", tc.domain, node, r)
		}
		vers[tc.domain] = el.Attr("ver")
	}
	if vers["localhost"] == vers["example.test"] {
		t.Errorf("both hosts advertise caps ver %s, yet their features differ", vers["localhost"])
	}
}
