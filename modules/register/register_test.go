package register_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/modules/register"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/xml"
)

const pw = "correct horse"

// start runs a server whose "localhost" host has registration on and
// "example.test" off, with extra TOML appended.
func start(t *testing.T, extra string) *testutil.Server {
	t.Helper()
	dir := t.TempDir()
	base := testutil.BaseConfig(dir)
	on := strings.Replace(base, "domain = \"localhost\"\n", "domain = \"localhost\"\nregistration = true\n", 1)
	if on == base {
		t.Fatal("base configuration has no localhost host to switch registration on")
	}
	return testutil.StartIn(t, dir, on+extra)
}

// noThrottle lets one test register several accounts from 127.0.0.1.
const noThrottle = "\n[registration]\nmin_interval = \"0s\"\n"

// unauth opens a stream to domain over STARTTLS, without authenticating,
// and returns the client and the features offered under TLS.
func unauth(t *testing.T, s *testutil.Server, domain string) (*testutil.Client, *xml.Element) {
	t.Helper()
	c := testutil.NewClient(t, testutil.Dial(t, s.StartTLS))
	c.Open(domain)
	return c, c.StartTLS(domain)
}

func hasRegisterFeature(f *xml.Element) bool { return f.Child("register", register.NSFeature) != nil }

var idSeq atomic.Int64

// request sends an IQ and returns its answer, skipping anything else.
func request(t *testing.T, c *testutil.Client, typ, payload string) *xml.Element {
	t.Helper()
	id := fmt.Sprintf("q%d", idSeq.Add(1))
	c.Send("<iq type='%s' id='%s'>%s</iq>", typ, id, payload)
	for {
		el := c.NextNamed("iq")
		if el.Attr("id") == id {
			return el
		}
	}
}

func regSet(username, password string) string {
	return fmt.Sprintf("<query xmlns='jabber:iq:register'><username>%s</username><password>%s</password></query>", username, password)
}

// canLogin runs SCRAM on a fresh stream and reports whether it succeeded.
func canLogin(t *testing.T, s *testutil.Server, domain, user, pass string) bool {
	t.Helper()
	c, _ := unauth(t, s, domain)
	defer c.Close()
	return c.AuthSCRAM("SCRAM-SHA-256", user, pass, "", nil).OK
}

func TestRegistrationOff(t *testing.T) {
	s := testutil.Start(t, "") // no host has registration on
	c, f := unauth(t, s, "localhost")
	if hasRegisterFeature(f) {
		t.Errorf("registration feature offered with registration off: %s", f)
	}
	// XEP-0077 §3.1: a host without in-band registration answers the form
	// request with service-unavailable; a registration attempt is refused.
	if got := testutil.ErrorCondition(request(t, c, "get", "<query xmlns='jabber:iq:register'/>")); got != stanza.ServiceUnavailable {
		t.Errorf("get: condition %q, want %s", got, stanza.ServiceUnavailable)
	}
	if got := testutil.ErrorCondition(request(t, c, "set", regSet("mallory", pw))); got != stanza.NotAllowed {
		t.Errorf("set: condition %q, want %s", got, stanza.NotAllowed)
	}
	if s.HasUser(t, "mallory@localhost") {
		t.Error("account created with registration off")
	}
}

// TestOtherHostOff: registration on for localhost does not open it on
// example.test, the other vhost of the same server and listener.
func TestOtherHostOff(t *testing.T) {
	s := start(t, noThrottle)
	c, f := unauth(t, s, "example.test")
	if hasRegisterFeature(f) {
		t.Errorf("example.test offers registration: %s", f)
	}
	if got := testutil.ErrorCondition(request(t, c, "set", regSet("mallory", pw))); got != stanza.NotAllowed {
		t.Errorf("set on example.test: condition %q, want %s", got, stanza.NotAllowed)
	}
	if s.HasUser(t, "mallory@example.test") || s.HasUser(t, "mallory@localhost") {
		t.Error("account created on a host with registration off")
	}
	// The same request on localhost works.
	c2, f2 := unauth(t, s, "localhost")
	if !hasRegisterFeature(f2) {
		t.Errorf("localhost does not offer registration: %s", f2)
	}
	if r := request(t, c2, "set", regSet("mallory", pw)); r.Attr("type") != "result" {
		t.Fatalf("set on localhost: %s", r)
	}
	if !s.HasUser(t, "mallory@localhost") || s.HasUser(t, "mallory@example.test") {
		t.Error("account not created on localhost only")
	}
}

func TestRegisterThenLogin(t *testing.T) {
	s := start(t, noThrottle)

	// Before STARTTLS on a listener that requires TLS: neither offered
	// nor accepted (XEP-0077 §14: only over a secured channel).
	c := testutil.NewClient(t, testutil.Dial(t, s.StartTLS))
	if f := c.Open("localhost"); hasRegisterFeature(f) {
		t.Errorf("registration offered before TLS: %s", f)
	}
	c.Send("<iq type='get' id='g'><query xmlns='jabber:iq:register'/></iq>")
	if cond := c.ExpectStreamError(); cond != stanza.StreamNotAuthorized {
		t.Errorf("register before TLS: stream error %q, want not-authorized", cond)
	}

	c, f := unauth(t, s, "localhost")
	if !hasRegisterFeature(f) {
		t.Fatalf("no registration feature under TLS: %s", f)
	}
	r := request(t, c, "get", "<query xmlns='jabber:iq:register'/>")
	q := r.Child("query", register.NS)
	if r.Attr("type") != "result" || q == nil {
		t.Fatalf("form: %s", r)
	}
	for _, name := range []string{"instructions", "username", "password"} {
		if q.Child(name, register.NS) == nil {
			t.Errorf("form lacks <%s/>: %s", name, q)
		}
	}
	if q.Child("registered", register.NS) != nil {
		t.Errorf("unauthenticated entity told it is registered: %s", q)
	}

	// The username is normalized (PRECIS UsernameCaseMapped): "Juliet"
	// is juliet.
	if r := request(t, c, "set", regSet("Juliet", pw)); r.Attr("type") != "result" {
		t.Fatalf("register: %s", r)
	}
	if !s.HasUser(t, "juliet@localhost") {
		t.Fatal("account juliet@localhost not stored")
	}
	// Only SCRAM keys are stored, never the password.
	cred, err := s.Accounts().Credential(context.Background(), "localhost", "juliet", "SHA-256")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(cred.StoredKey)+string(cred.ServerKey)+string(cred.Salt), pw) || cred.Iterations < 4096 {
		t.Errorf("suspicious credential %+v", cred)
	}

	// §3.1.1: the same stream goes on to authenticate with the new account.
	if res := c.AuthSCRAM("SCRAM-SHA-256", "juliet", pw, "", nil); !res.OK {
		t.Fatalf("SCRAM on the registering stream: %s", res.Condition)
	}
	c.Restart("localhost")
	if j := c.Bind("balcony"); j != "juliet@localhost/balcony" {
		t.Errorf("bound %s", j)
	}
	// And a new connection logs in as usual.
	testutil.Login(t, s, "juliet", pw, "tomb").Close()
}

func TestRegisterErrors(t *testing.T) {
	s := start(t, noThrottle+"min_password_length = 6\n")
	s.AddUser(t, "romeo", pw)
	tests := []struct {
		name, payload, cond string
	}{
		{"conflict", regSet("romeo", "another pass"), stanza.Conflict},
		{"conflict after normalization", regSet("ROMEO", "another pass"), stanza.Conflict},
		{"missing password", "<query xmlns='jabber:iq:register'><username>tybalt</username></query>", stanza.NotAcceptable},
		{"empty password", regSet("tybalt", ""), stanza.NotAcceptable},
		{"missing username", "<query xmlns='jabber:iq:register'><password>secret123</password></query>", stanza.NotAcceptable},
		{"empty username", regSet("", "secret123"), stanza.NotAcceptable},
		{"username with @", regSet("ty@balt", "secret123"), stanza.NotAcceptable},
		{"username with space", regSet("ty balt", "secret123"), stanza.NotAcceptable},
		{"username too long", regSet(strings.Repeat("t", 1024), "secret123"), stanza.NotAcceptable},
		{"password too short", regSet("tybalt", "12345"), stanza.NotAcceptable},
		{"password with control character", regSet("tybalt", "secret&#x9;123"), stanza.NotAcceptable},
		{"remove before authenticating", "<query xmlns='jabber:iq:register'><remove/></query>", stanza.UnexpectedRequest},
	}
	c, _ := unauth(t, s, "localhost")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := request(t, c, "set", tt.payload)
			if got := testutil.ErrorCondition(r); got != tt.cond {
				t.Errorf("condition %q, want %s: %s", got, tt.cond, r)
			}
			// The request holds a password: it is not echoed back.
			if r.Child("query", register.NS) != nil {
				t.Errorf("error echoes the request: %s", r)
			}
		})
	}
	if s.HasUser(t, "tybalt@localhost") {
		t.Error("tybalt was created")
	}
	if !canLogin(t, s, "localhost", "romeo", pw) {
		t.Error("a conflicting registration changed romeo's password")
	}
	// The stream survived every refusal: a valid request still works.
	if r := request(t, c, "set", regSet("tybalt", "secret123")); r.Attr("type") != "result" {
		t.Errorf("valid registration after errors: %s", r)
	}
}

// TestTLSGate: the TLS requirement is the listener's. Direct TLS is secure
// from the start; a STARTTLS listener with require_tls = false lets
// registration happen in the clear, as it does SASL.
func TestTLSGate(t *testing.T) {
	dir := t.TempDir()
	cfg := fmt.Sprintf(`
data_dir = %q
[[host]]
domain = "localhost"
registration = true
[[listen]]
address = "127.0.0.1:0"
tls = "starttls"
require_tls = false
[[listen]]
address = "127.0.0.1:0"
tls = "direct"
[registration]
min_interval = "0s"
`, dir)
	s := testutil.StartIn(t, dir, cfg)

	raw := testutil.Dial(t, s.DirectTLS)
	tc := tls.Client(raw, &tls.Config{ServerName: "localhost", InsecureSkipVerify: true, NextProtos: []string{"xmpp-client"}, MinVersion: tls.VersionTLS12})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	d := testutil.NewClient(t, tc)
	if f := d.Open("localhost"); !hasRegisterFeature(f) {
		t.Errorf("direct TLS: no registration feature: %s", f)
	}
	if r := request(t, d, "set", regSet("direct", pw)); r.Attr("type") != "result" {
		t.Errorf("direct TLS registration: %s", r)
	}

	c := testutil.NewClient(t, testutil.Dial(t, s.StartTLS))
	f := c.Open("localhost")
	if f.Child("starttls", "urn:ietf:params:xml:ns:xmpp-tls") == nil || !hasRegisterFeature(f) {
		t.Errorf("optional TLS: want starttls and register offered: %s", f)
	}
	if r := request(t, c, "set", regSet("plain", pw)); r.Attr("type") != "result" {
		t.Errorf("registration without TLS where it is optional: %s", r)
	}
	if !s.HasUser(t, "direct@localhost") || !s.HasUser(t, "plain@localhost") {
		t.Error("accounts not created")
	}

	// §11 (security considerations): a password change travels in the
	// clear, so it is refused on a stream without TLS.
	if r := c.AuthSCRAM("SCRAM-SHA-256", "plain", pw, "", nil); !r.OK {
		t.Fatalf("login without TLS: %s", r.Condition)
	}
	c.Restart("localhost")
	c.Bind("r")
	if r := request(t, c, "set", regSet("plain", "another-password")); testutil.ErrorCondition(r) != stanza.NotAllowed {
		t.Errorf("password change without TLS: %s, want not-allowed", r)
	}
	if !canLogin(t, s, "localhost", "plain", pw) {
		t.Error("password changed over a stream without TLS")
	}
}

// TestPreAuthOtherStanzas: only registration is let through before SASL;
// RFC 6120 §6.4.1 still refuses everything else with not-authorized.
func TestPreAuthOtherStanzas(t *testing.T) {
	s := start(t, noThrottle)
	for _, tt := range []struct{ name, xml string }{
		{"roster get", "<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>"},
		{"ping", "<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>"},
		{"register result", "<iq type='result' id='x'><query xmlns='jabber:iq:register'/></iq>"},
		{"register to another host", "<iq type='get' id='o' to='example.test'><query xmlns='jabber:iq:register'/></iq>"},
		{"register to an account", "<iq type='get' id='a' to='romeo@localhost'><query xmlns='jabber:iq:register'/></iq>"},
		{"register with two payloads", "<iq type='get' id='t'><query xmlns='jabber:iq:register'/><query xmlns='jabber:iq:register'/></iq>"},
		{"message", "<message to='romeo@localhost'><body>hi</body></message>"},
		{"presence", "<presence/>"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := unauth(t, s, "localhost")
			c.Send("%s", tt.xml)
			if cond := c.ExpectStreamError(); cond != stanza.StreamNotAuthorized {
				t.Errorf("stream error %q, want not-authorized", cond)
			}
		})
	}
	// Addressed to our own domain explicitly is fine.
	c, _ := unauth(t, s, "localhost")
	c.Send("<iq type='get' id='d' to='localhost' from='evil@localhost'><query xmlns='jabber:iq:register'/></iq>")
	r := c.NextNamed("iq")
	if r.Attr("type") != "result" || r.Attr("from") != "localhost" || r.Attr("to") != "" {
		t.Errorf("get to='localhost': %s", r)
	}
}

func TestThrottle(t *testing.T) {
	const interval = 800 * time.Millisecond
	s := start(t, fmt.Sprintf("\n[registration]\nmin_interval = %q\n", interval))
	s.AddUser(t, "taken", pw)
	c, _ := unauth(t, s, "localhost")
	began := time.Now()
	if r := request(t, c, "set", regSet("first", pw)); r.Attr("type") != "result" {
		t.Fatalf("first registration: %s", r)
	}
	// The server took its time stamp before it answered.
	registered := time.Now()
	// A second account from the same address within the interval, on
	// another stream too, is refused with a wait-type error.
	c2, _ := unauth(t, s, "localhost")
	r := request(t, c2, "set", regSet("second", pw))
	if time.Since(began) >= interval {
		t.Skip("machine too slow to observe the throttle")
	}
	if testutil.ErrorCondition(r) != stanza.PolicyViolation || r.Child("error", "").Attr("type") != "wait" {
		t.Fatalf("second registration within %s: %s", interval, r)
	}
	if s.HasUser(t, "second@localhost") {
		t.Fatal("throttled account was created")
	}
	// The scenario: the address's interval between registrations passes.
	time.Sleep(interval - time.Since(registered) + 50*time.Millisecond)
	// A refused attempt (conflict) does not use up the address's turn.
	if got := testutil.ErrorCondition(request(t, c2, "set", regSet("taken", pw))); got != stanza.Conflict {
		t.Fatalf("conflict: %q", got)
	}
	if r := request(t, c2, "set", regSet("second", pw)); r.Attr("type") != "result" {
		t.Fatalf("registration after the interval: %s", r)
	}
	if !canLogin(t, s, "localhost", "second", pw) {
		t.Error("second cannot log in")
	}
}

func TestRegisteredAndPasswordChange(t *testing.T) {
	s := testutil.Start(t, "") // self-service works whatever the host's registration switch
	s.AddUser(t, "bill", pw)
	s.AddUser(t, "other", pw)
	c := testutil.Login(t, s, "bill", pw, "globe")

	r := request(t, c, "get", "<query xmlns='jabber:iq:register'/>")
	q := r.Child("query", register.NS)
	if r.Attr("type") != "result" || q == nil || q.Child("registered", register.NS) == nil {
		t.Fatalf("get when registered: %s", r)
	}
	if u := q.Child("username", register.NS); u == nil || u.Text() != "bill" {
		t.Errorf("username on file: %s", q)
	}
	if p := q.Child("password", register.NS); p != nil && p.Text() != "" {
		t.Errorf("password disclosed: %s", q)
	}

	refused := []struct{ name, payload, cond string }{
		{"empty password keeps the old one", regSet("bill", ""), stanza.BadRequest},
		{"no username", "<query xmlns='jabber:iq:register'><password>new password</password></query>", stanza.BadRequest},
		{"someone else's account", regSet("other", "new password"), stanza.NotAuthorized},
		{"too short", regSet("bill", "short"), stanza.NotAcceptable},
		{"remove with other children", "<query xmlns='jabber:iq:register'><remove/><username>bill</username></query>", stanza.BadRequest},
	}
	for _, tt := range refused {
		r := request(t, c, "set", tt.payload)
		if got := testutil.ErrorCondition(r); got != tt.cond {
			t.Errorf("%s: condition %q, want %s", tt.name, got, tt.cond)
		}
		if r.Child("query", register.NS) != nil {
			t.Errorf("%s: error echoes the password request", tt.name)
		}
	}
	if !canLogin(t, s, "localhost", "bill", pw) || !canLogin(t, s, "localhost", "other", pw) {
		t.Fatal("a refused change altered a password")
	}

	// §3.3, with the username as a localpart; then as a data form with
	// the bare JID, as §3.3's form example sends it.
	if r := request(t, c, "set", regSet("bill", "groundlings")); r.Attr("type") != "result" {
		t.Fatalf("password change: %s", r)
	}
	if canLogin(t, s, "localhost", "bill", pw) {
		t.Error("old password still works")
	}
	if !canLogin(t, s, "localhost", "bill", "groundlings") {
		t.Error("new password does not work")
	}
	form := `<query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'>
<field type='hidden' var='FORM_TYPE'><value>jabber:iq:register:changepassword</value></field>
<field var='username'><value>bill@localhost</value></field>
<field var='password'><value>theglobe!</value></field></x></query>`
	if r := request(t, c, "set", form); r.Attr("type") != "result" {
		t.Fatalf("password change by form: %s", r)
	}
	if !canLogin(t, s, "localhost", "bill", "theglobe!") || canLogin(t, s, "localhost", "bill", "groundlings") {
		t.Error("form password change not in effect")
	}
}

// online logs in, fetches the roster (to receive pushes) and sends initial
// presence.
func online(t *testing.T, s *testutil.Server, user, res string) *testutil.Client {
	t.Helper()
	c := testutil.Login(t, s, user, pw, res)
	request(t, c, "get", "<query xmlns='jabber:iq:roster'/>")
	c.Send("<presence/>")
	return c
}

// expectPresence reads until presence of type typ from 'from' arrives.
func expectPresence(t *testing.T, c *testutil.Client, from, typ string) {
	t.Helper()
	for {
		el := c.Next()
		if el.Name() == "presence" && el.Attr("from") == from && el.Attr("type") == typ {
			return
		}
	}
}

func setItem(t *testing.T, s *testutil.Server, user string, it storage.RosterItem) {
	t.Helper()
	if _, err := s.Accounts().(storage.Rosters).SetRosterItem(context.Background(), "localhost", user, it); err != nil {
		t.Fatal(err)
	}
}

func subscription(t *testing.T, s *testutil.Server, user, contact string) storage.RosterItem {
	t.Helper()
	items, _, err := s.Accounts().(storage.Rosters).Roster(context.Background(), "localhost", user)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if it.JID == contact {
			return it
		}
	}
	t.Fatalf("%s has no item %s", user, contact)
	return storage.RosterItem{}
}

func TestRemoveAccount(t *testing.T) {
	s := testutil.Start(t, "")
	for _, u := range []string{"alice", "bob", "carol"} {
		s.AddUser(t, u, pw)
	}
	// alice and bob: mutual subscription; alice is subscribed to carol.
	setItem(t, s, "alice", storage.RosterItem{JID: "bob@localhost", Subscription: "both"})
	setItem(t, s, "bob", storage.RosterItem{JID: "alice@localhost", Subscription: "both"})
	setItem(t, s, "alice", storage.RosterItem{JID: "carol@localhost", Subscription: "to"})
	setItem(t, s, "carol", storage.RosterItem{JID: "alice@localhost", Subscription: "from"})

	bob := online(t, s, "bob", "home")
	carol := online(t, s, "carol", "home")
	pc := online(t, s, "alice", "pc")
	phone := online(t, s, "alice", "phone")
	expectPresence(t, bob, "alice@localhost/phone", "")

	pc.Send("<iq type='set' id='unreg1'><query xmlns='jabber:iq:register'><remove/></query></iq>")
	// §3.2: the result first, then not-authorized closes the stream.
	// (The IM module's roster pushes for alice's own cancellations may
	// come first.)
	r := pc.NextNamed("iq")
	for r.Attr("id") != "unreg1" && r.Child("query", "jabber:iq:roster") != nil {
		r = pc.NextNamed("iq")
	}
	if r.Attr("id") != "unreg1" || r.Attr("type") != "result" {
		t.Fatalf("remove: %s", r)
	}
	if cond := pc.ExpectStreamError(); cond != stanza.StreamNotAuthorized {
		t.Errorf("requesting session: stream error %q, want not-authorized", cond)
	}
	if cond := phone.ExpectStreamError(); cond != stanza.StreamNotAuthorized {
		t.Errorf("other session: stream error %q, want not-authorized", cond)
	}

	// RFC 6121 §3.2 / §3.3 as if alice had cancelled each subscription.
	expectPresence(t, bob, "alice@localhost", "unsubscribed")
	expectPresence(t, bob, "alice@localhost", "unsubscribe")
	expectPresence(t, carol, "alice@localhost", "unsubscribe")
	if it := subscription(t, s, "bob", "alice@localhost"); it.Subscription != "none" {
		t.Errorf("bob's item for alice: %+v", it)
	}
	if it := subscription(t, s, "carol", "alice@localhost"); it.Subscription != "none" {
		t.Errorf("carol's item for alice: %+v", it)
	}

	if s.HasUser(t, "alice@localhost") {
		t.Error("account still exists")
	}
	if canLogin(t, s, "localhost", "alice", pw) {
		t.Error("removed account can log in")
	}
	items, _, err := s.Accounts().(storage.Rosters).Roster(context.Background(), "localhost", "alice")
	if err == nil && len(items) > 0 {
		t.Errorf("removed account's roster survived: %+v", items)
	}
}

func TestDiscoFeature(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "dora", pw)
	c := testutil.Login(t, s, "dora", pw, "x")
	c.Send("<iq type='get' id='disco' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	r := c.NextNamed("iq")
	q := r.Child("query", "http://jabber.org/protocol/disco#info")
	if q == nil {
		t.Fatalf("disco: %s", r)
	}
	for f := range q.Children() {
		if f.Name() == "feature" && f.Attr("var") == register.NS {
			return
		}
	}
	t.Errorf("disco#info lacks %s: %s", register.NS, q)
}
