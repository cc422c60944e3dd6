package testutil

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/xdg-go/scram"

	"github.com/xmppd/xmppd/xml"
)

// Client is a wire-level XMPP client for tests: it writes raw XML and reads
// elements, so tests can send exactly what they mean, malformed included.
// SCRAM is done by github.com/xdg-go/scram's client, an implementation
// independent of ours.
type Client struct {
	t      testing.TB
	Conn   net.Conn
	dec    *xml.Decoder
	Header *xml.Header
	JID    string
	TLS    *tls.ConnectionState
	reqs   int // ids of Request's iqs
}

// Timeout bounds every read of a test client.
var Timeout = 10 * time.Second

// NewClient wraps conn.
func NewClient(t testing.TB, conn net.Conn) *Client {
	return &Client{t: t, Conn: conn, dec: xml.NewDecoder(conn, xml.Limits{MaxStanzaBytes: 1 << 22, MaxDepth: 100, MaxAttrs: 100})}
}

// Send writes raw XML.
func (c *Client) Send(format string, args ...any) {
	c.t.Helper()
	s := format
	if len(args) > 0 {
		s = fmt.Sprintf(format, args...)
	}
	c.Conn.SetWriteDeadline(time.Now().Add(Timeout))
	if _, err := c.Conn.Write([]byte(s)); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// Open sends a stream header to domain and reads the server's header and
// features.
func (c *Client) Open(domain string) *xml.Element {
	c.t.Helper()
	c.Send("<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='%s' version='1.0'>", domain)
	return c.ReadHeaderAndFeatures()
}

// ReadHeaderAndFeatures reads the server's stream header and features.
func (c *Client) ReadHeaderAndFeatures() *xml.Element {
	c.t.Helper()
	c.Conn.SetReadDeadline(time.Now().Add(Timeout))
	h, err := c.dec.ReadHeader()
	if err != nil {
		c.t.Fatalf("read stream header: %v", err)
	}
	c.Header = h
	f := c.Next()
	if f.Name() != "features" || f.NS() != xml.NSStream {
		c.t.Fatalf("expected stream features, got %s", f)
	}
	return f
}

// Next reads one element or fails the test.
func (c *Client) Next() *xml.Element {
	c.t.Helper()
	el, err := c.TryNext()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return el
}

// TryNext reads one element.
func (c *Client) TryNext() (*xml.Element, error) {
	c.Conn.SetReadDeadline(time.Now().Add(Timeout))
	return c.dec.Next()
}

// ReadHeader reads a stream header only (after an error before features).
func (c *Client) ReadHeader() (*xml.Header, error) {
	c.Conn.SetReadDeadline(time.Now().Add(Timeout))
	return c.dec.ReadHeader()
}

// NextNamed skips elements until one named name arrives (presence noise).
func (c *Client) NextNamed(name string) *xml.Element {
	c.t.Helper()
	for {
		el := c.Next()
		if el.Name() == name {
			return el
		}
	}
}

// IQ sends a request (format and args as for Send) and returns the iq
// answering it, the first with the given id; what comes before is
// skipped.
func (c *Client) IQ(id, format string, args ...any) *xml.Element {
	c.t.Helper()
	c.Send(format, args...)
	for {
		if el := c.NextNamed("iq"); el.Attr("id") == id {
			return el
		}
	}
}

// Request sends an iq whose format's first %s is its id, which Request
// picks (unique on this client), and returns the reply and the messages
// that arrived before it; other stanzas are skipped.
func (c *Client) Request(format string, args ...any) (reply *xml.Element, msgs []*xml.Element) {
	c.t.Helper()
	c.reqs++
	id := fmt.Sprintf("req%d", c.reqs)
	c.Send("%s", fmt.Sprintf(format, append([]any{id}, args...)...))
	for {
		el := c.Next()
		switch {
		case el.Name() == "iq" && el.Attr("id") == id:
			return el, msgs
		case el.Name() == "message":
			msgs = append(msgs, el)
		}
	}
}

// Sync returns the messages that arrived at c so far: the session handles
// stanzas in order, so a ping's result comes after everything routed to
// c before it.
func (c *Client) Sync() []*xml.Element {
	c.t.Helper()
	_, msgs := c.Request("<iq type='get' id='%s' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
	return msgs
}

// Expect reads until a stanza named name from 'from' with type typ
// arrives and returns it; other stanzas are skipped.
func (c *Client) Expect(name, from, typ string) *xml.Element {
	c.t.Helper()
	for {
		el := c.Next()
		if el.Name() == name && el.Attr("from") == from && el.Attr("type") == typ {
			return el
		}
	}
}

// Quiet checks that nothing arrives, using a ping as a fence: the server
// handles one client's stanzas in order, so anything routed to c before
// the ping's result is reported as an error about what.
func (c *Client) Quiet(what string) {
	c.t.Helper()
	c.Send("<iq type='get' id='fence'><ping xmlns='urn:xmpp:ping'/></iq>")
	for {
		el := c.Next()
		if el.Name() == "iq" && el.Attr("id") == "fence" {
			return
		}
		c.t.Errorf("%s: unexpected %s", what, el)
	}
}

// ExpectStreamError reads until a stream error and returns its condition;
// then the stream must end.
func (c *Client) ExpectStreamError() string {
	c.t.Helper()
	for {
		el, err := c.TryNext()
		if err != nil {
			c.t.Fatalf("expected a stream error, got %v", err)
		}
		if el.Name() == "error" && el.NS() == xml.NSStream {
			cond := ""
			if ch := el.FirstChild(); ch != nil {
				cond = ch.Name()
			}
			if _, err := c.TryNext(); !errors.Is(err, xml.ErrStreamEnd) {
				c.t.Errorf("after stream error %s: expected </stream:stream>, got %v", cond, err)
			}
			return cond
		}
	}
}

// StartTLS upgrades the stream (RFC 6120 §5) and reopens it.
func (c *Client) StartTLS(domain string) *xml.Element {
	c.t.Helper()
	c.Send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
	if el := c.Next(); el.Name() != "proceed" {
		c.t.Fatalf("starttls: got %s", el)
	}
	tc := tls.Client(c.Conn, &tls.Config{ServerName: domain, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12})
	tc.SetDeadline(time.Now().Add(Timeout))
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("tls handshake: %v", err)
	}
	tc.SetDeadline(time.Time{})
	st := tc.ConnectionState()
	c.TLS = &st
	c.Conn = tc
	c.dec.Reset(tc)
	return c.Open(domain)
}

// SASLResult is the outcome of Auth.
type SASLResult struct {
	OK        bool
	Condition string // failure condition when !OK
}

// AuthSCRAM runs a SCRAM exchange with mech ("SCRAM-SHA-256",
// "SCRAM-SHA-1-PLUS", ...). cb overrides the channel binding sent for -PLUS
// (nil: the real one of the connection for cbType).
func (c *Client) AuthSCRAM(mech, user, pass, cbType string, cb []byte) SASLResult {
	c.t.Helper()
	var hf scram.HashGeneratorFcn
	switch strings.TrimSuffix(mech, "-PLUS") {
	case "SCRAM-SHA-1":
		hf = scram.SHA1
	case "SCRAM-SHA-256":
		hf = scram.SHA256
	case "SCRAM-SHA-512":
		hf = scram.SHA512
	default:
		c.t.Fatalf("unknown mechanism %s", mech)
	}
	cl, err := hf.NewClient(user, pass, "")
	if err != nil {
		c.t.Fatal(err)
	}
	var conv *scram.ClientConversation
	if strings.HasSuffix(mech, "-PLUS") {
		var b scram.ChannelBinding
		switch cbType {
		case "tls-exporter":
			b, err = scram.NewTLSExporterBinding(c.TLS)
		case "tls-server-end-point":
			b, err = scram.NewTLSServerEndpointBinding(c.TLS)
		default:
			c.t.Fatalf("unknown channel binding %q", cbType)
		}
		if err != nil {
			c.t.Fatalf("channel binding: %v", err)
		}
		if cb != nil {
			b.Data = cb
		}
		conv = cl.NewConversationWithChannelBinding(b)
	} else if cbType == "y" {
		// The 'y' flag (RFC 5802 §6): "I could bind but think you cannot".
		conv = cl.NewConversationAdvertisingChannelBinding()
	} else {
		conv = cl.NewConversation()
	}
	first, err := conv.Step("")
	if err != nil {
		c.t.Fatal(err)
	}
	c.Send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='%s'>%s</auth>", mech, base64.StdEncoding.EncodeToString([]byte(first)))
	for {
		el := c.Next()
		switch el.Name() {
		case "challenge":
			ch, err := base64.StdEncoding.DecodeString(el.Text())
			if err != nil {
				c.t.Fatalf("challenge: %v", err)
			}
			resp, err := conv.Step(string(ch))
			if err != nil {
				c.t.Fatalf("client step: %v", err)
			}
			c.Send("<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>%s</response>", base64.StdEncoding.EncodeToString([]byte(resp)))
		case "success":
			add, err := base64.StdEncoding.DecodeString(el.Text())
			if err != nil {
				c.t.Fatalf("success data: %v", err)
			}
			if _, err := conv.Step(string(add)); err != nil || !conv.Valid() {
				c.t.Fatalf("server signature not valid: %v", err)
			}
			return SASLResult{OK: true}
		case "failure":
			cond := ""
			if ch := el.FirstChild(); ch != nil {
				cond = ch.Name()
			}
			return SASLResult{Condition: cond}
		default:
			c.t.Fatalf("unexpected %s during SASL", el)
		}
	}
}

// AuthPLAIN authenticates with PLAIN.
func (c *Client) AuthPLAIN(user, pass string) SASLResult {
	c.t.Helper()
	c.Send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>", base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+pass)))
	el := c.Next()
	if el.Name() == "success" {
		return SASLResult{OK: true}
	}
	cond := ""
	if ch := el.FirstChild(); ch != nil {
		cond = ch.Name()
	}
	return SASLResult{Condition: cond}
}

// Bind binds resource ("" lets the server choose) and returns the full JID.
func (c *Client) Bind(resource string) string {
	c.t.Helper()
	if resource == "" {
		c.Send("<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
	} else {
		c.Send("<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>%s</resource></bind></iq>", resource)
	}
	el := c.Next()
	if el.Attr("type") != "result" || el.Attr("id") != "bind1" {
		c.t.Fatalf("bind: %s", el)
	}
	j := el.Child("bind", "urn:ietf:params:xml:ns:xmpp-bind").Child("jid", "").Text()
	c.JID = j
	return j
}

// Login connects to s, does STARTTLS, SCRAM-SHA-256 and binds resource.
func Login(t testing.TB, s *Server, user, pass, resource string) *Client {
	t.Helper()
	domain := "localhost"
	if _, d, ok := strings.Cut(user, "@"); ok {
		domain = d
		user = user[:strings.IndexByte(user, '@')]
	}
	c := NewClient(t, Dial(t, s.StartTLS))
	c.Open(domain)
	c.StartTLS(domain)
	if r := c.AuthSCRAM("SCRAM-SHA-256", user, pass, "", nil); !r.OK {
		t.Fatalf("login %s: %s", user, r.Condition)
	}
	c.dec.Reset(c.Conn)
	c.Open(domain)
	c.Bind(resource)
	return c
}

// Restart reopens the stream after SASL success.
func (c *Client) Restart(domain string) *xml.Element {
	c.dec.Reset(c.Conn)
	return c.Open(domain)
}

// Close sends the closing tag and closes the socket.
func (c *Client) Close() {
	c.Conn.SetWriteDeadline(time.Now().Add(time.Second))
	c.Conn.Write([]byte("</stream:stream>"))
	c.Conn.Close()
}
