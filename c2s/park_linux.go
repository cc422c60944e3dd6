package c2s

import (
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/xmppd/xmppd/internal/tlsmem"
)

// Parking an idle session. A session that has read nothing for
// Config.IdleAfter stops its reader goroutine altogether: its socket is
// armed (EPOLLONESHOT) in one epoll set shared by the process, and when it
// becomes readable, is hung up or fails, a new goroutine goes on reading
// where the old one stopped (the XML decoder pauses without losing state,
// xml.ErrPause). An idle session then costs no goroutine stack at all: at
// 10,000 sessions that is 4 KiB each, a fifth of the session's memory
// (docs/performance.md). Busy sessions never park: the idle timer is the
// read deadline their reader waits with anyway.
//
// Go's own poller has the socket registered too; a descriptor may be in
// several epoll sets, and each reports readiness on its own.

const canPark = true

// Park states.
const (
	parkRunning = iota // a goroutine is reading (or about to)
	parkParked         // no goroutine: the poller resumes the session
	parkWoken          // readiness arrived before parking completed
)

type parkState struct {
	state      atomic.Int32
	id         uint64
	registered bool             // in the epoll set (armed or fired)
	arm        func(fd uintptr) // c.armFD, bound once
	armErr     error
}

type poller struct {
	epfd int
	mu   sync.Mutex
	byID map[uint64]*conn
	next uint64
}

var (
	pollerOnce sync.Once
	thePoller  *poller
	pollerErr  error
)

func getPoller() (*poller, error) {
	pollerOnce.Do(func() {
		fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			pollerErr = err
			return
		}
		thePoller = &poller{epfd: fd, byID: map[uint64]*conn{}}
		go thePoller.run()
	})
	return thePoller, pollerErr
}

// run waits for armed sockets; it lives as long as the process (one
// thread blocked in epoll_wait, shared by every server).
func (p *poller) run() {
	events := make([]unix.EpollEvent, 128)
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			return
		}
		for _, ev := range events[:n] {
			id := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			p.mu.Lock()
			c := p.byID[id]
			p.mu.Unlock()
			if c != nil {
				c.wake()
			}
		}
	}
}

// park stops the reader of an idle session: it arms the socket and
// reports true if the goroutine may now end. False: the caller reads on.
func (c *conn) park() bool {
	w := c.wr
	if w == nil || w.rc == nil {
		return false
	}
	p, err := getPoller()
	if err != nil {
		return false
	}
	pk := &c.pk
	if pk.id == 0 {
		p.mu.Lock()
		p.next++
		pk.id = p.next
		p.byID[pk.id] = c
		p.mu.Unlock()
		pk.arm = c.armFD
	}
	// Later pauses wait the configured time (armIdle set a shorter one
	// for the first).
	w.idle = c.srv.cfg.IdleAfter
	c.dec.ReleaseBuffer()
	// crypto/tls keeps the buffers the handshake grew (2.7 KiB) for good.
	tlsmem.Release(w.tc)
	pk.state.Store(parkRunning)
	// Control holds the descriptor open, so it cannot be closed and its
	// number reused under us while it is armed.
	if err := w.rc.Control(pk.arm); err != nil || pk.armErr != nil {
		return false
	}
	if pk.state.CompareAndSwap(parkRunning, parkParked) {
		return true
	}
	// The socket became ready while we were arming: go on reading.
	pk.state.Store(parkRunning)
	return false
}

func (c *conn) armFD(fd uintptr) {
	pk := &c.pk
	ev := unix.EpollEvent{
		Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT,
		Fd:     int32(uint32(pk.id)),
		Pad:    int32(uint32(pk.id >> 32)),
	}
	op := unix.EPOLL_CTL_MOD
	if !pk.registered {
		op = unix.EPOLL_CTL_ADD
	}
	err := unix.EpollCtl(thePoller.epfd, op, int(fd), &ev)
	if err == syscall.ENOENT && op == unix.EPOLL_CTL_MOD {
		err = unix.EpollCtl(thePoller.epfd, unix.EPOLL_CTL_ADD, int(fd), &ev)
	}
	pk.registered = err == nil
	pk.armErr = err
}

// wake resumes a parked session's reader (socket ready, or closed by us:
// a closed descriptor leaves the epoll set without an event, so every
// close of a session's socket calls wake).
func (c *conn) wake() {
	pk := &c.pk
	for {
		switch pk.state.Load() {
		case parkParked:
			if pk.state.CompareAndSwap(parkParked, parkRunning) {
				go c.resume()
				return
			}
		case parkRunning:
			if pk.state.CompareAndSwap(parkRunning, parkWoken) {
				return
			}
		default:
			return
		}
	}
}

// resume reads on for a session the poller woke.
func (c *conn) resume() { c.drive(c.loop()) }

// unpark forgets the session in the poller once its reader has ended (a
// resumed XEP-0198 session registers again with its new socket).
func (c *conn) unpark() {
	pk := &c.pk
	if pk.id == 0 {
		return
	}
	thePoller.mu.Lock()
	delete(thePoller.byID, pk.id)
	thePoller.mu.Unlock()
	pk.id, pk.registered = 0, false
}
