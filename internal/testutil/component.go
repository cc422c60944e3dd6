package testutil

import (
	"crypto/sha1"
	"encoding/hex"
	"testing"

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
