package interop_test

import (
	"context"
	"net"
	"testing"

	"github.com/xmppd/xmppd/storage"
)

// TestSlixmppPEP: slixmpp's XEP-0084/XEP-0163 plugins against our PEP
// service. bob's client announces avatar metadata +notify in its caps;
// the server asks the client for them, and alice's publishes reach bob.
func TestSlixmppPEP(t *testing.T) {
	py := python(t, "slixmpp")
	s := aliceAndBob(t)
	rs := s.Accounts().(storage.Rosters)
	ctx := context.Background()
	for _, p := range [][2]string{{"alice", "bob"}, {"bob", "alice"}} {
		if _, err := rs.SetRosterItem(ctx, "localhost", p[0], storage.RosterItem{JID: p[1] + "@localhost", Subscription: "both"}); err != nil {
			t.Fatal(err)
		}
	}
	host, port, _ := net.SplitHostPort(s.StartTLS)
	out, err := execScript(t, py, "testdata/slixmpp_pep.py", host, port, "alice@localhost/a1", "alice-pw", "bob@localhost/b1", "bob-pw")
	expectLines(t, out,
		"OK login alice@localhost/a1 bob@localhost/b1",
		"OK alice published avatar",
		"OK bob notified of",
		"OK bob notified live of",
		"OK bob retrieved metadata",
		"OK bob retrieved avatar data",
		"PASS")
	if err != nil {
		t.Fatalf("slixmpp_pep.py: %v", err)
	}
}
