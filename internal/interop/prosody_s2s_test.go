package interop_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/certs"
	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/s2s"
	"github.com/xmppd/xmppd/xml"
)

// prosodyConfig serves prosody.test with c2s and s2s on loopback ports.
// Prosody 0.12 cannot route a domain to an address, so the test module
// in testdata/prosody does it. With s2s_secure_auth = false it accepts
// xmppd's self-signed certificate and authenticates it with dialback;
// with true and xmppd's certificate as cafile it must use SASL EXTERNAL.
const prosodyConfig = `
run_as_root = true
daemonize = false
pidfile = "%[1]s/prosody.pid"
data_path = "%[1]s/data"
log = { debug = "%[1]s/prosody.log" }
plugin_paths = { "%[2]s" }

interfaces = { "127.0.0.1" }
c2s_ports = { %[3]d }
s2s_ports = { %[4]d }
c2s_direct_tls_ports = { }
s2s_direct_tls_ports = { }
component_ports = { }
http_ports = { }
https_ports = { }

modules_enabled = {
	"roster"; "saslauth"; "tls"; "dialback"; "disco"; "ping"; "presence"; "message"; "iq";
	"test_s2s_route";
}
test_s2s_routes = { ["xmppd.test"] = { "127.0.0.1", %[5]d } }

authentication = "internal_hashed"
storage = "internal"
c2s_require_encryption = true
s2s_require_encryption = true
s2s_secure_auth = %[6]s

certificates = "%[1]s"
ssl = { certificate = "%[1]s/certs/prosody.test.crt"; key = "%[1]s/certs/prosody.test.key"; %[7]s}

VirtualHost "prosody.test"
`

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func waitPort(t *testing.T, addr string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s after %v", addr, d)
}

// prosodyLogin logs in to Prosody with testutil's wire client.
func prosodyLogin(t *testing.T, addr, user, pass string) *testutil.Client {
	t.Helper()
	c := testutil.NewClient(t, testutil.Dial(t, addr))
	c.Open("prosody.test")
	c.StartTLS("prosody.test")
	if r := c.AuthSCRAM("SCRAM-SHA-1", user, pass, "", nil); !r.OK {
		t.Fatalf("prosody login %s: %s", user, r.Condition)
	}
	c.Restart("prosody.test")
	c.Bind("res")
	return c
}

// TestProsodyS2S exchanges messages both ways between a user on xmppd
// (xmppd.test) and one on a real Prosody (prosody.test) over federation:
// STARTTLS with self-signed certificates, then dialback in each direction.
func TestProsodyS2S(t *testing.T) { prosodyS2S(t, false) }

// TestProsodyS2SExternal: each side trusts the other's certificate and
// neither may fall back to dialback (xmppd: dialback = false; Prosody:
// s2s_secure_auth = true), so both directions use SASL EXTERNAL
// (XEP-0178).
func TestProsodyS2SExternal(t *testing.T) { prosodyS2S(t, true) }

func prosodyS2S(t *testing.T, external bool) {
	bin := lookProsody(t)

	xdir, pdir := t.TempDir(), t.TempDir()
	if _, err := certs.Load(pdir, []certs.HostCert{{Domain: "prosody.test"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := certs.Load(xdir, []certs.HostCert{{Domain: "xmppd.test"}}); err != nil {
		t.Fatal(err)
	}
	s2sConf := "tls_verify = false"
	secure, cafile := "false", ""
	if external {
		s2sConf = fmt.Sprintf("tls_verify = true\ndialback = false\nca_file = %q", filepath.Join(pdir, "certs", "prosody.test.crt"))
		secure, cafile = "true", fmt.Sprintf("cafile = %q; ", filepath.Join(xdir, "certs", "xmppd.test.crt"))
	}
	x := testutil.StartIn(t, xdir, testutil.FederatedConfig(xdir, "xmppd.test", "starttls", fmt.Sprintf(`
[s2s]
%s
connect_timeout = "10s"
`, s2sConf)))
	x.AddUser(t, "xavier@xmppd.test", "password1")
	_, xport, _ := net.SplitHostPort(x.S2SAddr)

	var xp int
	fmt.Sscan(xport, &xp)
	c2sPort, s2sPort := freePort(t), freePort(t)
	stop := startProsody(t, bin, pdir, c2sPort, s2sPort, xp, secure, cafile)
	t.Cleanup(stop)
	x.S2S().SetRoute("prosody.test", s2s.Route{Address: fmt.Sprintf("127.0.0.1:%d", s2sPort)})

	xavier := testutil.Login(t, x, "xavier@xmppd.test", "password1", "res")
	xavier.Send("<presence/>")
	paula := prosodyLogin(t, fmt.Sprintf("127.0.0.1:%d", c2sPort), "paula", "password1")
	paula.Send("<presence/>")

	xavier.Send("<message to='paula@prosody.test' type='chat' id='x1'><body>hello prosody</body></message>")
	m := nextBody(t, paula)
	if m.Attr("from") != "xavier@xmppd.test/res" || body(m) != "hello prosody" {
		t.Fatalf("paula got %s", m)
	}
	paula.Send("<message to='xavier@xmppd.test/res' type='chat' id='p1'><body>hello xmppd</body></message>")
	m = nextBody(t, xavier)
	if m.Attr("from") != "paula@prosody.test/res" || body(m) != "hello xmppd" {
		t.Fatalf("xavier got %s", m)
	}

	// A presence subscription from Prosody's user to ours (RFC 6121 §3.1):
	// xmppd's presence module gets a remote request, its answer and
	// xavier's presence go back over the federation.
	// Subscription answers go to interested resources only: those that
	// asked for their roster (§3.1.6, §2.1.6).
	subscribeFromProsody(paula, xavier, "xavier@xmppd.test/res")
}

func body(m *xml.Element) string {
	if b := m.Child("body", xml.NSClient); b != nil {
		return strings.TrimSpace(b.Text())
	}
	return ""
}

// nextBody skips presence and body-less messages until a message with a
// body (or an error) arrives.
func nextBody(t *testing.T, c *testutil.Client) *xml.Element {
	t.Helper()
	for {
		el := c.NextNamed("message")
		if el.Attr("type") == "error" {
			t.Fatalf("message bounced: %s", el)
		}
		if body(el) != "" {
			return el
		}
	}
}

type prosodyBin struct{ prosody, prosodyctl string }

// lookProsody finds Debian's prosody and prosodyctl, or skips (fails under
// CI, where scripts/test.sh installs them).
func lookProsody(t *testing.T) prosodyBin {
	t.Helper()
	prosody, err := exec.LookPath("prosody")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("prosody is not installed (scripts/test.sh installs it)")
		}
		t.Skip("prosody is not installed: apt-get install prosody")
	}
	prosodyctl, _ := exec.LookPath("prosodyctl")
	return prosodyBin{prosody, prosodyctl}
}

// startProsody writes prosodyConfig into pdir (whose certs/ already hold
// prosody.test's certificate), registers paula (first start) and runs Prosody in the
// foreground with xmppd.test routed to 127.0.0.1:routePort, until its
// c2s and s2s ports answer. stop kills it (idempotent; the data folder
// stays, so a later start with another route keeps paula and her
// roster) and shows the tail of its log if the test failed.
func startProsody(t *testing.T, bin prosodyBin, pdir string, c2sPort, s2sPort, routePort int, secure, cafile string) (stop func()) {
	t.Helper()
	plugins, err := filepath.Abs("testdata/prosody")
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(pdir, "prosody.cfg.lua")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(prosodyConfig, pdir, plugins, c2sPort, s2sPort, routePort, secure, cafile)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(pdir, "data")); errors.Is(err, os.ErrNotExist) {
		reg := exec.Command(bin.prosodyctl, "--config", cfg, "register", "paula", "prosody.test", "password1")
		if out, err := reg.CombinedOutput(); err != nil {
			t.Fatalf("prosodyctl register: %v\n%s", err, out)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin.prosody, "--config", cfg, "-F")
	cmd.WaitDelay = 5 * time.Second
	out, _ := os.OpenFile(filepath.Join(pdir, "stdout.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			cmd.Wait()
			out.Close()
			if t.Failed() || os.Getenv("XMPPD_TEST_LOG") != "" {
				b, _ := os.ReadFile(filepath.Join(pdir, "prosody.log"))
				if len(b) > 20000 {
					b = b[len(b)-20000:]
				}
				t.Logf("prosody.log (tail):\n%s", b)
			}
		})
	}
	waitPort(t, fmt.Sprintf("127.0.0.1:%d", c2sPort), 15*time.Second)
	waitPort(t, fmt.Sprintf("127.0.0.1:%d", s2sPort), 5*time.Second)
	return stop
}

// subscribeFromProsody has paula (Prosody's user) subscribe to ours, the
// session ourFull of an xmppd user, who approves (RFC 6121 §3.1): it
// returns when paula has both the approval from our bare JID and our
// available presence, each having crossed the federation. paula asks for
// her roster first: subscription answers go to interested resources only
// (§3.1.6, §2.1.6).
func subscribeFromProsody(paula, ours *testutil.Client, ourFull string) {
	bare, _, _ := strings.Cut(ourFull, "/")
	paula.Send("<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>")
	for el := paula.NextNamed("iq"); el.Attr("id") != "r1"; el = paula.NextNamed("iq") {
	}
	paula.Send("<presence to='%s' type='subscribe'/>", bare)
	for {
		p := ours.NextNamed("presence")
		if p.Attr("type") == "subscribe" && p.Attr("from") == "paula@prosody.test" {
			break
		}
	}
	ours.Send("<presence to='paula@prosody.test' type='subscribed'/>")
	subscribed, available := false, false
	for !subscribed || !available {
		el := paula.Next()
		if el.Name() != "presence" {
			continue
		}
		switch {
		case el.Attr("type") == "subscribed" && el.Attr("from") == bare:
			subscribed = true
		case el.Attr("type") == "" && el.Attr("from") == ourFull:
			available = true
		}
	}
}
