package s2s_test

import (
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/s2s"
)

// nsWatch is answered by watches, a module registered only in this test
// binary (testutil.CtxWatch).
const nsWatch = "urn:xmppd:test:s2s-watch-ctx"

var watches = testutil.NewCtxWatch("s2stest-watch", nsWatch)

// A peer's stanzas are handled under its stream's context, as a client's
// are under its session's: a module's handler sees it live while the
// stream is up, and ended once the peer closed the stream.
func TestHandlerContextEndsWithStream(t *testing.T) {
	a, b := pair(t, selfSigned, selfSigned)
	c := peer(t, b, "a.test")
	if typ := dialbackAs(t, c, s2s.DialbackKey(secretOf(t, a), "b.test", "a.test", c.Header.Attr("id"))); typ != "valid" {
		t.Fatalf("dialback: %q", typ)
	}
	w := watches.Expect("w1")
	c.Send("<iq from='alice@a.test/x' to='b.test' type='get' id='w1'><q xmlns='%s'/></iq>", nsWatch)
	testutil.Within(t, w.Called, "the handler")
	// The stream goes on: a message on it still arrives.
	bob := online(t, b, "bob@b.test")
	c.Send("<message from='alice@a.test/x' to='bob@b.test' type='chat' id='m1'><body>hi</body></message>")
	if m := nextMessage(t, bob); m.Attr("id") != "m1" {
		t.Fatalf("bob got %s", m)
	}
	select {
	case <-w.Ended:
		t.Fatal("the handler's context ended while the stream is up")
	default:
	}
	c.Send("</stream:stream>")
	testutil.Within(t, w.Ended, "the handler's context after the peer closed its stream")
}

// Dialback verification (XEP-0220 §2.1.2) is work the receiving server
// does for a peer: it asks the authoritative server over a stream of its
// own. When the peer's stream ends first (auth_timeout, or the server
// shutting down), that stream is given up at once rather than after
// connect_timeout.
func TestDialbackVerifyEndsWithStream(t *testing.T) {
	for _, tc := range []struct {
		name, limits string
		end          func(t *testing.T, b *testutil.Server, c *testutil.Client)
	}{
		{"auth timeout", "\n[limits]\nauth_timeout = \"5s\"\n", func(t *testing.T, _ *testutil.Server, c *testutil.Client) {
			if cond := c.ExpectStreamError(); cond != "connection-timeout" {
				t.Errorf("stream error %q, want connection-timeout", cond)
			}
		}},
		{"shutdown", "", func(t *testing.T, b *testutil.Server, c *testutil.Client) {
			b.Stop(t)
			if cond := c.ExpectStreamError(); cond != "system-shutdown" {
				t.Errorf("stream error %q, want system-shutdown", cond)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			b := testutil.StartIn(t, dir, instance(dir, "b.test", "\n[s2s]\ntls_verify = false\nconnect_timeout = \"10m\"\n"+tc.limits))
			// The authoritative server of slow.test takes the
			// connection and never says a word.
			connected, gone := make(chan struct{}), make(chan struct{})
			var once sync.Once
			slow := testutil.Peer(t, "127.0.0.1:0", func(nc net.Conn) {
				once.Do(func() {
					close(connected)
					go func() {
						io.Copy(io.Discard, nc)
						close(gone)
					}()
				})
			})
			b.S2S().SetRoute("slow.test", s2s.Route{Address: slow})
			c := peer(t, b, "slow.test")
			c.Send("<db:result from='slow.test' to='b.test'>%s</db:result>", strings.Repeat("ab", 32))
			testutil.Within(t, connected, "b.test's connection to slow.test")
			tc.end(t, b, c)
			testutil.Within(t, gone, "the verification stream after the peer's stream ended")
		})
	}
}
