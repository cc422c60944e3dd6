package faults

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/xdg-go/scram"

	"github.com/xmppd/xmppd/xml"
)

// The suite's own small wire client (internal/testutil's needs a
// testing.TB). It speaks RFC 6120 as a client does: STARTTLS or direct
// TLS, SCRAM-SHA-256 (xdg-go/scram, independent of the server's SCRAM) or
// PLAIN, bind, and XEP-0198 by hand.

const (
	nsSM   = "urn:xmpp:sm:3"
	nsSASL = "urn:ietf:params:xml:ns:xmpp-sasl"
	nsBind = "urn:ietf:params:xml:ns:xmpp-bind"
	nsMAM  = "urn:xmpp:mam:2"
	domain = "localhost"
)

type client struct {
	conn net.Conn
	raw  net.Conn // the TCP connection under TLS
	dec  *xml.Decoder
	wmu  sync.Mutex
	JID  string
}

// dialOpts say how to reach the server.
type dialOpts struct {
	addr     string
	direct   bool   // TLS from the first byte (XEP-0368) instead of STARTTLS
	src      string // local IP ("" = any)
	timeout  time.Duration
	readBuf  int // SO_RCVBUF for slow readers (0 = default)
	readRate int // bytes per second read at most (0 = unlimited)
}

var errFailure = errors.New("sasl failure")

// dial connects, brings TLS up and reads the stream features.
func dial(o dialOpts) (*client, error) {
	if o.timeout == 0 {
		o.timeout = 10 * time.Second
	}
	d := net.Dialer{Timeout: o.timeout}
	if o.src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(o.src)}
	}
	nc, err := d.Dial("tcp", o.addr)
	if err != nil {
		return nil, err
	}
	if o.readBuf > 0 {
		nc.(*net.TCPConn).SetReadBuffer(o.readBuf)
	}
	c := &client{conn: nc, raw: nc}
	if o.readRate > 0 {
		nc = &slowConn{Conn: nc, rate: o.readRate}
		c.conn = nc
	}
	nc.SetDeadline(time.Now().Add(o.timeout))
	lim := xml.Limits{MaxStanzaBytes: 4 << 20, MaxDepth: 100, MaxAttrs: 100}
	tcfg := &tls.Config{ServerName: domain, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}
	if o.direct {
		tcfg.NextProtos = []string{"xmpp-client"}
		tc := tls.Client(nc, tcfg)
		if err := tc.Handshake(); err != nil {
			nc.Close()
			return nil, fmt.Errorf("tls: %w", err)
		}
		c.conn = tc
		c.dec = xml.NewDecoder(tc, lim)
		if _, err := c.open(); err != nil {
			nc.Close()
			return nil, err
		}
		return c, nil
	}
	c.dec = xml.NewDecoder(nc, lim)
	if _, err := c.open(); err != nil {
		nc.Close()
		return nil, err
	}
	if err := c.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"); err != nil {
		nc.Close()
		return nil, err
	}
	el, err := c.dec.Next()
	if err != nil || el.Name() != "proceed" {
		nc.Close()
		return nil, fmt.Errorf("starttls: %v %v", el, err)
	}
	tc := tls.Client(nc, tcfg)
	if err := tc.Handshake(); err != nil {
		nc.Close()
		return nil, fmt.Errorf("tls: %w", err)
	}
	c.conn = tc
	c.dec.Reset(tc)
	if _, err := c.open(); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

func (c *client) send(s string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := c.conn.Write([]byte(s))
	return err
}

func (c *client) open() (*xml.Element, error) {
	if err := c.send("<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='" + domain + "' version='1.0'>"); err != nil {
		return nil, err
	}
	if _, err := c.dec.ReadHeader(); err != nil {
		return nil, fmt.Errorf("stream header: %w", err)
	}
	f, err := c.dec.Next()
	if err != nil {
		return nil, fmt.Errorf("features: %w", err)
	}
	if f.Name() != "features" {
		return nil, fmt.Errorf("expected features, got %s", f)
	}
	return f, nil
}

// next reads one element within d.
func (c *client) next(d time.Duration) (*xml.Element, error) {
	c.conn.SetReadDeadline(time.Now().Add(d))
	return c.dec.Next()
}

// authPlain tries one PLAIN authentication, waiting up to wait for the
// answer; errFailure when refused.
func (c *client) authPlain(user, pass string, wait time.Duration) error {
	if err := c.send("<auth xmlns='" + nsSASL + "' mechanism='PLAIN'>" + base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+pass)) + "</auth>"); err != nil {
		return err
	}
	el, err := c.next(wait)
	if err != nil {
		return err
	}
	switch el.Name() {
	case "success":
		return nil
	case "failure":
		return errFailure
	}
	return fmt.Errorf("sasl: %s", el)
}

// authSCRAM runs SCRAM-SHA-256.
func (c *client) authSCRAM(user, pass string) error {
	cl, err := scram.SHA256.NewClient(user, pass, "")
	if err != nil {
		return err
	}
	conv := cl.NewConversation()
	first, _ := conv.Step("")
	if err := c.send("<auth xmlns='" + nsSASL + "' mechanism='SCRAM-SHA-256'>" + base64.StdEncoding.EncodeToString([]byte(first)) + "</auth>"); err != nil {
		return err
	}
	for {
		el, err := c.next(30 * time.Second)
		if err != nil {
			return fmt.Errorf("sasl: %w", err)
		}
		switch el.Name() {
		case "challenge":
			ch, _ := base64.StdEncoding.DecodeString(el.Text())
			resp, err := conv.Step(string(ch))
			if err != nil {
				return err
			}
			if err := c.send("<response xmlns='" + nsSASL + "'>" + base64.StdEncoding.EncodeToString([]byte(resp)) + "</response>"); err != nil {
				return err
			}
		case "success":
			add, _ := base64.StdEncoding.DecodeString(el.Text())
			if _, err := conv.Step(string(add)); err != nil || !conv.Valid() {
				return fmt.Errorf("server signature not valid: %v", err)
			}
			return nil
		case "failure":
			return errFailure
		default:
			return fmt.Errorf("sasl: %s", el)
		}
	}
}

// restart opens a new stream after SASL success.
func (c *client) restart() error {
	c.dec.Reset(c.conn)
	_, err := c.open()
	return err
}

// bind binds resource and returns the full JID.
func (c *client) bind(resource string) error {
	if err := c.send("<iq type='set' id='bind'><bind xmlns='" + nsBind + "'><resource>" + resource + "</resource></bind></iq>"); err != nil {
		return err
	}
	for {
		el, err := c.next(10 * time.Second)
		if err != nil {
			return fmt.Errorf("bind: %w", err)
		}
		if el.Name() == "iq" && el.Attr("id") == "bind" {
			if el.Attr("type") != "result" {
				return fmt.Errorf("bind: %s", el)
			}
			if b := el.Child("bind", nsBind); b != nil {
				if j := b.Child("jid", ""); j != nil {
					c.JID = j.Text()
				}
			}
			return nil
		}
	}
}

// login: connect, TLS, SCRAM-SHA-256, bind.
func login(o dialOpts, user, pass, resource string) (*client, error) {
	c, err := dial(o)
	if err != nil {
		return nil, err
	}
	if err := c.authSCRAM(user, pass); err != nil {
		c.conn.Close()
		return nil, fmt.Errorf("login %s: %w", user, err)
	}
	if err := c.restart(); err != nil {
		c.conn.Close()
		return nil, err
	}
	if err := c.bind(resource); err != nil {
		c.conn.Close()
		return nil, err
	}
	return c, nil
}

// enableSM sends <enable/> and waits for <enabled/>; it returns the
// resumption id (empty when not resumable).
func (c *client) enableSM(resume bool) (string, error) {
	r := ""
	if resume {
		r = " resume='true'"
	}
	if err := c.send("<enable xmlns='" + nsSM + "'" + r + "/>"); err != nil {
		return "", err
	}
	for {
		el, err := c.next(10 * time.Second)
		if err != nil {
			return "", fmt.Errorf("enable: %w", err)
		}
		if el.NS() == nsSM {
			if el.Name() != "enabled" {
				return "", fmt.Errorf("enable: %s", el)
			}
			return el.Attr("id"), nil
		}
	}
}

// ping sends an XEP-0199 ping and returns the elements read before its
// answer and the round trip.
func (c *client) ping(id string, d time.Duration) ([]*xml.Element, time.Duration, error) {
	start := time.Now()
	if err := c.send("<iq type='get' id='" + id + "' to='" + domain + "'><ping xmlns='urn:xmpp:ping'/></iq>"); err != nil {
		return nil, 0, err
	}
	var before []*xml.Element
	for {
		el, err := c.next(d)
		if err != nil {
			return before, 0, fmt.Errorf("ping: %w", err)
		}
		if el.Name() == "iq" && el.Attr("id") == id {
			return before, time.Since(start), nil
		}
		if el.Name() == "error" && el.NS() == "http://etherx.jabber.org/streams" {
			return before, 0, fmt.Errorf("ping: stream error %s", el)
		}
		before = append(before, el)
	}
}

func (c *client) close() {
	c.conn.SetWriteDeadline(time.Now().Add(time.Second))
	c.conn.Write([]byte("</stream:stream>"))
	c.conn.Close()
}

// body returns a message's body ("" for anything else).
func body(el *xml.Element) string {
	if el.Name() != "message" {
		return ""
	}
	if b := el.Child("body", "jabber:client"); b != nil {
		return b.Text()
	}
	return ""
}

// msgKey is the key a case writes into a message body: its case tag, the
// sender's index and the sequence number ("k9-2-17"); the rest of the
// body is padding.
func msgKey(tag string, sender, seq int) string {
	return tag + "-" + strconv.Itoa(sender) + "-" + strconv.Itoa(seq)
}

// parseKey splits a body written by msgKey (with any padding after a
// space).
func parseKey(b, tag string) (sender, seq int, ok bool) {
	b, _, _ = strings.Cut(b, " ")
	rest, found := strings.CutPrefix(b, tag+"-")
	if !found {
		return 0, 0, false
	}
	s, q, found := strings.Cut(rest, "-")
	if !found {
		return 0, 0, false
	}
	var err1, err2 error
	sender, err1 = strconv.Atoi(s)
	seq, err2 = strconv.Atoi(q)
	return sender, seq, err1 == nil && err2 == nil
}

// mamAll pages through the account's whole archive (XEP-0313 with
// XEP-0059 'after') and returns the archived messages' bodies.
func (c *client) mamAll() ([]string, error) {
	var bodies []string
	after := ""
	for page := 0; page < 100; page++ {
		rsm := "<set xmlns='http://jabber.org/protocol/rsm'><max>5000</max>"
		if after != "" {
			rsm += "<after>" + after + "</after>"
		}
		rsm += "</set>"
		qid := "q" + strconv.Itoa(page)
		if err := c.send("<iq type='set' id='" + qid + "'><query xmlns='" + nsMAM + "' queryid='" + qid + "'>" + rsm + "</query></iq>"); err != nil {
			return nil, err
		}
		for {
			el, err := c.next(30 * time.Second)
			if err != nil {
				return nil, fmt.Errorf("mam: %w", err)
			}
			if el.Name() == "message" {
				if r := el.Child("result", nsMAM); r != nil && r.Attr("queryid") == qid {
					if f := r.Child("forwarded", "urn:xmpp:forward:0"); f != nil {
						if m := f.Child("message", "jabber:client"); m != nil {
							bodies = append(bodies, body(m))
						}
					}
				}
				continue
			}
			if el.Name() == "iq" && el.Attr("id") == qid {
				if el.Attr("type") != "result" {
					return nil, fmt.Errorf("mam: %s", el)
				}
				fin := el.Child("fin", nsMAM)
				if fin == nil {
					return nil, fmt.Errorf("mam: no fin: %s", el)
				}
				if fin.Attr("complete") == "true" {
					return bodies, nil
				}
				set := fin.Child("set", "http://jabber.org/protocol/rsm")
				if set == nil || set.Child("last", "http://jabber.org/protocol/rsm") == nil {
					return bodies, nil
				}
				after = set.Child("last", "http://jabber.org/protocol/rsm").Text()
				break
			}
		}
	}
	return nil, errors.New("mam: too many pages")
}
