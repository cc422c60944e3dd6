package component_test

import (
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
)

// nsWatch is answered by watches, a module registered only in this test
// binary (testutil.CtxWatch).
const nsWatch = "urn:xmppd:test:component-watch-ctx"

var watches = testutil.NewCtxWatch("componenttest-watch", nsWatch)

// A component's stanzas are handled under its stream's context, as a
// client's are under its session's: live while the stream is up, ended
// once the component closed it (fails with context.Background()).
func TestHandlerContextEndsWithStream(t *testing.T) {
	s := testutil.Start(t, conf)
	s.AddUser(t, "alice", pw)
	gw := connect(t, s)
	w := watches.Expect("w1")
	gw.Send("<iq from='gw.localhost' to='localhost' type='get' id='w1'><q xmlns='%s'/></iq>", nsWatch)
	testutil.Within(t, w.Called, "the handler")
	// The stream goes on: a message on it still arrives.
	alice := testutil.Login(t, s, "alice", pw, "phone")
	gw.Send("<message from='bob@gw.localhost' to='alice@localhost/phone' type='chat' id='m1'><body>hi</body></message>")
	if m := alice.NextNamed("message"); m.Attr("id") != "m1" {
		t.Fatalf("alice got %s", m.Append(nil, ""))
	}
	select {
	case <-w.Ended:
		t.Fatal("the handler's context ended while the stream was up")
	default:
	}
	gw.Send("</stream:stream>")
	testutil.Within(t, w.Ended, "the handler's context after the stream closed")
}
