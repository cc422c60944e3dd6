package cluster_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/xml"
)

// wsSession is an RFC 7395 client on a node's http listener: one element
// per WebSocket message.
type wsSession struct {
	t  *testing.T
	ws *websocket.Conn
}

func (c *wsSession) send(frame string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

func (c *wsSession) next() *xml.Element {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, msg, err := c.ws.Read(ctx)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	d := xml.NewDecoder(strings.NewReader("<w>"+string(msg)+"</w>"), xml.DefaultLimits())
	if _, err := d.ReadHeader(); err != nil {
		c.t.Fatal(err)
	}
	el, err := d.Next()
	if err != nil {
		c.t.Fatalf("frame %q: %v", msg, err)
	}
	return el
}

// wsLogin opens a WebSocket XMPP session on s (PLAIN over wss, bind).
func wsLogin(t *testing.T, s *testutil.Server, user, resource string) *wsSession {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "wss://"+s.HTTP+"/xmpp-websocket", &websocket.DialOptions{
		Subprotocols: []string{"xmpp"},
		HTTPClient:   &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}},
	})
	if err != nil {
		t.Fatalf("websocket: %v", err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	c := &wsSession{t: t, ws: ws}
	open := "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>"
	c.send(open)
	c.next() // <open/>
	c.next() // features
	c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+pw)) + "</auth>")
	if el := c.next(); el.Name() != "success" {
		t.Fatalf("auth: %s", el)
	}
	c.send(open)
	c.next()
	c.next()
	c.send("<iq type='set' id='b' xmlns='jabber:client'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>" + resource + "</resource></bind></iq>")
	if el := c.next(); el.Attr("type") != "result" {
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
		el := wendy.next()
		if el.Name() == "message" {
			if body(el) != "to the browser" {
				t.Fatalf("wendy got %s", el)
			}
			break
		}
	}
	wendy.send("<message xmlns='jabber:client' to='tom@localhost/tcp' type='chat'><body>from the browser</body></message>")
	if m := nextMessage(t, tom); body(m) != "from the browser" || m.Attr("from") != "wendy@localhost/browser" {
		t.Fatalf("tom got %s", m)
	}
}
