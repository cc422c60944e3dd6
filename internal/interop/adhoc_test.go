package interop_test

import (
	"net"
	"strings"
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
)

// TestSlixmppAdhoc: slixmpp's XEP-0050 workflow and XEP-0133 plugin, as
// the host's admin, list the commands, add an account through add-user's
// two stages, count the registered users and list the online ones; the
// account it added then logs in.
func TestSlixmppAdhoc(t *testing.T) {
	py := python(t, "slixmpp")
	dir := t.TempDir()
	cfg := strings.Replace(testutil.BaseConfig(dir), "domain = \"localhost\"\n", "domain = \"localhost\"\nadmins = [\"root@localhost\"]\n", 1)
	s := testutil.StartIn(t, dir, cfg)
	s.AddUser(t, "root", "root-pw")
	s.AddUser(t, "alice", "alice-pw")
	host, port, _ := net.SplitHostPort(s.StartTLS)
	out, err := execScript(t, py, "testdata/slixmpp_adhoc.py", host, port, "root@localhost/slix", "root-pw", "carol@localhost", "carol-pw")
	expectLines(t, out,
		"OK login root@localhost/slix",
		"OK commands 12", // XEP-0133's nine, XEP-0401's two and "FAST tokens" (every account's)
		"OK add-user completed",
		"OK registered users 3",
		"OK online root@localhost",
		"PASS")
	if err != nil {
		t.Fatalf("slixmpp_adhoc.py: %v", err)
	}
	testutil.Login(t, s, "carol", "carol-pw", "r").Close()
}
