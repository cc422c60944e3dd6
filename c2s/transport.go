package c2s

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/stanza"
	"github.com/xmppd/xmppd/stream"
	"github.com/xmppd/xmppd/xml"
)

// maxQueueRetain: a write buffer larger than this is dropped after use
// rather than kept for an idle session.
const maxQueueRetain = 16 << 10

// transportState is the connection's socket and its output. The reader
// goroutine owns nc's reading side, dec and wr; everything from wmu on is
// guarded by wmu, and nc is swapped (STARTTLS, resumption) under it.
type transportState struct {
	nc         net.Conn // raw TCP, or the TLS conn once negotiated
	tls        *tls.ConnectionState
	serverCert []byte // DER of the leaf we presented
	dec        *xml.Decoder
	wr         *waitReader // the TLS idle reader under dec, nil on other transports
	pk         parkState   // park_linux.go

	// Output. Before binding only the reader goroutine writes, synchronously.
	// Afterwards everything goes through the bounded queue, drained by a
	// writer goroutine that exists only while output is pending.
	//
	// wmu is the session's one lock. It guards the output below, the
	// swaps of nc, and the session state documented as under it
	// (sessionState: XEP-0198 but sm.in, XEP-0352, the live hold,
	// since; negotiation.domainServed). Every deliverer to the session
	// (other sessions' readers, modules, timers) takes it, so under it
	// run state changes only: no socket I/O, no call out of the package
	// (router, registry hooks, Directory, storage, Observer, logging,
	// Config callbacks), nothing that waits. What such a change entails
	// is decided under it and done after Unlock (outAction: start the
	// writer, cut off a slow consumer). No function is entered holding it
	// and returns without it, or the reverse; a name ending in Locked is
	// entered and left holding it. Taken under it, and leaves (nothing
	// is locked under them): spillConn.mu, and the runtime's timers and
	// channels (flushed).
	wmu   sync.Mutex
	out   []byte
	spare []byte
	// header and end are our stream header and closing tag, queued for
	// the writer: to the transport they are not bytes among the elements
	// but calls of their own (stream.WriteHeader, stream.WriteClose), so
	// that a WebSocket or BOSH frames them without reading our output.
	// header goes before out, end after it (once closing).
	header     *stream.Header
	flushed    stream.Flushed // the writer stopped (finish waits for it)
	headerSent bool           // our stream header went out (CloseStream writes one if not)
	end        bool
	// writing: someone owns the socket's write side - the writer
	// goroutine (or a batch's Flush), or before binding the reader in a
	// synchronous write (writeSync); whoever sets it starts or is that
	// writer, and output queued meanwhile waits for it.
	writing bool
	closing bool // no more output accepted; close the socket once flushed
	closed  bool
	async   bool
	wdl     time.Time // write deadline last set on nc by the writer
	// sc: nc is (TLS over) this spillConn, so writes never wait and a
	// reader may write for others (module.Batch, afterQueue); nil for other
	// transports.
	sc *spillConn
	// Positions in the output for module.Paced (paced.go): bytes the
	// writer took from out, and those of them the transport accepted.
	// Output dropped from out was never taken; a chunk whose write
	// failed was taken and is never counted written, so no position at
	// or after it is reached. outInflight is what the writer writes now.
	outTaken, outWritten uint64
	outInflight          int
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
	tc, err := stream.ServerTLS(c.nc, c.opts.TLS, c.srv.cfg.HandshakeTimeout)
	if err != nil {
		return err
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

// tlsKind identifies a shared bound TLS state (boundTLS).
type tlsKind struct{ version, suite uint16 }

// boundTLS returns what a bound session keeps of its TLS state: once
// authenticated it no longer needs the handshake's details (channel
// binding, the exporter, the peer's certificates, the SNI name), only
// that it is encrypted and how (Secure, the admin API's session list).
// A copy per session was ~0.2 KiB of an idle session's memory
// (docs/performance.md); this one is shared by all sessions of a kind,
// so it must never be modified.
func (s *Server) boundTLS(st *tls.ConnectionState) *tls.ConnectionState {
	if st == nil {
		return nil
	}
	k := tlsKind{st.Version, st.CipherSuite}
	if v, ok := s.boundStates.Load(k); ok {
		return v.(*tls.ConnectionState)
	}
	v, _ := s.boundStates.LoadOrStore(k, &tls.ConnectionState{Version: st.Version, CipherSuite: st.CipherSuite, HandshakeComplete: st.HandshakeComplete})
	return v.(*tls.ConnectionState)
}

// writeHeader writes our stream header and after it the elements in
// after (the features, or nothing), unless CloseStream got there first (it
// then wrote a header of its own before the error).
func (c *conn) writeHeader(h *stream.Header, after []byte) error {
	c.wmu.Lock()
	if c.closing {
		c.wmu.Unlock()
		return io.ErrClosedPipe
	}
	c.headerSent = true
	if c.async {
		c.header = h
		if len(after) > 0 {
			c.out = append(c.queueBuf(), after...)
		}
		start := !c.writing
		c.writing = true
		c.wmu.Unlock()
		if start {
			go c.writeLoop()
		}
		return nil
	}
	c.writing = true
	nc := c.nc
	c.wmu.Unlock()
	return c.writeSync(nc, h, after)
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
	c.writing = true
	nc := c.nc
	c.wmu.Unlock()
	return c.writeSync(nc, nil, b)
}

// writeSync writes our stream header h if not nil, then b, for the reader
// before binding: header and b in one write (stream.WriteHeaderWith). The
// caller took the writer's place (c.writing) under wmu.
// Holding that place rather than wmu through the write keeps a concurrent
// CloseStream (auth timeout, shutdown) from interleaving its bytes with
// ours without making it wait for a peer that does not read: it queues its
// error and closing tag, and the writer it leaves to us starts here.
func (c *conn) writeSync(nc net.Conn, h *stream.Header, b []byte) error {
	nc.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
	var err error
	if h != nil {
		err = stream.WriteHeaderWith(nc, h, b)
	} else {
		_, err = nc.Write(b)
	}
	c.wmu.Lock()
	queued := c.async // only CloseStream makes output asynchronous while we write
	if !queued {
		c.writing = false
		c.flushed.Idle()
	}
	c.wmu.Unlock()
	if queued {
		go c.writeLoop()
	}
	return err
}

// abort closes the socket without a goodbye.
func (c *conn) abort() {
	c.wmu.Lock()
	nc := c.nc
	c.wmu.Unlock()
	c.closeTransport(nc)
}

func (c *conn) enqueue(b []byte) bool {
	c.wmu.Lock()
	if c.closing {
		c.wmu.Unlock()
		return false
	}
	c.out = append(c.queueBuf(), b...)
	a := c.queuedLocked()
	c.wmu.Unlock()
	return c.afterQueue(a, nil)
}

// outAction is what output queued under wmu needs once wmu is released
// (afterQueue): the writer started, or a slow consumer cut off.
type outAction struct {
	cut   net.Conn // the queue overflowed: close this transport
	start bool     // this caller took the writer's place (c.writing)
	spill bool     // the transport never blocks a write (spillConn)
}

// queuedLocked enforces the queue bound on output just queued and takes
// the writer's place if nobody holds it (wmu held).
func (c *conn) queuedLocked() outAction {
	if len(c.out) > c.srv.cfg.OutboundQueueBytes {
		// A client that does not read is cut off rather than allowed to
		// grow our memory (slow consumer). Nothing more can reach it.
		c.out = nil
		c.closing = true
		return outAction{cut: c.nc}
	}
	if c.writing {
		return outAction{}
	}
	c.writing = true
	return outAction{start: true, spill: c.sc != nil}
}

// afterQueue does, wmu released, what queuedLocked decided; false when the
// session was cut off. With a batch, the writing may be left to it.
func (c *conn) afterQueue(a outAction, b *module.Batch) bool {
	if a.cut != nil {
		c.slowConsumer()
		c.closeTransport(a.cut)
		return false
	}
	if a.start {
		if a.spill && b != nil && b.Add(c) {
			// The reader that routed this writes it (Flush) once it
			// has handled its input: no writer to start and wake, and
			// the socket takes it without waiting (spillConn). Until
			// then the place taken keeps other writers off.
			return true
		}
		go c.writeLoop()
	}
	return true
}

// slowConsumer reports a session cut off because its output passed
// OutboundQueueBytes, queued here or in its spillConn.
func (c *conn) slowConsumer() {
	c.logger().Warn("outbound queue overflow: closing slow session", "limit", c.srv.cfg.OutboundQueueBytes)
	c.srv.cfg.Observer.QueueOverflow()
}

// Flush writes what a batch left to this session (module.Flusher); the
// batch holds the writer's place for it (afterQueue).
func (c *conn) Flush() { c.drain(true, time.Time{}) }

// FlushAt is Flush with the time the flushing reader read just before
// (module.TimedFlusher): the write deadline's check uses it instead of a
// clock read of its own.
func (c *conn) FlushAt(now time.Time) { c.drain(true, now) }

var _ module.TimedFlusher = (*conn)(nil)

func (c *conn) writeLoop() { c.drain(false, time.Time{}) }

// drain writes the queued output until none is left. Inline (Flush, in the
// reader of a batch) it writes once and leaves what arrived meanwhile to a
// writer goroutine. now, if not zero, is the time for its first write's
// deadline check (FlushAt).
func (c *conn) drain(inline bool, now time.Time) {
	for n := 0; ; n++ {
		c.wmu.Lock()
		if c.header != nil || c.end && c.closing && !c.closed && len(c.out) == 0 {
			h, nc := c.header, c.nc
			c.header = nil
			if h == nil {
				c.end = false
			}
			c.wmu.Unlock()
			c.writeFrame(nc, h)
			continue
		}
		if len(c.out) > 0 && inline && n > 0 {
			c.wmu.Unlock() // c.writing stays set: the writer owns it now
			go c.writeLoop()
			return
		}
		if len(c.out) == 0 {
			c.writing = false
			c.flushed.Idle()
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
		// WriteTimeout/2 to WriteTimeout. A flushing reader's time is a
		// few microseconds old at most (FlushAt); later writes read the
		// clock.
		if now.IsZero() {
			now = time.Now()
		}
		if wdl.Sub(now) < c.srv.cfg.WriteTimeout/2 {
			wdl = now.Add(c.srv.cfg.WriteTimeout)
			nc.SetWriteDeadline(wdl)
		}
		now = time.Time{}
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
			c.flushed.Idle()
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

// writeFrame writes the stream header h (before the output) or, h nil,
// the closing tag (after it) that CloseStream queued and drain took. A
// failure shows in the writes that follow, or does not matter: the socket
// closes.
func (c *conn) writeFrame(nc net.Conn, h *stream.Header) {
	nc.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
	if h != nil {
		stream.WriteHeader(nc, h)
	} else {
		stream.WriteClose(nc)
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
	// Made before the lock: wmu guards state changes only. A stream
	// whose header went out already does not use it.
	id := randomID(12)
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
	if !c.headerSent {
		// §4.9.1.2: an error before our header needs the header first.
		hdr := stream.Header{NS: xml.NSClient, ID: id, Version: "1.0"}
		if c.domainServed {
			// §4.7.1: 'from' is our domain; one we do not serve is not
			// echoed (host-unknown).
			hdr.From = c.domain
		}
		c.header = &hdr
		c.headerSent = true
	}
	if condition != "" {
		c.out = (&stanza.StreamError{Condition: condition, Text: text}).Append(c.out)
	}
	c.end = true
	c.closing = true
	c.async = true
	// A reader in a synchronous write (writeSync) holds the writer's
	// place and starts the writer once done.
	start := !c.writing
	c.writing = true
	c.wmu.Unlock()
	if condition != "" {
		c.srv.cfg.Observer.StreamError(condition)
	}
	if start {
		go c.writeLoop()
	}
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
