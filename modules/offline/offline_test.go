package offline_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/modules/offline"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/xml"
)

const pw = "secret"

func bodies(msgs []*xml.Element) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.Child("body", xml.NSClient).Text())
	}
	return out
}

// checkDelay checks the XEP-0203 stamp of a delivered offline message.
func checkDelay(t *testing.T, m *xml.Element, notBefore time.Time) {
	t.Helper()
	d := m.Child("delay", offline.NSDelay)
	if d == nil {
		t.Fatalf("no delay in %s", m)
	}
	if d.Attr("from") != "localhost" {
		t.Errorf("delay from = %q", d.Attr("from"))
	}
	ts, err := time.Parse(time.RFC3339, d.Attr("stamp"))
	if err != nil {
		t.Fatalf("stamp %q: %v", d.Attr("stamp"), err)
	}
	if ts.Before(notBefore.Add(-time.Second)) || ts.After(time.Now().Add(time.Second)) {
		t.Errorf("stamp %v not between %v and now", ts, notBefore)
	}
}

func setup(t *testing.T, extra ...string) (*testutil.Server, *testutil.Client) {
	t.Helper()
	s := testutil.Start(t, strings.Join(extra, ""))
	s.AddUser(t, "alice", pw)
	s.AddUser(t, "bob", pw)
	bob := testutil.Login(t, s, "bob", pw, "phone")
	return s, bob
}

func TestStoreAndDeliverInOrder(t *testing.T) {
	s, bob := setup(t)
	start := time.Now()
	for i := range 3 {
		bob.Send("<message to='alice@localhost' type='chat' id='m%d'><body>hello %d</body></message>", i, i)
	}
	// A chat message to an offline full JID is treated as to the bare JID
	// (RFC 6121 §8.5.3.2.1; a normal one would bounce).
	bob.Send("<message to='alice@localhost/gone' type='chat' id='m3'><body>hello 3</body></message>")
	if got := bob.Sync(); len(got) != 0 {
		t.Fatalf("bob got %v", got)
	}

	alice := testutil.Login(t, s, "alice", pw, "laptop")
	if got := alice.Sync(); len(got) != 0 {
		t.Fatalf("delivered before presence: %v", got)
	}
	alice.Send("<presence/>")
	msgs := alice.Sync()
	if got, want := strings.Join(bodies(msgs), ","), "hello 0,hello 1,hello 2,hello 3"; got != want {
		t.Fatalf("bodies %q, want %q", got, want)
	}
	for i, m := range msgs {
		checkDelay(t, m, start)
		if m.Attr("from") != "bob@localhost/phone" || m.Attr("id") != fmt.Sprintf("m%d", i) {
			t.Errorf("message %d: %s", i, m)
		}
	}
	if msgs[0].Attr("type") != "chat" || msgs[3].Attr("to") != "alice@localhost/gone" {
		t.Errorf("attributes not kept: %s / %s", msgs[0], msgs[3])
	}

	// A presence update is not initial presence: nothing again; and a
	// second session finds storage empty.
	alice.Send("<presence><show>away</show></presence>")
	if got := alice.Sync(); len(got) != 0 {
		t.Fatalf("second delivery: %v", got)
	}
	alice2 := testutil.Login(t, s, "alice", pw, "desktop")
	alice2.Send("<presence/>")
	if got := alice2.Sync(); len(got) != 0 {
		t.Fatalf("messages not deleted: %v", got)
	}

	// Online now: delivered directly, without delay.
	bob.Send("<message to='alice@localhost/laptop' type='chat'><body>live</body></message>")
	bob.Sync()
	got := alice.Sync()
	if len(got) != 1 || got[0].Child("delay", offline.NSDelay) != nil {
		t.Fatalf("live message: %v", got)
	}
}

func TestNegativePriority(t *testing.T) {
	s, bob := setup(t)
	alice := testutil.Login(t, s, "alice", pw, "bot")
	alice.Send("<presence><priority>-1</priority></presence>")
	alice.Sync()
	bob.Send("<message to='alice@localhost' type='chat'><body>stored</body></message>")
	if got := bob.Sync(); len(got) != 0 {
		t.Fatalf("bob got %v", got)
	}
	if got := alice.Sync(); len(got) != 0 {
		t.Fatalf("negative-priority session got %v", got)
	}
	// Non-negative available presence from that session: now it gets it
	// (XEP-0160 §3).
	alice.Send("<presence><priority>0</priority></presence>")
	got := alice.Sync()
	if len(got) != 1 || bodies(got)[0] != "stored" {
		t.Fatalf("got %v", got)
	}
}

func TestUnavailableThenAvailableAgain(t *testing.T) {
	s, bob := setup(t)
	alice := testutil.Login(t, s, "alice", pw, "laptop")
	alice.Send("<presence/>")
	alice.Sync()
	alice.Send("<presence type='unavailable'/>")
	alice.Sync()
	bob.Send("<message to='alice@localhost'><body>while away</body></message>")
	bob.Sync()
	alice.Send("<presence/>")
	got := alice.Sync()
	if len(got) != 1 || bodies(got)[0] != "while away" {
		t.Fatalf("got %v", got)
	}
}

func TestPersistsAcrossRestart(t *testing.T) {
	s, bob := setup(t)
	bob.Send("<message to='alice@localhost' type='chat'><body>before restart</body></message>")
	bob.Sync()
	bob.Close()
	s.Stop(t)

	s2 := testutil.StartIn(t, s.DataDir, testutil.BaseConfig(s.DataDir))
	alice := testutil.Login(t, s2, "alice", pw, "laptop")
	alice.Send("<presence/>")
	got := alice.Sync()
	if len(got) != 1 || bodies(got)[0] != "before restart" {
		t.Fatalf("got %v", got)
	}
}

func TestLimit(t *testing.T) {
	s, bob := setup(t, "[offline]\nmax_messages = 2\n")
	for i := range 3 {
		bob.Send("<message to='alice@localhost' id='l%d'><body>%d</body></message>", i, i)
	}
	got := bob.Sync()
	if len(got) != 1 || got[0].Attr("type") != "error" || got[0].Attr("id") != "l2" || testutil.ErrorCondition(got[0]) != stanza.ServiceUnavailable {
		t.Fatalf("bob got %v, want service-unavailable for l2", got)
	}
	alice := testutil.Login(t, s, "alice", pw, "laptop")
	alice.Send("<presence/>")
	if got := strings.Join(bodies(alice.Sync()), ","); got != "0,1" {
		t.Fatalf("alice got %q", got)
	}
}

func TestWhatIsStored(t *testing.T) {
	s, bob := setup(t)
	// XEP-0334 no-store with a body: not stored, so bounced (RFC 6121 §8.5.2.2.1).
	bob.Send("<message to='alice@localhost' id='ns'><body>no-store</body><no-store xmlns='urn:xmpp:hints'/></message>")
	got := bob.Sync()
	if len(got) != 1 || got[0].Attr("id") != "ns" || testutil.ErrorCondition(got[0]) != stanza.ServiceUnavailable {
		t.Fatalf("no-store: bob got %v", got)
	}
	// No body (a chat state): silently dropped.
	bob.Send("<message to='alice@localhost' type='chat' id='cs'><active xmlns='http://jabber.org/protocol/chatstates'/></message>")
	// Error and headline messages: never stored (RFC 6121 §8.5.2.2.1).
	bob.Send("<message to='alice@localhost' type='error' id='er'><body>error</body><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>")
	bob.Send("<message to='alice@localhost' type='headline' id='hl'><body>headline</body></message>")
	// A store hint stores even without a body.
	bob.Send("<message to='alice@localhost' id='st'><store xmlns='urn:xmpp:hints'/><x xmlns='urn:example'>data</x></message>")
	bob.Send("<message to='alice@localhost' id='ok'><body>kept</body></message>")
	if got := bob.Sync(); len(got) != 0 {
		t.Fatalf("bob got %v", got)
	}
	alice := testutil.Login(t, s, "alice", pw, "laptop")
	alice.Send("<presence/>")
	got = alice.Sync()
	var ids []string
	for _, m := range got {
		ids = append(ids, m.Attr("id"))
	}
	if strings.Join(ids, ",") != "st,ok" {
		t.Fatalf("stored %v", got)
	}
	if x := got[0].Child("x", "urn:example"); x == nil || x.Text() != "data" {
		t.Errorf("payload lost: %s", got[0])
	}
}

func TestDiscoFeature(t *testing.T) {
	_, bob := setup(t)
	bob.Send("<iq type='get' id='d1' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	r := bob.NextNamed("iq")
	q := r.Child("query", "http://jabber.org/protocol/disco#info")
	if q == nil {
		t.Fatalf("disco: %s", r)
	}
	for f := range q.Children() {
		if f.Name() == "feature" && f.Attr("var") == offline.Feature {
			return
		}
	}
	t.Fatalf("no %s feature in %s", offline.Feature, r)
}
