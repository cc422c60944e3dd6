package private_test

import (
	"strings"
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
	_ "github.com/xmppd/xmppd/modules/all"
	"github.com/xmppd/xmppd/modules/private"
	"github.com/xmppd/xmppd/xml"
)

func query(t *testing.T, r *xml.Element) *xml.Element {
	t.Helper()
	q := r.Child("query", private.NS)
	if r.Attr("type") != "result" || q == nil {
		t.Fatalf("want result with query, got %s", r)
	}
	return q
}

func TestPrivate(t *testing.T) {
	dir := t.TempDir()
	s := testutil.StartIn(t, dir, testutil.BaseConfig(dir))
	s.AddUser(t, "alice", "a")
	s.AddUser(t, "bob", "b")
	c := testutil.Login(t, s, "alice", "a", "r")

	// Absent: the query comes back as sent.
	r := c.IQ("g1", "<iq type='get' id='g1'><query xmlns='jabber:iq:private'><exodus xmlns='exodus:prefs'/></query></iq>")
	q := query(t, r)
	if ch := q.FirstChild(); ch == nil || ch.Name() != "exodus" || ch.NS() != "exodus:prefs" || ch.FirstChild() != nil {
		t.Fatalf("absent get: %s", r)
	}

	// Set, then get (no 'to', and to the own bare JID).
	r = c.IQ("s1", "<iq type='set' id='s1'><query xmlns='jabber:iq:private'><exodus xmlns='exodus:prefs'><defaultnick>Hamlet &amp; co</defaultnick></exodus><other xmlns='exodus:prefs' a='1'/></query></iq>")
	if r.Attr("type") != "result" {
		t.Fatalf("set: %s", r)
	}
	for _, to := range []string{"", " to='alice@localhost'"} {
		r = c.IQ("g2", "<iq type='get' id='g2'%s><query xmlns='jabber:iq:private'><exodus xmlns='exodus:prefs'/></query></iq>", to)
		ch := query(t, r).FirstChild()
		if ch == nil || ch.NS() != "exodus:prefs" || ch.Child("defaultnick", "exodus:prefs").Text() != "Hamlet & co" {
			t.Fatalf("get%s: %s", to, r)
		}
	}
	// Another local name in the same namespace is another key.
	r = c.IQ("g3", "<iq type='get' id='g3'><query xmlns='jabber:iq:private'><other xmlns='exodus:prefs'/></query></iq>")
	if ch := query(t, r).FirstChild(); ch == nil || ch.Name() != "other" || ch.Attr("a") != "1" {
		t.Fatalf("get other: %s", r)
	}

	// Two elements of one root in a set are kept together.
	r = c.IQ("s2", "<iq type='set' id='s2'><query xmlns='jabber:iq:private'><p:x xmlns:p='urn:two'>1</p:x><x xmlns='urn:two'>2</x></query></iq>")
	if r.Attr("type") != "result" {
		t.Fatalf("set two: %s", r)
	}
	r = c.IQ("g4", "<iq type='get' id='g4'><query xmlns='jabber:iq:private'><x xmlns='urn:two'/></query></iq>")
	var texts []string
	for ch := range query(t, r).Children() {
		texts = append(texts, ch.NS()+"="+ch.Text())
	}
	if strings.Join(texts, ",") != "urn:two=1,urn:two=2" {
		t.Fatalf("get two: %s", r)
	}

	// Prefixes declared on the query (or higher) still resolve once the
	// child is stored on its own.
	r = c.IQ("s4", "<iq type='set' id='s4'><query xmlns='jabber:iq:private' xmlns:p='urn:p'><x xmlns='urn:x' p:a='1' xml:lang='en'><p:y/></x></query></iq>")
	if r.Attr("type") != "result" {
		t.Fatalf("set with outer prefixes: %s", r)
	}
	r = c.IQ("g7", "<iq type='get' id='g7'><query xmlns='jabber:iq:private'><x xmlns='urn:x'/></query></iq>")
	if ch := query(t, r).FirstChild(); ch == nil || ch.Attr("p:a") != "1" || ch.Child("y", "urn:p") == nil {
		t.Fatalf("get with outer prefixes: %s", r)
	}

	// Errors.
	testutil.WantError(t, c.IQ("e1", "<iq type='set' id='e1' to='bob@localhost'><query xmlns='jabber:iq:private'><x xmlns='urn:a'/></query></iq>"), "forbidden")
	testutil.WantError(t, c.IQ("e2", "<iq type='get' id='e2' to='bob@localhost'><query xmlns='jabber:iq:private'><x xmlns='urn:a'/></query></iq>"), "forbidden")
	testutil.WantError(t, c.IQ("e3", "<iq type='set' id='e3'><query xmlns='jabber:iq:private'/></iq>"), "not-acceptable")
	testutil.WantError(t, c.IQ("e4", "<iq type='get' id='e4'><query xmlns='jabber:iq:private'/></iq>"), "not-acceptable")
	testutil.WantError(t, c.IQ("e5", "<iq type='set' id='e5'><query xmlns='jabber:iq:private'><x/></query></iq>"), "not-acceptable")
	testutil.WantError(t, c.IQ("e6", "<iq type='set' id='e6'><query xmlns='jabber:iq:private'><vCard xmlns='vcard-temp'/></query></iq>"), "not-acceptable")
	testutil.WantError(t, c.IQ("e7", "<iq type='get' id='e7'><query xmlns='jabber:iq:private'><query xmlns='jabber:iq:roster'/></query></iq>"), "not-acceptable")
	testutil.WantError(t, c.IQ("e8", "<iq type='get' id='e8'><query xmlns='jabber:iq:private'><a xmlns='urn:a'/><b xmlns='urn:b'/></query></iq>"), "bad-request")
	big := strings.Repeat("x", private.MaxBytes)
	testutil.WantError(t, c.IQ("e9", "<iq type='set' id='e9'><query xmlns='jabber:iq:private'><x xmlns='urn:big'>%s</x></query></iq>", big), "not-acceptable")
	// A refused set stores nothing, not even its other, valid children: the
	// get of urn:ok still echoes the query (with its text) as sent.
	testutil.WantError(t, c.IQ("e10", "<iq type='set' id='e10'><query xmlns='jabber:iq:private'><y xmlns='urn:ok'/><x xmlns='jabber:x:data'/></query></iq>"), "not-acceptable")
	r = c.IQ("g5", "<iq type='get' id='g5'><query xmlns='jabber:iq:private'><y xmlns='urn:ok'>unchanged</y></query></iq>")
	if ch := query(t, r).FirstChild(); ch.Text() != "unchanged" {
		t.Fatalf("refused set stored: %s", r)
	}

	// Bob sees nothing of Alice's.
	b := testutil.Login(t, s, "bob", "b", "r")
	r = b.IQ("gb", "<iq type='get' id='gb'><query xmlns='jabber:iq:private'><exodus xmlns='exodus:prefs'/></query></iq>")
	if ch := query(t, r).FirstChild(); ch.FirstChild() != nil {
		t.Fatalf("bob sees alice's data: %s", r)
	}
	b.Close()

	// Replace.
	r = c.IQ("s3", "<iq type='set' id='s3'><query xmlns='jabber:iq:private'><exodus xmlns='exodus:prefs'><defaultnick>Ophelia</defaultnick></exodus></query></iq>")
	if r.Attr("type") != "result" {
		t.Fatalf("replace: %s", r)
	}
	c.Close()

	// Persistence across a restart.
	s.Stop(t)
	s = testutil.StartIn(t, dir, testutil.BaseConfig(dir))
	c = testutil.Login(t, s, "alice", "a", "r2")
	r = c.IQ("g6", "<iq type='get' id='g6'><query xmlns='jabber:iq:private'><exodus xmlns='exodus:prefs'/></query></iq>")
	if ch := query(t, r).FirstChild(); ch == nil || ch.Child("defaultnick", "exodus:prefs").Text() != "Ophelia" {
		t.Fatalf("after restart: %s", r)
	}
}
