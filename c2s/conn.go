package c2s

import (
	"errors"
	"log/slog"
	"net"
	"time"

	"github.com/xmppd/xmppd/internal/randid"
	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/stream"
	"github.com/xmppd/xmppd/xml"
)

// conn is one client connection; once a resource is bound it is the
// session (module.Session). Its state is split by concern, each part in
// the file of the code that owns it: the transport and its output
// (transport.go), the negotiation up to binding (negotiate.go), and the
// bound session's state (session.go, with sm.go and csi.go).
type conn struct {
	srv  *Server
	opts ListenerOptions
	ip   string
	jid  jid.JID // bare once authenticated, full once bound; set by the reader

	// readerEnd is what happens when the reader stops for good: set by
	// serve, and by a resumption for the session it takes over.
	readerEnd func(error)
	readers   chan struct{} // closed when the current transport's reader stops
	handedTo  *conn         // the resumed session this conn's transport went to
	transport Transport     // for Observer counts and SessionInfo

	transportState
	negotiation
	sessionState

	// life is the context module handlers get: it ends when the
	// connection does before binding, and when the session ends after
	// (teardown), not when a resumable session's transport breaks.
	life lifeCtx
}

var (
	_ module.Session = (*conn)(nil)
	_ module.Stream  = (*conn)(nil)
)

func newConn(s *Server, nc net.Conn, opts ListenerOptions, ip string) *conn {
	c := &conn{srv: s, opts: opts, ip: ip, transportState: transportState{nc: nc}, readers: make(chan struct{})}
	return c
}

// logger is made for each use rather than kept: a session logs seldom, and
// a kept slog.Logger.With clone cost every idle session ~0.3 KiB. Once
// authenticated the session is known by its JID (bare, then full), before
// that by its address; c.jid is set by the reader before anyone else can
// reach the session.
func (c *conn) logger() *slog.Logger {
	if s := c.jid.String(); s != "" {
		return c.srv.cfg.Log.With("jid", s)
	}
	return c.srv.cfg.Log.With("remote", c.nc.RemoteAddr().String())
}

func (c *conn) JID() jid.JID           { return c.jid }
func (c *conn) Available() bool        { return c.available.Load() }
func (c *conn) Priority() int          { return int(c.priority.Load()) }
func (c *conn) Presence() *xml.Element { return c.presence.Load() }
func (c *conn) String() string         { return c.jid.String() }

// module.Stream, for pre-authentication handlers and features.
func (c *conn) Domain() string   { return c.domain }
func (c *conn) RemoteIP() string { return c.ip }
func (c *conn) Secure() bool     { return c.tls != nil }

// randomID is randid.Hex under the name sasl2.go calls.
func randomID(n int) string { return randid.Hex(n) }

// serve runs the connection: negotiation, then the stanza loop, in this one
// goroutine (or, after the session parked while idle, in the one that
// resumed it), so a session's stanzas are handled in order.
func (c *conn) serve() {
	readers := c.readers
	// The address this connection was admitted under: a resumption
	// (smResume) gives the session the new connection's address while
	// this one is being removed, and the limiter must release this one's.
	ip := c.ip
	c.readerEnd = func(err error) {
		if err != nil && !errors.Is(err, errHandedOver) {
			var se *stanza.StreamError
			if errors.As(err, &se) {
				c.logger().Debug("stream error", "condition", se.Condition, "text", se.Text)
				c.CloseStream(se.Condition, se.Text)
			} else {
				c.logger().Debug("connection ended", "err", err)
			}
		}
		c.stopAuthTimer()
		c.finish()
		close(readers)
		c.srv.remove(c, ip)
	}
	c.authTimer = time.AfterFunc(c.srv.cfg.AuthTimeout, func() {
		c.CloseStream(stanza.StreamConnectionTimeout, "authentication took too long")
	})

	if c.opts.DirectTLS {
		if err := c.handshake(); err != nil {
			c.logger().Debug("direct TLS handshake failed", "err", err)
			c.srv.cfg.Observer.TLSHandshakeFailed()
			c.readerEnd(nil)
			return
		}
	}
	// The readers ask the decoder whether a stanza is under way, so it
	// exists before the first of them.
	c.dec = xml.NewDecoder(nil, c.srv.cfg.Limits)
	c.dec.Reset(c.idleReader())
	c.drive(c.run())
}

// drive takes the result of a reading loop: a session idle long enough
// parks (no goroutine until it has input again), anything else is the end
// of the reader.
func (c *conn) drive(err error) {
	for {
		if errors.Is(err, errDriven) {
			return // a resumed session's reader took over (smResume)
		}
		if !errors.Is(err, xml.ErrPause) {
			c.unpark()
			c.readerEnd(err)
			return
		}
		if c.park() {
			return
		}
		err = c.loop()
	}
}

// run is the stream's life: header, features, negotiation, stanzas.
func (c *conn) run() error {
	if err := c.openStream(); err != nil {
		return err
	}
	return c.loop()
}

// loop reads and handles top-level elements until the stream ends.
func (c *conn) loop() error {
	// Whatever ends this loop (a read error, a stream error from handle,
	// parking, a resumption taking the transport over), nothing queued in
	// the batch may wait for a reader that stopped. c.wr may appear
	// during the loop (STARTTLS, SASL), hence the look at the end.
	defer func() {
		if w := c.wr; w != nil {
			w.batch.Flush()
		}
	}()
	if w := c.wr; w != nil {
		w.batch.Open()
	}
	for {
		el, err := c.dec.Next()
		if err != nil {
			return c.readError(err)
		}
		if err := c.handle(el); err != nil {
			return err
		}
	}
}

// readError turns a decoder error into the stream error RFC 6120 §4.9.3
// names for it, or ends quietly for a closed connection.
func (c *conn) readError(err error) error {
	if errors.Is(err, xml.ErrStreamEnd) {
		// §4.4: the peer closed its stream; close ours.
		c.CloseStream("", "")
		return nil
	}
	if errors.Is(err, errStanzaTimeout) {
		// §4.9.3.14: a local limit, like the size of a stanza
		// (<connection-timeout/>, §4.9.3.4, would say the peer can no
		// longer communicate; one trickling a stanza still can).
		c.logger().Info("stanza not completed in time: ending the stream", "ip", c.ip, "limit", c.srv.cfg.StanzaTimeout)
		return &stanza.StreamError{Condition: stanza.StreamPolicyViolation, Text: "stanza not completed within " + c.srv.cfg.StanzaTimeout.String()}
	}
	return stream.DecodeError(err)
}

// handle dispatches one top-level element by state.
func (c *conn) handle(el *xml.Element) error {
	switch {
	case !c.authed && c.tls == nil && c.opts.TLS != nil && el.Name() == "starttls" && el.NS() == nsTLS:
		return c.startTLS()
	case !c.authed:
		if el.NS() == nsSASL && el.Name() == "auth" {
			return c.sasl(el)
		}
		if el.NS() == nsSASL2 && el.Name() == "authenticate" {
			return c.sasl2Authenticate(el)
		}
		if el.NS() == nsTLS {
			return &stanza.StreamError{Condition: stanza.StreamPolicyViolation, Text: "TLS is already in place"}
		}
		if ok, err := c.preAuthIQ(el); ok {
			return err
		}
		// §6.4.1 / §5.3.1: nothing else is processed before authentication.
		return &stanza.StreamError{Condition: stanza.StreamNotAuthorized, Text: "authenticate first"}
	case !c.bound:
		if el.NS() == nsSM {
			return c.smBeforeBind(el)
		}
		return c.preBind(el)
	case el.NS() == nsSM:
		return c.smNonza(el)
	case el.NS() == nsCSI:
		return c.csiNonza(el)
	default:
		if c.sm.enabled && c.streamClosed() {
			// We closed the stream (a stream error such as
			// <system-shutdown/> or <conflict/>, then our closing tag):
			// RFC 6120 §4.4 lets the peer finish sending, but no <a/> can
			// cover what it sends now, so XEP-0198 §4 has the client send
			// it again on its next stream. Handling it here as well would
			// deliver it twice; without XEP-0198 it is handled, since
			// nothing would send it again.
			return nil
		}
		err := c.stanza(el)
		if c.sm.enabled {
			c.sm.in++ // §4: every stanza handled, whatever became of it
		}
		return err
	}
}

// finish runs when the reader ends: unbind, tell modules, close the socket.
// A resumable session whose transport broke stays bound instead, waiting
// for its client to resume it (XEP-0198 §5).
func (c *conn) finish() {
	if c.handedTo != nil {
		return // the socket belongs to the resumed session now
	}
	if c.bound {
		if c.smHibernate() {
			// Still a session, waiting for its client: its context
			// ends with teardown (resumption timeout, or closed).
			c.abort()
			return
		}
		c.teardown()
	}
	c.life.end()
	c.wmu.Lock()
	c.closing = true
	flushed := c.flushed.WaitIf(c.writing)
	c.wmu.Unlock()
	// The writer flushes the final error and closing tag; a peer that
	// does not read holds it at most WriteTimeout.
	stream.Await(flushed, c.srv.cfg.WriteTimeout)
	c.wmu.Lock()
	nc := c.nc
	c.wmu.Unlock()
	nc.Close()
}
