package vcard_test

import (
	"strings"
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
	_ "github.com/xmppd/xmppd/modules/all"
	"github.com/xmppd/xmppd/modules/vcard"
	"github.com/xmppd/xmppd/xml"
)

func vCard(t *testing.T, r *xml.Element) *xml.Element {
	t.Helper()
	v := r.Child("vCard", vcard.NS)
	if r.Attr("type") != "result" || v == nil {
		t.Fatalf("want result with vCard, got %s", r)
	}
	return v
}

func fn(v *xml.Element) string {
	if c := v.Child("FN", vcard.NS); c != nil {
		return c.Text()
	}
	return ""
}

func TestVCard(t *testing.T) {
	dir := t.TempDir()
	s := testutil.StartIn(t, dir, testutil.BaseConfig(dir))
	s.AddUser(t, "alice", "a")
	s.AddUser(t, "bob", "b")
	a := testutil.Login(t, s, "alice", "a", "r")
	b := testutil.Login(t, s, "bob", "b", "r")

	// Disco feature on the server.
	r := a.IQ("d", "<iq type='get' id='d' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	if !strings.Contains(r.String(), "var='vcard-temp'") {
		t.Fatalf("disco#info lacks vcard-temp: %s", r)
	}

	// No vCard yet: own get is an empty vCard; another user's is
	// service-unavailable, as for a user that does not exist.
	if v := vCard(t, a.IQ("g1", "<iq type='get' id='g1'><vCard xmlns='vcard-temp'/></iq>")); v.FirstChild() != nil {
		t.Fatalf("empty own vCard has children: %s", v)
	}
	testutil.WantError(t, b.IQ("g2", "<iq type='get' id='g2' to='alice@localhost'><vCard xmlns='vcard-temp'/></iq>"), "service-unavailable")
	testutil.WantError(t, b.IQ("g3", "<iq type='get' id='g3' to='nobody@localhost'><vCard xmlns='vcard-temp'/></iq>"), "service-unavailable")

	// Set own, read it back: own (no 'to', own bare JID) and from bob.
	r = a.IQ("s1", "<iq type='set' id='s1'><vCard xmlns='vcard-temp'><FN>Alice &lt;A&gt;</FN><N><GIVEN>Alice</GIVEN></N></vCard></iq>")
	if r.Attr("type") != "result" {
		t.Fatalf("set: %s", r)
	}
	if v := vCard(t, a.IQ("g4", "<iq type='get' id='g4'><vCard xmlns='vcard-temp'/></iq>")); fn(v) != "Alice <A>" {
		t.Fatalf("own get: %s", v)
	}
	if v := vCard(t, a.IQ("g5", "<iq type='get' id='g5' to='alice@localhost'><vCard xmlns='vcard-temp'/></iq>")); fn(v) != "Alice <A>" {
		t.Fatalf("own get to bare JID: %s", v)
	}
	r = b.IQ("g6", "<iq type='get' id='g6' to='alice@localhost'><vCard xmlns='vcard-temp'/></iq>")
	if v := vCard(t, r); fn(v) != "Alice <A>" || v.Child("N", vcard.NS).Child("GIVEN", vcard.NS).Text() != "Alice" || r.Attr("from") != "alice@localhost" {
		t.Fatalf("bob's get: %s", r)
	}

	// Setting someone else's vCard is forbidden and changes nothing.
	testutil.WantError(t, b.IQ("s2", "<iq type='set' id='s2' to='alice@localhost'><vCard xmlns='vcard-temp'><FN>Mallory</FN></vCard></iq>"), "forbidden")
	if v := vCard(t, b.IQ("g7", "<iq type='get' id='g7' to='alice@localhost'><vCard xmlns='vcard-temp'/></iq>")); fn(v) != "Alice <A>" {
		t.Fatalf("after forbidden set: %s", v)
	}
	// Too large, wrong element.
	testutil.WantError(t, a.IQ("s3", "<iq type='set' id='s3'><vCard xmlns='vcard-temp'><PHOTO><BINVAL>%s</BINVAL></PHOTO></vCard></iq>", strings.Repeat("A", vcard.MaxBytes)), "not-acceptable")
	testutil.WantError(t, a.IQ("s4", "<iq type='set' id='s4'><x xmlns='vcard-temp'/></iq>"), "bad-request")
	if v := vCard(t, a.IQ("g8", "<iq type='get' id='g8'><vCard xmlns='vcard-temp'/></iq>")); fn(v) != "Alice <A>" {
		t.Fatalf("after refused sets: %s", v)
	}

	// Replace, then check it survives a restart.
	if r := a.IQ("s5", "<iq type='set' id='s5' to='alice@localhost'><vCard xmlns='vcard-temp'><FN>Alice 2</FN></vCard></iq>"); r.Attr("type") != "result" {
		t.Fatalf("replace: %s", r)
	}
	a.Close()
	b.Close()
	s.Stop(t)
	s = testutil.StartIn(t, dir, testutil.BaseConfig(dir))
	b = testutil.Login(t, s, "bob", "b", "r2")
	if v := vCard(t, b.IQ("g9", "<iq type='get' id='g9' to='alice@localhost'><vCard xmlns='vcard-temp'/></iq>")); fn(v) != "Alice 2" || v.Child("N", vcard.NS) != nil {
		t.Fatalf("after restart: %s", v)
	}

	// An empty vCard clears it.
	a = testutil.Login(t, s, "alice", "a", "r2")
	if r := a.IQ("s6", "<iq type='set' id='s6'><vCard xmlns='vcard-temp'/></iq>"); r.Attr("type") != "result" {
		t.Fatalf("clear: %s", r)
	}
	if v := vCard(t, a.IQ("g10", "<iq type='get' id='g10'><vCard xmlns='vcard-temp'/></iq>")); v.FirstChild() != nil {
		t.Fatalf("after clear: %s", v)
	}
	testutil.WantError(t, b.IQ("g11", "<iq type='get' id='g11' to='alice@localhost'><vCard xmlns='vcard-temp'/></iq>"), "service-unavailable")
}
