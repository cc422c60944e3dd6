package cluster_test

import (
	"encoding/base64"
	"testing"

	"github.com/xmppd/xmppd/internal/testutil"
)

// wsLogin opens a WebSocket XMPP session on s (PLAIN over wss, bind).
func wsLogin(t *testing.T, s *testutil.Server, user, resource string) *testutil.WS {
	t.Helper()
	c, err := testutil.DialWS(t, s)
	if err != nil {
		t.Fatalf("websocket: %v", err)
	}
	open := "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>"
	c.Send(open)
	c.Next() // <open/>
	c.Next() // features
	c.Send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+pw)) + "</auth>")
	if el := c.Next(); el.Name() != "success" {
		t.Fatalf("auth: %s", el)
	}
	c.Send(open)
	c.Next()
	c.Next()
	c.Send("<iq type='set' id='b' xmlns='jabber:client'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>" + resource + "</resource></bind></iq>")
	if el := c.Next(); el.Attr("type") != "result" {
		t.Fatalf("bind: %s", el)
	}
	return c
}

// webAcrossNodes: a WebSocket session on one node and a TCP session on
// another exchange messages (RFC 7395 sessions are sessions like any).
func webAcrossNodes(t *testing.T, nodes []*testutil.Server) {
	t.Helper()
	nodes[0].AddUser(t, "wendy", pw)
	nodes[0].AddUser(t, "tom", pw)
	wendy := wsLogin(t, nodes[0], "wendy", "browser")
	seen(t, nodes, "wendy@localhost/browser", false)
	tom := testutil.Login(t, nodes[1], "tom", pw, "tcp")
	seen(t, nodes, "tom@localhost/tcp", false)
	tom.Send("<message to='wendy@localhost/browser' type='chat'><body>to the browser</body></message>")
	for {
		el := wendy.Next()
		if el.Name() == "message" {
			if body(el) != "to the browser" {
				t.Fatalf("wendy got %s", el)
			}
			break
		}
	}
	wendy.Send("<message xmlns='jabber:client' to='tom@localhost/tcp' type='chat'><body>from the browser</body></message>")
	if m := nextMessage(t, tom); body(m) != "from the browser" || m.Attr("from") != "wendy@localhost/browser" {
		t.Fatalf("tom got %s", m)
	}
}
