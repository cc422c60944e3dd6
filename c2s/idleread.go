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
// The read deadline stays in the past while the session is served: a read
// then returns what crypto/tls already holds (it decodes a buffered
// record without touching the socket) or fails at once with a timeout,
// which crypto/tls does not treat as fatal (it only records non-temporary
// errors). Only then does the reader wait for the socket to become
// readable, and read once more without a deadline. c2s uses no read
// deadline of its own after the handshake (shut closes the socket instead).
//
// When idle is set (a bound session, on a system where sessions park), the
// wait is bounded by it: a stream with nothing to read for that long makes
// Read return xml.ErrPause, and the session parks (park_linux.go).
func idleReader(nc net.Conn) (io.Reader, *waitReader) {
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
	w.ctx = module.WithBatch(context.Background(), &w.batch)
	w.batch.Open()
	tc.SetReadDeadline(longAgo)
	return w, w
}

type waitReader struct {
	tc     *tls.Conn
	rc     syscall.RawConn
	probe  func(fd uintptr) bool // w.peek, bound once so waiting allocates nothing
	idle   time.Duration         // 0: wait as long as it takes
	peeked bool
	b      [1]byte
	// batch holds the sessions whose output the stanzas read since the
	// last wait queued; they are written just before the next wait. ctx
	// carries it to the router.
	batch module.Batch
	ctx   context.Context
}

var longAgo = time.Unix(1, 0)

func (w *waitReader) Read(p []byte) (int, error) {
	n, err := w.tc.Read(p)
	if n > 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		return n, err
	}
	// Nothing more to handle: what it queued for others goes out now.
	w.batch.Flush()
	// The poller honours the read deadline too: clear it (or set the idle
	// bound) to wait.
	var deadline time.Time
	if w.idle > 0 {
		deadline = time.Now().Add(w.idle)
	}
	w.tc.SetReadDeadline(deadline)
	w.peeked = false
	if err = w.rc.Read(w.probe); err == nil {
		n, err = w.tc.Read(p)
	}
	w.tc.SetReadDeadline(longAgo)
	w.batch.Open()
	if n == 0 && w.idle > 0 && errors.Is(err, os.ErrDeadlineExceeded) {
		// Idle for w.idle (crypto/tls keeps a partial record on a
		// timeout, and the decoder keeps its state on ErrPause).
		return 0, xml.ErrPause
	}
	return n, err
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
