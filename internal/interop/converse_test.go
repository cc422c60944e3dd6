package interop_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/xml"
)

// webClients returns the folder with the browser clients' node modules,
// or skips (fails under CI, where scripts/test.sh installs them).
func webClients(t *testing.T) string {
	t.Helper()
	dir, _ := filepath.Abs("testdata/web")
	_, errNode := exec.LookPath("node")
	_, errMods := os.Stat(filepath.Join(dir, "node_modules", "converse.js", "dist", "converse.min.js"))
	_, errChromium := os.Stat("/usr/bin/chromium")
	if errNode != nil || errMods != nil || errChromium != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("browser client missing (scripts/test.sh installs chromium and runs npm ci in %s): node %v, modules %v, chromium %v", dir, errNode, errMods, errChromium)
		}
		t.Skipf("browser client missing: node %v, modules %v, chromium %v", errNode, errMods, errChromium)
	}
	return dir
}

// TestConverseJS logs Converse.js, running in Debian's Chromium, in over
// WebSocket (RFC 7395); a TCP client sends it a message, which Converse
// shows, and Converse's answer, typed into its message box, reaches the
// TCP client.
func TestConverseJS(t *testing.T) {
	converseChat(t, func(s *testutil.Server) url.Values {
		return url.Values{"ws": {"wss://" + s.HTTP + "/xmpp-websocket"}}
	})
}

// TestConverseJSBOSH is the same over BOSH (XEP-0124/XEP-0206).
func TestConverseJSBOSH(t *testing.T) {
	converseChat(t, func(s *testutil.Server) url.Values {
		return url.Values{"bosh": {"https://" + s.HTTP + "/http-bind"}}
	})
}

// converseChat runs the chat with Converse connected to the endpoint
// endpoint names (query parameters of converse.html).
func converseChat(t *testing.T, endpoint func(*testutil.Server) url.Values) {
	dir := webClients(t)
	s := testutil.Start(t, `
[[listen]]
type = "http"
address = "127.0.0.1:0"
tls = "direct"
`)
	s.AddUser(t, "alice", "alice-pw")
	s.AddUser(t, "bob", "bob-pw")
	bob := testutil.Login(t, s, "bob", "bob-pw", "pc")
	bob.Send("<presence/>") // available, so Converse's answer to his bare JID reaches this session

	page := conversePage(t, dir)
	defer page.Close()
	q := endpoint(s)
	q.Set("jid", "alice@localhost")
	q.Set("password", "alice-pw")

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	done, output := runNode(t, ctx, cancel, dir, "converse.mjs", page.URL+"/?"+q.Encode(), "bob@localhost")

	// Converse's session is bound when the server has two.
	deadline := time.Now().Add(60 * time.Second)
	for s.Sessions() < 2 {
		select {
		case err := <-done:
			t.Fatalf("converse ended before logging in: %v\n%s", err, output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("converse did not log in\n%s", output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// To the bare JID: whether Converse has sent its presence yet or not,
	// the message reaches it (live or from offline storage).
	bob.Send("<message to='alice@localhost' type='chat' id='c1'><body>hello converse</body></message>")
	var answer *xml.Element
	for answer == nil {
		m := bob.NextNamed("message")
		if b := m.Child("body", xml.NSClient); b != nil && strings.HasPrefix(m.Attr("from"), "alice@localhost/") {
			answer = m
		}
	}
	if b := answer.Child("body", xml.NSClient).Text(); b != "hello from converse" {
		t.Errorf("bob got %q from converse", b)
	}
	err := <-done
	t.Logf("converse.mjs: exit %v\n%s", err, output())
	expectLines(t, output(), "OK converse logged in", "OK converse shows the message from bob@localhost", "OK converse sent its answer", "PASS")
	if err != nil {
		t.Fatalf("converse.mjs: %v", err)
	}
}

// conversePage serves converse.html at / and Converse's files everywhere
// else (it also loads some relative to the root: wasm, emoji, sounds).
func conversePage(t *testing.T, dir string) *httptest.Server {
	t.Helper()
	dist := http.FileServer(http.Dir(filepath.Join(dir, "node_modules", "converse.js", "dist")))
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" {
			http.ServeFile(w, r, filepath.Join(dir, "converse.html"))
			return
		}
		dist.ServeHTTP(w, r)
	})
	mux.Handle("/dist/", http.StripPrefix("/dist/", dist))
	return httptest.NewServer(mux)
}

// runNode starts a playwright script of dir; done yields its exit, output
// what it printed so far. If the test fails, the script is stopped and
// its output logged.
func runNode(t *testing.T, ctx context.Context, cancel context.CancelFunc, dir, script string, args ...string) (done chan error, output func() string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, "node", append([]string{filepath.Join(dir, script)}, args...)...)
	cmd.Dir = dir
	cmd.WaitDelay = 5 * time.Second
	var out strings.Builder
	var mu sync.Mutex
	cmd.Stdout = writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return out.Write(p) })
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done = make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	output = func() string { mu.Lock(); defer mu.Unlock(); return out.String() }
	t.Cleanup(func() {
		if t.Failed() {
			cancel()
			select {
			case err := <-done:
				done <- err
			case <-time.After(10 * time.Second):
			}
			t.Logf("%s output:\n%s", script, output())
		}
	})
	return done, output
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
