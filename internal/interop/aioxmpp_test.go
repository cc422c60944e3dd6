package interop_test

import (
	"net"
	"path/filepath"
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
)

// The aioxmpp tests drive aioxmpp 0.13 (Debian's python3-aioxmpp) through
// the scripts testdata/aioxmpp_*.py; see README.md for what the library
// negotiates. In short: it authenticates with SCRAM-SHA-256 (aiosasl has no
// SCRAM-SHA-512 and aioxmpp never uses -PLUS; its GS2 header is "n,,", which
// RFC 5802 §6 lets a server accept although it offers -PLUS), and it verifies
// TLS with pyOpenSSL, so the scripts pin the self-signed certificate xmppd
// wrote to its data directory (not disable verification): a wrong
// certificate is refused (TestAioxmppPinnedCertificate).

// serverCert is the self-signed certificate xmppd made for "localhost".
func serverCert(s *testutil.Server) string {
	return filepath.Join(s.DataDir, "certs", "localhost.crt")
}

func listenAddr(t *testing.T, s *testutil.Server, mode string) (host, port string) {
	t.Helper()
	addr := s.StartTLS
	if mode == "direct" {
		addr = s.DirectTLS
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("listener address %q: %v", addr, err)
	}
	return host, port
}

func TestAioxmppChat(t *testing.T) {
	py := python(t, "aioxmpp")
	s := aliceAndBob(t)
	for _, mode := range []string{"starttls", "direct"} {
		t.Run(mode, func(t *testing.T) {
			host, port := listenAddr(t, s, mode)
			out := runScript(t, py, "testdata/aioxmpp_chat.py", host, port, mode, serverCert(s),
				"alice@localhost/aio", "alice-pw", "bob@localhost/aio", "bob-pw")
			expectLines(t, out,
				"OK logged in alice@localhost/aio bob@localhost/aio with SCRAM-SHA-256 and SCRAM-SHA-256",
				"OK ping server",
				"OK disco#info",
				"OK b received from alice@localhost/aio",
				"OK a received reply",
				"PASS")
		})
	}
}

func TestAioxmppWrongPassword(t *testing.T) {
	py := python(t, "aioxmpp")
	s := aliceAndBob(t)
	host, port := listenAddr(t, s, "starttls")
	out := runScriptFailing(t, py, "testdata/aioxmpp_chat.py", host, port, "starttls", serverCert(s),
		"alice@localhost/x", "WRONG", "bob@localhost/x", "bob-pw")
	expectLines(t, out, "FAIL login of alice@localhost/x failed", "not-authorized")
}

// TestAioxmppPinnedCertificate shows the scripts really verify TLS: pinned
// to another certificate (the one made for example.test), the client
// refuses the server.
func TestAioxmppPinnedCertificate(t *testing.T) {
	py := python(t, "aioxmpp")
	s := aliceAndBob(t)
	host, port := listenAddr(t, s, "direct")
	other := filepath.Join(s.DataDir, "certs", "example.test.crt")
	out := runScriptFailing(t, py, "testdata/aioxmpp_chat.py", host, port, "direct", other,
		"alice@localhost/x", "alice-pw", "bob@localhost/x", "bob-pw")
	expectLines(t, out, "FAIL login of alice@localhost/x failed", "certificate verification failed")
}

func TestAioxmppIM(t *testing.T) {
	py := python(t, "aioxmpp")
	s := aliceAndBob(t)
	host, port := listenAddr(t, s, "starttls")
	out, err := execScript(t, py, "testdata/aioxmpp_im.py", host, port, "starttls", serverCert(s),
		"alice@localhost", "alice-pw", "bob@localhost", "bob-pw")
	expectLines(t, out, imSteps()...) // every step, also when the script failed part-way
	if err != nil {
		t.Fatalf("%s: %v", "aioxmpp_im.py", err)
	}
}

// TestAioxmppStreamManagement runs testdata/aioxmpp_sm.py: aioxmpp enables
// XEP-0198 with resumption by itself; its connection is cut, a message is
// sent to it meanwhile, and aioxmpp's own reconnect resumes the session and
// gets the message.
func TestAioxmppStreamManagement(t *testing.T) {
	py := python(t, "aioxmpp")
	s := aliceAndBob(t)
	host, port := listenAddr(t, s, "starttls")
	out, err := execScript(t, py, "testdata/aioxmpp_sm.py", host, port, serverCert(s),
		"alice@localhost/sm", "alice-pw", "bob@localhost/sm", "bob-pw")
	expectLines(t, out, "OK sm enabled resumable alice@localhost/sm", "OK connection lost", "OK resumed as alice@localhost/sm",
		"OK message delivered after resumption", "OK b received from the resumed session", "PASS")
	if err != nil {
		t.Fatalf("aioxmpp_sm.py: %v", err)
	}
}

// TestAioxmppMUC runs testdata/aioxmpp_muc.py: aioxmpp's MUCClient creates
// and configures a room (the owner form), sets the topic; a second client
// joins, sees the topic and the occupants; they chat; one leaves.
func TestAioxmppMUC(t *testing.T) {
	py := python(t, "aioxmpp")
	s := aliceAndBob(t)
	host, port := listenAddr(t, s, "starttls")
	out := runScript(t, py, "testdata/aioxmpp_muc.py", host, port, "starttls", serverCert(s),
		"alice@localhost/aio", "alice-pw", "bob@localhost/aio", "bob-pw", "aio@conference.localhost")
	expectLines(t, out,
		"OK logged in alice@localhost/aio bob@localhost/aio",
		"OK alice joined as Alice owner moderator",
		"OK room configured",
		"OK topic set",
		"OK bob joined, topic aioxmpp topic members ['Alice', 'Bob']",
		"OK alice sees Bob join",
		"OK bob received groupchat from Alice",
		"OK alice received groupchat from Bob",
		"OK alice sees Bob leave",
		"PASS")
}
