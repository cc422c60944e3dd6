package main

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/xdg-go/scram"

	"github.com/xmppd/xmppd/xml"
)

// loginOptions says how to reach the server and authenticate.
type loginOptions struct {
	addr       string
	domain     string
	password   string
	mech       string        // "SCRAM-SHA-256", "SCRAM-SHA-1" or "PLAIN"
	transport  string        // "starttls", "direct" (TLS from the first byte) or "none" (plain TCP, loopback tests)
	curves     []tls.CurveID // key exchanges offered (-curves); nil: crypto/tls's default
	noPresence bool          // skip the initial presence (the roster scenario sends it itself)
	timeout    time.Duration
	srcAddrs   []net.IP // loopback source addresses, used round robin
}

// session is one logged-in client stream. It keeps only the TLS connection
// and a small decoder, so that the tool can hold tens of thousands of them.
type session struct {
	conn net.Conn
	dec  *xml.Decoder
	jid  string
	wmu  sync.Mutex

	// waiters are the IQ requests awaiting an answer while a reader
	// goroutine (startReader) owns the decoder.
	mu      sync.Mutex
	waiters map[string]*waiter
}

// scramClients caches one xdg-go/scram client per user: the client caches
// the salted password per (salt, iterations), so only the first login of an
// account pays for PBKDF2 on the load-generator side.
var scramClients sync.Map

func scramClient(mech, user, pass string) (*scram.Client, error) {
	key := mech + "\x00" + user + "\x00" + pass
	if c, ok := scramClients.Load(key); ok {
		return c.(*scram.Client), nil
	}
	hf := scram.SHA256
	if mech == "SCRAM-SHA-1" {
		hf = scram.SHA1
	}
	c, err := hf.NewClient(user, pass, "")
	if err != nil {
		return nil, err
	}
	c2, _ := scramClients.LoadOrStore(key, c)
	return c2.(*scram.Client), nil
}

var errUnexpected = errors.New("unexpected element")

func (s *session) send(format string, args ...any) error {
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	return s.sendRaw(msg)
}

// sendRaw writes msg as it is (no formatting: it may contain '%').
func (s *session) sendRaw(msg string) error {
	return s.write([]byte(msg))
}

// write sends b, which the caller may reuse once it returns.
func (s *session) write(b []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_, err := s.conn.Write(b)
	return err
}

func (s *session) open(domain string) (*xml.Element, error) {
	if err := s.send("<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='%s' version='1.0'>", domain); err != nil {
		return nil, err
	}
	if _, err := s.dec.ReadHeader(); err != nil {
		return nil, fmt.Errorf("stream header: %w", err)
	}
	f, err := s.dec.Next()
	if err != nil {
		return nil, fmt.Errorf("stream features: %w", err)
	}
	if f.Name() != "features" {
		return nil, fmt.Errorf("%w: expected features, got %s", errUnexpected, f)
	}
	return f, nil
}

// login runs connect, TLS, SASL, bind and initial presence, then confirms
// with a ping that the server has handled all of it (a session's stanzas
// are handled in order). The connection's deadline is cleared on success.
func login(o *loginOptions, idx int, user, resource string) (*session, error) {
	s, err := authed(o, idx, user)
	if err != nil {
		return nil, err
	}
	if err := s.login(o, resource); err != nil {
		s.conn.Close()
		return nil, err
	}
	s.conn.SetDeadline(time.Time{})
	return s, nil
}

func (s *session) login(o *loginOptions, resource string) error {
	if err := s.bind(resource); err != nil {
		return err
	}
	if !o.noPresence {
		if err := s.send("<presence/>"); err != nil {
			return err
		}
	}
	return s.ping(o.domain, "p0")
}

// authed connects, authenticates and opens the stream that follows SASL
// (RFC 6120 §6.4.6): what comes next is bind, or a resumption.
func authed(o *loginOptions, idx int, user string) (*session, error) {
	s, err := connect(o, idx)
	if err != nil {
		return nil, err
	}
	if err := s.auth(o, user); err != nil {
		s.conn.Close()
		return nil, err
	}
	s.dec.Reset(s.conn)
	if _, err := s.open(o.domain); err != nil {
		s.conn.Close()
		return nil, err
	}
	return s, nil
}

// bind binds resource (RFC 6120 §7) and keeps the full JID.
func (s *session) bind(resource string) error {
	if err := s.send("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>%s</resource></bind></iq>", resource); err != nil {
		return err
	}
	el, err := s.dec.Next()
	if err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	if el.Name() != "iq" || el.Attr("type") != "result" {
		return fmt.Errorf("%w: bind: %s", errUnexpected, el)
	}
	if b := el.Child("bind", "urn:ietf:params:xml:ns:xmpp-bind"); b != nil {
		if j := b.Child("jid", ""); j != nil {
			s.jid = j.Text()
		}
	}
	return nil
}

// secure opens the stream on nc and, unless the transport is "none",
// brings TLS up: STARTTLS (RFC 6120 §5) or TLS from the first byte with
// ALPN xmpp-client (XEP-0368). It ends with the stream's features read.
func (s *session) secure(o *loginOptions, nc net.Conn) error {
	tcfg := &tls.Config{ServerName: o.domain, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12, CurvePreferences: o.curves}
	lim := xml.Limits{MaxStanzaBytes: 1 << 20, MaxDepth: 64, MaxAttrs: 64}
	switch o.transport {
	case "direct":
		tcfg.NextProtos = []string{"xmpp-client"}
		tc := tls.Client(nc, tcfg)
		if err := tc.Handshake(); err != nil {
			return fmt.Errorf("tls: %w", err)
		}
		s.conn = tc
		s.dec = xml.NewDecoder(tc, lim)
		_, err := s.open(o.domain)
		return err
	case "none":
		s.dec = xml.NewDecoder(nc, lim)
		_, err := s.open(o.domain)
		return err
	}
	s.dec = xml.NewDecoder(nc, lim)
	if _, err := s.open(o.domain); err != nil {
		return err
	}
	if err := s.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"); err != nil {
		return err
	}
	el, err := s.dec.Next()
	if err != nil {
		return fmt.Errorf("starttls: %w", err)
	}
	if el.Name() != "proceed" {
		return fmt.Errorf("%w: starttls: %s", errUnexpected, el)
	}
	tc := tls.Client(nc, tcfg)
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	s.conn = tc
	s.dec.Reset(tc)
	_, err = s.open(o.domain)
	return err
}

// ping sends an XEP-0199 ping to the server and waits for its result,
// skipping anything else that arrives first.
func (s *session) ping(domain, id string) error {
	if err := s.send("<iq type='get' id='%s' to='%s'><ping xmlns='urn:xmpp:ping'/></iq>", id, domain); err != nil {
		return err
	}
	for {
		el, err := s.dec.Next()
		if err != nil {
			return fmt.Errorf("ping: %w", err)
		}
		if el.Name() == "iq" && el.Attr("id") == id {
			if el.Attr("type") != "result" {
				return fmt.Errorf("%w: ping: %s", errUnexpected, el)
			}
			return nil
		}
	}
}

func (s *session) auth(o *loginOptions, user string) error {
	if o.mech == "PLAIN" {
		if err := s.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>",
			base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+o.password))); err != nil {
			return err
		}
		el, err := s.dec.Next()
		if err != nil {
			return fmt.Errorf("sasl: %w", err)
		}
		if el.Name() != "success" {
			return fmt.Errorf("sasl: %s", el)
		}
		return nil
	}
	cl, err := scramClient(o.mech, user, o.password)
	if err != nil {
		return err
	}
	conv := cl.NewConversation() // gs2 flag 'n'
	first, err := conv.Step("")
	if err != nil {
		return err
	}
	if err := s.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='%s'>%s</auth>", o.mech, base64.StdEncoding.EncodeToString([]byte(first))); err != nil {
		return err
	}
	for {
		el, err := s.dec.Next()
		if err != nil {
			return fmt.Errorf("sasl: %w", err)
		}
		switch el.Name() {
		case "challenge":
			ch, err := base64.StdEncoding.DecodeString(el.Text())
			if err != nil {
				return fmt.Errorf("sasl challenge: %w", err)
			}
			resp, err := conv.Step(string(ch))
			if err != nil {
				return fmt.Errorf("sasl step: %w", err)
			}
			if err := s.send("<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>%s</response>", base64.StdEncoding.EncodeToString([]byte(resp))); err != nil {
				return err
			}
		case "success":
			add, err := base64.StdEncoding.DecodeString(el.Text())
			if err != nil {
				return fmt.Errorf("sasl success: %w", err)
			}
			if _, err := conv.Step(string(add)); err != nil || !conv.Valid() {
				return fmt.Errorf("sasl: server signature not valid: %v", err)
			}
			return nil
		case "failure":
			cond := ""
			if ch := el.FirstChild(); ch != nil {
				cond = ch.Name()
			}
			return fmt.Errorf("sasl failure: %s", cond)
		default:
			return fmt.Errorf("%w: sasl: %s", errUnexpected, el)
		}
	}
}

func (s *session) close() {
	s.conn.SetWriteDeadline(time.Now().Add(time.Second))
	s.send("</stream:stream>")
	s.conn.Close()
}

// srcAddrs returns n loopback addresses 127.0.0.2 ... for Dialer.LocalAddr.
// Linux routes all of 127.0.0.0/8 to lo, so they need no setup; each gives
// its own ~28k ephemeral ports and its own per-IP limits on the server.
func loopbackSources(addr string, n int) []net.IP {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || n <= 0 {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || ip.To4() == nil || ip.To4()[0] != 127 {
		return nil // not IPv4 loopback: let the kernel choose
	}
	out := make([]net.IP, 0, n)
	for i := 0; i < n && i < 250; i++ {
		out = append(out, net.IPv4(127, 0, byte((2+i)>>8), byte((2+i)&0xff)).To4())
	}
	return out
}

// userName is the account for session i (prefix0 ... prefix<users-1>,
// round robin): with -users 1 every session logs in to prefix0, each with
// its own resource.
func userName(prefix string, users, i int) string {
	if users < 1 {
		users = 1
	}
	return fmt.Sprintf("%s%d", prefix, i%users)
}

func resourceName(i int) string { return fmt.Sprintf("r%d", i) }
