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

func runScript(t *testing.T, py string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, args...)
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("%s: %v", args[0], err)
	}
	return string(out)
}

func TestSlixmppChat(t *testing.T) {
	py := python(t, "slixmpp")
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", "alice-pw")
	s.AddUser(t, "bob", "bob-pw")
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

func TestSlixmppWrongPassword(t *testing.T) {
	py := python(t, "slixmpp")
	s := testutil.Start(t, "")
	s.AddUser(t, "alice", "alice-pw")
	s.AddUser(t, "bob", "bob-pw")
	host, port, _ := net.SplitHostPort(s.StartTLS)
	cmd := exec.Command(py, "testdata/slixmpp_chat.py", host, port, "starttls", "alice@localhost/x", "WRONG", "bob@localhost/x", "bob-pw")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "authentication failed") {
		t.Fatalf("wrong password not refused: %v\n%s", err, out)
	}
}
