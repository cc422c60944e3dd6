package c2s_test

import (
	"strings"
	"testing"

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
