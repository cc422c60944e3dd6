package all_test

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
	_ "github.com/xmppd/xmppd/modules/all"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/xml"
)

// instance is a server for domain alone, with a c2s listener.
func instance(dir, domain string) string {
	return `
data_dir = "` + dir + `"
log_level = "debug"

[[host]]
domain = "` + domain + `"

[[listen]]
type = "c2s"
address = "127.0.0.1:0"
`
}

type node struct {
	s      *testutil.Server
	domain string
}

// store is the server's database, for what the wire does not show.
func (n node) store() interface {
	storage.PrivateXML
	storage.PubSub
	storage.Rosters
} {
	return n.s.Accounts().(interface {
		storage.PrivateXML
		storage.PubSub
		storage.Rosters
	})
}

var seq int

// iq sends the IQ built from format (its id '%s' filled in) and returns
// the reply together with what arrived before it on the stream.
func iq(t *testing.T, c *testutil.Client, format string) (reply *xml.Element, before []*xml.Element) {
	t.Helper()
	seq++
	id := fmt.Sprintf("q%d", seq)
	c.Send(format, id)
	for {
		el := c.Next()
		if el.Name() == "iq" && el.Attr("id") == id {
			return el, before
		}
		before = append(before, el)
	}
}

// ok sends an IQ that must succeed; a failure is reported and the test
// goes on, so that it shows every feature that fails.
func ok(t *testing.T, c *testutil.Client, format string) *xml.Element {
	t.Helper()
	r, _ := iq(t, c, format)
	if r.Attr("type") != "result" {
		t.Errorf("%s: %s", format, r)
	}
	return r
}

func image(s string) (data []byte, id, b64 string) {
	data = []byte("\x89PNG " + s)
	sum := sha1.Sum(data)
	return data, hex.EncodeToString(sum[:]), base64.StdEncoding.EncodeToString(data)
}

// exercise has user@n.domain use the features whose modules serve each
// other (roster and presence, vCard and PEP, private XML and PEP) and
// checks each on n's wire: a server whose modules reached those of
// another server in the process fails here.
func exercise(t *testing.T, n node, user, contact, tag string) {
	t.Helper()
	own := user + "@" + n.domain
	c := testutil.Login(t, n.s, own, "pw", "r")

	// RFC 6121 §3.1.2: a subscription request is a roster change, pushed
	// by the roster module on behalf of the presence module. The push
	// comes before the answer to the ping sent after the presence, to a
	// resource that asked for the roster (§2.1.6).
	ok(t, c, "<iq type='get' id='%s'><query xmlns='jabber:iq:roster'/></iq>")
	ok(t, c, "<iq type='set' id='%s'><query xmlns='jabber:iq:roster'><item jid='"+contact+"@"+n.domain+"'/></query></iq>")
	c.Send("<presence type='subscribe' to='%s@%s'/>", contact, n.domain)
	_, before := iq(t, c, "<iq type='get' id='%s'><ping xmlns='urn:xmpp:ping'/></iq>")
	pushed := false
	for _, el := range before {
		if q := el.Child("query", "jabber:iq:roster"); q != nil && strings.Contains(q.String(), "ask='subscribe'") {
			pushed = true
		}
	}
	if !pushed {
		t.Errorf("%s: no roster push for the subscription request (got %v)", own, before)
	}

	// XEP-0398 §3.2: a vCard photo becomes the PEP avatar.
	_, id, b64 := image(tag + " vcard")
	ok(t, c, "<iq type='set' id='%s'><vCard xmlns='vcard-temp'><FN>"+tag+"</FN><PHOTO><TYPE>image/png</TYPE><BINVAL>"+b64+"</BINVAL></PHOTO></vCard></iq>")
	meta := ok(t, c, "<iq type='get' id='%s'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:avatar:metadata'/></pubsub></iq>")
	if !strings.Contains(meta.String(), "id='"+id+"'") {
		t.Errorf("%s: PEP avatar after the vCard photo: %s", own, meta)
	}

	// XEP-0398 §3.1: a PEP avatar becomes the vCard photo.
	_, id, b64 = image(tag + " pep")
	ok(t, c, "<iq type='set' id='%s'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:avatar:data'><item id='"+id+"'><data xmlns='urn:xmpp:avatar:data'>"+b64+"</data></item></publish></pubsub></iq>")
	ok(t, c, "<iq type='set' id='%s'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:avatar:metadata'><item id='"+id+"'><metadata xmlns='urn:xmpp:avatar:metadata'><info bytes='9' id='"+id+"' type='image/png'/></metadata></item></publish></pubsub></iq>")
	v := ok(t, c, "<iq type='get' id='%s'><vCard xmlns='vcard-temp'/></iq>")
	if !strings.Contains(v.String(), b64) {
		t.Errorf("%s: vCard after the PEP avatar: %s", own, v)
	}

	// XEP-0402 §5.3: XEP-0049 bookmarks land in PEP; other private XML
	// in the private store.
	room := tag + "@conference." + n.domain
	ok(t, c, "<iq type='set' id='%s'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'><conference jid='"+room+"' name='R'/></storage><x xmlns='urn:example:"+tag+"'/></query></iq>")
	bm := ok(t, c, "<iq type='get' id='%s'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:bookmarks:1'/></pubsub></iq>")
	if !strings.Contains(bm.String(), "id='"+room+"'") {
		t.Errorf("%s: PEP bookmarks after a private XML set: %s", own, bm)
	}
	p := ok(t, c, "<iq type='get' id='%s'><query xmlns='jabber:iq:private'><x xmlns='urn:example:"+tag+"'/></query></iq>")
	if q := p.Child("query", "jabber:iq:private"); q == nil || q.Child("x", "urn:example:"+tag) == nil {
		t.Errorf("%s: private XML: %s", own, p)
	}
	c.Close()
}

// untouched checks that other's database holds nothing of user@n.domain.
func untouched(t *testing.T, other, n node, user string) {
	t.Helper()
	ctx := context.Background()
	own := user + "@" + n.domain
	for _, node := range []string{"urn:xmpp:avatar:metadata", "urn:xmpp:avatar:data", "urn:xmpp:bookmarks:1"} {
		if _, err := other.store().Node(ctx, own, node); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("%s holds %s's PEP node %s (err %v)", other.domain, own, node, err)
		}
	}
	for _, key := range []string{"vcard-temp", "{storage:bookmarks}storage"} {
		if _, err := other.store().GetPrivate(ctx, n.domain, user, key); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("%s holds %s's private key %s (err %v)", other.domain, own, key, err)
		}
	}
	if items, _, err := other.store().Roster(ctx, n.domain, user); err != nil || len(items) != 0 {
		t.Errorf("%s holds %s's roster: %v %v", other.domain, own, items, err)
	}
}

// TestTwoServers runs two servers in one process: each one's modules
// serve only its own accounts and stores, and stopping one leaves the
// other whole. (Modules once reached each other through package
// variables, so the server started last served both.)
func TestTwoServers(t *testing.T) {
	var nodes []node
	for _, d := range []string{"a.test", "b.test"} {
		dir := t.TempDir()
		n := node{testutil.StartIn(t, dir, instance(dir, d)), d}
		for _, u := range []string{"alice", "bob", "carol"} {
			n.s.AddUser(t, u+"@"+d, "pw")
		}
		nodes = append(nodes, n)
	}
	a, b := nodes[0], nodes[1]
	exercise(t, a, "alice", "bob", "a1")
	exercise(t, b, "alice", "bob", "b1")
	untouched(t, b, a, "alice")
	untouched(t, a, b, "alice")

	// The server started last goes: the first keeps all its features.
	b.s.Stop(t)
	exercise(t, a, "carol", "bob", "a2")
}
