package c2s_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/xml"
)

func mechanisms(f *xml.Element) []string {
	var out []string
	if m := f.Child("mechanisms", "urn:ietf:params:xml:ns:xmpp-sasl"); m != nil {
		for ch := range m.Children() {
			out = append(out, ch.Text())
		}
	}
	return out
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// tlsClient opens a direct-TLS (XEP-0368) connection.
func tlsClient(t *testing.T, s *testutil.Server, sni string, maxVersion uint16) *testutil.Client {
	t.Helper()
	raw := testutil.Dial(t, s.DirectTLS)
	tc := tls.Client(raw, &tls.Config{ServerName: sni, InsecureSkipVerify: true, NextProtos: []string{"xmpp-client"}, MinVersion: tls.VersionTLS12, MaxVersion: maxVersion})
	tc.SetDeadline(time.Now().Add(5 * time.Second))
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	tc.SetDeadline(time.Time{})
	st := tc.ConnectionState()
	c := testutil.NewClient(t, tc)
	c.TLS = &st
	return c
}

func TestLoginEveryMechanism(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", "secret pass")
	cases := []struct {
		mech, cb string
		direct   bool
		tls12    bool
	}{
		{"SCRAM-SHA-1", "", false, false},
		{"SCRAM-SHA-256", "", false, false},
		{"SCRAM-SHA-512", "", false, false},
		{"SCRAM-SHA-1-PLUS", "tls-exporter", false, false},
		{"SCRAM-SHA-256-PLUS", "tls-exporter", true, false},
		{"SCRAM-SHA-512-PLUS", "tls-exporter", false, false},
		{"SCRAM-SHA-256-PLUS", "tls-server-end-point", false, false},
		{"SCRAM-SHA-512-PLUS", "tls-server-end-point", true, true},
		{"PLAIN", "", false, false},
		{"PLAIN", "", true, false},
	}
	for _, tc := range cases {
		name := tc.mech + "/" + tc.cb
		if tc.direct {
			name += "/direct"
		}
		if tc.tls12 {
			name += "/tls1.2"
		}
		t.Run(name, func(t *testing.T) {
			var c *testutil.Client
			var f *xml.Element
			if tc.direct {
				maxv := uint16(0)
				if tc.tls12 {
					maxv = tls.VersionTLS12
				}
				c = tlsClient(t, s, "localhost", maxv)
				f = c.Open("localhost")
			} else {
				c = testutil.NewClient(t, testutil.Dial(t, s.StartTLS))
				c.Open("localhost")
				f = c.StartTLS("localhost")
			}
			if !has(mechanisms(f), tc.mech) {
				t.Fatalf("%s not offered: %v", tc.mech, mechanisms(f))
			}
			if tc.cb != "" {
				cbs := f.Child("sasl-channel-binding", "urn:xmpp:sasl-cb:0")
				if cbs == nil || !strings.Contains(cbs.String(), tc.cb) {
					t.Fatalf("channel binding %s not advertised (XEP-0440): %v", tc.cb, cbs)
				}
			}
			var r testutil.SASLResult
			if tc.mech == "PLAIN" {
				r = c.AuthPLAIN("alice", "secret pass")
			} else {
				r = c.AuthSCRAM(tc.mech, "alice", "secret pass", tc.cb, nil)
			}
			if !r.OK {
				t.Fatalf("auth failed: %s", r.Condition)
			}
			f = c.Restart("localhost")
			if f.Child("bind", "urn:ietf:params:xml:ns:xmpp-bind") == nil {
				t.Fatalf("no bind feature after auth: %s", f)
			}
			if j := c.Bind("res"); j != "alice@localhost/res" {
				t.Fatalf("bound %q", j)
			}
		})
	}
}

func TestAuthFailures(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", "right")
	login := func() *testutil.Client {
		c := testutil.NewClient(t, testutil.Dial(t, s.StartTLS))
		c.Open("localhost")
		c.StartTLS("localhost")
		return c
	}
	t.Run("wrong password", func(t *testing.T) {
		if r := login().AuthSCRAM("SCRAM-SHA-256", "alice", "wrong", "", nil); r.OK || r.Condition != "not-authorized" {
			t.Fatalf("got %+v", r)
		}
	})
	t.Run("unknown user answers alike", func(t *testing.T) {
		if r := login().AuthSCRAM("SCRAM-SHA-256", "nobody", "x", "", nil); r.OK || r.Condition != "not-authorized" {
			t.Fatalf("got %+v", r)
		}
		if r := login().AuthPLAIN("nobody", "x"); r.OK || r.Condition != "not-authorized" {
			t.Fatalf("PLAIN got %+v", r)
		}
	})
	t.Run("mismatched channel binding", func(t *testing.T) {
		for _, cb := range []string{"tls-exporter", "tls-server-end-point"} {
			r := login().AuthSCRAM("SCRAM-SHA-256-PLUS", "alice", "right", cb, bytes.Repeat([]byte{7}, 32))
			if r.OK {
				t.Fatalf("%s: forged channel binding accepted", cb)
			}
		}
	})
	t.Run("downgrade to non-PLUS detected", func(t *testing.T) {
		// The server offers -PLUS, so a client saying 'y' (it believes the
		// server cannot bind) has seen a stripped mechanism list: RFC 5802 §6.
		if r := login().AuthSCRAM("SCRAM-SHA-256", "alice", "right", "y", nil); r.OK {
			t.Fatal("'y' flag accepted while SCRAM-SHA-256-PLUS is offered")
		}
	})
	t.Run("unknown mechanism", func(t *testing.T) {
		c := login()
		c.Send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='X-NOPE'/>")
		if el := c.Next(); el.Name() != "failure" || el.FirstChild().Name() != "invalid-mechanism" {
			t.Fatalf("got %s", el)
		}
	})
	t.Run("no SASL before STARTTLS when required", func(t *testing.T) {
		c := testutil.NewClient(t, testutil.Dial(t, s.StartTLS))
		f := c.Open("localhost")
		if f.Child("starttls", "urn:ietf:params:xml:ns:xmpp-tls").Child("required", "") == nil {
			t.Fatalf("STARTTLS not required: %s", f)
		}
		if len(mechanisms(f)) != 0 {
			t.Fatalf("mechanisms offered before TLS: %v", mechanisms(f))
		}
		c.Send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGFsaWNlAHJpZ2h0</auth>")
		if el := c.Next(); el.Name() != "failure" || el.FirstChild().Name() != "encryption-required" {
			t.Fatalf("got %s", el)
		}
	})
}

func TestPlainNeverWithoutTLS(t *testing.T) {
	dir := t.TempDir()
	cfg := testutil.BaseConfig(dir) + "\n"
	cfg = strings.Replace(cfg, `tls = "starttls"`, "tls = \"starttls\"\nrequire_tls = false", 1)
	s := testutil.StartIn(t, dir, cfg)
	s.AddUser(t, "alice", "pw")
	c := testutil.NewClient(t, testutil.Dial(t, s.StartTLS))
	f := c.Open("localhost")
	m := mechanisms(f)
	if len(m) == 0 || has(m, "PLAIN") || has(m, "SCRAM-SHA-256-PLUS") {
		t.Fatalf("before TLS offered %v", m)
	}
	c.Send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGFsaWNlAHB3</auth>")
	if el := c.Next(); el.Name() != "failure" {
		t.Fatalf("PLAIN without TLS: %s", el)
	}
	if r := c.AuthSCRAM("SCRAM-SHA-1", "alice", "pw", "", nil); !r.OK {
		t.Fatalf("SCRAM without TLS (allowed by config) failed: %s", r.Condition)
	}
}

func TestMessageAndSpoofedFrom(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", "a")
	s.AddUser(t, "bob", "b")
	a := testutil.Login(t, s, "alice", "a", "phone")
	b := testutil.Login(t, s, "bob", "b", "laptop")
	b.Send("<presence/>")
	// RFC 6121 §4.2.2: the initial presence comes back to the sender too.
	if p := b.NextNamed("presence"); p.Attr("from") != "bob@localhost/laptop" {
		t.Fatalf("own presence: %s", p)
	}
	a.Send("<message to='bob@localhost/laptop' from='mallory@evil.example/x' type='chat' id='m1'><body>hi &amp; bye</body></message>")
	m := b.NextNamed("message")
	if m.Attr("from") != "alice@localhost/phone" {
		t.Fatalf("from not stamped: %s", m)
	}
	if m.Child("body", "").Text() != "hi & bye" {
		t.Fatalf("body: %s", m)
	}
	// Bare JID: the available resource gets it.
	a.Send("<message to='bob@localhost' type='chat' id='m2'><body>bare</body></message>")
	if m := b.NextNamed("message"); m.Attr("id") != "m2" {
		t.Fatalf("bare: %s", m)
	}
	// IQ between users, result back.
	a.Send("<iq to='bob@localhost/laptop' type='get' id='q1'><query xmlns='urn:example'/></iq>")
	iq := b.NextNamed("iq")
	if iq.Attr("from") != "alice@localhost/phone" {
		t.Fatalf("iq from: %s", iq)
	}
	b.Send("<iq to='alice@localhost/phone' type='result' id='q1'/>")
	if r := a.NextNamed("iq"); r.Attr("type") != "result" || r.Attr("from") != "bob@localhost/laptop" {
		t.Fatalf("iq result: %s", r)
	}
	// Directed presence.
	a.Send("<presence to='bob@localhost/laptop'><show>away</show></presence>")
	if p := b.NextNamed("presence"); p.Attr("from") != "alice@localhost/phone" {
		t.Fatalf("presence: %s", p)
	}
}

func TestBareJIDPriority(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", "a")
	s.AddUser(t, "bob", "b")
	a := testutil.Login(t, s, "alice", "a", "r")
	hi := testutil.Login(t, s, "bob", "b", "hi")
	lo := testutil.Login(t, s, "bob", "b", "lo")
	neg := testutil.Login(t, s, "bob", "b", "neg")
	hi.Send("<presence><priority>5</priority></presence>")
	lo.Send("<presence><priority>1</priority></presence>")
	neg.Send("<presence><priority>-1</priority></presence>")
	// Synchronize: a ping round trip on each session guarantees the
	// presence was processed.
	for _, c := range []*testutil.Client{hi, lo, neg} {
		c.Send("<iq type='get' id='sync'><ping xmlns='urn:xmpp:ping'/></iq>")
		c.NextNamed("iq")
	}
	a.Send("<message to='bob@localhost' type='chat' id='p1'><body>x</body></message>")
	if m := hi.NextNamed("message"); m.Attr("id") != "p1" {
		t.Fatalf("%s", m)
	}
	for _, c := range []*testutil.Client{lo, neg} {
		// Presence of the account's other resources may still be on its
		// way (their broadcasts race the sync pings above); only a
		// message before the ping result is wrong.
		c.Send("<iq type='get' id='sync2'><ping xmlns='urn:xmpp:ping'/></iq>")
		for el := c.Next(); el.Name() != "iq"; el = c.Next() {
			if el.Name() != "presence" {
				t.Fatalf("lower/negative priority resource got %s", el)
			}
		}
	}
	// No available resource at all and a XEP-0334 no-store hint, so the
	// offline module does not take it: service-unavailable.
	s.AddUser(t, "carol", "c")
	a.Send("<message to='carol@localhost' type='chat' id='p2'><body>x</body><no-store xmlns='urn:xmpp:hints'/></message>")
	if e := a.NextNamed("message"); e.Attr("type") != "error" || e.Child("error", "").Child("service-unavailable", "") == nil {
		t.Fatalf("%s", e)
	}
}

func stanzaError(t *testing.T, el *xml.Element) string {
	t.Helper()
	if el.Attr("type") != "error" {
		t.Fatalf("not an error: %s", el)
	}
	e := el.Child("error", "")
	if e == nil || e.FirstChild() == nil {
		t.Fatalf("no error condition: %s", el)
	}
	return e.FirstChild().Name()
}

func TestStanzaRules(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", "a")
	a := testutil.Login(t, s, "alice", "a", "r")
	cases := []struct {
		name, send, want string
	}{
		{"iq without id", "<iq type='get'><ping xmlns='urn:xmpp:ping'/></iq>", "bad-request"},
		{"iq bad type", "<iq type='fetch' id='1'><ping xmlns='urn:xmpp:ping'/></iq>", "bad-request"},
		{"iq two payloads", "<iq type='get' id='2'><a xmlns='urn:a'/><b xmlns='urn:b'/></iq>", "bad-request"},
		{"unknown namespace", "<iq type='get' id='3' to='localhost'><query xmlns='urn:unknown'/></iq>", "service-unavailable"},
		{"nonexistent user message", "<message to='ghost@localhost' type='chat' id='4'><body>x</body></message>", "service-unavailable"},
		{"nonexistent user iq", "<iq to='ghost@localhost' type='get' id='5'><query xmlns='urn:x'/></iq>", "service-unavailable"},
		{"remote domain", "<message to='bob@remote.example' type='chat' id='6'><body>x</body></message>", "remote-server-not-found"},
		{"malformed jid", "<message to='a@b@c/' id='7'><body>x</body></message>", "jid-malformed"},
		{"offline full jid iq", "<iq to='alice@localhost/gone' type='get' id='8'><query xmlns='urn:x'/></iq>", "service-unavailable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a.Send("%s", tc.send)
			if got := stanzaError(t, a.Next()); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
	t.Run("ping", func(t *testing.T) {
		a.Send("<iq type='get' id='p' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
		if r := a.Next(); r.Attr("type") != "result" || r.Attr("id") != "p" || r.Attr("from") != "localhost" {
			t.Fatalf("%s", r)
		}
	})
	t.Run("disco#info", func(t *testing.T) {
		a.Send("<iq type='get' id='d' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
		r := a.Next()
		q := r.Child("query", "http://jabber.org/protocol/disco#info")
		if r.Attr("type") != "result" || q == nil || !strings.Contains(r.String(), "urn:xmpp:ping") || q.Child("identity", "").Attr("category") != "server" {
			t.Fatalf("%s", r)
		}
	})
	t.Run("session establishment", func(t *testing.T) {
		a.Send("<iq type='set' id='s'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>")
		if r := a.Next(); r.Attr("type") != "result" || r.Attr("id") != "s" {
			t.Fatalf("%s", r)
		}
	})
}

func TestResourceConflict(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", "a")
	old := testutil.Login(t, s, "alice", "a", "same")
	newer := testutil.Login(t, s, "alice", "a", "same")
	if cond := old.ExpectStreamError(); cond != "conflict" {
		t.Fatalf("old session got %s", cond)
	}
	newer.Send("<iq type='get' id='x'><ping xmlns='urn:xmpp:ping'/></iq>")
	if r := newer.Next(); r.Attr("type") != "result" {
		t.Fatalf("%s", r)
	}
	if j := testutil.Login(t, s, "alice", "a", "").JID; !strings.HasPrefix(j, "alice@localhost/") || len(j) <= len("alice@localhost/") {
		t.Fatalf("server-generated resource: %q", j)
	}
}

// streamErr opens a raw connection, sends data and returns the stream error.
func streamErr(t *testing.T, addr, data string) string {
	t.Helper()
	c := testutil.NewClient(t, testutil.Dial(t, addr))
	c.Send("%s", data)
	if _, err := c.ReadHeader(); err != nil {
		t.Fatalf("no stream header before the error: %v", err)
	}
	return c.ExpectStreamError()
}

const hdr = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>"

func TestStreamErrors(t *testing.T) {
	s := testutil.Start(t, `
[limits]
max_stanza_bytes = 4096
`)
	s.AddUser(t, "alice", "a")
	// A bystander session that must keep working through all of this.
	bystander := testutil.Login(t, s, "alice", "a", "bystander")

	cases := []struct{ name, data, want string }{
		{"host-unknown", strings.Replace(hdr, "to='localhost'", "to='unknown.example'", 1), "host-unknown"},
		{"invalid-namespace stream", "<stream:stream xmlns='jabber:client' xmlns:stream='urn:wrong' to='localhost' version='1.0'>", "invalid-namespace"},
		{"invalid-namespace content", strings.Replace(hdr, "jabber:client", "jabber:wrong", 1), "invalid-namespace"},
		{"unsupported-version", strings.Replace(hdr, "to='localhost' version='1.0'", "to='localhost' version='2.0'", 1), "unsupported-version"},
		{"no version", strings.Replace(hdr, " to='localhost' version='1.0'", " to='localhost'", 1), "unsupported-version"},
		{"not-well-formed", hdr + "<message><body></message>", "not-well-formed"},
		{"restricted dtd", "<?xml version='1.0'?><!DOCTYPE foo [<!ENTITY x 'y'>]>" + hdr[len("<?xml version='1.0'?>"):], "restricted-xml"},
		{"restricted comment", hdr + "<!-- hi -->", "restricted-xml"},
		{"restricted pi", hdr + "<?foo bar?>", "restricted-xml"},
		{"restricted entity", hdr + "<message><body>&nbsp;</body></message>", "restricted-xml"},
		{"policy-violation size", hdr + "<message><body>" + strings.Repeat("x", 8000) + "</body></message>", "policy-violation"},
		{"bad-namespace-prefix", hdr + "<foo:message xmlns='jabber:client'/>", "bad-namespace-prefix"},
		{"not-authorized", hdr + "<message to='alice@localhost'><body>x</body></message>", "not-authorized"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := streamErr(t, s.StartTLS, tc.data); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
	t.Run("unsupported-stanza-type", func(t *testing.T) {
		c := testutil.Login(t, s, "alice", "a", "x")
		c.Send("<foo/>")
		if got := c.ExpectStreamError(); got != "unsupported-stanza-type" {
			t.Fatalf("got %s", got)
		}
	})
	t.Run("deep nesting", func(t *testing.T) {
		c := testutil.Login(t, s, "alice", "a", "deep")
		c.Send("%s", "<message>"+strings.Repeat("<a>", 200))
		if got := c.ExpectStreamError(); got != "policy-violation" {
			t.Fatalf("got %s", got)
		}
	})
	t.Run("many attributes", func(t *testing.T) {
		c := testutil.Login(t, s, "alice", "a", "attrs")
		var b strings.Builder
		for i := range 200 {
			b.WriteString(" a" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + string(rune('a'+i/26)) + "='1'")
		}
		c.Send("%s", "<message"+b.String()+"/>")
		if got := c.ExpectStreamError(); got != "policy-violation" {
			t.Fatalf("got %s", got)
		}
	})
	bystander.Send("<iq type='get' id='alive'><ping xmlns='urn:xmpp:ping'/></iq>")
	if r := bystander.Next(); r.Attr("id") != "alive" || r.Attr("type") != "result" {
		t.Fatalf("bystander: %s", r)
	}
}

func TestTimeoutsAndFloods(t *testing.T) {
	s := testutil.Start(t, `
[limits]
auth_timeout = "500ms"
handshake_timeout = "500ms"
max_connections_per_ip = 20
max_stanza_bytes = 16384
outbound_queue_bytes = 65536
`)
	s.AddUser(t, "alice", "a")
	s.AddUser(t, "bob", "b")
	t.Run("connection-timeout", func(t *testing.T) {
		c := testutil.NewClient(t, testutil.Dial(t, s.StartTLS))
		c.Open("localhost")
		if got := c.ExpectStreamError(); got != "connection-timeout" {
			t.Fatalf("got %s", got)
		}
	})
	t.Run("TLS handshake never finished", func(t *testing.T) {
		raw := testutil.Dial(t, s.DirectTLS)
		raw.SetReadDeadline(time.Now().Add(5 * time.Second))
		start := time.Now()
		if _, err := io.ReadAll(raw); err != nil {
			t.Fatalf("expected the server to close, got %v", err)
		}
		if time.Since(start) > 4*time.Second {
			t.Fatal("connection not closed by the handshake timeout")
		}
	})
	t.Run("connection flood", func(t *testing.T) {
		var conns []net.Conn
		refused := 0
		for range 40 {
			c, err := net.Dial("tcp", s.StartTLS)
			if err != nil {
				refused++
				continue
			}
			conns = append(conns, c)
		}
		// Refused connections are accepted then closed at once: reading
		// gives EOF without a stream header.
		for _, c := range conns {
			c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			buf := make([]byte, 1)
			if _, err := c.Read(buf); err == io.EOF {
				refused++
			}
			c.Close()
		}
		if refused < 15 {
			t.Fatalf("only %d of 40 connections refused with a limit of 20", refused)
		}
	})
	t.Run("slow consumer cut off", func(t *testing.T) {
		// The flood's connections count against the address until the
		// server has read their end: wait until a new one is answered
		// with a stream header instead of closed at once.
		waitFor(t, func() bool {
			c, err := net.Dial("tcp", s.StartTLS)
			if err != nil {
				return false
			}
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			io.WriteString(c, "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>")
			_, err = c.Read(make([]byte, 1))
			return err == nil
		})
		slow := testutil.Login(t, s, "bob", "b", "slow")
		slow.Send("<presence/>")
		slow.Send("<iq type='get' id='sync'><ping xmlns='urn:xmpp:ping'/></iq>")
		slow.NextNamed("iq")
		if tc, ok := slow.Conn.(*tls.Conn); ok {
			_ = tc // the client now stops reading
		}
		a := testutil.Login(t, s, "alice", "a", "sender")
		body := strings.Repeat("y", 2000)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10000; i++ {
				a.Conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
				if _, err := a.Conn.Write([]byte("<message type='headline' to='bob@localhost/slow'><body>" + body + "</body></message>")); err != nil {
					return
				}
			}
		}()
		wg.Wait()
		deadline := time.Now().Add(10 * time.Second)
		for s.Sessions() > 1 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if n := s.Sessions(); n != 1 {
			t.Fatalf("slow session not cut off: %d sessions", n)
		}
		a.Send("<iq type='get' id='alive'><ping xmlns='urn:xmpp:ping'/></iq>")
		if r := a.NextNamed("iq"); r.Attr("id") != "alive" {
			t.Fatalf("%s", r)
		}
	})
}

func TestDirectTLS(t *testing.T) {
	s := testutil.Start(t, "")
	for _, sni := range []string{"localhost", "example.test"} {
		c := tlsClient(t, s, sni, 0)
		if c.TLS.NegotiatedProtocol != "xmpp-client" {
			t.Fatalf("ALPN: %q", c.TLS.NegotiatedProtocol)
		}
		leaf := c.TLS.PeerCertificates[0]
		if err := leaf.VerifyHostname(sni); err != nil {
			t.Fatalf("SNI %s got certificate for %v: %v", sni, leaf.DNSNames, err)
		}
		c.Conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		c.Send("<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='%s' version='1.0'>", sni)
		buf := make([]byte, 5)
		if _, err := io.ReadFull(c.Conn, buf); err != nil || string(buf) != "<?xml" {
			t.Fatalf("reply begins %q (%v)", buf, err)
		}
	}
	// TLS 1.1 is refused.
	raw := testutil.Dial(t, s.DirectTLS)
	tc := tls.Client(raw, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11, MinVersion: tls.VersionTLS10})
	tc.SetDeadline(time.Now().Add(5 * time.Second))
	if err := tc.Handshake(); err == nil {
		t.Fatal("TLS 1.1 accepted")
	}
	_ = x509.ErrUnsupportedAlgorithm
}

func TestShutdownSendsSystemShutdown(t *testing.T) {
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", "a")
	a := testutil.Login(t, s, "alice", "a", "r")
	pending := testutil.NewClient(t, testutil.Dial(t, s.StartTLS))
	pending.Open("localhost")
	done := make(chan struct{})
	go func() { s.Stop(t); close(done) }()
	if got := a.ExpectStreamError(); got != "system-shutdown" {
		t.Fatalf("bound session got %s", got)
	}
	if got := pending.ExpectStreamError(); got != "system-shutdown" {
		t.Fatalf("unauthenticated stream got %s", got)
	}
	<-done
}
