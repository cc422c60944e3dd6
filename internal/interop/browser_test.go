package interop_test

import (
	"context"
	"net/http"
	"net/http/httptest"
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

// What the Chromium tests share: the server they talk to, the playwright
// scripts' process (testdata/web/*.mjs, which share browser.mjs) and
// their verdict.

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

// webServer returns the browser clients' folder (or skips, as
// webClients) and a server with an HTTPS listener (direct TLS: WebSocket,
// BOSH, the web client and the invitation pages).
func webServer(t *testing.T) (dir string, s *testutil.Server) {
	t.Helper()
	dir = webClients(t)
	return dir, testutil.Start(t, `
[[listen]]
type = "http"
address = "127.0.0.1:0"
tls = "direct"
`)
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

// nodeScript is a playwright script of testdata/web running in node.
type nodeScript struct {
	name   string
	done   chan error // its exit, once
	output func() string
}

// runNode starts script of dir with args, stopped after timeout. If the
// test fails, the script is stopped and its output logged.
func runNode(t *testing.T, timeout time.Duration, dir, script string, args ...string) *nodeScript {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel) // runs after the cleanup below, which may need the process
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
	n := &nodeScript{name: script, done: make(chan error, 1)}
	go func() { n.done <- cmd.Wait() }()
	n.output = func() string { mu.Lock(); defer mu.Unlock(); return out.String() }
	t.Cleanup(func() {
		if t.Failed() {
			cancel()
			select {
			case err := <-n.done:
				n.done <- err
			case <-time.After(10 * time.Second):
			}
			t.Logf("%s output:\n%s", script, n.output())
		}
	})
	return n
}

// waitSessions waits until s has n sessions: the browser's is bound when
// the server has one more than the test's own clients.
func (n *nodeScript) waitSessions(t *testing.T, s *testutil.Server, sessions int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for s.Sessions() < sessions {
		select {
		case err := <-n.done:
			n.done <- err
			t.Fatalf("%s ended before logging in: %v\n%s", n.name, err, n.output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not log in\n%s", n.name, n.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pass waits for the script to end and fails the test unless it printed
// the lines wants (in this order) and exited 0.
func (n *nodeScript) pass(t *testing.T, wants ...string) {
	t.Helper()
	err := <-n.done
	n.done <- err // for the cleanup, if the test fails
	t.Logf("%s: exit %v\n%s", n.name, err, n.output())
	expectLines(t, n.output(), wants...)
	if err != nil {
		t.Fatalf("%s: %v", n.name, err)
	}
}

// chatFrom reads c's messages until a chat message with a body whose
// sender starts with from, and returns it.
func chatFrom(c *testutil.Client, from string) *xml.Element {
	for {
		m := c.NextNamed("message")
		if m.Child("body", xml.NSClient) != nil && strings.HasPrefix(m.Attr("from"), from) {
			return m
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
