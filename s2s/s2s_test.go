package s2s_test

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/certs"
	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/s2s"
	"github.com/xmppd/xmppd/xml"
)

const pw = "password1"

// instance is the TOML of a server for domain with a c2s and an s2s
// listener on loopback; extra is appended.
func instance(dir, domain, extra string) string {
	return testutil.FederatedConfig(dir, domain, "starttls", extra)
}

const selfSigned = `
[s2s]
tls_verify = false
connect_timeout = "5s"
`

// pair starts a.test and b.test, each with a static route to the other's
// s2s listener, and an account on each.
func pair(t *testing.T, extraA, extraB string) (a, b *testutil.Server) {
	t.Helper()
	da, db := t.TempDir(), t.TempDir()
	a = testutil.StartIn(t, da, instance(da, "a.test", extraA))
	b = testutil.StartIn(t, db, instance(db, "b.test", extraB))
	a.S2S().SetRoute("b.test", s2s.Route{Address: b.S2SAddr})
	b.S2S().SetRoute("a.test", s2s.Route{Address: a.S2SAddr})
	a.AddUser(t, "alice@a.test", pw)
	b.AddUser(t, "bob@b.test", pw)
	return a, b
}

func online(t *testing.T, s *testutil.Server, user string) *testutil.Client {
	t.Helper()
	c := testutil.Login(t, s, user, pw, "res")
	c.Send("<presence/>")
	c.NextNamed("presence") // own presence reflected
	return c
}

// nextMessage skips presence until a message arrives.
func nextMessage(t *testing.T, c *testutil.Client) *xml.Element {
	t.Helper()
	return c.NextNamed("message")
}

func exchange(t *testing.T, a, b *testutil.Server) {
	t.Helper()
	alice := online(t, a, "alice@a.test")
	bob := online(t, b, "bob@b.test")
	alice.Send("<message to='bob@b.test' type='chat' id='m1'><body>hello from a</body></message>")
	m := nextMessage(t, bob)
	if m.Attr("from") != "alice@a.test/res" || m.Child("body", xml.NSClient).Text() != "hello from a" {
		t.Fatalf("bob got %s", m)
	}
	bob.Send("<message to='alice@a.test/res' type='chat' id='m2'><body>hello from b</body></message>")
	m = nextMessage(t, alice)
	if m.Attr("from") != "bob@b.test/res" || m.Child("body", xml.NSClient).Text() != "hello from b" {
		t.Fatalf("alice got %s", m)
	}
}

// Self-signed certificates with tls_verify = false: both directions
// authenticate with dialback (XEP-0220).
func TestMessagesBothWaysDialback(t *testing.T) {
	a, b := pair(t, selfSigned, selfSigned)
	exchange(t, a, b)
}

// Each server trusts the other's certificate (ca_file) and dialback is
// off: the streams can only have authenticated with SASL EXTERNAL.
func TestMessagesBothWaysSASLExternal(t *testing.T) {
	da, db := t.TempDir(), t.TempDir()
	// Make the self-signed certificates first, so each side can trust
	// the other's file.
	if _, err := certs.Load(da, []certs.HostCert{{Domain: "a.test"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := certs.Load(db, []certs.HostCert{{Domain: "b.test"}}); err != nil {
		t.Fatal(err)
	}
	conf := func(peerDir, peer string) string {
		return "\n[s2s]\ntls_verify = true\ndialback = false\nconnect_timeout = \"5s\"\nca_file = \"" + filepath.Join(peerDir, "certs", peer+".crt") + "\"\n"
	}
	a := testutil.StartIn(t, da, instance(da, "a.test", conf(db, "b.test")))
	b := testutil.StartIn(t, db, instance(db, "b.test", conf(da, "a.test")))
	a.S2S().SetRoute("b.test", s2s.Route{Address: b.S2SAddr})
	b.S2S().SetRoute("a.test", s2s.Route{Address: a.S2SAddr})
	a.AddUser(t, "alice@a.test", pw)
	b.AddUser(t, "bob@b.test", pw)
	exchange(t, a, b)
}

// tls_verify = true without trusting the peer's self-signed certificate:
// no stream is possible, and the message bounces.
func TestUntrustedPeerBounces(t *testing.T) {
	a, b := pair(t, "\n[s2s]\nconnect_timeout = \"5s\"\n", selfSigned)
	_ = b
	alice := online(t, a, "alice@a.test")
	alice.Send("<message to='bob@b.test' type='chat' id='m1'><body>hi</body></message>")
	m := nextMessage(t, alice)
	if m.Attr("type") != "error" || m.Attr("from") != "bob@b.test" || !strings.Contains(m.String(), "remote-server-not-found") {
		t.Fatalf("expected remote-server-not-found, got %s", m)
	}
}

func TestPresenceSubscriptionAcrossServers(t *testing.T) {
	a, b := pair(t, selfSigned, selfSigned)
	alice := online(t, a, "alice@a.test")
	bob := online(t, b, "bob@b.test")
	alice.Send("<presence to='bob@b.test' type='subscribe'/>")
	for {
		p := bob.NextNamed("presence")
		if p.Attr("type") == "subscribe" {
			if p.Attr("from") != "alice@a.test" {
				t.Fatalf("subscribe from %q", p.Attr("from"))
			}
			break
		}
	}
	bob.Send("<presence to='alice@a.test' type='subscribed'/>")
	gotSubscribed, gotAvailable := false, false
	for !gotSubscribed || !gotAvailable {
		el := alice.Next()
		if el.Name() != "presence" || !strings.HasPrefix(el.Attr("from"), "bob@b.test") {
			continue
		}
		switch el.Attr("type") {
		case "subscribed":
			gotSubscribed = true
		case "":
			// RFC 6121 §3.1.6: the contact's server sends its
			// available presence once the subscription is approved
			// (or ours probes for it).
			gotAvailable = el.Attr("from") == "bob@b.test/res"
		}
	}
	// Now bob's presence changes reach alice over the federation.
	bob.Send("<presence><show>away</show></presence>")
	for {
		el := alice.NextNamed("presence")
		if el.Attr("from") == "bob@b.test/res" && el.Child("show", xml.NSClient) != nil && el.Child("show", xml.NSClient).Text() == "away" {
			break
		}
	}
}

func TestUnknownRemoteDomainBounces(t *testing.T) {
	a, _ := pair(t, selfSigned, selfSigned)
	// A route to a closed port: the domain has no reachable server.
	a.S2S().SetRoute("closed.test", s2s.Route{Address: "127.0.0.1:1"})
	alice := online(t, a, "alice@a.test")
	for _, to := range []string{"nowhere.invalid", "closed.test"} {
		alice.Send("<iq to='%s' type='get' id='q1'><ping xmlns='urn:xmpp:ping'/></iq>", to)
		el := alice.NextNamed("iq")
		if el.Attr("type") != "error" || el.Attr("from") != to || el.Attr("id") != "q1" || !strings.Contains(el.String(), "remote-server-not-found") {
			t.Fatalf("iq to %s: expected remote-server-not-found, got %s", to, el)
		}
	}
}

// peer is a hand-made server for a.test talking to b.test's listener.
func peer(t *testing.T, b *testutil.Server, from string) *testutil.Client {
	t.Helper()
	c := testutil.NewClient(t, testutil.Dial(t, b.S2SAddr))
	open := func() *xml.Element {
		t.Helper()
		c.Send("<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' from='%s' to='b.test' version='1.0'>", from)
		return c.ReadHeaderAndFeatures()
	}
	f := open()
	if f.Child("starttls", "urn:ietf:params:xml:ns:xmpp-tls") == nil {
		t.Fatalf("no STARTTLS offered: %s", f)
	}
	c.Send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
	if el := c.Next(); el.Name() != "proceed" {
		t.Fatalf("starttls: %s", el)
	}
	tc := tls.Client(c.Conn, &tls.Config{ServerName: "b.test", InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	// A fresh client: a new decoder for the restarted stream.
	c = testutil.NewClient(t, tc)
	f = open()
	if f.Child("dialback", s2s.NSDialbackFeature) == nil {
		t.Fatalf("no dialback feature after TLS: %s", f)
	}
	return c
}

// dialbackAs sends db:result for a.test → b.test with key; it returns the
// answer's type.
func dialbackAs(t *testing.T, c *testutil.Client, key string) string {
	t.Helper()
	c.Send("<db:result from='a.test' to='b.test'>%s</db:result>", key)
	el := c.Next()
	if el.Name() != "result" || el.NS() != s2s.NSDialback {
		t.Fatalf("expected db:result, got %s", el)
	}
	return el.Attr("type")
}

func secretOf(t *testing.T, s *testutil.Server) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.DataDir, "dialback.key"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDialbackWrongKeyFails(t *testing.T) {
	_, b := pair(t, selfSigned, selfSigned)
	c := peer(t, b, "a.test")
	if typ := dialbackAs(t, c, strings.Repeat("ab", 32)); typ != "invalid" {
		t.Fatalf("wrong key: type %q, want invalid", typ)
	}
	// Nothing is authenticated: a stanza ends the stream.
	c.Send("<message from='alice@a.test' to='bob@b.test'><body>x</body></message>")
	if cond := c.ExpectStreamError(); cond != "not-authorized" {
		t.Fatalf("stream error %q, want not-authorized", cond)
	}
}

func TestInvalidFrom(t *testing.T) {
	a, b := pair(t, selfSigned, selfSigned)
	c := peer(t, b, "a.test")
	id := c.Header.Attr("id")
	// The right key: a.test's secret, as a.test itself would make it; b
	// checks it with a.test over a stream of its own.
	if typ := dialbackAs(t, c, s2s.DialbackKey(secretOf(t, a), "b.test", "a.test", id)); typ != "valid" {
		t.Fatalf("right key: type %q, want valid", typ)
	}
	c.Send("<message from='mallory@evil.test' to='bob@b.test'><body>x</body></message>")
	if cond := c.ExpectStreamError(); cond != "invalid-from" {
		t.Fatalf("stream error %q, want invalid-from", cond)
	}
}

func TestToUnservedDomain(t *testing.T) {
	a, b := pair(t, selfSigned, selfSigned)
	c := peer(t, b, "a.test")
	id := c.Header.Attr("id")
	if typ := dialbackAs(t, c, s2s.DialbackKey(secretOf(t, a), "b.test", "a.test", id)); typ != "valid" {
		t.Fatalf("type %q", typ)
	}
	c.Send("<message from='alice@a.test' to='carol@c.test'><body>x</body></message>")
	if cond := c.ExpectStreamError(); cond != "host-unknown" {
		t.Fatalf("stream error %q, want host-unknown", cond)
	}
}

func TestStreamToUnknownHost(t *testing.T) {
	_, b := pair(t, selfSigned, selfSigned)
	c := testutil.NewClient(t, testutil.Dial(t, b.S2SAddr))
	c.Send("<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' from='a.test' to='nope.test' version='1.0'>")
	if _, err := c.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	if cond := c.ExpectStreamError(); cond != "host-unknown" {
		t.Fatalf("stream error %q, want host-unknown", cond)
	}
}

// An outbound stream that carries nothing for idle_timeout is closed, and
// the next stanza opens a new one.
func TestIdleOutboundClosesAndReconnects(t *testing.T) {
	idle := "\n[s2s]\ntls_verify = false\nidle_timeout = \"1s\"\n"
	a, b := pair(t, idle, idle)
	alice := online(t, a, "alice@a.test")
	bob := online(t, b, "bob@b.test")
	for i := range 2 {
		alice.Send("<message to='bob@b.test' type='chat'><body>n%d</body></message>", i)
		if m := nextMessage(t, bob); m.Child("body", xml.NSClient).Text() != "n"+string(rune('0'+i)) {
			t.Fatalf("got %s", m)
		}
		if _, out := a.S2S().Streams(); out != 1 {
			t.Fatalf("a.test has %d outbound streams after a message, want 1", out)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			_, out := a.S2S().Streams()
			in, _ := b.S2S().Streams()
			if out == 0 && in == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("streams still open after idle_timeout: a.test out %d, b.test in %d", out, in)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// A server that accepts but never speaks: queued stanzas bounce with
// remote-server-timeout once connect_timeout passes (RFC 6120 §8.3.3.15).
func TestSilentPeerTimesOut(t *testing.T) {
	a, _ := pair(t, "\n[s2s]\ntls_verify = false\nconnect_timeout = \"1s\"\n", selfSigned)
	silent := testutil.Peer(t, "127.0.0.1:0", func(net.Conn) {})
	a.S2S().SetRoute("silent.test", s2s.Route{Address: silent})
	alice := online(t, a, "alice@a.test")
	start := time.Now()
	alice.Send("<iq to='silent.test' type='get' id='q1'><ping xmlns='urn:xmpp:ping'/></iq>")
	el := alice.NextNamed("iq")
	if el.Attr("type") != "error" || !strings.Contains(el.String(), "remote-server-timeout") {
		t.Fatalf("expected remote-server-timeout, got %s", el)
	}
	if d := time.Since(start); d < 900*time.Millisecond || d > 5*time.Second {
		t.Fatalf("bounced after %v, want about connect_timeout (1s)", d)
	}
}

// Errors are never answered with errors (RFC 6120 §8.3.1): an undeliverable
// error message vanishes, and the next bounce is the first thing back.
func TestErrorStanzaNotBounced(t *testing.T) {
	a, _ := pair(t, selfSigned, selfSigned)
	alice := online(t, a, "alice@a.test")
	alice.Send("<message to='x@nowhere.invalid' type='error' id='e1'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>")
	alice.Send("<iq to='nowhere.invalid' type='get' id='q2'><ping xmlns='urn:xmpp:ping'/></iq>")
	for {
		el := alice.Next()
		if el.Name() == "presence" {
			continue
		}
		if el.Name() != "iq" || el.Attr("id") != "q2" {
			t.Fatalf("first answer is %s, want the iq bounce", el)
		}
		return
	}
}

// The decoder's stanza size limit ([limits] max_stanza_bytes) applies to
// peers too.
func TestOversizedInboundStanza(t *testing.T) {
	// A small limit, so the whole stanza is in the socket before the
	// server answers: with the default 256 KiB the server's close could
	// break our own write (EPIPE) before the test reads the error.
	a, b := pair(t, selfSigned, "\n[limits]\nmax_stanza_bytes = 4096\n"+selfSigned)
	c := peer(t, b, "a.test")
	if typ := dialbackAs(t, c, s2s.DialbackKey(secretOf(t, a), "b.test", "a.test", c.Header.Attr("id"))); typ != "valid" {
		t.Fatalf("type %q", typ)
	}
	c.Send("<message from='alice@a.test' to='bob@b.test'><body>%s</body></message>", strings.Repeat("x", 8000))
	if cond := c.ExpectStreamError(); cond != "policy-violation" {
		t.Fatalf("stream error %q, want policy-violation", cond)
	}
}

// XEP-0368: b.test's listener speaks TLS from the first byte, and a.test's
// route says so; b.test reaches a.test with STARTTLS.
func TestDirectTLSRoute(t *testing.T) {
	da, db := t.TempDir(), t.TempDir()
	a := testutil.StartIn(t, da, instance(da, "a.test", selfSigned))
	b := testutil.StartIn(t, db, testutil.FederatedConfig(db, "b.test", "direct", selfSigned))
	a.S2S().SetRoute("b.test", s2s.Route{Address: b.S2SAddr, DirectTLS: true})
	b.S2S().SetRoute("a.test", s2s.Route{Address: a.S2SAddr})
	a.AddUser(t, "alice@a.test", pw)
	b.AddUser(t, "bob@b.test", pw)
	exchange(t, a, b)
}

// [limits] max_connections_per_ip applies to s2s listeners: a second
// stream from the same address is refused while the first is open.
func TestConnectionsPerIP(t *testing.T) {
	_, b := pair(t, selfSigned, "\n[limits]\nmax_connections_per_ip = 1\n"+selfSigned)
	first := testutil.NewClient(t, testutil.Dial(t, b.S2SAddr))
	first.Send("<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' from='a.test' to='b.test' version='1.0'>")
	first.ReadHeaderAndFeatures()
	second := testutil.Dial(t, b.S2SAddr)
	second.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := second.Read(make([]byte, 1))
	var ne net.Error
	if err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("second connection from one address: read %d bytes, %v; want it closed", n, err)
	}
}

// XEP-0220 §2.4 dialback errors (we announce <errors/>): a request for a
// domain we do not serve and one whose authoritative server cannot be
// reached are answered with type='error', and the stream stays usable.
func TestDialbackErrors(t *testing.T) {
	_, b := pair(t, selfSigned, selfSigned)
	c := peer(t, b, "a.test")
	for _, tc := range []struct{ from, to, cond string }{
		{"a.test", "nope.test", "item-not-found"},
		{"gone.invalid", "b.test", "remote-server-not-found"},
	} {
		c.Send("<db:result from='%s' to='%s'>%s</db:result>", tc.from, tc.to, strings.Repeat("ab", 32))
		el := c.Next()
		if el.Name() != "result" || el.Attr("type") != "error" || el.Attr("from") != tc.to || el.Attr("to") != tc.from ||
			el.Child("error", xml.NSServer) == nil || el.Child("error", xml.NSServer).Child(tc.cond, "urn:ietf:params:xml:ns:xmpp-stanzas") == nil {
			t.Fatalf("db:result %s→%s: got %s, want type='error' with %s", tc.from, tc.to, el, tc.cond)
		}
	}
	c.Send("<db:verify from='a.test' to='nope.test' id='x'>00</db:verify>")
	if el := c.Next(); el.Name() != "verify" || el.Attr("type") != "error" || el.Attr("id") != "x" {
		t.Fatalf("db:verify for a domain not ours: %s", el)
	}
}

func hasStatus(el *xml.Element, code string) bool {
	x := el.Child("x", "http://jabber.org/protocol/muc#user")
	if x == nil {
		return false
	}
	for c := range x.Children() {
		if c.Name() == "status" && c.Attr("code") == code {
			return true
		}
	}
	return false
}

// A user of b.test joins a room of a.test's MUC service and chats in it:
// the component domain conference.a.test federates like a host (its own
// outbound stream and dialback, XEP-0045 over s2s).
func TestRemoteUserInLocalRoom(t *testing.T) {
	a, b := pair(t, selfSigned, selfSigned)
	b.S2S().SetRoute("conference.a.test", s2s.Route{Address: a.S2SAddr})
	alice := online(t, a, "alice@a.test")
	bob := online(t, b, "bob@b.test")
	const room = "r@conference.a.test"

	alice.Send("<presence to='%s/alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>", room)
	for el := alice.NextNamed("presence"); !hasStatus(el, "110"); el = alice.NextNamed("presence") {
	}
	alice.Send("<iq type='set' id='cfg' to='%s'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'/></query></iq>", room)
	for el := alice.NextNamed("iq"); el.Attr("id") != "cfg"; el = alice.NextNamed("iq") {
	}

	bob.Send("<presence to='%s/bob'><x xmlns='http://jabber.org/protocol/muc'/></presence>", room)
	for {
		el := bob.Next()
		if el.Attr("type") == "error" {
			t.Fatalf("bob's join failed: %s", el)
		}
		if el.Name() == "presence" && el.Attr("from") == room+"/bob" && hasStatus(el, "110") {
			break
		}
	}
	bob.Send("<message to='%s' type='groupchat' id='g1'><body>hi room</body></message>", room)
	for {
		el := alice.Next()
		if el.Name() == "message" && el.Attr("type") == "groupchat" && el.Child("body", xml.NSClient) != nil {
			if el.Attr("from") != room+"/bob" || el.Child("body", xml.NSClient).Text() != "hi room" {
				t.Fatalf("alice got %s", el)
			}
			break
		}
	}
}
