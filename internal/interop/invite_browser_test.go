package interop_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/testutil"
)

// TestChromiumInvite: alice makes an invite with the XEP-0401 ad-hoc
// command; Chromium opens its link on a server with registration off,
// sees the host and the xmpp: link, is refused two different passwords on
// the page, and creates the account; it then logs in over XMPP with
// alice in its roster (subscription both).
func TestChromiumInvite(t *testing.T) {
	dir, s := webServer(t)
	s.AddUser(t, "alice", "alice-pw")
	alice := testutil.Login(t, s, "alice", "alice-pw", "pc")
	alice.Send("<iq type='set' id='inv' to='localhost'><command xmlns='http://jabber.org/protocol/commands' node='urn:xmpp:invite#invite' action='execute'/></iq>")
	r := untilID(alice, "inv")
	m := regexp.MustCompile(`<value>(https://localhost:\d+/invite/[0-9a-f]{32})</value>`).FindStringSubmatch(r.String())
	if m == nil {
		t.Fatalf("no landing-url in %s", r)
	}
	runNode(t, 90*time.Second, dir, "invite_page.mjs", m[1], "Carol", "carol-password").pass(t,
		"OK page status 200",
		"OK heading You are invited to localhost",
		"OK app link xmpp:alice@localhost?roster;",
		"OK mismatch refused: The two passwords differ.",
		"OK username kept Carol",
		"OK done: Your account carol@localhost is ready. Log in with it in your XMPP app.",
		"PASS")
	carol := testutil.Login(t, s, "carol", "carol-password", "r")
	carol.Send("<iq type='get' id='ro'><query xmlns='jabber:iq:roster'/></iq>")
	if r := untilID(carol, "ro"); !strings.Contains(r.String(), "jid='alice@localhost'") || !strings.Contains(r.String(), "subscription='both'") {
		t.Fatalf("carol's roster: %s", r)
	}
}
