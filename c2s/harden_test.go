package c2s_test

import (
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/testutil"
)

// plainListener starts a server whose STARTTLS listener does not require
// TLS (require_tls = false: behind a TLS-terminating proxy, a local bot).
func plainListener(t *testing.T, extra string) *testutil.Server {
	t.Helper()
	dir := t.TempDir()
	cfg := strings.Replace(testutil.BaseConfig(dir), `tls = "starttls"`, "tls = \"starttls\"\nrequire_tls = false", 1)
	return testutil.StartIn(t, dir, cfg+extra)
}

// TestPlainTCPLogin: on such a listener a client may log in without TLS
// with SCRAM (never PLAIN): after SASL and the stream restart the features
// offer bind (RFC 6120 §6.4.6, §7), not STARTTLS and SASL again, and the
// bound session exchanges messages.
func TestPlainTCPLogin(t *testing.T) {
	s := plainListener(t, "")
	s.AddUser(t, "alice", "pw")
	s.AddUser(t, "bob", "b")
	bob := testutil.Login(t, s, "bob", "b", "r")

	c := testutil.NewClient(t, testutil.Dial(t, s.StartTLS))
	f := c.Open("localhost")
	if m := mechanisms(f); has(m, "PLAIN") || !has(m, "SCRAM-SHA-256") {
		t.Fatalf("before TLS offered %v", m)
	}
	if r := c.AuthSCRAM("SCRAM-SHA-256", "alice", "pw", "", nil); !r.OK {
		t.Fatalf("SCRAM over plain TCP: %s", r.Condition)
	}
	f = c.Restart("localhost")
	if f.Child("bind", "urn:ietf:params:xml:ns:xmpp-bind") == nil {
		t.Fatalf("no bind after the restart: %s", f)
	}
	if f.Child("starttls", "urn:ietf:params:xml:ns:xmpp-tls") != nil || f.Child("mechanisms", "urn:ietf:params:xml:ns:xmpp-sasl") != nil {
		t.Fatalf("pre-authentication features after authentication: %s", f)
	}
	if j := c.Bind("bot"); j != "alice@localhost/bot" {
		t.Fatalf("bound %q", j)
	}
	c.Send("<message to='bob@localhost/r' type='chat' id='p1'><body>over plain TCP</body></message>")
	if m := bob.NextNamed("message"); m.Attr("from") != "alice@localhost/bot" || m.Child("body", "").Text() != "over plain TCP" {
		t.Fatalf("bob got %s", m)
	}
}

// plainLogin logs in over plain TCP with SCRAM (plainListener) and binds.
func plainLogin(t testing.TB, s *testutil.Server, user, pass, resource string) *testutil.Client {
	t.Helper()
	c := testutil.NewClient(t, testutil.Dial(t, s.StartTLS))
	c.Open("localhost")
	if r := c.AuthSCRAM("SCRAM-SHA-256", user, pass, "", nil); !r.OK {
		t.Fatalf("login %s: %s", user, r.Condition)
	}
	c.Restart("localhost")
	c.Bind(resource)
	return c
}

// TestStanzaTimeout: a stanza begun and not finished within
// [limits] stanza_timeout ends the stream with <policy-violation/> (RFC 6120
// §4.9.3.14), over TLS (the idle reader, also when the session would park
// meanwhile) and plain TCP; silence between stanzas longer than the bound
// does not, and a stanza sent in parts within it is handled.
func TestStanzaTimeout(t *testing.T) {
	cases := []struct {
		name  string
		plain bool
		extra string
	}{
		{"tls", false, ""},
		{"tls parking", false, "idle_after = \"100ms\"\n"},
		{"plain tcp", true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			extra := "\n[limits]\nstanza_timeout = \"1s\"\n" + tc.extra
			var s *testutil.Server
			if tc.plain {
				s = plainListener(t, extra)
			} else {
				s = testutil.Start(t, extra)
			}
			s.AddUser(t, "alice", "a")
			login := testutil.Login
			if tc.plain {
				login = plainLogin
			}
			c := login(t, s, "alice", "a", "r")
			ping := func(id string) {
				t.Helper()
				c.Send("<iq type='get' id='%s'><ping xmlns='urn:xmpp:ping'/></iq>", id)
				if r := c.NextNamed("iq"); r.Attr("id") != id || r.Attr("type") != "result" {
					t.Fatalf("ping %s: %s", id, r)
				}
			}
			ping("before")
			time.Sleep(1500 * time.Millisecond) // idle between stanzas, past the bound
			ping("after-idle")
			c.Send("<iq type='get' id='parts'><ping xmlns='urn:")
			time.Sleep(100 * time.Millisecond)
			c.Send("xmpp:ping'/></iq>")
			if r := c.NextNamed("iq"); r.Attr("id") != "parts" {
				t.Fatalf("stanza in parts: %s", r)
			}
			c.Send("<message to='alice@localhost/r' type='chat'><body>half of a mess")
			if got := c.ExpectStreamError(); got != "policy-violation" {
				t.Fatalf("half-sent stanza: stream error %q, want policy-violation", got)
			}
		})
	}
}
