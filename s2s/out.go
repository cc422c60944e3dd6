package s2s

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/stanza"
	xstream "github.com/xmppd/xmppd/stream"
	"github.com/xmppd/xmppd/xml"
)

// stream is an outbound stream being negotiated: connected, TLS in place
// (unless the peer offers none and we allow that), features read.
type stream struct {
	nc       net.Conn
	dec      *xml.Decoder
	id       string       // the peer's stream ID (after the last restart)
	features *xml.Element // the peer's latest <stream:features/>
	tls      bool
	v10      bool  // the peer speaks XMPP 1.0 (RFC 6120 §4.7.5), not only dialback
	verified error // nil: the peer's certificate validates for its domain
	local    string
	remote   string
	log      *slog.Logger
}

func (st *stream) write(b []byte) error {
	_, err := st.nc.Write(b)
	return err
}

// appendHeader writes a jabber:server stream header, declaring the
// dialback prefix (XEP-0220) both directions use; v10 announces XMPP 1.0,
// which an answer to a pre-1.0 peer leaves out (RFC 6120 §4.7.5).
func appendHeader(b []byte, from, to, id string, v10 bool) []byte {
	h := xstream.Header{NS: xml.NSServer, Decls: " xmlns:db='" + NSDialback + "'", From: from, To: to, ID: id}
	if v10 {
		h.Version = "1.0"
	}
	return h.Append(b)
}

// restart sends our header and reads the peer's header and, from an XMPP
// 1.0 peer, its features (RFC 6120 §4.3, after connect, TLS and SASL
// alike). The peer's header gets the checks an inbound one gets (§4.8
// namespace, §4.7.5 version), and a bad one its stream error.
func (st *stream) restart() error {
	if err := st.write(appendHeader(nil, st.local, st.remote, "", true)); err != nil {
		return err
	}
	h, err := xstream.ReadPeerHeader(st.nc, st.dec)
	if err == nil {
		err = xstream.CheckPeerNamespace(h, xml.NSServer)
	}
	version := 0
	if err == nil {
		version, err = xstream.PeerVersion(h)
	}
	if err != nil {
		return st.refuse(fmt.Errorf("peer's stream header: %w", err))
	}
	st.dec.AliasDefaultNS(xml.NSServer, xml.NSClient)
	st.id = h.ID
	st.v10 = version == 1
	if !st.v10 {
		// §4.7.5: a header without version is a pre-1.0 server, which
		// sends no features (§4.3.2) and waits for dialback (XEP-0220).
		st.features = noFeatures
		return nil
	}
	el, err := st.dec.Next()
	if err != nil {
		return fmt.Errorf("read stream features: %w", err)
	}
	if el.NS() == xml.NSStream && el.Name() == "error" {
		return fmt.Errorf("peer sent a stream error: %s", streamErrorText(el))
	}
	if el.NS() != xml.NSStream || el.Name() != "features" {
		return fmt.Errorf("expected <stream:features/>, got <%s xmlns='%s'/>", el.Name(), el.NS())
	}
	st.features = el
	return nil
}

// noFeatures stands for the features a pre-1.0 peer does not send.
var noFeatures = xml.NewBuilder("features", xml.NSStream).Element()

// refuse ends the stream with err's stream error, if it carries one (our
// header is out: §4.9.1.2), and returns err.
func (st *stream) refuse(err error) error {
	var se *stanza.StreamError
	if errors.As(err, &se) {
		st.write(xstream.AppendEnd(nil, se.Condition, se.Text))
	}
	return err
}

func streamErrorText(el *xml.Element) string {
	for c := range el.Children() {
		if c.Name() != "text" {
			return c.Name()
		}
	}
	return "unknown condition"
}

// next reads the next element, turning a stream error into an error.
func (st *stream) next() (*xml.Element, error) {
	el, err := st.dec.Next()
	if err != nil {
		return nil, err
	}
	if el.NS() == xml.NSStream && el.Name() == "error" {
		return nil, fmt.Errorf("peer sent a stream error: %s", streamErrorText(el))
	}
	return el, nil
}

// clientTLS is the TLS client side: SNI and ALPN for the remote domain, our
// certificate for the local one (SASL EXTERNAL rests on it). Verification
// is done after the handshake so that tls_verify = false can still learn
// whether the certificate was good.
func (s *Server) clientTLS(local, remote string, direct bool) *tls.Config {
	cfg := &tls.Config{ServerName: remote, MinVersion: tls.VersionTLS12, InsecureSkipVerify: true}
	if direct {
		cfg.NextProtos = []string{"xmpp-server"} // XEP-0368 §3
	}
	if s.cfg.Certificate != nil {
		if c := s.cfg.Certificate(local); c != nil {
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return c, nil }
		}
	}
	return cfg
}

func (s *Server) handshake(ctx context.Context, st *stream, direct bool) error {
	tc := tls.Client(st.nc, s.clientTLS(st.local, st.remote, direct))
	hctx, cancel := context.WithTimeout(ctx, s.cfg.HandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		return fmt.Errorf("tls handshake: %w", err)
	}
	cs := tc.ConnectionState()
	st.verified = s.verifyPeer(cs.PeerCertificates, st.remote, x509.ExtKeyUsageServerAuth)
	if st.verified != nil && s.cfg.TLSVerify {
		tc.Close()
		return fmt.Errorf("certificate of %s does not validate (tls_verify = true): %w", st.remote, st.verified)
	}
	st.nc, st.tls = tc, true
	st.dec.Reset(tc)
	return nil
}

// open connects to remote's server as local and negotiates TLS.
func (s *Server) open(ctx context.Context, local, remote string) (*stream, error) {
	targets, err := s.targets(ctx, remote)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, t := range targets {
		st, err := s.openTarget(ctx, local, remote, t)
		if err == nil {
			return st, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", t.addr, err))
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

func (s *Server) openTarget(ctx context.Context, local, remote string, t target) (_ *stream, err error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return nil, err
	}
	st := &stream{nc: nc, local: local, remote: remote, dec: xml.NewDecoder(nc, s.cfg.Limits), log: s.cfg.Log.With("dir", "out", "local", local, "remote", remote, "address", t.addr)}
	defer func() {
		if err != nil {
			st.nc.Close()
		}
	}()
	// One deadline for the whole negotiation; the caller lifts it.
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Now()) })
	defer stop()
	if t.directTLS {
		if err := s.handshake(ctx, st, true); err != nil {
			return nil, err
		}
	}
	if err := st.restart(); err != nil {
		return nil, err
	}
	if !st.tls {
		if st.features.Child("starttls", nsTLS) == nil {
			if s.cfg.RequireTLS && !st.v10 {
				// §4.7.5: an older peer we cannot interoperate with
				// (it has no STARTTLS) is told so.
				return nil, st.refuse(fmt.Errorf("pre-1.0 peer cannot negotiate TLS (s2s.require_tls = true): %w",
					&stanza.StreamError{Condition: stanza.StreamUnsupportedVersion, Text: "this server requires TLS, which needs XMPP 1.0 (STARTTLS)"}))
			}
			if s.cfg.RequireTLS {
				return nil, errors.New("peer does not offer STARTTLS (s2s.require_tls = true)")
			}
			return st, nil
		}
		if err := st.write([]byte("<starttls xmlns='" + nsTLS + "'/>")); err != nil {
			return nil, err
		}
		el, err := st.next()
		if err != nil {
			return nil, fmt.Errorf("starttls: %w", err)
		}
		if el.Name() != "proceed" || el.NS() != nsTLS {
			return nil, fmt.Errorf("starttls refused: <%s/>", el.Name())
		}
		if err := s.handshake(ctx, st, false); err != nil {
			return nil, err
		}
		if err := st.restart(); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// authenticate proves local to the peer: SASL EXTERNAL if offered (the
// peer offers it only when our certificate validated, XEP-0178 §3),
// otherwise dialback (XEP-0220 §2.1).
func (s *Server) authenticate(st *stream) error {
	if m := st.features.Child("mechanisms", nsSASL); m != nil && st.tls {
		external := false
		for c := range m.Children() {
			if c.Name() == "mechanism" && c.Text() == "EXTERNAL" {
				external = true
			}
		}
		if external {
			err := s.saslExternal(st)
			if err == nil {
				return nil
			}
			st.log.Info("SASL EXTERNAL failed, trying dialback", "err", err)
		}
	}
	if !s.cfg.Dialback {
		return errors.New("peer did not accept our certificate and dialback is disabled")
	}
	return s.dialback(st)
}

func (s *Server) saslExternal(st *stream) error {
	// XEP-0178 §3 step 7: the authorization identity is our domain.
	b := []byte("<auth xmlns='" + nsSASL + "' mechanism='EXTERNAL'>" + base64.StdEncoding.EncodeToString([]byte(st.local)) + "</auth>")
	if err := st.write(b); err != nil {
		return err
	}
	el, err := st.next()
	if err != nil {
		return err
	}
	switch {
	case el.NS() == nsSASL && el.Name() == "success":
		st.dec.Reset(st.nc)
		return st.restart()
	case el.NS() == nsSASL && el.Name() == "failure":
		cond := "unknown"
		if c := el.FirstChild(); c != nil {
			cond = c.Name()
		}
		return fmt.Errorf("SASL failure: %s", cond)
	}
	return fmt.Errorf("unexpected <%s/> after SASL auth", el.Name())
}

func (s *Server) dialback(st *stream) error {
	if st.id == "" {
		return errors.New("peer's stream header has no id: dialback impossible")
	}
	b := []byte("<db:result from='")
	b = xml.EscapeAttr(b, st.local)
	b = append(b, "' to='"...)
	b = xml.EscapeAttr(b, st.remote)
	b = append(b, "'>"...)
	b = append(b, DialbackKey(s.cfg.Secret, st.remote, st.local, st.id)...)
	b = append(b, "</db:result>"...)
	if err := st.write(b); err != nil {
		return err
	}
	for {
		el, err := st.next()
		if err != nil {
			return fmt.Errorf("waiting for dialback result: %w", err)
		}
		if el.NS() != NSDialback || el.Name() != "result" {
			continue // e.g. a stray <db:verify/>: not ours to answer here
		}
		if el.Attr("from") != st.remote || el.Attr("to") != st.local {
			continue // §3.1: only the answer for our pair counts
		}
		if el.Attr("type") == "valid" {
			return nil
		}
		return fmt.Errorf("dialback refused by %s (type %q)", st.remote, el.Attr("type"))
	}
}

// verifyDialback is the receiving server's check of a db:result (XEP-0220
// §2.1.2): ask the authoritative server of originating, over a stream of
// our own, whether key is the one it made for our stream id.
func (s *Server) verifyDialback(ctx context.Context, receiving, originating, id, key string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ConnectTimeout)
	defer cancel()
	st, err := s.open(ctx, receiving, originating)
	if err != nil {
		return false, err
	}
	defer st.nc.Close()
	stop := context.AfterFunc(ctx, func() { st.nc.SetDeadline(time.Now()) })
	defer stop()
	b := []byte("<db:verify from='")
	b = xml.EscapeAttr(b, receiving)
	b = append(b, "' to='"...)
	b = xml.EscapeAttr(b, originating)
	b = append(b, "' id='"...)
	b = xml.EscapeAttr(b, id)
	b = append(b, "'>"...)
	b = xml.EscapeText(b, key)
	b = append(b, "</db:verify>"...)
	if err := st.write(b); err != nil {
		return false, err
	}
	for {
		el, err := st.next()
		if err != nil {
			return false, fmt.Errorf("waiting for db:verify answer: %w", err)
		}
		if el.NS() == NSDialback && el.Name() == "verify" && el.Attr("id") == id {
			st.write([]byte(xstream.Closing))
			return el.Attr("type") == "valid", nil
		}
	}
}

// outConn is the pool's stream for one (local, remote) pair.
type outConn struct {
	srv           *Server
	local, remote string
	log           *slog.Logger

	mu       sync.Mutex
	ready    bool
	closed   bool
	queue    []*module.Stanza // while connecting
	st       *stream
	out      []byte // while ready: pending output
	writing  bool
	lastUsed time.Time
	idle     *time.Timer
	cancel   context.CancelFunc
}

var (
	errQueueFull = errors.New("s2s: queue full")
	errClosed    = errors.New("s2s: stream closed")
)

func newOutConn(s *Server, local, remote string) *outConn {
	return &outConn{srv: s, local: local, remote: remote, lastUsed: time.Now(), log: s.cfg.Log.With("dir", "out", "local", local, "remote", remote)}
}

// send queues st (connecting) or writes it (ready).
func (o *outConn) send(st *module.Stanza) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return errClosed
	}
	o.lastUsed = time.Now()
	if !o.ready {
		if len(o.queue) >= o.srv.cfg.QueueStanzas {
			return errQueueFull
		}
		o.queue = append(o.queue, st)
		return nil
	}
	// Written as jabber:client with no xmlns, each stanza inherits the
	// stream's jabber:server (the decoder aliases it back on the far side).
	o.out = st.El.Append(o.out, xml.NSClient)
	if len(o.out) > o.srv.cfg.QueueBytes {
		o.log.Warn("s2s outbound queue overflow: closing", "limit", o.srv.cfg.QueueBytes)
		o.closed = true
		o.out = nil
		o.st.nc.Close()
		return errClosed
	}
	o.kick()
	return nil
}

// kick starts the writer; o.mu held.
func (o *outConn) kick() {
	if o.writing {
		return
	}
	o.writing = true
	go o.writeLoop()
}

func (o *outConn) writeLoop() {
	for {
		o.mu.Lock()
		if len(o.out) == 0 {
			o.writing = false
			o.mu.Unlock()
			return
		}
		buf := o.out
		o.out = nil
		nc := o.st.nc
		o.mu.Unlock()
		nc.SetWriteDeadline(time.Now().Add(o.srv.cfg.WriteTimeout))
		if _, err := nc.Write(buf); err != nil {
			o.log.Info("s2s write failed", "err", err)
			o.mu.Lock()
			o.closed, o.out, o.writing = true, nil, false
			o.mu.Unlock()
			nc.Close()
			return
		}
	}
}

// run connects, authenticates, flushes the queue, then reads until the
// stream ends.
func (o *outConn) run() {
	ctx, cancel := context.WithTimeout(o.srv.life, o.srv.cfg.ConnectTimeout)
	o.mu.Lock()
	o.cancel = cancel
	closed := o.closed
	o.mu.Unlock()
	var st *stream
	var err error
	if closed {
		err = errClosed
	} else {
		st, err = o.srv.open(ctx, o.local, o.remote)
		if err == nil {
			stop := context.AfterFunc(ctx, func() { st.nc.SetDeadline(time.Now()) })
			err = o.srv.authenticate(st)
			stop()
			if err == nil && ctx.Err() != nil {
				err = ctx.Err()
			}
			if err != nil {
				st.nc.Close()
			}
		}
	}
	timedOut := isTimeout(ctx, err)
	cancel()
	if err != nil {
		o.fail(err, timedOut)
		return
	}
	st.nc.SetDeadline(time.Time{})
	st.log.Info("s2s stream ready", "tls", st.tls, "verified", st.verified == nil)
	o.mu.Lock()
	o.st, o.ready = st, true
	for _, q := range o.queue {
		o.out = q.El.Append(o.out, xml.NSClient)
	}
	o.queue = nil
	if len(o.out) > 0 {
		o.kick()
	}
	o.idle = time.AfterFunc(o.srv.cfg.IdleTimeout, o.checkIdle)
	if o.closed {
		// Shutdown came while we were connecting.
		o.mu.Unlock()
		o.close()
	} else {
		o.mu.Unlock()
	}
	// RFC 6120 streams are one-way: the peer sends nothing on ours but
	// negotiation answers, whitespace and the closing tag or an error.
	for {
		el, err := st.next()
		if err != nil {
			if !errors.Is(err, xml.ErrStreamEnd) && !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.EOF) {
				st.log.Info("s2s stream ended", "err", err)
			}
			break
		}
		st.log.Debug("ignoring element on outbound stream", "name", el.Name(), "ns", el.NS())
	}
	o.mu.Lock()
	o.closed = true
	if o.idle != nil {
		o.idle.Stop()
	}
	o.mu.Unlock()
	o.srv.forget(o)
	// The peer ended its side (or the socket failed): what is still
	// pending cannot be delivered on this stream any more.
	st.nc.Close()
	o.log.Debug("s2s stream closed")
}

// isTimeout: the socket deadline and the context timer are two clocks set to
// the same instant, and the read can fail on the first a moment before
// ctx.Err() reports the second, so a deadline error counts as the timeout.
func isTimeout(ctx context.Context, err error) bool {
	return ctx.Err() == context.DeadlineExceeded ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded)
}

// fail bounces what was queued: remote-server-timeout when the connect
// timeout passed, remote-server-not-found for every other failure
// (RFC 6120 §8.3.3.14-15).
func (o *outConn) fail(err error, timedOut bool) {
	o.mu.Lock()
	o.closed = true
	q := o.queue
	o.queue = nil
	o.mu.Unlock()
	o.srv.forget(o)
	cond := stanza.RemoteServerNotFound
	if timedOut {
		cond = stanza.RemoteServerTimeout
	}
	o.log.Warn("s2s connection failed", "err", err, "bounced", len(q), "condition", cond)
	for _, st := range q {
		o.srv.bounce(o.srv.life, st, cond, "")
	}
}

// checkIdle closes the stream once it carried nothing for IdleTimeout.
func (o *outConn) checkIdle() {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return
	}
	if left := o.srv.cfg.IdleTimeout - time.Since(o.lastUsed); left > 0 {
		o.idle.Reset(left)
		o.mu.Unlock()
		return
	}
	o.mu.Unlock()
	o.log.Debug("s2s stream idle: closing")
	o.close()
}

// close ends the stream with its closing tag; new stanzas for the pair
// start a new stream. While connecting, it makes run give up instead.
func (o *outConn) close() {
	o.mu.Lock()
	o.closed = true
	if !o.ready {
		if o.cancel != nil {
			o.cancel()
		}
		o.mu.Unlock()
		o.srv.forget(o)
		return
	}
	o.out = append(o.out, xstream.Closing...)
	o.kick()
	nc := o.st.nc
	o.mu.Unlock()
	o.srv.forget(o)
	// The peer answers with its closing tag, which ends run's read loop;
	// a peer that does not is cut off.
	time.AfterFunc(2*time.Second, func() { nc.Close() })
}
