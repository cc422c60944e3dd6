package interop_test

import (
	"net"
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
)

// TestSlixmppInvite: XEP-0401 with slixmpp on a server whose hosts all
// have registration off: alice makes an invite with the ad-hoc command; a
// new client sees the urn:xmpp:invite feature, presents the token,
// registers in-band and logs in; both rosters show subscription both; the
// token is refused the second time.
func TestSlixmppInvite(t *testing.T) {
	py := python(t, "slixmpp")
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", "alice-pw")
	host, port, _ := net.SplitHostPort(s.StartTLS)
	out, err := execScript(t, py, "testdata/slixmpp_invite.py", host, port, "alice@localhost/slix", "alice-pw", "bob@localhost/slix", "bob-password")
	expectLines(t, out,
		"OK login alice@localhost/slix",
		"OK invite uri",
		"OK feature urn:xmpp:invite",
		"OK preauth accepted",
		"OK registered bob@localhost",
		"OK login bob@localhost/slix",
		"OK new roster alice@localhost both",
		"OK inviter roster bob@localhost both",
		"OK reuse forbidden",
		"PASS")
	if err != nil {
		t.Fatalf("slixmpp_invite.py: %v", err)
	}
	testutil.Login(t, s, "bob", "bob-password", "r").Close()
}
