package interop_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/testutil"
)

// TestCoturnCredentials: the TURN credentials xmppd hands out through
// XEP-0215 open a relay allocation on a real coturn (Debian's coturn, run
// with use-auth-secret and the secret xmppd is configured with), the way a
// client such as Conversations uses them for a call; a password that is
// not xmppd's is refused by the same coturn.
func TestCoturnCredentials(t *testing.T) {
	turnserver, err1 := exec.LookPath("turnserver")
	uclient, err2 := exec.LookPath("turnutils_uclient")
	if err1 != nil || err2 != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("coturn is not installed (scripts/test.sh installs it)")
		}
		t.Skip("coturn is not installed: apt-get install coturn")
	}
	const secret = "interop-turn-secret"
	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	ts := exec.CommandContext(ctx, turnserver, "-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1",
		"--listening-port="+strconv.Itoa(port), "--min-port=41000", "--max-port=41999",
		"--use-auth-secret", "--static-auth-secret="+secret, "--realm=localhost",
		"--no-tls", "--no-dtls", "--no-cli", "--allow-loopback-peers", "--simple-log",
		"--log-file=stdout", "--pidfile="+dir+"/turn.pid")
	var tlog strings.Builder
	ts.Stdout, ts.Stderr = &tlog, &tlog
	if err := ts.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		_ = ts.Wait()
		if t.Failed() {
			t.Logf("turnserver log:\n%s", tlog.String())
		}
	}()
	waitPort(t, fmt.Sprintf("127.0.0.1:%d", port), 10*time.Second)

	s := testutil.Start(t, fmt.Sprintf(`
[[external_service]]
type = "turn"
host = "127.0.0.1"
port = %d
transport = "udp"
secret = %q
ttl = "10m"
`, port, secret))
	s.AddUser(t, "alice", "a")
	c := testutil.Login(t, s, "alice", "a", "phone")
	c.Send("<iq type='get' id='x' to='localhost'><services xmlns='urn:xmpp:extdisco:2' type='turn'/></iq>")
	r := c.NextNamed("iq")
	svc := r.Child("services", "urn:xmpp:extdisco:2").Child("service", "urn:xmpp:extdisco:2")
	if r.Attr("type") != "result" || svc == nil {
		t.Fatalf("services: %s", r)
	}
	user, pass := svc.Attr("username"), svc.Attr("password")
	if svc.Attr("host") != "127.0.0.1" || svc.Attr("port") != strconv.Itoa(port) || user == "" || pass == "" {
		t.Fatalf("service: %s", svc)
	}

	allocate := func(pass string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// -y: a client-to-client exchange through two allocations on
		// this relay; one 100-byte message.
		cmd := exec.CommandContext(ctx, uclient, "-u", user, "-w", pass, "-p", strconv.Itoa(port),
			"-e", "127.0.0.1", "-y", "-n", "1", "-m", "1", "-l", "100", "127.0.0.1")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := allocate(pass); err != nil || !strings.Contains(out, "Total lost packets 0") {
		t.Fatalf("coturn refused xmppd's credentials (%v):\n%s", err, out)
	}
	if out, err := allocate(pass[:len(pass)-2] + "AA"); err == nil {
		t.Fatalf("coturn accepted a wrong password:\n%s", out)
	}
}
