package component_test

import (
	"fmt"
	"testing"

	"github.com/xmppd/xmppd/component"
	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/xml"
)

// A component's header gets the checks every stream's header gets (RFC
// 6120 §4.8 content namespace, §4.7.5 version) under XEP-0114's rules:
// 'to' names a configured component (§3: host-unknown otherwise), and the
// stream is pre-1.0, so a header without version or with 1.0 is welcome,
// our answer carries no version and no features, and a major version
// above ours is unsupported-version. Each refused header gets our header,
// its stream error and the closing tag, and its connection ends; the
// component connected meanwhile goes on.
func TestComponentHeaders(t *testing.T) {
	s := testutil.Start(t, conf)
	s.AddUser(t, "alice", pw)
	gw := connect(t, s)
	alice := testutil.Login(t, s, "alice", pw, "phone")
	const streams = "xmlns:stream='" + xml.NSStream + "'"
	for i, tc := range []struct{ name, header, cond string }{
		{"client namespace", "<stream:stream xmlns='jabber:client' " + streams + " to='bot.elsewhere.test'>", stanza.StreamInvalidNamespace},
		{"server namespace", "<stream:stream xmlns='jabber:server' " + streams + " to='bot.elsewhere.test'>", stanza.StreamInvalidNamespace},
		{"no content namespace", "<stream:stream " + streams + " to='bot.elsewhere.test'>", stanza.StreamInvalidNamespace},
		{"stream in another namespace", "<stream:stream xmlns='" + component.NS + "' xmlns:stream='urn:example' to='bot.elsewhere.test'>", stanza.StreamInvalidNamespace},
		{"not a stream", "<stream:features xmlns='" + component.NS + "' " + streams + " to='bot.elsewhere.test'>", stanza.StreamInvalidNamespace},
		{"no to", "<stream:stream xmlns='" + component.NS + "' " + streams + ">", stanza.StreamHostUnknown},
		{"to a host, not a component", "<stream:stream xmlns='" + component.NS + "' " + streams + " to='localhost'>", stanza.StreamHostUnknown},
		{"version 2", "<stream:stream xmlns='" + component.NS + "' " + streams + " to='bot.elsewhere.test' version='2.0'>", stanza.StreamUnsupportedVersion},
		{"version not a number", "<stream:stream xmlns='" + component.NS + "' " + streams + " to='bot.elsewhere.test' version='one'>", stanza.StreamUnsupportedVersion},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testutil.NewClient(t, testutil.Dial(t, s.Component))
			c.Send("%s", "<?xml version='1.0'?>"+tc.header)
			h, err := c.ReadHeader()
			if err != nil {
				t.Fatalf("our header before the error (RFC 6120 §4.9.1.2): %v", err)
			}
			if h.DefaultNS != component.NS || h.Attr("version") != "" || h.Attr("id") == "" {
				t.Errorf("our header: %+v", h)
			}
			if got := c.ExpectStreamError(); got != tc.cond {
				t.Errorf("stream error %q, want %q", got, tc.cond)
			}
			c.ExpectClosed()
			// The component connected before is not disturbed.
			id := fmt.Sprintf("after%d", i)
			alice.Send("<message to='gw.localhost' id='%s'><body>still there?</body></message>", id)
			if el := gw.Next(); el.Name() != "message" || el.Attr("id") != id {
				t.Fatalf("connected component got %s", el.Append(nil, ""))
			}
		})
	}

	// XEP-0114 predates XMPP 1.0's features; a component library that
	// announces version 1.0 still gets the pre-1.0 answer and completes
	// its handshake.
	t.Run("version 1.0", func(t *testing.T) {
		c := testutil.NewClient(t, testutil.Dial(t, s.Component))
		c.Send("<?xml version='1.0'?><stream:stream xmlns='%s' %s to='bot.elsewhere.test' version='1.0'>", component.NS, streams)
		h, err := c.ReadHeader()
		if err != nil {
			t.Fatal(err)
		}
		if h.Attr("version") != "" || h.Attr("from") != "bot.elsewhere.test" {
			t.Errorf("our header: %+v", h)
		}
		c.Send("<handshake>%s</handshake>", handshake(h.Attr("id"), "another-secret"))
		if el := c.Next(); el.Name() != "handshake" {
			t.Fatalf("handshake answer: %s", el.Append(nil, ""))
		}
	})
}
