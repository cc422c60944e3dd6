package web_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/xmppd/xmppd/internal/testutil"
	"github.com/xmppd/xmppd/web"
	"github.com/xmppd/xmppd/xml"
)

const (
	pw    = "ws-password"
	https = `
[[listen]]
type = "http"
address = "127.0.0.1:0"
tls = "direct"
`
)

func insecureClient() *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: 5 * time.Second}
}

// wsClient is testutil's RFC 7395 client with this package's checks of
// the opening and the login.
type wsClient struct {
	*testutil.WS
	t *testing.T
}

func dialWS(t *testing.T, s *testutil.Server, protocols ...string) (*wsClient, error) {
	t.Helper()
	ws, err := testutil.DialWS(t, s, protocols...)
	if err != nil {
		return nil, err
	}
	return &wsClient{WS: ws, t: t}, nil
}

func (c *wsClient) open() (*xml.Element, *xml.Element) {
	c.t.Helper()
	c.Send("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>")
	open := c.Next()
	if open.Name() != "open" || open.NS() != web.NSFraming || open.Attr("from") != "localhost" || open.Attr("id") == "" || open.Attr("version") != "1.0" {
		c.t.Fatalf("open: %s", open.Append(nil, ""))
	}
	feats := c.Next()
	if feats.Name() != "features" || feats.NS() != xml.NSStream {
		c.t.Fatalf("features: %s", feats.Append(nil, ""))
	}
	return open, feats
}

func (c *wsClient) login(user, resource string) {
	c.t.Helper()
	_, feats := c.open()
	mechs := feats.Child("mechanisms", "urn:ietf:params:xml:ns:xmpp-sasl")
	if mechs == nil || feats.Child("starttls", "urn:ietf:params:xml:ns:xmpp-tls") != nil {
		c.t.Fatalf("features over wss: %s", feats.Append(nil, ""))
	}
	plain := false
	for m := range mechs.Children() {
		plain = plain || m.Text() == "PLAIN"
	}
	if !plain {
		// PLAIN only under TLS: the HTTPS connection counts as TLS.
		c.t.Fatalf("no PLAIN over wss: %s", mechs.Append(nil, ""))
	}
	c.Send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+pw)) + "</auth>")
	if el := c.Next(); el.Name() != "success" {
		c.t.Fatalf("auth: %s", el.Append(nil, ""))
	}
	_, feats = c.open()
	if feats.Child("bind", "urn:ietf:params:xml:ns:xmpp-bind") == nil {
		c.t.Fatalf("no bind after auth: %s", feats.Append(nil, ""))
	}
	c.Send("<iq xmlns='jabber:client' type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>" + resource + "</resource></bind></iq>")
	if el := c.Next(); el.Name() != "iq" || el.NS() != xml.NSClient || el.Attr("type") != "result" {
		c.t.Fatalf("bind: %s", el.Append(nil, ""))
	}
}

func TestWebSocketSession(t *testing.T) {
	s := testutil.Start(t, https)
	s.AddUser(t, "alice", pw)
	s.AddUser(t, "bob", pw)
	alice, err := dialWS(t, s)
	if err != nil {
		t.Fatal(err)
	}
	if p := alice.Conn.Subprotocol(); p != "xmpp" {
		t.Fatalf("subprotocol %q", p)
	}
	alice.login("alice", "browser")
	bob := testutil.Login(t, s, "bob", pw, "pc")

	// Stanzas arrive one per frame with jabber:client declared (§3.3.3).
	bob.Send("<message to='alice@localhost/browser' type='chat' id='m1'><body>to the browser &amp; back</body></message>")
	m := alice.Next()
	if m.Name() != "message" || m.NS() != xml.NSClient || m.Attr("from") != "bob@localhost/pc" {
		t.Fatalf("alice got %s", m.Append(nil, ""))
	}
	if b := m.Child("body", xml.NSClient); b == nil || b.Text() != "to the browser & back" {
		t.Fatalf("body: %s", m.Append(nil, ""))
	}
	alice.Send("<message xmlns='jabber:client' to='bob@localhost/pc' type='chat'><body>hi from ws</body></message>")
	if r := bob.NextNamed("message"); r.Attr("from") != "alice@localhost/browser" || r.Child("body", xml.NSClient).Text() != "hi from ws" {
		t.Fatalf("bob got %s", r)
	}
	alice.Send("<iq xmlns='jabber:client' type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>")
	if r := alice.Next(); r.Name() != "iq" || r.Attr("id") != "p" || r.Attr("type") != "result" {
		t.Fatalf("ping: %s", r.Append(nil, ""))
	}

	// §3.6: <close/> is answered with <close/>, and the session ends.
	alice.Send("<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>")
	if c := alice.Next(); c.Name() != "close" || c.NS() != web.NSFraming {
		t.Fatalf("close: %s", c.Append(nil, ""))
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.Sessions() != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := s.Sessions(); n != 1 {
		t.Errorf("%d sessions after close, want 1", n)
	}
}

func TestWebSocketErrors(t *testing.T) {
	s := testutil.Start(t, https)
	// Without the xmpp subprotocol the upgrade is refused (§3.1).
	if c, err := dialWS(t, s, "chat"); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, _, err := c.Conn.Read(ctx); err == nil {
			t.Error("a connection without the xmpp subprotocol was served")
		}
	}
	// Malformed XML in a frame: a stream error frame, then <close/>; the
	// stream error element carries its prefix declaration.
	c, err := dialWS(t, s)
	if err != nil {
		t.Fatal(err)
	}
	c.open()
	c.Send("<message xmlns='jabber:client'><body></message>")
	e := c.Next()
	if e.Name() != "error" || e.NS() != xml.NSStream || e.Child("not-well-formed", "urn:ietf:params:xml:ns:xmpp-streams") == nil {
		t.Fatalf("stream error: %s", e.Append(nil, ""))
	}
	if cl := c.Next(); cl.Name() != "close" {
		t.Fatalf("after the error: %s", cl.Append(nil, ""))
	}

	// A message beyond the stanza limit, and a binary message (§3.3.1:
	// text only), end the connection; the server stays up for others.
	for name, send := range map[string]func(c *wsClient){
		"oversized": func(c *wsClient) {
			// Refused at the frame header: the server may close before
			// the payload is written, so the write may fail.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c.Conn.Write(ctx, websocket.MessageText, []byte("<message xmlns='jabber:client'><body>"+strings.Repeat("x", 300<<10)+"</body></message>"))
		},
		"binary": func(c *wsClient) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c.Conn.Write(ctx, websocket.MessageBinary, []byte("<presence/>"))
		},
	} {
		c, err := dialWS(t, s)
		if err != nil {
			t.Fatal(err)
		}
		c.open()
		send(c)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		for {
			if _, _, err := c.Conn.Read(ctx); err != nil {
				break // closed, as it should be
			}
		}
		if ctx.Err() != nil {
			t.Errorf("%s: the connection stayed open", name)
		}
		cancel()
	}
	ok, err := dialWS(t, s)
	if err != nil {
		t.Fatal(err)
	}
	ok.open() // others are still served
}

// XEP-0156: clients find the WebSocket endpoint through host-meta.
func TestHostMeta(t *testing.T) {
	s := testutil.Start(t, https)
	resp, err := insecureClient().Get("https://" + s.HTTP + "/.well-known/host-meta.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Links []struct{ Rel, Href string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	want := "wss://" + s.HTTP + web.WebSocketPath
	wantBOSH := "https://" + s.HTTP + web.BOSHPath
	if len(doc.Links) != 2 || doc.Links[0].Rel != "urn:xmpp:alt-connections:websocket" || doc.Links[0].Href != want ||
		doc.Links[1].Rel != "urn:xmpp:alt-connections:xbosh" || doc.Links[1].Href != wantBOSH {
		t.Errorf("host-meta.json: %+v, want %s and %s", doc, want, wantBOSH)
	}
	resp2, err := insecureClient().Get("https://" + s.HTTP + "/.well-known/host-meta")
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	b, _ := io.ReadAll(resp2.Body)
	if !strings.Contains(string(b), "href='"+want+"'") || !strings.Contains(string(b), "rel='urn:xmpp:alt-connections:xbosh' href='"+wantBOSH+"'") || resp2.Header.Get("Content-Type") != "application/xrd+xml" {
		t.Errorf("host-meta: %s %s", resp2.Header.Get("Content-Type"), b)
	}
}

// The stream's header and end reach the WebSocket as calls of their own
// (stream.Framer), never sniffed from the output: a stream error answered
// at once (host-unknown) and one queued before any header (the
// authentication timeout on a socket that never sent <open/>) both come
// as <open/>, the error, <close/> (RFC 7395 §3.3.2, §3.6; RFC 6120
// §4.9.1.2).
func TestWebSocketStreamErrorFraming(t *testing.T) {
	s := testutil.Start(t, https+"\n[limits]\nauth_timeout = \"300ms\"\n")
	expect := func(c *wsClient, cond string) *xml.Element {
		t.Helper()
		open := c.Next()
		if open.Name() != "open" || open.NS() != web.NSFraming || open.Attr("id") == "" || open.Attr("version") != "1.0" {
			t.Fatalf("open: %s", open.Append(nil, ""))
		}
		e := c.Next()
		if e.Name() != "error" || e.NS() != xml.NSStream || e.Child(cond, "urn:ietf:params:xml:ns:xmpp-streams") == nil {
			t.Fatalf("stream error: %s", e.Append(nil, ""))
		}
		if cl := c.Next(); cl.Name() != "close" || cl.NS() != web.NSFraming {
			t.Fatalf("after the error: %s", cl.Append(nil, ""))
		}
		return open
	}

	c, err := dialWS(t, s)
	if err != nil {
		t.Fatal(err)
	}
	c.Send("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='unknown.example' version='1.0'/>")
	if open := expect(c, "host-unknown"); open.Attr("from") != "localhost" {
		// §4.7.1: we answer as our default domain before host-unknown.
		t.Errorf("open from %q", open.Attr("from"))
	}

	c, err = dialWS(t, s)
	if err != nil {
		t.Fatal(err)
	}
	expect(c, "connection-timeout") // nothing sent: the timeout ends it
}
