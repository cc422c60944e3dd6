package c2s

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xmppd/xmppd/auth"
	"github.com/xmppd/xmppd/internal/randid"
	"github.com/xmppd/xmppd/jid"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/storage"
	"github.com/xmppd/xmppd/xml"
)

const (
	nsTLS     = "urn:ietf:params:xml:ns:xmpp-tls"
	nsSASL    = "urn:ietf:params:xml:ns:xmpp-sasl"
	nsBind    = "urn:ietf:params:xml:ns:xmpp-bind"
	nsSession = "urn:ietf:params:xml:ns:xmpp-session"
	nsSASLCB  = "urn:xmpp:sasl-cb:0"

	// maxSASLAttempts bounds failed password checks on one stream (RFC
	// 6120 §6.4.5: at least 2 and at most 5 retries). Failures that test
	// no password - a channel binding type the client cannot use, a
	// detected downgrade - count against the larger maxSASLFailures, so a
	// client walking down its mechanism list (slixmpp tries each -PLUS
	// with tls-unique first) still reaches one that works.
	maxSASLAttempts = 5
	maxSASLFailures = 12
	// maxQueueRetain: a write buffer larger than this is dropped after use
	// rather than kept for an idle session.
	maxQueueRetain = 16 << 10
)

// conn is one client connection; once a resource is bound it is the
// session (module.Session).
type conn struct {
	srv  *Server
	opts ListenerOptions
	ip   string

	nc         net.Conn // raw TCP, or the TLS conn once negotiated
	tls        *tls.ConnectionState
	serverCert []byte // DER of the leaf we presented
	dec        *xml.Decoder
	wr         *waitReader // the TLS idle reader under dec, nil on other transports
	pk         parkState   // park_linux.go
	// readerEnd is what happens when the reader stops for good: set by
	// serve, and by a resumption for the session it takes over.
	readerEnd func(error)

	streamID   string
	domain     string
	headerSent bool
	authed     bool
	sasl2      bool // the negotiation in progress is XEP-0388's (sasl2.go)
	bind2      bool // bound by XEP-0386: the client syncs from the archive (module.ArchiveSynced)
	username   string
	jid        jid.JID
	bound      bool
	attempts   int // failed password checks
	failures   int // all SASL failures
	authTimer  *time.Timer

	// Output. Before binding only the reader goroutine writes, synchronously.
	// Afterwards everything goes through the bounded queue, drained by a
	// writer goroutine that exists only while output is pending.
	wmu     sync.Mutex
	out     []byte
	spare   []byte
	writing bool
	closing bool // no more output accepted; close the socket once flushed
	closed  bool
	async   bool
	wdone   chan struct{} // closed when the socket has been closed
	wdl     time.Time     // write deadline last set on nc by the writer
	// sc: nc is (TLS over) this spillConn, so writes never wait and a
	// reader may write for others (module.Batch, kick); nil for other
	// transports.
	sc *spillConn
	// Positions in the output for module.Paced (paced.go): bytes the
	// writer took from out, and those of them the transport accepted.
	// Output dropped from out was never taken; a chunk whose write
	// failed was taken and is never counted written, so no position at
	// or after it is reached. outInflight is what the writer writes now.
	outTaken, outWritten uint64
	outInflight          int
	// live holds chat and normal messages routed to the session while a
	// module paces stored ones to it (module.Paced.HoldLive), so that
	// they do not overtake them; nil when not holding.
	live *liveHold

	available atomic.Bool
	priority  atomic.Int32
	presence  atomic.Pointer[xml.Element]

	sm       smState       // XEP-0198; guarded by wmu except sm.in (reader only)
	csi      csiState      // XEP-0352; guarded by wmu
	readers  chan struct{} // closed when the current transport's reader stops
	handedTo *conn         // the resumed session this conn's transport went to

	transport Transport // for Observer counts and SessionInfo
	since     time.Time // when the resource was bound; guarded by wmu
	saslMech  string    // the offered mechanism being negotiated, for Observer
	agentID   string    // XEP-0388 <user-agent id/>, for Bind 2's replacement of the same client's sessions

	// fast is XEP-0484 in the <authenticate/> being handled (fast.go);
	// nil otherwise.
	fast *fastState

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
	c := &conn{srv: s, opts: opts, ip: ip, nc: nc, wdone: make(chan struct{}), readers: make(chan struct{})}
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

// stopAuthTimer stops the authentication deadline and lets its timer go
// (reader goroutine only).
func (c *conn) stopAuthTimer() {
	if c.authTimer != nil {
		c.authTimer.Stop()
		c.authTimer = nil
	}
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

// idleReader wraps the current transport for the decoder; on a bound
// session it may pause the decoder (xml.ErrPause) once idle.
func (c *conn) idleReader() io.Reader {
	r, w := idleReader(&c.life, c.nc)
	c.wr = w
	c.armIdle()
	if w != nil {
		w.dec, w.stanzaTimeout = c.dec, c.srv.cfg.StanzaTimeout
		return r
	}
	if c.transport == TransportHTTP {
		// WebSocket and BOSH carry whole stanzas per message (RFC 7395
		// §3.3.3) and have read deadlines of their own making.
		return r
	}
	return &stanzaReader{nc: c.nc, dec: c.dec, timeout: c.srv.cfg.StanzaTimeout}
}

// errStanzaTimeout: a top-level element was begun and not finished within
// Config.StanzaTimeout.
var errStanzaTimeout = errors.New("c2s: stanza not completed in time")

// stanzaReader bounds the time to finish a started stanza on a transport
// without the TLS idle reader (plain TCP): while the decoder is inside an
// element, reads have a deadline that the element's first wait set. The
// deadline is only touched when a stanza spans reads, so the usual stanza,
// which arrives whole, costs one branch per read.
type stanzaReader struct {
	nc      net.Conn
	dec     *xml.Decoder
	timeout time.Duration
	by      time.Time // the started stanza's deadline; zero between stanzas
}

func (r *stanzaReader) Read(p []byte) (int, error) {
	if r.dec.InElement() {
		if r.by.IsZero() {
			r.by = time.Now().Add(r.timeout)
			r.nc.SetReadDeadline(r.by)
		}
	} else if !r.by.IsZero() {
		r.by = time.Time{}
		r.nc.SetReadDeadline(r.by)
	}
	n, err := r.nc.Read(p)
	if n == 0 && !r.by.IsZero() && errors.Is(err, os.ErrDeadlineExceeded) {
		return 0, errStanzaTimeout
	}
	return n, err
}

// armIdle lets the reader of a bound session pause once idle.
//
// The first pause after binding comes sooner (loginIdle): logging in
// grew the reader's stack (the TLS handshake's key exchange, SQLite) and
// crypto/tls's buffers, which only parking gives back, and most clients
// fall quiet once their login requests are answered. Every session that
// logged in within the last IdleAfter held them: after a burst of logins
// those were the server's high-water mark of memory, which the runtime
// keeps (docs/performance.md). park restores IdleAfter.
func (c *conn) armIdle() {
	if c.wr != nil && c.bound && canPark {
		c.wr.idle = min(c.srv.cfg.IdleAfter, loginIdle)
	}
}

// loginIdle bounds a session's first idle wait after binding (armIdle).
const loginIdle = 2 * time.Second

// closeTransport closes nc, a transport of this session, and resumes the
// reader if it is parked (a closed socket leaves the epoll set silently).
func (c *conn) closeTransport(nc net.Conn) {
	nc.Close()
	c.wake()
}

// handshake runs the TLS server handshake with a deadline, so a client that
// never finishes it costs at most HandshakeTimeout.
func (c *conn) handshake() error {
	tc := tls.Server(c.nc, c.opts.TLS)
	c.nc.SetDeadline(time.Now().Add(c.srv.cfg.HandshakeTimeout))
	err := tc.HandshakeContext(context.Background())
	c.nc.SetDeadline(time.Time{})
	if err != nil {
		return fmt.Errorf("tls handshake: %w", err)
	}
	st := tc.ConnectionState()
	c.tls = &st
	// tls-server-end-point (RFC 5929) hashes the certificate we presented,
	// which crypto/tls does not report on the server side: ask the same
	// selection again.
	if gc := c.opts.TLS.GetCertificate; gc != nil {
		if cert, err := gc(&tls.ClientHelloInfo{ServerName: st.ServerName}); err == nil && cert != nil && len(cert.Certificate) > 0 {
			c.serverCert = cert.Certificate[0]
		}
	} else if len(c.opts.TLS.Certificates) > 0 {
		c.serverCert = c.opts.TLS.Certificates[0].Certificate[0]
	}
	c.wmu.Lock()
	c.nc = tc
	c.wmu.Unlock()
	return nil
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
	return stanza.DecodeError(err)
}

// openStream reads the client's header and answers with ours and the
// features for the current state (RFC 6120 §4.2, §4.3).
func (c *conn) openStream() error {
	c.wmu.Lock()
	c.headerSent = false
	c.wmu.Unlock()
	h, err := c.dec.ReadHeader()
	if err != nil {
		return c.readError(err)
	}
	to := h.Attr("to")
	if c.domain == "" {
		// §4.7.1: our header's 'from' is the domain the peer asked for
		// if we serve it; otherwise we answer as our default domain and
		// end the stream with host-unknown.
		c.domain = c.srv.cfg.DefaultDomain
		if d, ok := c.srv.cfg.Host(to); ok {
			c.domain = d
		}
	}
	c.streamID = randomID(12)
	hdr := c.streamHeader(h)
	if err := c.checkHeader(h, to); err != nil {
		// The header goes out before any error about it (§4.9.1.2).
		if werr := c.writeHeader(hdr); werr != nil {
			return werr
		}
		return err
	}
	// Header and features in one write: one TLS record and one syscall
	// instead of two, three times per login.
	return c.writeHeader(c.features(hdr))
}

// checkHeader tests the client's stream header.
func (c *conn) checkHeader(h *xml.Header, to string) error {
	// §4.9.3.10: the stream element must be <stream:stream> in the streams
	// namespace with jabber:client as the content namespace.
	if h.Name != "stream" || h.NS != xml.NSStream {
		return &stanza.StreamError{Condition: stanza.StreamInvalidNamespace, Text: "expected <stream:stream> in " + xml.NSStream}
	}
	if h.DefaultNS != xml.NSClient {
		return &stanza.StreamError{Condition: stanza.StreamInvalidNamespace, Text: "content namespace must be jabber:client"}
	}
	if _, ok := c.srv.cfg.Host(to); !ok {
		return &stanza.StreamError{Condition: stanza.StreamHostUnknown, Text: "this server does not serve " + strconv.Quote(to)}
	}
	// §4.7.5: no version means a pre-1.0 peer; a different major version is
	// one we cannot speak.
	if v := h.Attr("version"); majorVersion(v) != 1 {
		return &stanza.StreamError{Condition: stanza.StreamUnsupportedVersion, Text: "only XMPP 1.0 streams are supported"}
	}
	return nil
}

func majorVersion(v string) int {
	if v == "" {
		return 0
	}
	maj := v
	for i := 0; i < len(v); i++ {
		if v[i] == '.' {
			maj = v[:i]
			break
		}
	}
	n, err := strconv.Atoi(maj)
	if err != nil || n < 0 {
		return -1
	}
	return n
}

// streamHeader is our stream header in answer to h.
func (c *conn) streamHeader(h *xml.Header) []byte {
	b := make([]byte, 0, 512) // the features are appended to it
	b = append(b, "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='"...)
	b = append(b, c.streamID...)
	b = append(b, "' from='"...)
	b = xml.EscapeAttr(b, c.domain)
	b = append(b, '\'')
	if h != nil {
		// §4.7.2: 'to' in the response reflects the initiator's 'from'.
		if f := h.Attr("from"); f != "" {
			if j, err := jid.Parse(f); err == nil {
				b = append(b, " to='"...)
				b = xml.EscapeAttr(b, j.String())
				b = append(b, '\'')
			}
		}
	}
	return append(b, " version='1.0' xml:lang='en'>"...)
}

// writeHeader writes our stream header unless CloseStream got there first
// (it then wrote a header of its own before the error).
func (c *conn) writeHeader(b []byte) error {
	c.wmu.Lock()
	if c.closing {
		c.wmu.Unlock()
		return io.ErrClosedPipe
	}
	c.headerSent = true
	if c.async {
		c.wmu.Unlock()
		if !c.enqueue(b) {
			return io.ErrClosedPipe
		}
		return nil
	}
	defer c.wmu.Unlock()
	c.nc.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
	_, err := c.nc.Write(b)
	return err
}

// sendFeatures advertises what may be negotiated now (RFC 6120 §4.3.2).
func (c *conn) sendFeatures() error { return c.write(c.features(nil)) }

// features appends <stream:features> for the stream's current state to dst.
func (c *conn) features(dst []byte) []byte {
	b := xml.NewBuilder("features", xml.NSStream)
	switch {
	case c.authed:
		// First: on a listener that does not require TLS a client may
		// authenticate without it (SCRAM), and after the restart it binds
		// (§6.4.6); STARTTLS is no longer on offer (§5.3.1: TLS comes
		// before SASL).
		c.sessionFeatures(b, false)
	case c.tls == nil && c.opts.TLS != nil:
		b.Start("starttls", nsTLS)
		if c.opts.RequireTLS {
			b.Start("required", "").End()
		}
		b.End()
		if !c.opts.RequireTLS {
			c.addSASLFeatures(b)
			c.addPreAuthFeatures(b)
		}
	default:
		c.addSASLFeatures(b)
		c.addPreAuthFeatures(b)
	}
	return streamFeatures(dst, b.Element())
}

// sessionFeatures are those of an authenticated stream; bound (by XEP-0386
// during authentication) leaves out resource binding.
func (c *conn) sessionFeatures(b *xml.Builder, bound bool) {
	if !bound {
		b.Start("bind", nsBind).End()
		// RFC 6121 legacy session establishment, announced optional
		// (draft-cridland-xmpp-session-01) for old clients.
		b.Start("session", nsSession).Start("optional", "").End().End()
	}
	b.Start("sm", nsSM).End()   // XEP-0198
	b.Start("csi", nsCSI).End() // XEP-0352
	for _, f := range c.srv.cfg.Registry.StreamFeatures() {
		if el := f.Element(); el != nil {
			b.Append(el)
		}
	}
}

// streamFeatures writes <stream:features> with the stream prefix, which is
// the form every client expects.
func streamFeatures(b []byte, el *xml.Element) []byte {
	b = append(b, "<stream:features>"...)
	for ch := range el.Children() {
		b = ch.Append(b, xml.NSClient)
	}
	return append(b, "</stream:features>"...)
}

func (c *conn) authServer() *auth.Server {
	return &auth.Server{Store: credStore{c.srv.cfg.Accounts, c.domain, c.srv.cfg.Observer}, FakeSaltKey: c.srv.cfg.FakeSaltKey, Allowed: c.srv.cfg.Mechanisms,
		Gate: c.authGate}
}

// account names the account a negotiation tried, for throttling and logs.
func (c *conn) account(username string) string {
	if username == "" {
		return ""
	}
	return username + "@" + c.domain
}

// authGate runs before a password or proof is tested (auth.Server.Gate):
// it waits while this address or the account is throttled, or refuses the
// check untested when that would take too long (throttle.go).
func (c *conn) authGate(_ context.Context, username string) error {
	wait, ok := c.srv.cfg.Limiter.AuthWait(c.ip, c.account(username))
	if wait > 0 || !ok {
		c.srv.cfg.Observer.AuthThrottled(wait, !ok)
	}
	if !ok {
		c.srv.cfg.Log.Info("authentication refused: throttled", "ip", c.ip, "account", c.account(username), "mechanism", c.saslMech)
		time.Sleep(wait)
		return errThrottled
	}
	time.Sleep(wait)
	return nil
}

func (c *conn) connState() auth.ConnState {
	cs := auth.ConnState{TLS: c.tls, ServerCert: c.serverCert}
	a := c.authServer()
	cs.CBTypes = a.ChannelBindingTypes(cs)
	cs.Offered = a.Mechanisms(cs)
	return cs
}

func (c *conn) addSASLFeatures(b *xml.Builder) {
	cs := c.connState()
	b.Start("mechanisms", nsSASL)
	for _, m := range cs.Offered {
		b.Start("mechanism", "").Text(m).End()
	}
	b.End()
	c.addSASL2Feature(b, cs)
	if len(cs.CBTypes) > 0 {
		// XEP-0440: tell the client which channel bindings we can do.
		b.Start("sasl-channel-binding", nsSASLCB)
		for _, t := range cs.CBTypes {
			b.Start("channel-binding", "").Attr("type", t).End()
		}
		b.End()
	}
}

// addPreAuthFeatures offers what modules handle before authentication
// (XEP-0077 registration), each deciding for this stream's vhost. Only
// called where preAuthOpen holds.
func (c *conn) addPreAuthFeatures(b *xml.Builder) {
	for _, f := range c.srv.cfg.Registry.PreAuthFeatures() {
		if el := f.Element(c); el != nil {
			b.Append(el)
		}
	}
}

// preAuthOpen reports whether the stream may carry pre-authentication
// IQs: like SASL, only under TLS where the listener requires it.
func (c *conn) preAuthOpen() bool {
	return c.tls != nil || c.opts.TLS == nil || !c.opts.RequireTLS
}

// preAuthIQ answers an IQ sent before authentication if a module handles
// its namespace there (module.TargetPreAuth) and reports whether it did;
// anything else stays refused by the caller (RFC 6120 §6.4.1). Only a
// well-formed get/set to the stream's own domain (or without 'to')
// qualifies: an unauthenticated client has no address to act for and
// nothing to reach elsewhere.
func (c *conn) preAuthIQ(el *xml.Element) (bool, error) {
	if el.Name() != "iq" || el.NS() != xml.NSClient || !c.preAuthOpen() {
		return false, nil
	}
	typ := el.Attr("type")
	if typ != "get" && typ != "set" {
		return false, nil
	}
	if _, ok := el.LookupAttr("id"); !ok {
		return false, nil
	}
	var p *xml.Element
	n := 0
	for ch := range el.Children() {
		p = ch
		n++
	}
	if n != 1 {
		return false, nil
	}
	reg := c.srv.cfg.Registry
	if !reg.Handles(module.TargetPreAuth, typ, p.NS()) {
		return false, nil
	}
	var to jid.JID
	if v, ok := el.LookupAttr("to"); ok {
		j, err := jid.Parse(v)
		if err != nil || j.Local() != "" || j.Resource() != "" || j.Domain() != c.domain {
			return false, nil
		}
		to = j
	}
	// Whatever 'from' the client wrote means nothing yet (RFC 6120
	// §8.1.2.1); the reply must not echo it as 'to'.
	el = el.WithAttrs(xml.Attr{Name: "from", Value: ""})
	st := &module.Stanza{El: el, To: to, Stream: c}
	iq := &module.IQ{Stanza: st, ID: el.Attr("id"), Type: typ, Payload: p}
	reply := reg.HandleIQ(&c.life, module.TargetPreAuth, iq, c.logger())
	return true, c.write(c.stanzaBytes(reply))
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

// streamClosed reports that our side of the stream is closed: no more
// output, and so no more acknowledgements.
func (c *conn) streamClosed() bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.closing
}

// startTLS: RFC 6120 §5.4.2 - proceed, handshake, restart the stream.
func (c *conn) startTLS() error {
	if err := c.write([]byte("<proceed xmlns='" + nsTLS + "'/>")); err != nil {
		return err
	}
	if err := c.handshake(); err != nil {
		c.logger().Debug("STARTTLS handshake failed", "err", err)
		c.srv.cfg.Observer.TLSHandshakeFailed()
		c.nc.Close()
		return nil
	}
	c.dec.Reset(c.idleReader())
	return c.openStream()
}

// write sends negotiation output synchronously (before binding nothing else
// writes to the connection).
func (c *conn) write(b []byte) error {
	c.wmu.Lock()
	if c.async {
		c.wmu.Unlock()
		if !c.enqueue(b) {
			return io.ErrClosedPipe
		}
		return nil
	}
	// Holding wmu through the write keeps a concurrent CloseStream (auth
	// timeout, shutdown) from interleaving its bytes with ours.
	defer c.wmu.Unlock()
	c.nc.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
	_, err := c.nc.Write(b)
	return err
}

// abort closes the socket without a goodbye.
func (c *conn) abort() {
	c.wmu.Lock()
	nc := c.nc
	c.wmu.Unlock()
	c.closeTransport(nc)
}

// sasl runs one SASL negotiation (RFC 6120 §6.4).
func (c *conn) sasl(el *xml.Element) error {
	c.sasl2 = false
	initial, present := el.Text(), true
	if initial == "" {
		present = false // §6.4.2: no initial response
	} else if initial == "=" {
		initial = ""
	}
	return c.runSASL(el.Attr("mechanism"), initial, present, c.saslSuccess)
}

// runSASL negotiates mechanism, legacy or XEP-0388 as c.sasl2 says, from
// the base64 initial response (present false: none), and calls done on
// success.
func (c *conn) runSASL(mech, initial string, present bool, done func(*auth.Negotiation, []byte) error) error {
	if c.tls == nil && c.opts.RequireTLS && c.opts.TLS != nil {
		return c.saslFailure("encryption-required", "")
	}
	cs := c.connState()
	offered := false
	c.saslMech = ""
	for _, m := range cs.Offered {
		if m == mech {
			offered = true
			c.saslMech = m
		}
	}
	var ctx context.Context = &c.life
	var neg *auth.Negotiation
	var err error
	switch {
	case auth.IsTokenMechanism(mech):
		// XEP-0484: offered inside <fast/> only (fast.go).
		if neg, err = c.startFAST(ctx, mech, cs); err == nil {
			c.saslMech = mech
		}
	case !offered:
		return c.saslFailure("invalid-mechanism", "")
	default:
		neg, err = c.authServer().Start(ctx, mech, cs)
	}
	if err != nil {
		return c.saslError(nil, err)
	}
	var in []byte
	switch {
	case !present:
		// No initial response: an empty challenge asks for it.
		if in, err = c.saslNext([]byte{}); in == nil {
			return err
		}
	case initial == "":
		in = []byte{}
	default:
		if in, err = base64.StdEncoding.DecodeString(initial); err != nil {
			return c.saslFailure("incorrect-encoding", "")
		}
	}
	for {
		out, fin, err := neg.Step(ctx, in)
		if err != nil {
			return c.saslError(neg, err)
		}
		if fin {
			return done(neg, out)
		}
		if in, err = c.saslNext(out); in == nil {
			return err
		}
	}
}

// saslNext sends a challenge and reads the response. A nil slice with nil
// error means the exchange ended (aborted) and was answered.
func (c *conn) saslNext(challenge []byte) ([]byte, error) {
	ns := c.saslNS()
	b := []byte("<challenge xmlns='" + ns + "'>")
	b = base64.StdEncoding.AppendEncode(b, challenge)
	b = append(b, "</challenge>"...)
	if err := c.write(b); err != nil {
		return nil, err
	}
	el, err := c.dec.Next()
	if err != nil {
		return nil, c.readError(err)
	}
	if el.NS() != ns {
		return nil, &stanza.StreamError{Condition: stanza.StreamNotAuthorized, Text: "SASL negotiation in progress"}
	}
	switch el.Name() {
	case "response":
		t := el.Text()
		if t == "=" || t == "" {
			return []byte{}, nil
		}
		in, err := base64.StdEncoding.DecodeString(t)
		if err != nil {
			return nil, c.saslFailure("incorrect-encoding", "")
		}
		return in, nil
	case "abort":
		return nil, c.saslFailure("aborted", "")
	}
	return nil, c.saslFailure("malformed-request", "expected <response/> or <abort/>")
}

func (c *conn) saslError(neg *auth.Negotiation, err error) error {
	var f *auth.Failure
	if errors.As(err, &f) {
		if errors.Is(f.Err, auth.ErrCredentials) && neg != nil {
			return c.credentialFailure(c.account(neg.Attempted()), f.Condition, f.Text)
		}
		c.logger().Debug("SASL failure", "ip", c.ip, "condition", f.Condition, "err", f.Err)
		return c.saslFailure(f.Condition, f.Text)
	}
	c.logger().Error("SASL failed", "err", err)
	return c.saslFailure("temporary-auth-failure", "")
}

// credentialFailure answers a wrong password or unknown account (alike):
// logged in one stable line for operators and fail2ban
// (docs/deploy-fail2ban.md), delayed as the throttle says, and too many on
// one stream end it.
func (c *conn) credentialFailure(account, cond, text string) error {
	c.srv.cfg.Log.Info("authentication failed", "ip", c.ip, "account", account, "mechanism", c.saslMech)
	if d := c.srv.cfg.Limiter.AuthFailed(c.ip, account); d > 0 {
		c.srv.cfg.Observer.AuthThrottled(d, false)
		time.Sleep(d)
	}
	c.attempts++
	if err := c.saslFailure(cond, text); err != nil {
		return err
	}
	if c.attempts >= maxSASLAttempts {
		return &stanza.StreamError{Condition: stanza.StreamPolicyViolation, Text: "too many failed authentication attempts"}
	}
	return nil
}

// saslFailure answers <failure/> (RFC 6120 §6.5).
func (c *conn) saslFailure(cond, text string) error {
	b := []byte("<failure xmlns='" + nsSASL + "'><" + cond + "/>")
	if c.sasl2 {
		// XEP-0388 §2.6.2: its own <failure/> with RFC 6120's condition.
		b = []byte("<failure xmlns='" + nsSASL2 + "'><" + cond + " xmlns='" + nsSASL + "'/>")
	}
	if text != "" {
		b = append(b, "<text xml:lang='en'>"...)
		b = xml.EscapeText(b, text)
		b = append(b, "</text>"...)
	}
	b = append(b, "</failure>"...)
	c.srv.cfg.Observer.AuthFailed(c.saslMech)
	if err := c.write(b); err != nil {
		return err
	}
	c.failures++
	if c.failures >= maxSASLFailures {
		return &stanza.StreamError{Condition: stanza.StreamPolicyViolation, Text: "too many failed authentication attempts"}
	}
	return nil
}

// saslAccount is the account a finished negotiation authenticated; ok
// false when it was answered with a failure (err then says whether the
// stream goes on).
func (c *conn) saslAccount(neg *auth.Negotiation) (bare jid.JID, ok bool, err error) {
	bare, e := jid.New(neg.Username(), c.domain, "")
	if e != nil {
		return jid.JID{}, false, c.saslFailure("not-authorized", "")
	}
	// §6.4.6: an authzid, if given, must be the account itself.
	if az := neg.AuthzID(); az != "" {
		if j, e := jid.Parse(az); e != nil || j != bare {
			return jid.JID{}, false, c.saslFailure("invalid-authzid", "")
		}
	}
	return bare, true, nil
}

// authenticated records a successful authentication.
func (c *conn) authenticated(neg *auth.Negotiation, bare jid.JID) {
	c.srv.cfg.Limiter.AuthSucceeded(c.account(bare.Local()))
	c.srv.cfg.Observer.AuthSucceeded(c.saslMech)
	c.authed = true
	c.username = bare.Local()
	c.jid = bare
	c.logger().Info("authenticated", "ip", c.ip, "mechanism", neg.Mechanism(), "tls", c.tlsVersion(), "sasl2", c.sasl2)
}

func (c *conn) saslSuccess(neg *auth.Negotiation, out []byte) error {
	bare, ok, err := c.saslAccount(neg)
	if !ok {
		return err
	}
	b := []byte("<success xmlns='" + nsSASL + "'>")
	if len(out) > 0 {
		b = base64.StdEncoding.AppendEncode(b, out)
	}
	b = append(b, "</success>"...)
	if err := c.write(b); err != nil {
		return err
	}
	c.authenticated(neg, bare)
	c.dec.Reset(c.idleReader())
	return c.openStream()
}

// preBind handles the authenticated stream until a resource is bound
// (RFC 6120 §7).
func (c *conn) preBind(el *xml.Element) error {
	if el.Name() != "iq" || el.NS() != xml.NSClient {
		return &stanza.StreamError{Condition: stanza.StreamNotAuthorized, Text: "bind a resource first"}
	}
	p := el.FirstChild()
	if el.Attr("type") != "set" || p == nil || p.Name() != "bind" || p.NS() != nsBind {
		// §7.1: stanzas before binding are not processed.
		return c.write(c.stanzaBytes(stanza.NewError(stanza.NotAuthorized, "bind a resource first").Reply(el)))
	}
	res := ""
	if r := p.Child("resource", nsBind); r != nil {
		res = r.Text()
	}
	if res == "" {
		res = randomID(8) // §7.6: server-generated resource
	}
	full, e := c.resource(res)
	if e != nil {
		return c.write(c.stanzaBytes(e.Reply(el)))
	}
	reply := xml.NewBuilder("iq", xml.NSClient).Attr("type", "result").Attr("id", el.Attr("id")).
		Start("bind", nsBind).Start("jid", "").Text(full.String()).End().End().Element()
	c.bind(full, func() { c.Deliver(reply) }, nil)
	return nil
}

// resource checks a resource for binding: the full JID, or the stanza
// error to answer.
func (c *conn) resource(res string) (jid.JID, *stanza.Error) {
	full, err := c.jid.WithResource(res)
	if err != nil {
		// §7.7.2.1: a resource that violates the resourcepart rules.
		return jid.JID{}, stanza.NewError(stanza.BadRequest, "invalid resource")
	}
	if max := c.srv.cfg.MaxSessions; max > 0 && c.srv.cfg.Directory.Count() >= max {
		return jid.JID{}, stanza.NewError(stanza.ResourceConstraint, "too many sessions")
	}
	if err := c.srv.cfg.Directory.Admit(); err != nil {
		return jid.JID{}, stanza.NewError(stanza.ResourceConstraint, err.Error())
	}
	return full, nil
}

// bind makes the stream the session of full (RFC 6120 §7; XEP-0386):
// first queues the result of the binding before anyone can find the
// session, so that it is the first thing the client reads on it; before
// runs once the session can be found, before the modules hear of it
// (Bind 2's inline features).
func (c *conn) bind(full jid.JID, first func(), before func()) {
	c.jid = full
	// Every stanza from here on is parsed with its 'from' already ours
	// (§8.1.2.1), in the element's own arrays: no copy per stanza.
	c.dec.Stamp(xml.NSClient, "from", full.String())
	// From here on output goes through the queue, since other sessions may
	// now deliver to this one.
	c.wmu.Lock()
	c.async = true
	c.since = time.Now()
	closing := c.closing
	c.wmu.Unlock()
	if closing {
		return
	}
	c.stopAuthTimer()
	c.bound = true
	c.armIdle()
	first()
	if old := c.srv.cfg.Directory.Bind(c); old != nil {
		// §7.7.2.2: the newer session wins; the older one is told why.
		old.CloseStream(stanza.StreamConflict, "replaced by a new session")
	}
	if before != nil {
		before()
	}
	c.srv.cfg.Registry.SessionBound(&c.life, c)
}

func (c *conn) stanzaBytes(el *xml.Element) []byte { return el.Append(nil, xml.NSClient) }

// stanza handles one element from a bound session (RFC 6120 §8).
func (c *conn) stanza(el *xml.Element) error {
	name := el.Name()
	kind, ok := stanzaKind(name)
	if el.NS() != xml.NSClient || !ok {
		return &stanza.StreamError{Condition: stanza.StreamUnsupportedStanzaType, Text: "unexpected <" + name + "/>"}
	}
	c.srv.cfg.Observer.StanzaIn(kind)
	// §8.1.2.1: the server stamps the full JID, whatever the client wrote.
	// The decoder did it while parsing (Stamp, from bind on); the copy is
	// for a stanza that did not come through it so stamped.
	if v, ok := el.LookupAttr("from"); !ok || v != c.jid.String() {
		el = el.WithAttrs(xml.Attr{Name: "from", Value: c.jid.String()})
	}
	st := &module.Stanza{El: el, From: c.jid, Origin: c}
	if to, ok := el.LookupAttr("to"); ok {
		j, err := jid.Parse(to)
		if err != nil {
			c.bounce(el, stanza.JIDMalformed, "invalid 'to' address")
			return nil
		}
		st.To = j
	}
	if name == "iq" {
		if !c.validIQ(el) {
			return nil
		}
		if st.To.IsZero() || st.To == c.jid.Bare() {
			if p := el.FirstChild(); p != nil && p.Name() == "session" && p.NS() == nsSession && el.Attr("type") == "set" {
				c.Deliver(xml.NewBuilder("iq", xml.NSClient).Attr("type", "result").Attr("id", el.Attr("id")).Element())
				return nil
			}
		}
	}
	var ctx context.Context = &c.life
	if c.wr != nil && c.sc != nil {
		ctx = c.wr.ctx
	}
	reg := c.srv.cfg.Registry
	if reg.RunHook(ctx, module.HookOutbound, st) {
		return nil
	}
	if name == "presence" && st.To.IsZero() {
		c.selfPresence(ctx, st)
		return nil
	}
	if name == "message" && st.To.IsZero() {
		// RFC 6121 §8.5 treats it as addressed to the sender's bare JID.
		st.To = c.jid.Bare()
	}
	c.srv.cfg.Router.Route(ctx, st)
	return nil
}

// validIQ checks RFC 6120 §8.2.3: an id, a known type, exactly one payload
// for get/set.
func (c *conn) validIQ(el *xml.Element) bool {
	if _, ok := el.LookupAttr("id"); !ok {
		c.bounce(el, stanza.BadRequest, "iq without id")
		return false
	}
	switch el.Attr("type") {
	case "get", "set":
		n := 0
		for range el.Children() {
			n++
		}
		if n != 1 {
			c.bounce(el, stanza.BadRequest, "get and set carry exactly one payload")
			return false
		}
	case "result", "error":
	default:
		c.bounce(el, stanza.BadRequest, "iq type must be get, set, result or error")
		return false
	}
	return true
}

func (c *conn) bounce(el *xml.Element, cond, text string) {
	if stanza.IsError(el) {
		return
	}
	c.Deliver(stanza.NewError(cond, text).Reply(el))
}

// selfPresence records presence broadcast by the session (RFC 6121 §4.2,
// §4.5) and hands it to the IM module for distribution.
func (c *conn) selfPresence(ctx context.Context, st *module.Stanza) {
	switch st.Type() {
	case "":
		prio := 0
		if p := st.El.Child("priority", xml.NSClient); p != nil {
			if n, err := strconv.Atoi(p.Text()); err == nil && n >= -128 && n <= 127 {
				prio = n
			}
		}
		c.priority.Store(int32(prio))
		c.presence.Store(st.El)
		c.available.Store(true)
	case "unavailable":
		c.available.Store(false)
		c.presence.Store(nil)
	}
	c.srv.cfg.Directory.Updated(c)
	c.srv.cfg.Registry.RunHook(ctx, module.HookPresenceBroadcast, st)
}

// Deliver queues el for the client (module.Session).
func (c *conn) Deliver(el *xml.Element) bool { return c.deliver(el, nil) }

// DeliverBatch queues el and leaves the write to b (module.BatchDeliverer).
func (c *conn) DeliverBatch(el *xml.Element, b *module.Batch) bool { return c.deliver(el, b) }

func (c *conn) deliver(el *xml.Element, b *module.Batch) bool {
	c.wmu.Lock()
	if !c.async || c.sm.ended || c.closing && !c.sm.resumable {
		c.wmu.Unlock()
		return false
	}
	if c.live != nil && c.liveHoldLocked(el) {
		c.wmu.Unlock()
		return true
	}
	if c.csi.inactive {
		if c.csiHoldLocked(el) {
			c.wmu.Unlock()
			return true
		}
		// Something that matters: what was held goes first.
		c.csiFlushLocked()
	}
	if !c.appendLocked(el) {
		c.wmu.Unlock()
		c.logger().Warn("too many unacknowledged stanzas: ending the session", "limit", MaxUnacked)
		c.CloseStream(stanza.StreamPolicyViolation, "too many unacknowledged stanzas")
		return false
	}
	if k, ok := stanzaKind(el.Name()); ok {
		c.srv.cfg.Observer.StanzaOut(k)
	}
	if c.closing {
		held := c.sm.hibernating && el.Name() == "message"
		c.wmu.Unlock()
		if held {
			c.held(el)
		}
		return true
	}
	return c.kickBatch(b)
}

// held runs HookHeld for a message queued while the session hibernates.
func (c *conn) held(el *xml.Element) {
	from, _ := jid.Parse(el.Attr("from"))
	c.srv.cfg.Registry.RunHook(&c.life, module.HookHeld, &module.Stanza{El: el, From: from, To: c.jid})
}

// appendLocked adds el to the output (and, with stream management, to the
// unacknowledged stanzas); wmu held. On a broken transport of a resumable
// session the stanza only waits among the unacknowledged for the
// resumption. False when the unacknowledged queue is full.
func (c *conn) appendLocked(el *xml.Element) bool {
	if c.sm.enabled && !c.smQueueLocked(el) {
		return false
	}
	if !c.closing {
		c.out = el.Append(c.queueBuf(), xml.NSClient)
	}
	return true
}

func (c *conn) enqueue(b []byte) bool {
	c.wmu.Lock()
	if c.closing {
		c.wmu.Unlock()
		return false
	}
	c.out = append(c.queueBuf(), b...)
	return c.kick()
}

// kick starts the writer if needed and enforces the queue bound; called
// with wmu held, releases it. With a batch, the writing may be left to it.
func (c *conn) kick() bool { return c.kickBatch(nil) }

func (c *conn) kickBatch(b *module.Batch) bool {
	if len(c.out) > c.srv.cfg.OutboundQueueBytes {
		// A client that does not read is cut off rather than allowed to
		// grow our memory (slow consumer). Nothing more can reach it.
		c.out = nil
		c.closing = true
		nc := c.nc
		c.wmu.Unlock()
		c.slowConsumer()
		c.closeTransport(nc)
		return false
	}
	if !c.writing {
		c.writing = true
		if b != nil && c.sc != nil && b.Add(c) {
			// The reader that routed this writes it (Flush) once it
			// has handled its input: no writer to start and wake, and
			// the socket takes it without waiting (spillConn).
			c.wmu.Unlock()
			return true
		}
		go c.writeLoop()
	}
	c.wmu.Unlock()
	return true
}

// slowConsumer reports a session cut off because its output passed
// OutboundQueueBytes, queued here or in its spillConn.
func (c *conn) slowConsumer() {
	c.logger().Warn("outbound queue overflow: closing slow session", "limit", c.srv.cfg.OutboundQueueBytes)
	c.srv.cfg.Observer.QueueOverflow()
}

// Flush writes what a batch left to this session (module.Flusher); the
// batch reserved the writer for it (kick).
func (c *conn) Flush() { c.drain(true) }

func (c *conn) writeLoop() { c.drain(false) }

// drain writes the queued output until none is left. Inline (Flush, in the
// reader of a batch) it writes once and leaves what arrived meanwhile to a
// writer goroutine.
func (c *conn) drain(inline bool) {
	for n := 0; ; n++ {
		c.wmu.Lock()
		if len(c.out) > 0 && inline && n > 0 {
			c.wmu.Unlock() // c.writing stays set: the writer owns it now
			go c.writeLoop()
			return
		}
		if len(c.out) == 0 {
			c.writing = false
			// An idle session keeps no write buffers: they go back to
			// the pool shared by all sessions.
			putBuf(c.spare)
			putBuf(c.out)
			c.out, c.spare = nil, nil
			closeNow := c.closing && !c.closed
			if closeNow {
				c.closed = true
			}
			c.wmu.Unlock()
			if closeNow {
				c.shut()
			}
			return
		}
		buf := c.out
		took := uint64(len(buf))
		c.outTaken += took
		c.outInflight = len(buf)
		if c.sm.enabled && len(c.sm.unacked) > 0 && !c.sm.rPending && !c.closing {
			// One request per burst keeps the unacknowledged queue
			// short without a request per stanza (XEP-0198 §4).
			buf = append(buf, "<r xmlns='"+nsSM+"'/>"...)
			c.sm.rPending = true
		}
		c.out, c.spare = c.spare[:0], nil
		nc, gen, wdl := c.nc, c.sm.gen, c.wdl
		c.wmu.Unlock()
		// Re-armed only once half spent, not per write (a runtime timer
		// update each): a write that blocks still fails within
		// WriteTimeout/2 to WriteTimeout.
		if now := time.Now(); wdl.Sub(now) < c.srv.cfg.WriteTimeout/2 {
			wdl = now.Add(c.srv.cfg.WriteTimeout)
			nc.SetWriteDeadline(wdl)
		}
		_, err := nc.Write(buf)
		c.wmu.Lock()
		c.outInflight = 0
		if err == nil {
			c.outWritten += took
		}
		if c.sm.gen == gen {
			c.wdl = wdl
		}
		if cap(buf) <= maxQueueRetain && c.spare == nil {
			c.spare = buf[:0]
		}
		if err != nil && c.sm.gen != gen {
			// The write failed on a transport a resumption replaced:
			// the session goes on over the new one.
			c.wmu.Unlock()
			continue
		}
		if err != nil {
			c.out = nil
			c.closing = true
			c.closed = true
			c.writing = false
			c.wmu.Unlock()
			if errors.Is(err, errSpillFull) {
				c.slowConsumer() // the bytes waited in the spillConn
			}
			c.closeTransport(nc)
			return
		}
		c.wmu.Unlock()
	}
}

// shut closes the socket after the closing tag went out. RFC 6120 §4.4 lets
// us wait for the peer's own closing tag; the reader ends on it or on the
// timeout set here.
func (c *conn) shut() {
	c.wmu.Lock()
	nc := c.nc
	c.wmu.Unlock()
	if cw, ok := nc.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	// A timer rather than a read deadline: the idle reader clears read
	// deadlines, and closing ends any read for certain.
	time.AfterFunc(2*time.Second, func() { c.closeTransport(nc) })
}

// CloseStream sends an optional stream error and the closing tag, then
// closes the connection once they are written (module.Session).
func (c *conn) CloseStream(condition, text string) {
	c.wmu.Lock()
	if c.sm.hibernating && !c.sm.resuming {
		// No transport to write to: the session just ends (replaced by
		// a new one, account removed, server shutting down).
		c.sm.hibernating, c.sm.ended = false, true
		if c.sm.timer != nil {
			c.sm.timer.Stop()
		}
		c.wmu.Unlock()
		go c.teardown()
		return
	}
	// Closed on purpose: not resumed afterwards.
	c.sm.ended = true
	if c.closing {
		c.wmu.Unlock()
		return
	}
	var b []byte
	if !c.headerSent {
		// §4.9.1.2: an error before our header needs the header first.
		b = append(b, "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'"...)
		if c.domain != "" {
			// §4.7.1: 'from' is our domain; one we do not serve is not
			// echoed (host-unknown).
			if d, ok := c.srv.cfg.Host(c.domain); ok {
				b = append(b, " from='"...)
				b = xml.EscapeAttr(b, d)
				b = append(b, '\'')
			}
		}
		b = append(b, " id='"...)
		b = append(b, randomID(12)...)
		b = append(b, "' version='1.0'>"...)
		c.headerSent = true
	}
	if condition != "" {
		c.srv.cfg.Observer.StreamError(condition)
	}
	c.out = append(c.out, stanza.AppendStreamEnd(b, condition, text)...)
	c.closing = true
	c.async = true
	if !c.writing {
		c.writing = true
		go c.writeLoop()
	}
	c.wmu.Unlock()
}

// teardown ends a bound session: unbind, tell contacts and modules.
func (c *conn) teardown() {
	// The hooks below still run under the session's context: it ends
	// once they have.
	defer c.life.end()
	var ctx context.Context = &c.life
	c.wmu.Lock()
	c.sm.ended = true
	moved := c.sm.moved
	c.wmu.Unlock()
	if c.srv.cfg.Directory.Unbind(c) {
		// A session handed over to another node goes on there: its
		// contacts hear nothing.
		if c.available.Swap(false) && !moved {
			// An abrupt end still tells contacts the resource went
			// away (RFC 6121 §4.5.2 ... by the IM module's hook).
			un := xml.NewBuilder("presence", xml.NSClient).Attr("type", "unavailable").Attr("from", c.jid.String()).Element()
			c.srv.cfg.Registry.RunHook(ctx, module.HookPresenceBroadcast, &module.Stanza{El: un, From: c.jid, Origin: c})
		}
	}
	c.smReroute(ctx)
	c.liveReroute(ctx)
	if c.sm.id != "" {
		c.srv.resume.remove(c)
	}
	// Also for a session replaced by a new one with the same full JID
	// (its Unbind finds the newer session): modules keeping state per
	// session must hear that this one ended.
	c.srv.cfg.Registry.SessionClosed(ctx, c)
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
	pending := c.writing
	c.wmu.Unlock()
	if pending {
		// Give the writer a moment to flush the final error and closing tag.
		deadline := time.Now().Add(c.srv.cfg.WriteTimeout)
		for time.Now().Before(deadline) {
			c.wmu.Lock()
			w := c.writing
			c.wmu.Unlock()
			if !w {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	c.wmu.Lock()
	nc := c.nc
	c.wmu.Unlock()
	nc.Close()
}

// credStore adapts storage.Accounts to what auth needs, for one domain.
type credStore struct {
	accounts storage.Accounts
	domain   string
	obs      Observer
}

func (s credStore) Credential(ctx context.Context, username, hash string) (auth.Credential, bool, error) {
	c, err := s.accounts.Credential(ctx, s.domain, username, hash)
	if errors.Is(err, storage.ErrNotFound) {
		return auth.Credential{}, false, nil
	}
	if err != nil {
		if s.obs != nil {
			s.obs.StorageError()
		}
		return auth.Credential{}, false, fmt.Errorf("credential of %s@%s: %w", username, s.domain, err)
	}
	return auth.Credential(c), true, nil
}

func (c *conn) tlsVersion() string {
	if c.tls == nil {
		return "none"
	}
	return tls.VersionName(c.tls.Version)
}

// queueBuf returns c.out, taking a buffer from the pool if the session
// holds none (wmu held).
func (c *conn) queueBuf() []byte {
	if c.out == nil {
		c.out = bufPool.Get().(*[poolBufSize]byte)[:0]
	}
	return c.out
}

// The pool holds array pointers, which a slice converts to and from without
// allocating (a *[]byte box cost 24 B per write burst on the chat path).
const poolBufSize = 1024

var bufPool = sync.Pool{New: func() any { return new([poolBufSize]byte) }}

// putBuf returns a write buffer to the pool if it is still of the pool's
// size; one that grew goes to the collector (a burst of big stanzas
// should not pin memory).
func putBuf(b []byte) {
	if cap(b) < poolBufSize || cap(b) >= 2*poolBufSize {
		return
	}
	bufPool.Put((*[poolBufSize]byte)(b[:poolBufSize]))
}
