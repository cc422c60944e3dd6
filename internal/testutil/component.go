package testutil

import (
	"crypto/sha1"
	"encoding/hex"
	"testing"
	"time"

	"github.com/xmppd/xmppd/component"
	"github.com/xmppd/xmppd/xml"
)

// DialComponent opens a component stream (XEP-0114) to s's component
// listener as domain and sends the handshake made with secret; it returns
// the client and the server's answer (<handshake/> or a stream error).
func DialComponent(t testing.TB, s *Server, domain, secret string) (*Client, *xml.Element) {
	t.Helper()
	c := NewClient(t, Dial(t, s.Component))
	c.Send("<?xml version='1.0'?><stream:stream xmlns='%s' xmlns:stream='%s' to='%s'>", component.NS, xml.NSStream, domain)
	h, err := c.ReadHeader()
	if err != nil {
		t.Fatalf("component header: %v", err)
	}
	sum := sha1.Sum([]byte(h.Attr("id") + secret))
	c.Send("<handshake>%s</handshake>", hex.EncodeToString(sum[:]))
	return c, c.Next()
}

// ConnectComponent is DialComponent for a handshake that must succeed.
func ConnectComponent(t testing.TB, s *Server, domain, secret string) *Client {
	t.Helper()
	c, el := DialComponent(t, s, domain, secret)
	if el.Name() != "handshake" {
		t.Fatalf("handshake: %s", el)
	}
	return c
}

// NothingArrives checks that nothing more reaches the component comp:
// after pause, sender sends a message with id 'fence' to fenceTo (an
// address of the component), which must be the next thing comp reads.
// The pause bounds a non-event: what the server sends from goroutines of
// its own (push notifications) can start after any fence, so the time one
// gets to show up is all there is; it is no wait for an event.
func NothingArrives(t testing.TB, comp, sender *Client, fenceTo string, pause time.Duration, why string) {
	t.Helper()
	time.Sleep(pause)
	sender.Send("<message to='%s' id='fence'><body>fence</body></message>", fenceTo)
	if el := comp.Next(); el.Name() != "message" || el.Attr("id") != "fence" {
		t.Fatalf("%s: the component got %s", why, el)
	}
}
