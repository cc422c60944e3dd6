package ping_test

import (
	"strings"
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
	_ "github.com/xmppd/xmppd/modules/all"
)

// TestDisabledOnOneHost: with [[host]] disable_modules = ["ping"] on
// localhost only, a ping to localhost (or without 'to' from an account
// there) is answered as if no module handled it, service-unavailable
// (RFC 6120 §8.3.3.19), and localhost's disco#info leaves urn:xmpp:ping
// out, while example.test keeps answering and announcing it.
func TestDisabledOnOneHost(t *testing.T) {
	dir := t.TempDir()
	s := testutil.StartIn(t, dir, `
data_dir = "`+dir+`"

[[host]]
domain = "localhost"
disable_modules = ["ping"]

[[host]]
domain = "example.test"

[[listen]]
type = "c2s"
address = "127.0.0.1:0"
`)
	s.AddUser(t, "alice@localhost", "a")
	s.AddUser(t, "bob@example.test", "b")
	alice := testutil.Login(t, s, "alice@localhost", "a", "r")
	bob := testutil.Login(t, s, "bob@example.test", "b", "r")

	for _, tc := range []struct {
		c        *testutil.Client
		to, want string
	}{
		{alice, "localhost", "service-unavailable"},
		{alice, "", "service-unavailable"},
		{alice, "example.test", ""},
		{bob, "example.test", ""},
		{bob, "", ""},
		{bob, "localhost", "service-unavailable"},
	} {
		to := ""
		if tc.to != "" {
			to = " to='" + tc.to + "'"
		}
		tc.c.Send("<iq type='get' id='p'%s><ping xmlns='urn:xmpp:ping'/></iq>", to)
		r := tc.c.NextNamed("iq")
		switch {
		case tc.want == "" && r.Attr("type") != "result":
			t.Errorf("ping to %q: %s, want a result", tc.to, r)
		case tc.want != "" && (r.Attr("type") != "error" || testutil.ErrorCondition(r) != tc.want):
			t.Errorf("ping to %q: %s, want %s", tc.to, r, tc.want)
		}
	}
	for _, tc := range []struct {
		host string
		has  bool
	}{{"localhost", false}, {"example.test", true}} {
		alice.Send("<iq type='get' id='d' to='%s'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>", tc.host)
		r := alice.NextNamed("iq")
		if r.Attr("type") != "result" || !strings.Contains(r.String(), "disco#items") {
			t.Fatalf("disco#info of %s: %s", tc.host, r)
		}
		if got := strings.Contains(r.String(), "urn:xmpp:ping"); got != tc.has {
			t.Errorf("disco#info of %s announces ping: %v, want %v: %s", tc.host, got, tc.has, r)
		}
	}
}
