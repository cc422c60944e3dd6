package interop_test

import (
	"net"
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
)

// TestSlixmppComponent runs testdata/slixmpp_component.py: slixmpp's
// ComponentXMPP (a real XEP-0114 implementation) connects with its secret
// and serves gw.localhost; a slixmpp client finds it in disco#items, reads
// its disco#info and gets its echo of a chat message.
func TestSlixmppComponent(t *testing.T) {
	py := python(t, "slixmpp")
	s := testutil.Start(t, `
[[listen]]
type = "component"
address = "127.0.0.1:0"

[[component]]
domain = "gw.localhost"
secret = "component-secret"
`)
	s.AddUser(t, "alice", "alice-pw")
	host, c2sPort, _ := net.SplitHostPort(s.StartTLS)
	_, compPort, _ := net.SplitHostPort(s.Component)
	out, err := execScript(t, py, "testdata/slixmpp_component.py", host, c2sPort, compPort,
		"gw.localhost", "component-secret", "alice@localhost/slix", "alice-pw")
	expectLines(t, out, "OK component connected as gw.localhost", "OK client logged in alice@localhost/slix",
		"OK server lists gw.localhost", "OK component disco#info gateway/test", "OK echo from echo@gw.localhost", "PASS")
	if err != nil {
		t.Fatalf("slixmpp_component.py: %v", err)
	}
}
