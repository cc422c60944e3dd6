package main

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/xdg-go/scram"

	"github.com/xmppd/xmppd/xml"
)

// The self-test's client: just enough RFC 6120 to log in over one
// listener (STARTTLS or direct TLS, SCRAM or PLAIN, bind) and send one
// message. Its SCRAM is xdg-go/scram, not the server's own code. The
// certificate is not verified here: the certificates check does that,
// and a self-test that failed on a self-signed certificate would hide
// whether login and routing work.

const (
	nsSASL = "urn:ietf:params:xml:ns:xmpp-sasl"
	nsBind = "urn:ietf:params:xml:ns:xmpp-bind"
)

type selfTestClient struct {
	conn   net.Conn
	dec    *xml.Decoder
	domain string
	mechs  []string
	jid    string
}

// selfTestLogin connects to addr, brings up TLS for domain, authenticates
// and binds a resource. The whole exchange is bounded by timeout.
func selfTestLogin(addr, domain string, direct bool, user, pass string, timeout time.Duration) (*selfTestClient, string, error) {
	nc, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, "", err
	}
	nc.SetDeadline(time.Now().Add(timeout))
	c := &selfTestClient{conn: nc, domain: domain}
	fail := func(err error) (*selfTestClient, string, error) {
		nc.Close()
		return nil, "", err
	}
	tcfg := &tls.Config{ServerName: domain, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}
	lim := xml.Limits{MaxStanzaBytes: 1 << 20, MaxDepth: 100, MaxAttrs: 100}
	if direct {
		tcfg.NextProtos = []string{"xmpp-client"} // XEP-0368
		tc := tls.Client(nc, tcfg)
		if err := tc.Handshake(); err != nil {
			return fail(fmt.Errorf("TLS: %w", err))
		}
		c.conn = tc
		c.dec = xml.NewDecoder(tc, lim)
		if err := c.open(); err != nil {
			return fail(err)
		}
	} else {
		c.dec = xml.NewDecoder(nc, lim)
		if err := c.open(); err != nil {
			return fail(err)
		}
		if err := c.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"); err != nil {
			return fail(err)
		}
		if el, err := c.dec.Next(); err != nil {
			return fail(fmt.Errorf("STARTTLS: %w", err))
		} else if el.Name() != "proceed" {
			return fail(fmt.Errorf("STARTTLS refused: %s", el))
		}
		tc := tls.Client(nc, tcfg)
		if err := tc.Handshake(); err != nil {
			return fail(fmt.Errorf("TLS: %w", err))
		}
		c.conn = tc
		c.dec.Reset(tc)
		if err := c.open(); err != nil {
			return fail(err)
		}
	}
	mech, err := c.auth(user, pass)
	if err != nil {
		return fail(err)
	}
	c.dec.Reset(c.conn)
	if err := c.open(); err != nil {
		return fail(err)
	}
	if err := c.bind(); err != nil {
		return fail(err)
	}
	return c, mech, nil
}

func (c *selfTestClient) send(s string) error {
	_, err := c.conn.Write([]byte(s))
	return err
}

// open sends a stream header, reads the server's and its features.
func (c *selfTestClient) open() error {
	if err := c.send("<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='" + c.domain + "' version='1.0'>"); err != nil {
		return err
	}
	if _, err := c.dec.ReadHeader(); err != nil {
		return fmt.Errorf("stream header: %w", err)
	}
	f, err := c.dec.Next()
	if err != nil {
		return fmt.Errorf("stream features: %w", err)
	}
	if f.Name() != "features" {
		return fmt.Errorf("expected stream features, got %s", f)
	}
	c.mechs = c.mechs[:0]
	if m := f.Child("mechanisms", nsSASL); m != nil {
		for el := range m.Children() {
			c.mechs = append(c.mechs, el.Text())
		}
	}
	return nil
}

// auth uses the strongest mechanism offered that needs no channel
// binding: SCRAM-SHA-512, -256, -1, then PLAIN (under TLS).
func (c *selfTestClient) auth(user, pass string) (string, error) {
	for _, m := range []struct {
		name string
		hash scram.HashGeneratorFcn
	}{{"SCRAM-SHA-512", scram.SHA512}, {"SCRAM-SHA-256", scram.SHA256}, {"SCRAM-SHA-1", scram.SHA1}, {"PLAIN", nil}} {
		if !slices.Contains(c.mechs, m.name) {
			continue
		}
		if m.hash == nil {
			return m.name, c.authPlain(user, pass)
		}
		return m.name, c.authSCRAM(m.name, m.hash, user, pass)
	}
	return "", fmt.Errorf("no usable SASL mechanism among %v ([auth] mechanisms)", c.mechs)
}

func (c *selfTestClient) authPlain(user, pass string) error {
	if err := c.send("<auth xmlns='" + nsSASL + "' mechanism='PLAIN'>" + base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+pass)) + "</auth>"); err != nil {
		return err
	}
	el, err := c.dec.Next()
	if err != nil {
		return fmt.Errorf("SASL: %w", err)
	}
	if el.Name() != "success" {
		return fmt.Errorf("PLAIN refused: %s", el)
	}
	return nil
}

func (c *selfTestClient) authSCRAM(mech string, h scram.HashGeneratorFcn, user, pass string) error {
	cl, err := h.NewClient(user, pass, "")
	if err != nil {
		return err
	}
	conv := cl.NewConversation()
	first, err := conv.Step("")
	if err != nil {
		return err
	}
	if err := c.send("<auth xmlns='" + nsSASL + "' mechanism='" + mech + "'>" + base64.StdEncoding.EncodeToString([]byte(first)) + "</auth>"); err != nil {
		return err
	}
	for {
		el, err := c.dec.Next()
		if err != nil {
			return fmt.Errorf("SASL: %w", err)
		}
		switch el.Name() {
		case "challenge":
			ch, _ := base64.StdEncoding.DecodeString(el.Text())
			resp, err := conv.Step(string(ch))
			if err != nil {
				return fmt.Errorf("%s: %w", mech, err)
			}
			if err := c.send("<response xmlns='" + nsSASL + "'>" + base64.StdEncoding.EncodeToString([]byte(resp)) + "</response>"); err != nil {
				return err
			}
		case "success":
			add, _ := base64.StdEncoding.DecodeString(el.Text())
			if _, err := conv.Step(string(add)); err != nil || !conv.Valid() {
				return fmt.Errorf("%s: the server's signature is not valid (%v)", mech, err)
			}
			return nil
		default:
			return fmt.Errorf("%s refused: %s", mech, el)
		}
	}
}

func (c *selfTestClient) bind() error {
	if err := c.send("<iq type='set' id='bind'><bind xmlns='" + nsBind + "'><resource>xmppd-check</resource></bind></iq>"); err != nil {
		return err
	}
	for {
		el, err := c.dec.Next()
		if err != nil {
			return fmt.Errorf("bind: %w", err)
		}
		if el.Name() != "iq" || el.Attr("id") != "bind" {
			continue
		}
		if el.Attr("type") != "result" {
			return fmt.Errorf("bind refused: %s", el)
		}
		if b := el.Child("bind", nsBind); b != nil {
			if j := b.Child("jid", ""); j != nil {
				c.jid = j.Text()
			}
		}
		if c.jid == "" {
			return errors.New("bind: no JID in the result")
		}
		return nil
	}
}

// echo sends a message to the client's own full JID and waits for it.
func (c *selfTestClient) echo(id string) error {
	if err := c.send("<message type='chat' id='" + id + "' to='" + c.jid + "'><body>xmppd check</body></message>"); err != nil {
		return err
	}
	for {
		el, err := c.dec.Next()
		if err != nil {
			return fmt.Errorf("waiting for the message to come back: %w", err)
		}
		if el.Name() != "message" || el.Attr("id") != id {
			continue
		}
		if el.Attr("type") == "error" {
			return fmt.Errorf("the message bounced: %s", el)
		}
		return nil
	}
}

func (c *selfTestClient) close() {
	c.send("</stream:stream>")
	c.conn.Close()
}
