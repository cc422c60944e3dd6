package interop_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/testutil"
)

// TestAdminWebChromium: in Chromium (no script: the pages need none), the
// host's admin logs in to the admin pages over HTTPS, sees a TCP client's
// session and ends it with its button; the client's stream ends with
// <policy-violation/>.
func TestAdminWebChromium(t *testing.T) {
	dir := webClients(t)
	data := t.TempDir()
	s := testutil.StartIn(t, data, fmt.Sprintf(`
data_dir = %q

[[host]]
domain = "localhost"
admins = ["admin@localhost"]

[[listen]]
type = "c2s"
address = "127.0.0.1:0"
tls = "starttls"

[[listen]]
type = "http"
address = "127.0.0.1:0"
tls = "direct"

[admin]
web = true
`, data))
	s.AddUser(t, "admin@localhost", "admin-pw")
	s.AddUser(t, "alice@localhost", "alice-pw")
	alice := testutil.Login(t, s, "alice", "alice-pw", "laptop")

	// Chromium takes longer to start than the client waits for a read:
	// the script's end first.
	runNode(t, 90*time.Second, dir, "adminweb.mjs", "https://"+s.HTTP, "admin@localhost", "admin-pw", "alice@localhost/laptop").pass(t,
		"OK logged in as admin@localhost", "OK session cookie HttpOnly, Secure, SameSite=Strict",
		"OK sees the session alice@localhost/laptop", "OK ended the session alice@localhost/laptop", "PASS")
	if cond := alice.ExpectStreamError(); cond != "policy-violation" {
		t.Errorf("alice's stream ended with %q, want policy-violation", cond)
	}
}
