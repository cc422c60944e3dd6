package adminweb_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
)

// TestThrottleShared: a wrong password on the login form counts against
// its address in the throttle SASL uses (c2s/throttle.go): the SASL
// logins from that address that follow are spaced, one of them held
// back (xmppd_auth_throttled_total{result="delayed"}), which none is
// without the failed form login.
func TestThrottleShared(t *testing.T) {
	for _, webFailure := range []bool{false, true} {
		s := start(t, "none", "[limits]\nauth_failure_delay = \"1s\"\n\n[[listen]]\ntype = \"admin\"\naddress = \"127.0.0.1:0\"\n")
		s.AddUser(t, "alice@localhost", "alice-pw")
		if webFailure {
			b := newBrowser(t, s)
			_, _, page := b.get("/admin/login")
			if code, _, _ := b.post("/admin/login", url.Values{"csrf": {csrf(t, page)}, "jid": {"admin@localhost"}, "password": {"guess"}}, nil); code != http.StatusForbidden {
				t.Fatalf("wrong password: %d", code)
			}
		}
		for _, res := range []string{"a", "b"} {
			testutil.Login(t, s.Server, "alice", "alice-pw", res).Close()
		}
		delayed := testutil.Metric(t, "http://"+s.Addrs()[2].String()+"/metrics", `xmppd_auth_throttled_total{result="delayed"}`)
		if (delayed > 0) != webFailure {
			t.Errorf("failed form login %v: %v SASL checks delayed", webFailure, delayed)
		}
	}
}
