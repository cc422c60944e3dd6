package interop_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/xml"
)

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
	dir, s := webServer(t)
	s.AddUser(t, "alice", "alice-pw")
	s.AddUser(t, "bob", "bob-pw")
	bob := testutil.Login(t, s, "bob", "bob-pw", "pc")
	bob.Send("<presence/>") // available, so Converse's answer to his bare JID reaches this session

	page := conversePage(t, dir)
	defer page.Close()
	q := endpoint(s)
	q.Set("jid", "alice@localhost")
	q.Set("password", "alice-pw")

	converse := runNode(t, 90*time.Second, dir, "converse.mjs", page.URL+"/?"+q.Encode(), "bob@localhost")
	converse.waitSessions(t, s, 2)
	// To the bare JID: whether Converse has sent its presence yet or not,
	// the message reaches it (live or from offline storage).
	bob.Send("<message to='alice@localhost' type='chat' id='c1'><body>hello converse</body></message>")
	answer := chatFrom(bob, "alice@localhost/")
	if b := answer.Child("body", xml.NSClient).Text(); b != "hello from converse" {
		t.Errorf("bob got %q from converse", b)
	}
	converse.pass(t, "OK converse logged in", "OK converse shows the message from bob@localhost", "OK converse sent its answer", "PASS")
}
