package c2s

import (
	"errors"
	"net"
	"sync"
	"syscall"
)

// spillConn is a TCP connection whose Write never waits for the peer: it
// writes what the socket takes at once (one non-blocking system call) and
// keeps the rest for a flusher goroutine that exists only while there is a
// rest. crypto/tls writes its records through it.
//
// That is what lets a reader write the output its stanzas queued for other
// sessions (module.Batch, conn.afterQueue) instead of a writer goroutine
// started for each: on the
// fixed-rate chat path each delivery used to create a goroutine, grow its
// stack to the depth of crypto/tls (runtime.newstack, 4% of the server's
// CPU) and wake a second thread to run it (docs/performance.md). A client
// that stops reading can still not stall whoever delivers to it: its bytes
// wait here, up to max, and past that the connection fails as a slow
// consumer.
type spillConn struct {
	net.Conn
	rc  syscall.RawConn
	cw  interface{ CloseWrite() error } // the same Conn
	max int

	// writeFn is s.writeSome, bound once: a closure handed to RawConn.Write
	// escapes, and with the variables it shares that was three
	// allocations per write. wb, wn and werr are its arguments and
	// results (under mu).
	writeFn func(fd uintptr) bool
	wb      []byte
	wn      int
	werr    error

	mu         sync.Mutex
	pend       []byte // accepted, not yet written; the flusher's
	flushing   int    // bytes of pend the flusher is writing now
	lost       int    // bytes accepted and never written, once err is set
	busy       bool   // a flusher runs: every Write appends, in order
	err        error  // sticky: the first write failure
	closeWrite bool   // CloseWrite once the flusher is done
	// onFail runs after the flusher's write failed and it closed the
	// socket (conn.wake: a parked session's reader must learn of it).
	onFail func()
}

// errSpillFull: the peer reads too slowly (the socket and max bytes are
// full).
var errSpillFull = errors.New("c2s: outbound queue overflow")

// newSpillConn wraps nc if it is a socket; ok is false for other
// transports (they keep blocking writes, through the writer goroutine).
func newSpillConn(nc net.Conn, max int) (*spillConn, bool) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil, false
	}
	cw, ok := nc.(interface{ CloseWrite() error })
	if !ok {
		return nil, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, false
	}
	s := &spillConn{Conn: nc, rc: rc, cw: cw, max: max}
	s.writeFn = s.writeSome
	return s, true
}

// notify sets what runs when the flusher fails (the session owning the
// socket changes on an XEP-0198 resumption).
func (s *spillConn) notify(f func()) {
	s.mu.Lock()
	s.onFail = f
	s.mu.Unlock()
}

// SyscallConn lets the idle reader and the parking poller reach the socket.
func (s *spillConn) SyscallConn() (syscall.RawConn, error) { return s.rc, nil }

func (s *spillConn) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return 0, s.err
	}
	n := 0
	if !s.busy {
		s.wb, s.wn, s.werr = b, 0, nil
		err := s.rc.Write(s.writeFn)
		n = s.wn
		werr := s.werr
		s.wb, s.werr = nil, nil
		if err == nil && werr != nil {
			err = &net.OpError{Op: "write", Net: "tcp", Source: s.LocalAddr(), Addr: s.RemoteAddr(), Err: werr}
		}
		if err != nil {
			s.err = err
			return n, err
		}
		if n == len(b) {
			return n, nil
		}
	}
	if len(s.pend)+len(b)-n > s.max {
		s.failLocked(errSpillFull)
		return n, s.err
	}
	s.pend = append(s.pend, b[n:]...)
	if !s.busy {
		s.busy = true
		go s.flush()
	}
	return len(b), nil
}

// writeSome writes as much of s.wb as the socket takes now (RawConn.Write's
// callback, under mu).
func (s *spillConn) writeSome(fd uintptr) bool {
	for s.wn < len(s.wb) {
		m, e := syscall.Write(int(fd), s.wb[s.wn:])
		if e == syscall.EINTR {
			continue
		}
		if e != nil {
			if e != syscall.EAGAIN {
				s.werr = e
			}
			break
		}
		s.wn += m
	}
	return true // never wait in the poller: the rest spills
}

// flush writes what spilled, blocking (within the write deadline), until
// nothing is left.
func (s *spillConn) flush() {
	var buf []byte
	for {
		s.mu.Lock()
		s.flushing = 0 // written (or failed: s.err says so)
		if s.err != nil || len(s.pend) == 0 {
			s.busy = false
			s.pend = nil // a backlog's buffer is not kept
			cw := s.closeWrite && s.err == nil
			s.mu.Unlock()
			if cw {
				s.cw.CloseWrite()
			}
			return
		}
		buf, s.pend = s.pend, buf[:0]
		s.flushing = len(buf)
		s.mu.Unlock()
		if _, err := s.Conn.Write(buf); err != nil {
			// As a blocked writer did before: a peer that took no
			// bytes for the write deadline, or a broken socket, ends
			// the connection.
			s.mu.Lock()
			s.failLocked(err)
			onFail := s.onFail
			s.mu.Unlock()
			s.Conn.Close()
			if onFail != nil {
				onFail()
			}
		}
	}
}

// failLocked records the first failure and what it loses (mu held).
func (s *spillConn) failLocked(err error) {
	if s.err == nil {
		s.err = err
		s.lost = len(s.pend) + s.flushing
	}
}

// unsent reports the bytes accepted and not yet written to the socket, or,
// once a write failed, those lost (module.Paced counts them as never sent).
func (s *spillConn) unsent() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.lost
	}
	return len(s.pend) + s.flushing
}

// CloseWrite half-closes after whatever is still spilled has gone out.
func (s *spillConn) CloseWrite() error {
	s.mu.Lock()
	if s.busy {
		s.closeWrite = true
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	return s.cw.CloseWrite()
}
