package component_test

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xmppd/xmppd/component"
	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/xml"
)

const (
	pw     = "password1"
	secret = "s3cret-component"
	conf   = `
[[listen]]
type = "component"
address = "127.0.0.1:0"

[[component]]
domain = "gw.localhost"
secret = "` + secret + `"
name = "Gateway"

[[component]]
domain = "bot.elsewhere.test"
secret = "another-secret"
`
)

// dialComponent opens a component stream to domain; it returns the client
// and the header the server answered with.
func dialComponent(t *testing.T, s *testutil.Server, domain string) (*testutil.Client, *xml.Header) {
	t.Helper()
	c := testutil.NewClient(t, testutil.Dial(t, s.Component))
	c.Send("<?xml version='1.0'?><stream:stream xmlns='%s' xmlns:stream='%s' to='%s'>", component.NS, xml.NSStream, domain)
	h, err := c.ReadHeader()
	if err != nil {
		t.Fatalf("component header: %v", err)
	}
	return c, h
}

func handshake(id, secret string) string {
	sum := sha1.Sum([]byte(id + secret))
	return hex.EncodeToString(sum[:])
}

// connect completes the XEP-0114 handshake for gw.localhost.
func connect(t *testing.T, s *testutil.Server) *testutil.Client {
	t.Helper()
	// A stream of the same domain that the test just closed may still be
	// ending on the server (it unregisters once its reader sees the
	// close): a conflict is retried for a while, not forever.
	for deadline := time.Now().Add(5 * time.Second); ; {
		c, h := dialComponent(t, s, "gw.localhost")
		if h.DefaultNS != component.NS || h.Attr("from") != "gw.localhost" || h.Attr("id") == "" {
			t.Fatalf("header: %+v", h)
		}
		c.Send("<handshake>%s</handshake>", handshake(h.Attr("id"), secret))
		el := c.Next()
		if el.Name() == "handshake" && el.FirstChild() == nil && el.Text() == "" {
			return c
		}
		if el.Name() != "error" || el.Child("conflict", "urn:ietf:params:xml:ns:xmpp-streams") == nil || time.Now().After(deadline) {
			t.Fatalf("handshake answer: %s", el.Append(nil, ""))
		}
		c.Close()
		time.Sleep(20 * time.Millisecond)
	}
}

func TestComponentExchangesStanzas(t *testing.T) {
	s := testutil.Start(t, conf)
	s.AddUser(t, "alice", pw)
	gw := connect(t, s)
	alice := testutil.Login(t, s, "alice", pw, "phone")

	// A user's stanzas to the component's domain (and JIDs at it) reach it,
	// 'from' stamped, in the component namespace.
	alice.Send("<message to='bob@gw.localhost' type='chat' id='m1'><body>hi gateway</body></message>")
	el := gw.Next()
	if el.Name() != "message" || el.NS() != component.NS || el.Attr("from") != "alice@localhost/phone" || el.Attr("to") != "bob@gw.localhost" {
		t.Fatalf("component got %s", el.Append(nil, ""))
	}
	if b := el.Child("body", component.NS); b == nil || b.Text() != "hi gateway" {
		t.Fatalf("body lost: %s", el.Append(nil, ""))
	}
	alice.Send("<iq to='gw.localhost' type='get' id='q1'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	if el := gw.Next(); el.Name() != "iq" || el.Attr("id") != "q1" || el.Child("query", "http://jabber.org/protocol/disco#info") == nil {
		t.Fatalf("component got %s", el.Append(nil, ""))
	}

	// The component's stanzas reach the user, in jabber:client.
	gw.Send("<message from='bob@gw.localhost/x' to='alice@localhost/phone' type='chat'><body>hello alice</body></message>")
	gw.Send("<iq from='gw.localhost' to='alice@localhost/phone' type='result' id='q1'><query xmlns='http://jabber.org/protocol/disco#info'><identity category='gateway' type='irc'/></query></iq>")
	m := alice.NextNamed("message")
	if m.Attr("from") != "bob@gw.localhost/x" || m.Child("body", xml.NSClient) == nil || m.Child("body", xml.NSClient).Text() != "hello alice" {
		t.Fatalf("alice got %s", m.Append(nil, ""))
	}
	if r := alice.NextNamed("iq"); r.Attr("id") != "q1" || r.Attr("type") != "result" || r.Attr("from") != "gw.localhost" {
		t.Fatalf("alice got %s", r.Append(nil, ""))
	}

	// The host lists the component in its disco#items (XEP-0030 §4): the
	// parent is derived from the domain; the other component's domain is
	// not under any host and is not listed.
	alice.Send("<iq to='localhost' type='get' id='it'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>")
	r := alice.NextNamed("iq")
	var items []string
	for it := range r.Child("query", "http://jabber.org/protocol/disco#items").Children() {
		items = append(items, it.Attr("jid")+"|"+it.Attr("name"))
	}
	if !slices.Contains(items, "gw.localhost|Gateway") || slices.ContainsFunc(items, func(s string) bool { return strings.HasPrefix(s, "bot.elsewhere.test") }) {
		t.Errorf("host disco#items: %v", items)
	}

	// A stanza from the component for a user that does not exist is
	// answered to the component like any sender (RFC 6121 §8.5.1).
	gw.Send("<message from='bob@gw.localhost' to='nobody@localhost' type='chat' id='m2'><body>?</body></message>")
	if e := gw.Next(); e.Attr("type") != "error" || e.Attr("id") != "m2" || e.Attr("to") != "bob@gw.localhost" {
		t.Fatalf("bounce to component: %s", e.Append(nil, ""))
	}
}

func TestComponentNotConnected(t *testing.T) {
	s := testutil.Start(t, conf)
	s.AddUser(t, "alice", pw)
	alice := testutil.Login(t, s, "alice", pw, "phone")
	// Configured but not connected: the domain exists, the service is not
	// there (service-unavailable), not remote-server-not-found.
	alice.Send("<iq to='gw.localhost' type='get' id='q'><query xmlns='urn:xmpp:ping'/></iq>")
	if r := alice.NextNamed("iq"); r.Attr("type") != "error" || r.Child("error", "").Child(stanza.ServiceUnavailable, stanza.NSStanzas) == nil {
		t.Fatalf("reply: %s", r.Append(nil, ""))
	}
	// After the component leaves, the same again.
	gw := connect(t, s)
	gw.Send("</stream:stream>")
	if _, err := gw.TryNext(); !errors.Is(err, xml.ErrStreamEnd) {
		t.Fatalf("after the component's close: %v", err)
	}
	alice.Send("<message to='x@gw.localhost' type='chat' id='m'><body>x</body></message>")
	if r := alice.NextNamed("message"); r.Attr("type") != "error" || r.Attr("id") != "m" {
		t.Fatalf("reply: %s", r.Append(nil, ""))
	}
}

func TestComponentStreamErrors(t *testing.T) {
	s := testutil.Start(t, conf)
	tests := []struct {
		name string
		run  func(t *testing.T) string
	}{
		{"wrong secret", func(t *testing.T) string {
			c, h := dialComponent(t, s, "gw.localhost")
			c.Send("<handshake>%s</handshake>", handshake(h.Attr("id"), "not the secret"))
			return c.ExpectStreamError()
		}},
		{"handshake for another stream id", func(t *testing.T) string {
			c, _ := dialComponent(t, s, "gw.localhost")
			c.Send("<handshake>%s</handshake>", handshake("someid", secret))
			return c.ExpectStreamError()
		}},
		{"unknown domain", func(t *testing.T) string {
			c, _ := dialComponent(t, s, "unknown.localhost")
			return c.ExpectStreamError()
		}},
		{"client namespace", func(t *testing.T) string {
			c := testutil.NewClient(t, testutil.Dial(t, s.Component))
			c.Send("<stream:stream xmlns='jabber:client' xmlns:stream='%s' to='gw.localhost'>", xml.NSStream)
			if _, err := c.ReadHeader(); err != nil {
				t.Fatal(err)
			}
			return c.ExpectStreamError()
		}},
		{"stanza before handshake", func(t *testing.T) string {
			c, _ := dialComponent(t, s, "gw.localhost")
			c.Send("<message from='gw.localhost' to='alice@localhost'/>")
			return c.ExpectStreamError()
		}},
		{"from outside its domain", func(t *testing.T) string {
			c := connect(t, s)
			defer c.Close()
			c.Send("<message from='alice@localhost' to='bob@localhost'><body>spoof</body></message>")
			return c.ExpectStreamError()
		}},
		{"oversized stanza", func(t *testing.T) string {
			c := connect(t, s)
			defer c.Close()
			c.Send("<message from='x@gw.localhost' to='a@localhost'><body>%s</body></message>", strings.Repeat("x", 300<<10))
			return c.ExpectStreamError()
		}},
		{"not well-formed", func(t *testing.T) string {
			c := connect(t, s)
			defer c.Close()
			c.Send("<message from='x@gw.localhost' to='a@localhost'><body></message>")
			return c.ExpectStreamError()
		}},
	}
	want := []string{stanza.StreamNotAuthorized, stanza.StreamNotAuthorized, stanza.StreamHostUnknown, stanza.StreamInvalidNamespace,
		stanza.StreamNotAuthorized, stanza.StreamInvalidFrom, stanza.StreamPolicyViolation, stanza.StreamNotWellFormed}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.run(t); got != want[i] {
				t.Errorf("stream error %q, want %q", got, want[i])
			}
		})
	}
}

// One program per domain: a second connection is refused while the first
// stays up and keeps getting stanzas.
func TestComponentConflict(t *testing.T) {
	s := testutil.Start(t, conf)
	s.AddUser(t, "alice", pw)
	first := connect(t, s)
	c, h := dialComponent(t, s, "gw.localhost")
	c.Send("<handshake>%s</handshake>", handshake(h.Attr("id"), secret))
	if got := c.ExpectStreamError(); got != stanza.StreamConflict {
		t.Fatalf("second component: %q, want conflict", got)
	}
	alice := testutil.Login(t, s, "alice", pw, "phone")
	alice.Send("<message to='gw.localhost' type='normal'><body>still there?</body></message>")
	if el := first.Next(); el.Name() != "message" {
		t.Fatalf("first component got %s", el.Append(nil, ""))
	}
}

// A component that sends to a full JID right after its session bound
// reaches that session, not offline storage: the bind result leaves only
// once the router knows the session (RFC 6120 §7.6.1, RFC 6121
// §8.5.3.2.1). Without that, about one try in ten failed in a race build.
func TestComponentMessageRightAfterBind(t *testing.T) {
	s := testutil.Start(t, conf)
	s.AddUser(t, "alice", pw)
	gw := connect(t, s)
	for i := range 10 {
		alice := testutil.Login(t, s, "alice", pw, "phone")
		gw.Send("<message from='bob@gw.localhost' to='alice@localhost/phone' type='chat' id='m%d'><body>hi</body></message>", i)
		if m := alice.Next(); m.Name() != "message" || m.Attr("id") != fmt.Sprintf("m%d", i) {
			t.Fatalf("try %d: alice got %s", i, m.Append(nil, ""))
		}
		alice.Close()
	}
}
