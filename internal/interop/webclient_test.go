package interop_test

import (
	"net"
	"testing"
	"time"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/xml"
)

// TestWebClient uses xmppd's own web client in Chromium as a person
// would: the landing page at / (reached by the host's name, which picks
// the page), its link to /web/, Converse.js's login form, then a chat
// with bob on a TCP client: bob's message shows in the page, the answer
// typed there reaches bob, and bob's reply shows too. Every file the page
// loads must come from xmppd (webclient.mjs refuses and reports any
// other request).
func TestWebClient(t *testing.T) {
	dir, s := webServer(t)
	s.AddUser(t, "alice", "alice-pw")
	s.AddUser(t, "bob", "bob-pw")
	bob := testutil.Login(t, s, "bob", "bob-pw", "pc")
	bob.Send("<presence/>") // available, so the web client's answer to his bare JID reaches this session

	_, port, err := net.SplitHostPort(s.HTTP)
	if err != nil {
		t.Fatal(err)
	}
	// By name: the page is the host's whose name the browser asked for.
	web := runNode(t, 90*time.Second, dir, "webclient.mjs", "https://localhost:"+port+"/", "alice", "alice-pw", "bob@localhost")
	web.waitSessions(t, s, 2)
	// To the bare JID: whether the client has sent its presence yet or
	// not, the message reaches it (live or from offline storage).
	bob.Send("<message to='alice@localhost' type='chat' id='w1'><body>hello web client</body></message>")
	answer := chatFrom(bob, "alice@localhost/")
	if b := answer.Child("body", xml.NSClient).Text(); b != "hello from the web client" {
		t.Errorf("bob got %q from the web client", b)
	}
	bob.Send("<message to='%s' type='chat' id='w2'><body>got it, web client</body></message>", answer.Attr("from"))

	web.pass(t, "OK landing page links the web client", "OK logged in through the login form",
		"OK shows the message from bob@localhost", "OK sent its answer", "OK shows the reply",
		"OK everything loaded from the server", "PASS")
}
