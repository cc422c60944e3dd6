// Package interop drives real third-party XMPP clients from Debian's
// packages against a running xmppd.
package interop_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/testutil"
)

// python returns /usr/bin/python3 if it can import mod. Under CI a missing
// client fails the test: the test script installs it, so absence is a bug.
func python(t *testing.T, mod string) string {
	t.Helper()
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import "+mod).Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s cannot import %s (scripts/test.sh installs it): %v", py, mod, err)
		}
		t.Skipf("%s cannot import %s: install python3-%s", py, mod, mod)
	}
	return py
}

// scriptTimeout bounds one scenario script; each is meant to finish well
// under 30s and has its own asyncio timeouts, so this only catches a script
// that hangs despite them.
const scriptTimeout = 45 * time.Second

// execScript runs a script under scriptTimeout and returns its combined
// output and exit error; running into the deadline fails the test with the
// output so far.
func execScript(t *testing.T, py string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), scriptTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, args...)
	cmd.WaitDelay = 5 * time.Second // a grandchild holding the pipe must not hang us
	out, err := cmd.CombinedOutput()
	t.Logf("%s: exit %v\n%s", args[0], err, out)
	if ctx.Err() != nil {
		t.Fatalf("%s: timed out after %v; output:\n%s", args[0], scriptTimeout, out)
	}
	return string(out), err
}

// runScript runs a script that must succeed.
func runScript(t *testing.T, py string, args ...string) string {
	t.Helper()
	out, err := execScript(t, py, args...)
	if err != nil {
		t.Fatalf("%s: %v\n%s", args[0], err, out)
	}
	return out
}

// runScriptFailing runs a script that must fail.
func runScriptFailing(t *testing.T, py string, args ...string) string {
	t.Helper()
	out, err := execScript(t, py, args...)
	if err == nil {
		t.Fatalf("%s succeeded, want failure:\n%s", args[0], out)
	}
	return out
}

// aliceAndBob starts a server with the accounts most scenarios use:
// alice@localhost (password alice-pw) and bob@localhost (bob-pw).
func aliceAndBob(t *testing.T) *testutil.Server {
	t.Helper()
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", "alice-pw")
	s.AddUser(t, "bob", "bob-pw")
	return s
}

// expectLines fails the test for each want that no output line contains.
func expectLines(t *testing.T, out string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

// imSteps are the lines every IM scenario script (aioxmpp_im.py,
// slixmpp_im.py) prints, one per step, for alice@localhost/a1 and
// bob@localhost/b1 (and b2 for carbons).
func imSteps() []string {
	return []string{
		"OK login alice@localhost/a1 bob@localhost/b1",
		// a. RFC 6121 §3.1: subscription both ways, as the roster pushes
		// and a fresh roster get show it.
		"OK subscribed one way: alice to, bob from",
		"OK subscribed both ways",
		"OK roster alice@localhost has bob@localhost both",
		"OK roster bob@localhost has alice@localhost both",
		// b. RFC 6121 §3.1.5, §4.2.
		"OK alice sees bob@localhost/b1 online",
		"OK bob sees alice@localhost/a1 online",
		// c.
		"OK message alice->bob from alice@localhost/a1",
		"OK message bob->alice from bob@localhost/b1",
		// d. RFC 6121 §4.5.2 (unavailable broadcast), §8.5.2.2.1 and
		// XEP-0160 (offline storage), XEP-0203 (delay).
		"OK alice sees bob@localhost/b1 offline",
		// RFC 6121 §4.2.2 (initial presence broadcast), §4.3 (probe).
		"OK alice sees bob@localhost/b1 back online",
		"OK bob after login sees alice@localhost/a1 online",
		"OK offline message delivered with delay stamp",
		// e. XEP-0280 §4, §7, §8.
		"OK carbons enabled on bob@localhost/b1 bob@localhost/b2",
		"OK received carbon at bob@localhost/b2 of alice@localhost/a1 -> bob@localhost/b1",
		"OK sent carbon at bob@localhost/b2 of bob@localhost/b1 -> alice@localhost/a1",
		"OK offline message delivered once",
		"PASS",
	}
}

func TestSlixmppChat(t *testing.T) {
	py := python(t, "slixmpp")
	s := aliceAndBob(t)
	for _, mode := range []string{"starttls", "direct"} {
		t.Run(mode, func(t *testing.T) {
			addr := s.StartTLS
			if mode == "direct" {
				addr = s.DirectTLS
			}
			host, port, _ := net.SplitHostPort(addr)
			out := runScript(t, py, "testdata/slixmpp_chat.py", host, port, mode,
				"alice@localhost/slix", "alice-pw", "bob@localhost/slix", "bob-pw")
			for _, want := range []string{"OK logged in alice@localhost/slix bob@localhost/slix", "OK ping server", "OK b received from alice@localhost/slix", "OK a received reply", "PASS"} {
				if !strings.Contains(out, want) {
					t.Errorf("missing %q", want)
				}
			}
		})
	}
}

// TestSlixmppIM runs testdata/slixmpp_im.py (three slixmpp sessions):
// subscriptions both ways, presence, messages, offline delivery with a
// XEP-0203 delay, XEP-0280 carbons. slixmpp 1.8.3 ends up authenticating
// with PLAIN, see README.md.
func TestSlixmppIM(t *testing.T) {
	py := python(t, "slixmpp")
	s := aliceAndBob(t)
	host, port, _ := net.SplitHostPort(s.StartTLS)
	out, err := execScript(t, py, "testdata/slixmpp_im.py", host, port, "starttls",
		"alice@localhost", "alice-pw", "bob@localhost", "bob-pw")
	expectLines(t, out, imSteps()...) // every step, also when the script failed part-way
	if err != nil {
		t.Fatalf("%s: %v", "slixmpp_im.py", err)
	}
}

func TestSlixmppWrongPassword(t *testing.T) {
	py := python(t, "slixmpp")
	s := aliceAndBob(t)
	host, port, _ := net.SplitHostPort(s.StartTLS)
	cmd := exec.Command(py, "testdata/slixmpp_chat.py", host, port, "starttls", "alice@localhost/x", "WRONG", "bob@localhost/x", "bob-pw")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "authentication failed") {
		t.Fatalf("wrong password not refused: %v\n%s", err, out)
	}
}

// TestSlixmppMUC runs testdata/slixmpp_muc.py: slixmpp's xep_0045 creates
// an instant room, sets the subject, a second client joins (occupants,
// history, subject), they chat, and xep_0313 reads the room's archive.
func TestSlixmppMUC(t *testing.T) {
	py := python(t, "slixmpp")
	s := aliceAndBob(t)
	host, port, _ := net.SplitHostPort(s.StartTLS)
	out := runScript(t, py, "testdata/slixmpp_muc.py", host, port,
		"alice@localhost/slix", "alice-pw", "bob@localhost/slix", "bob-pw", "lobby@conference.localhost")
	expectLines(t, out,
		"OK logged in alice@localhost/slix bob@localhost/slix",
		"OK service speaks muc",
		"OK room created with status [110, 201]",
		"OK instant room configured",
		"OK subject set",
		"OK bob joined, sees subject Interop testing occupants ['Alice', 'Bob'] history 1",
		"OK alice sees lobby@conference.localhost/Bob participant",
		"OK bob received groupchat from lobby@conference.localhost/Alice",
		"OK alice received groupchat from lobby@conference.localhost/Bob",
		"OK room archive ['before bob', 'hello bob', 'hello alice']",
		"OK alice sees Bob leave",
		"PASS")
}
