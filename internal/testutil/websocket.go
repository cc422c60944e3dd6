package testutil

import (
	"context"
	"crypto/tls"
	"net/http"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/xmppd/xmppd/web"
	"github.com/xmppd/xmppd/xml"
)

// WS is a raw RFC 7395 client on a server's https listener: one element
// per WebSocket message, each parsed on its own.
type WS struct {
	t    testing.TB
	Conn *websocket.Conn
}

// DialWS opens a WebSocket to s's XMPP endpoint offering protocols ("xmpp"
// when none), trusting any certificate. The error is returned, not
// fatal, for tests of a refused upgrade.
func DialWS(t testing.TB, s *Server, protocols ...string) (*WS, error) {
	t.Helper()
	if protocols == nil {
		protocols = []string{"xmpp"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "wss://"+s.HTTP+web.WebSocketPath, &websocket.DialOptions{
		Subprotocols: protocols,
		HTTPClient:   &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: Timeout},
	})
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { ws.CloseNow() })
	return &WS{t: t, Conn: ws}, nil
}

// Send writes frame as one text message.
func (c *WS) Send(frame string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	if err := c.Conn.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// Next reads one message and parses it as one element.
func (c *WS) Next() *xml.Element {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	typ, msg, err := c.Conn.Read(ctx)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	if typ != websocket.MessageText {
		c.t.Fatalf("binary message")
	}
	// Each frame must stand alone: parse it in a neutral wrapper.
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
