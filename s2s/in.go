package s2s

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/xmppd/xmppd/internal/randid"
	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/stanza"
	xstream "github.com/xmppd/xmppd/stream"
	"github.com/xmppd/xmppd/xml"
)

// inConn is one stream a peer opened to us.
type inConn struct {
	srv  *Server
	nc   net.Conn
	opts ListenerOptions
	ip   string
	log  *slog.Logger
	dec  *xml.Decoder

	local    string // the header's 'to': one of our domains
	peer     string // the header's 'from', "" if absent
	streamID string
	tls      *tls.ConnectionState
	sasl     bool            // SASL EXTERNAL done
	authed   map[string]bool // peer domains allowed in 'from' (XEP-0220 §2.1.2, XEP-0178)

	// life is the context the peer's stanzas are routed and handled
	// under (module hooks and handlers get it, as a c2s session's get
	// theirs). It ends when the stream's reader has stopped, not while
	// the reader routes a stanza it read: a hook's storage call cut off
	// halfway (offline storage) would turn an accepted message into an
	// error for a peer our shutdown may no longer reach. Work a handler
	// started for the peer stops with it; a reader still stuck in a
	// handler when Shutdown's wait runs out is cancelled with the
	// server's life.
	life    context.Context
	endLife context.CancelFunc
	// waits ends with life or as soon as the stream is closing
	// (closeStream: shutdown, auth_timeout): what the reader waits for
	// on the peer's behalf, the authoritative server's answer to its
	// dialback key (XEP-0220 §2.1.2), is no use once the stream ends.
	waits    context.Context
	endWaits context.CancelFunc

	wmu        sync.Mutex
	closing    bool
	headerSent bool
}

func (c *inConn) serve() {
	defer c.nc.Close()
	defer c.endLife()
	// Until a domain is authenticated the stream costs us without giving
	// anything: bounded like a client's auth_timeout.
	authTimer := time.AfterFunc(c.srv.cfg.AuthTimeout, func() {
		c.closeStream(stanza.StreamConnectionTimeout, "no domain authenticated in time")
		nc := c.conn()
		time.AfterFunc(2*time.Second, func() { nc.Close() })
	})
	defer authTimer.Stop()
	c.dec = xml.NewDecoder(c.nc, c.srv.cfg.Limits)
	err := c.run(authTimer)
	var se *stanza.StreamError
	switch {
	case errors.As(err, &se):
		c.log.Info("s2s stream error", "peer", c.peer, "condition", se.Condition, "text", se.Text)
		c.closeStream(se.Condition, se.Text)
	case err != nil && !errors.Is(err, xml.ErrStreamEnd):
		c.log.Debug("s2s inbound stream ended", "peer", c.peer, "err", err)
		c.closeStream("", "")
	default:
		c.closeStream("", "")
	}
}

func (c *inConn) run(authTimer *time.Timer) error {
	if c.opts.DirectTLS {
		if err := c.startTLS(); err != nil {
			return err
		}
	}
	if err := c.open(); err != nil {
		return err
	}
	for {
		c.wmu.Lock()
		if !c.closing {
			c.nc.SetReadDeadline(time.Now().Add(c.srv.cfg.IdleTimeout))
		}
		c.wmu.Unlock()
		el, err := c.dec.Next()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return &stanza.StreamError{Condition: stanza.StreamConnectionTimeout, Text: "idle"}
			}
			return xstream.DecodeError(err)
		}
		if err := c.handle(el); err != nil {
			return err
		}
		if len(c.authed) > 0 {
			authTimer.Stop()
		}
	}
}

// open reads the peer's header and answers with ours and, for an XMPP
// 1.0 peer, the features (RFC 6120 §4.3, §4.7). The checks are c2s's and
// the web transports': a stream.Header and the same errors, after our
// header (§4.9.1.2).
func (c *inConn) open() error {
	h, err := xstream.ReadPeerHeader(c.nc, c.dec)
	if err != nil {
		return err
	}
	// §4.7.2: 'to' is a domain the peer expects us to serve; §4.7.1:
	// 'from' is the domain it speaks for, reflected in our 'to' and
	// taken for SASL EXTERNAL's identity (XEP-0178 §3) only if it is one.
	to := normDomain(h.To)
	from := normDomain(h.From)
	if !isDomain(from) {
		from = ""
	}
	if c.local == "" {
		c.local = to
	}
	if from != "" {
		c.peer = from
	}
	c.streamID = randid.Hex(12)
	reply := ""
	if c.srv.cfg.Serves(to) {
		reply = to
	}
	// §4.7.5: our version is the lower of the peer's and ours (1.0); a
	// header without one is a pre-1.0 peer (dialback only, XEP-0220),
	// answered without version and without features (§4.3.2).
	version, verr := xstream.PeerVersion(h)
	c.wmu.Lock()
	c.headerSent = true
	c.wmu.Unlock()
	if err := c.write(appendHeader(nil, reply, from, c.streamID, verr != nil || version == 1)); err != nil {
		return err
	}
	if err := xstream.CheckPeerNamespace(h, xml.NSServer); err != nil {
		return err
	}
	if reply == "" {
		return &stanza.StreamError{Condition: stanza.StreamHostUnknown, Text: fmt.Sprintf("this server does not serve %q", to)}
	}
	if verr != nil {
		return verr
	}
	c.dec.AliasDefaultNS(xml.NSServer, xml.NSClient)
	if version == 0 {
		return nil
	}
	return c.write(c.features())
}

// normDomain is a domain as s2s compares them: lower case, without the
// trailing dot of a fully qualified name.
func normDomain(d string) string { return strings.TrimSuffix(strings.ToLower(d), ".") }

// isDomain reports whether d is a JID's domain alone, what a server
// speaks for.
func isDomain(d string) bool {
	_, err := jid.Parse(d)
	return err == nil && d != "" && !strings.ContainsAny(d, "@/")
}

// features: STARTTLS first (alone when TLS is required, §5.3.1); then
// SASL EXTERNAL if the peer's certificate validates for the domain it
// claims (XEP-0178 §3 step 5), and dialback (XEP-0220 §2.3 feature).
func (c *inConn) features() []byte {
	b := []byte(xstream.FeaturesOpen)
	if c.tls == nil && c.opts.TLS != nil {
		b = append(b, "<starttls xmlns='"+nsTLS+"'>"...)
		if c.opts.RequireTLS {
			b = append(b, "<required/></starttls>"+xstream.FeaturesClose...)
			return b
		}
		b = append(b, "</starttls>"...)
	}
	if c.tls != nil && !c.sasl && c.peer != "" && c.srv.verifyPeer(c.tls.PeerCertificates, c.peer, x509.ExtKeyUsageAny) == nil {
		b = append(b, "<mechanisms xmlns='"+nsSASL+"'><mechanism>EXTERNAL</mechanism></mechanisms>"...)
	}
	if c.srv.cfg.Dialback {
		b = append(b, "<dialback xmlns='"+NSDialbackFeature+"'><errors/></dialback>"...)
	}
	return append(b, xstream.FeaturesClose...)
}

func (c *inConn) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closing {
		return net.ErrClosed
	}
	c.nc.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
	_, err := c.nc.Write(b)
	return err
}

// closeStream sends an optional stream error and the closing tag.
func (c *inConn) closeStream(condition, text string) {
	c.endWaits()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closing {
		return
	}
	c.closing = true
	var b []byte
	if !c.headerSent {
		b = appendHeader(b, "", "", randid.Hex(12), true)
	}
	b = xstream.AppendEnd(b, condition, text)
	c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	c.nc.Write(b)
	// The peer should answer with its closing tag; one that does not
	// must not keep the reader (and Shutdown) waiting.
	c.nc.SetReadDeadline(time.Now().Add(2 * time.Second))
}

// conn is the current transport (TLS replaces it).
func (c *inConn) conn() net.Conn {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.nc
}

func (c *inConn) startTLS() error {
	cfg := c.opts.TLS.Clone()
	// We ask for the peer's certificate to check it ourselves against its
	// claimed domain (XEP-0178); without one, dialback remains.
	cfg.ClientAuth = tls.RequestClientCert
	tc, err := xstream.ServerTLS(c.nc, cfg, c.srv.cfg.HandshakeTimeout)
	if err != nil {
		return err
	}
	st := tc.ConnectionState()
	c.tls = &st
	c.wmu.Lock()
	c.nc = tc
	c.wmu.Unlock()
	c.dec.Reset(tc)
	return nil
}

func (c *inConn) tlsMissing() bool { return c.tls == nil && c.opts.RequireTLS }

func (c *inConn) handle(el *xml.Element) error {
	switch el.NS() {
	case nsTLS:
		if el.Name() != "starttls" || c.tls != nil || c.opts.TLS == nil {
			return &stanza.StreamError{Condition: stanza.StreamPolicyViolation, Text: "STARTTLS not possible now"}
		}
		if err := c.write([]byte("<proceed xmlns='" + nsTLS + "'/>")); err != nil {
			return err
		}
		if err := c.startTLS(); err != nil {
			return err
		}
		return c.open()
	case nsSASL:
		if el.Name() != "auth" {
			return &stanza.StreamError{Condition: stanza.StreamPolicyViolation, Text: "unexpected SASL element"}
		}
		return c.saslExternal(el)
	case NSDialback:
		if c.tlsMissing() {
			return &stanza.StreamError{Condition: stanza.StreamPolicyViolation, Text: "STARTTLS is required first"}
		}
		switch el.Name() {
		case "result":
			return c.dialbackResult(el)
		case "verify":
			return c.dialbackVerify(el)
		}
		return &stanza.StreamError{Condition: stanza.StreamUnsupportedStanzaType, Text: "unknown dialback element"}
	case xml.NSClient:
		switch el.Name() {
		case "message", "presence", "iq":
			return c.stanza(el)
		}
	}
	return &stanza.StreamError{Condition: stanza.StreamUnsupportedStanzaType, Text: "unexpected <" + el.Name() + "/>"}
}

// saslExternal: XEP-0178 §3 steps 6-9. A failure leaves the stream open
// (the peer may try dialback next).
func (c *inConn) saslExternal(el *xml.Element) error {
	fail := func(cond string) error {
		return c.write([]byte("<failure xmlns='" + nsSASL + "'><" + cond + "/></failure>"))
	}
	if c.tls == nil || c.sasl {
		return fail("not-authorized")
	}
	if el.Attr("mechanism") != "EXTERNAL" {
		return fail("invalid-mechanism")
	}
	domain := c.peer
	if txt := strings.TrimSpace(el.Text()); txt != "" && txt != "=" {
		b, err := base64.StdEncoding.DecodeString(txt)
		if err != nil {
			return fail("incorrect-encoding")
		}
		domain = normDomain(string(b))
	}
	if domain == "" {
		return fail("not-authorized")
	}
	if err := c.srv.verifyPeer(c.tls.PeerCertificates, domain, x509.ExtKeyUsageAny); err != nil {
		c.log.Info("SASL EXTERNAL refused", "domain", domain, "err", err)
		return fail("not-authorized")
	}
	if err := c.write([]byte("<success xmlns='" + nsSASL + "'/>")); err != nil {
		return err
	}
	c.sasl = true
	c.authed[domain] = true
	c.peer = domain
	c.log.Info("s2s peer authenticated", "peer", domain, "method", "SASL EXTERNAL")
	c.dec.Reset(c.nc)
	return c.open()
}

// dialbackResult is step 2 of XEP-0220 §2.1: the peer asks to send as
// 'from' to our 'to'. We check its key with the authoritative server
// (§2.1.2) and answer valid or invalid; an invalid key leaves the stream
// open without the domain (§2.1.3 lets the peer try other pairs).
func (c *inConn) dialbackResult(el *xml.Element) error {
	from := normDomain(el.Attr("from"))
	to := normDomain(el.Attr("to"))
	if !isDomain(from) {
		return &stanza.StreamError{Condition: stanza.StreamInvalidFrom, Text: "db:result 'from' is not a domain"}
	}
	if !c.srv.cfg.Serves(to) {
		// XEP-0220 §2.4: we announced <errors/>, so a dialback error
		// rather than ending the stream other pairs may be using.
		return c.write(dialbackError("result", to, from, "", stanza.ItemNotFound))
	}
	if !c.srv.cfg.Dialback {
		return &stanza.StreamError{Condition: stanza.StreamNotAuthorized, Text: "dialback is disabled here"}
	}
	key := strings.TrimSpace(el.Text())
	var ok bool
	if c.tls != nil && c.srv.verifyPeer(c.tls.PeerCertificates, from, x509.ExtKeyUsageAny) == nil {
		// XEP-0344 §2.4: a certificate that validates for the domain is
		// as good a proof as the authoritative server's answer.
		ok = true
	} else {
		var err error
		ok, err = c.srv.verifyDialback(c.waits, to, from, c.streamID, key)
		if err != nil {
			// §2.4: the authoritative server could not be asked.
			c.log.Info("dialback verification failed", "originating", from, "err", err)
			cond := stanza.RemoteServerNotFound
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
				cond = stanza.RemoteServerTimeout
			}
			return c.write(dialbackError("result", to, from, "", cond))
		}
	}
	typ := "invalid"
	if ok {
		typ = "valid"
		c.authed[from] = true
		if c.peer == "" {
			c.peer = from
		}
		c.log.Info("s2s peer authenticated", "peer", from, "method", "dialback")
	} else {
		c.log.Info("dialback key refused", "originating", from, "receiving", to)
	}
	b := []byte("<db:result from='")
	b = xml.EscapeAttr(b, to)
	b = append(b, "' to='"...)
	b = xml.EscapeAttr(b, from)
	b = append(b, "' type='"+typ+"'/>"...)
	return c.write(b)
}

// dialbackVerify: we are the authoritative server (XEP-0220 §2.1.2 step
// 3): recompute the key for the id and say whether it matches.
func (c *inConn) dialbackVerify(el *xml.Element) error {
	receiving := normDomain(el.Attr("from"))
	originating := normDomain(el.Attr("to"))
	id := el.Attr("id")
	if !c.srv.cfg.Serves(originating) {
		return c.write(dialbackError("verify", originating, receiving, id, stanza.ItemNotFound))
	}
	typ := "invalid"
	if id != "" && checkKey(c.srv.cfg.Secret, receiving, originating, id, strings.TrimSpace(el.Text())) {
		typ = "valid"
	}
	b := []byte("<db:verify from='")
	b = xml.EscapeAttr(b, originating)
	b = append(b, "' to='"...)
	b = xml.EscapeAttr(b, receiving)
	b = append(b, "' id='"...)
	b = xml.EscapeAttr(b, id)
	b = append(b, "' type='"+typ+"'/>"...)
	return c.write(b)
}

// stanza checks an inbound stanza's addresses and routes it.
func (c *inConn) stanza(el *xml.Element) error {
	if len(c.authed) == 0 {
		return &stanza.StreamError{Condition: stanza.StreamNotAuthorized, Text: "authenticate first"}
	}
	// RFC 6120 §8.1.1.1, §8.1.2.1: both addresses are required on s2s.
	from, err := jid.Parse(el.Attr("from"))
	if err != nil {
		return &stanza.StreamError{Condition: stanza.StreamImproperAddressing, Text: "missing or malformed 'from'"}
	}
	// §4.9.3.9: a 'from' the peer did not authenticate.
	if !c.authed[from.Domain()] {
		return &stanza.StreamError{Condition: stanza.StreamInvalidFrom, Text: fmt.Sprintf("%q is not authenticated on this stream", from.Domain())}
	}
	to, err := jid.Parse(el.Attr("to"))
	if err != nil {
		return &stanza.StreamError{Condition: stanza.StreamImproperAddressing, Text: "missing or malformed 'to'"}
	}
	// §4.9.3.6: 'to' must be a domain we serve.
	if !c.srv.cfg.Serves(to.Domain()) {
		return &stanza.StreamError{Condition: stanza.StreamHostUnknown, Text: fmt.Sprintf("this server does not serve %q", to.Domain())}
	}
	c.srv.cfg.Router.Route(c.life, &module.Stanza{El: el, From: from, To: to})
	return nil
}

// dialbackError is a <db:result/> or <db:verify/> of type 'error' (XEP-0220
// §2.4), from and to as in an answer.
func dialbackError(name, from, to, id, condition string) []byte {
	b := []byte("<db:" + name + " from='")
	b = xml.EscapeAttr(b, from)
	b = append(b, "' to='"...)
	b = xml.EscapeAttr(b, to)
	if id != "" {
		b = append(b, "' id='"...)
		b = xml.EscapeAttr(b, id)
	}
	b = append(b, "' type='error'>"...)
	b = stanza.NewError(condition, "").Element("").Append(b, xml.NSClient) // inherits jabber:server
	return append(b, "</db:"+name+">"...)
}
