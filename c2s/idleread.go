//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package c2s

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/xmppd/xmppd/internal/tlsmem"
	"github.com/xmppd/xmppd/module"
	"github.com/xmppd/xmppd/xml"
)

// idleReader wraps a TLS connection so that an idle session waits for its
// next bytes with a shallow stack. A goroutine parked inside
// tls.Conn.Read -> readRecordOrCCS -> readFromUntil -> net.Conn.Read keeps
// an 8 KiB stack forever (the runtime shrinks a stack only when less than a
// quarter of it is in use); parked in RawConn.Read instead, it shrinks to
// 2-4 KiB at the next collections. At 10,000 idle sessions this measured
// 29.5 instead of 34-36 KiB of RSS per session (docs/performance.md).
//
// To know when to wait, the reader asks crypto/tls whether it holds input
// (tlsmem.Buffered): a Read with input buffered decodes it without
// waiting; without, the reader waits for the socket to become readable
// and then reads. Where tlsmem does not know this Go release's crypto/tls,
// the read deadline stays in the past while the session is served instead:
// a read then returns what crypto/tls already holds or fails at once with
// a timeout, which crypto/tls does not treat as fatal (it only records
// non-temporary errors), and the deadline is cleared for the wait and set
// again after. That costs two deadline changes and a failed Read (an
// allocated error) per wake-up, 5% of the server's CPU at a fixed rate of
// chat messages (docs/performance.md). c2s uses no read deadline of its
// own after the handshake (shut closes the socket instead).
//
// When idle is set (a bound session, on a system where sessions park), the
// wait is bounded by it: a stream with nothing to read for that long makes
// Read return xml.ErrPause, and the session parks (park_linux.go). On the
// tlsmem path that bound is a read deadline moved only once half of it has
// passed, so a session parks after between idle/2 and idle of silence.
func idleReader(ctx context.Context, nc net.Conn) (io.Reader, *waitReader) {
	tc, ok := nc.(*tls.Conn)
	if !ok {
		return nc, nil
	}
	sc, ok := tc.NetConn().(syscall.Conn)
	if !ok {
		return nc, nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nc, nil
	}
	w := &waitReader{tc: tc, rc: rc}
	w.probe = w.peek
	w.ctx = module.WithBatch(ctx, &w.batch)
	w.batch.Open()
	if _, ok := tlsmem.Buffered(tc); ok {
		w.asks = true
		// a resumed stream's socket may carry an older reader's deadline
		tc.SetReadDeadline(time.Time{})
	} else {
		tc.SetReadDeadline(longAgo)
	}
	return w, w
}

type waitReader struct {
	tc     *tls.Conn
	rc     syscall.RawConn
	probe  func(fd uintptr) bool // w.peek, bound once so waiting allocates nothing
	idle   time.Duration         // 0: wait as long as it takes
	peeked bool
	// asks: tlsmem.Buffered works here, so no deadline in the past; the
	// read deadline is then the idle bound, set by need (deadline), and
	// stale after a pause.
	asks     bool
	deadline time.Time
	stale    bool
	b        [1]byte
	inStanza bool // see dec
	// batch holds the sessions whose output the stanzas read since the
	// last wait queued; they are written just before the next wait. ctx
	// carries it to the router.
	batch module.Batch
	ctx   context.Context
	// A stanza begun (dec.InElement) must be finished stanzaTimeout
	// after its first wait: while inStanza (kept above, in padding: the
	// reader of every TLS session stays in the 176-byte size class),
	// deadline is that bound rather than the idle one, and the session
	// does not park with a stanza half read.
	dec           *xml.Decoder
	stanzaTimeout time.Duration
}

var longAgo = time.Unix(1, 0)

func (w *waitReader) Read(p []byte) (int, error) {
	if !w.asks {
		return w.readPastDeadline(p)
	}
	if w.stale {
		// The deadline that paused the session has passed: a Read of
		// buffered input would fail at once.
		w.stale = false
		w.deadline = time.Now().Add(w.idle)
		w.tc.SetReadDeadline(w.deadline)
	}
	if buffered, ok := tlsmem.Buffered(w.tc); buffered || !ok {
		return w.paused(w.tc.Read(p))
	}
	// Nothing more to handle: what it queued for others goes out now.
	// One clock read serves the idle bound below and the write deadlines
	// of the sessions flushed (FlushAt).
	now := time.Now()
	w.batch.FlushAt(now)
	if mid, started := w.midStanza(); mid {
		if started {
			w.tc.SetReadDeadline(w.deadline)
		}
	} else if w.idle > 0 {
		if w.deadline.Sub(now) < w.idle/2 {
			w.deadline = now.Add(w.idle)
			w.tc.SetReadDeadline(w.deadline)
		}
	} else if !w.deadline.IsZero() {
		w.deadline = time.Time{}
		w.tc.SetReadDeadline(w.deadline)
	}
	w.peeked = false
	n := 0
	err := w.rc.Read(w.probe)
	if err == nil {
		n, err = w.tc.Read(p)
	}
	w.batch.Open()
	return w.paused(n, err)
}

// paused turns the idle deadline's timeout into xml.ErrPause (crypto/tls
// keeps a partial record on a timeout, and the decoder keeps its state on
// ErrPause). stale only matters on the tlsmem path: the other sets its
// deadline afresh for every wait.
func (w *waitReader) paused(n int, err error) (int, error) {
	if n == 0 && w.inStanza && errors.Is(err, os.ErrDeadlineExceeded) {
		return 0, errStanzaTimeout
	}
	if n == 0 && w.idle > 0 && errors.Is(err, os.ErrDeadlineExceeded) {
		w.stale = true
		return 0, xml.ErrPause
	}
	return n, err
}

// midStanza reports whether the reader is about to wait inside a started
// stanza, and whether that stanza's bound was set just now (its first
// wait; w.deadline then holds it, to be put on the socket by the caller).
// Leaving a stanza, it marks the read deadline (still the stanza's) to be
// set afresh: not zero and long past, so the idle bound is armed again or
// (without one) the deadline cleared.
func (w *waitReader) midStanza() (mid, started bool) {
	if w.dec != nil && w.dec.InElement() {
		if w.inStanza {
			return true, false
		}
		w.inStanza = true
		w.deadline = time.Now().Add(w.stanzaTimeout)
		return true, true
	}
	if w.inStanza {
		w.inStanza = false
		w.deadline = longAgo
	}
	return false, false
}

// readPastDeadline is Read where tlsmem cannot tell what crypto/tls holds.
func (w *waitReader) readPastDeadline(p []byte) (int, error) {
	n, err := w.tc.Read(p)
	if n > 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		return n, err
	}
	w.batch.Flush()
	// The poller honours the read deadline too: clear it (or set the idle
	// bound) to wait.
	var deadline time.Time
	if mid, _ := w.midStanza(); mid {
		deadline = w.deadline
	} else if w.idle > 0 {
		deadline = time.Now().Add(w.idle)
	}
	w.tc.SetReadDeadline(deadline)
	w.peeked = false
	if err = w.rc.Read(w.probe); err == nil {
		n, err = w.tc.Read(p)
	}
	w.tc.SetReadDeadline(longAgo)
	w.batch.Open()
	return w.paused(n, err)
}

// peek reports whether the socket has bytes (or EOF, or an error) without
// consuming them; RawConn.Read parks in the poller until it does. Called
// again after the poller woke the reader, it does not look a second time:
// a system call per wake-up saved on the busy path (a rare spurious wake-up
// only means the read that follows waits inside crypto/tls).
func (w *waitReader) peek(fd uintptr) bool {
	if w.peeked {
		return true
	}
	w.peeked = true
	_, _, err := syscall.Recvfrom(int(fd), w.b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return err != syscall.EAGAIN && err != syscall.EINTR
}
