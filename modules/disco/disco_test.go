package disco_test

import (
	"crypto/sha1"
	"encoding/base64"
	"sort"
	"strings"
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
	_ "github.com/xmppd/xmppd/modules/all"
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
