package interop_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/xml"
)

// tmuxSession runs a terminal program in a detached tmux session of its
// own (socket in a temporary folder) and reads its screen.
type tmuxSession struct {
	t      *testing.T
	socket string
	name   string
}

func startTmux(t *testing.T, env []string, command ...string) *tmuxSession {
	t.Helper()
	ts := &tmuxSession{t: t, socket: filepath.Join(t.TempDir(), "tmux.sock"), name: "interop"}
	args := append([]string{"-S", ts.socket, "new-session", "-d", "-s", ts.name, "-x", "200", "-y", "50"}, command...)
	cmd := exec.Command("tmux", args...)
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tmux: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("tmux", "-S", ts.socket, "kill-server").Run() })
	return ts
}

func (ts *tmuxSession) screen() string {
	out, _ := exec.Command("tmux", "-S", ts.socket, "capture-pane", "-p", "-t", ts.name, "-S", "-200").CombinedOutput()
	return string(out)
}

func (ts *tmuxSession) keys(text string) {
	ts.t.Helper()
	if out, err := exec.Command("tmux", "-S", ts.socket, "send-keys", "-t", ts.name, "-l", text).CombinedOutput(); err != nil {
		ts.t.Fatalf("send-keys: %v %s", err, out)
	}
	exec.Command("tmux", "-S", ts.socket, "send-keys", "-t", ts.name, "Enter").Run()
}

// waitScreen waits until the screen shows want.
func (ts *tmuxSession) waitScreen(want string, d time.Duration) {
	ts.t.Helper()
	deadline := time.Now().Add(d)
	for !strings.Contains(ts.screen(), want) {
		if time.Now().After(deadline) {
			ts.t.Fatalf("screen never showed %q:\n%s", want, ts.screen())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestProfanity drives Profanity (Debian's terminal client, on libstrophe)
// in tmux: it logs in over STARTTLS, shows a message from a TCP client and
// sends one back with /msg.
func TestProfanity(t *testing.T) {
	if _, err := exec.LookPath("profanity"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("profanity missing (scripts/test.sh installs it)")
		}
		t.Skip("profanity not installed")
	}
	if _, err := exec.LookPath("tmux"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("tmux missing (scripts/test.sh installs it)")
		}
		t.Skip("tmux not installed")
	}
	s := aliceAndBob(t)
	bob := testutil.Login(t, s, "bob", "bob-pw", "pc")
	bob.Send("<presence/>")

	home := t.TempDir()
	_, port, _ := net.SplitHostPort(s.StartTLS)
	data := filepath.Join(home, ".local", "share", "profanity")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	// tls.policy=trust: TLS required, the test server's self-signed
	// certificate accepted.
	accounts := fmt.Sprintf("[alice@localhost]\nenabled=true\njid=alice@localhost\nserver=127.0.0.1\nport=%s\nresource=profanity\npassword=alice-pw\ntls.policy=trust\n", port)
	if err := os.WriteFile(filepath.Join(data, "accounts"), []byte(accounts), 0o600); err != nil {
		t.Fatal(err)
	}
	ts := startTmux(t, []string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"), "XDG_DATA_HOME=" + filepath.Join(home, ".local", "share"), "TERM=xterm-256color"},
		"profanity", "-a", "alice@localhost")
	deadline := time.Now().Add(30 * time.Second)
	for s.Sessions() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("profanity did not log in:\n%s", ts.screen())
		}
		time.Sleep(100 * time.Millisecond)
	}
	ts.waitScreen("logged in successfully", 15*time.Second)

	bob.Send("<message to='alice@localhost' type='chat'><body>hello profanity</body></message>")
	ts.keys("/msg bob@localhost")
	ts.waitScreen("hello profanity", 15*time.Second)

	ts.keys("/msg bob@localhost hello from profanity")
	for {
		m := bob.NextNamed("message")
		b := m.Child("body", xml.NSClient)
		if b == nil {
			continue
		}
		if !strings.HasPrefix(m.Attr("from"), "alice@localhost/profanity") || b.Text() != "hello from profanity" {
			t.Fatalf("bob got %s\nscreen:\n%s", m, ts.screen())
		}
		break
	}
	t.Logf("screen:\n%s", ts.screen())
	ts.keys("/quit")
}
