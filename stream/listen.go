package stream

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"

	"github.com/xmppd/xmppd/internal/accept"
)

// ErrClosed is returned by Serve once the Listeners are closed.
var ErrClosed = errors.New("stream: server closed")

// Listeners is the accept side of one stream server (c2s, s2s, component):
// its listening sockets, the connections it serves (of type C) and the
// count of those still running, which Wait awaits on a channel. The zero
// value is ready; one per server, never shared between servers.
type Listeners[C comparable] struct {
	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[C]struct{}
	running   int
	closed    bool
	idle      chan struct{} // made by Close, closed when running reaches 0
}

// Serve accepts connections on ln until Close. Each one whose remote
// address lim admits (nil: all) goes to start, in the accept goroutine:
// start must not block (it starts the connection's goroutine, after Add).
// A connection lim refuses is closed at once, before a TLS handshake or a
// goroutine is spent on it. Serve returns ErrClosed after Close, and the
// accept error otherwise.
func (l *Listeners[C]) Serve(ln net.Listener, log *slog.Logger, lim accept.Admitter, start func(nc net.Conn, ip string)) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		ln.Close()
		return ErrClosed
	}
	if l.listeners == nil {
		l.listeners = map[net.Listener]struct{}{}
	}
	l.listeners[ln] = struct{}{}
	l.mu.Unlock()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	err := accept.Loop(ln, log, func(nc net.Conn) {
		ip := accept.RemoteIP(nc)
		if lim != nil && !lim.Admit(ip) {
			nc.Close()
			return
		}
		start(nc, ip)
	})
	l.mu.Lock()
	delete(l.listeners, ln)
	closed := l.closed
	l.mu.Unlock()
	if closed {
		return ErrClosed
	}
	return err
}

// Add registers c as served and running; false once Close was called
// (the caller then closes c's socket and releases its address).
func (l *Listeners[C]) Add(c C) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	if l.conns == nil {
		l.conns = map[C]struct{}{}
	}
	l.conns[c] = struct{}{}
	l.running++
	return true
}

// Replace puts c in the place of old among the served connections,
// without changing the running count (a session that took a connection
// over, XEP-0198 resumption).
func (l *Listeners[C]) Replace(old, c C) {
	l.mu.Lock()
	delete(l.conns, old)
	l.conns[c] = struct{}{}
	l.mu.Unlock()
}

// Done ends one connection that Add counted, forgetting drop (the
// connection and, possibly, what took it over); Wait returns once every
// added connection is done.
func (l *Listeners[C]) Done(drop ...C) {
	l.mu.Lock()
	for _, c := range drop {
		delete(l.conns, c)
	}
	l.running--
	if l.running == 0 && l.idle != nil {
		close(l.idle)
		l.idle = nil
	}
	l.mu.Unlock()
}

// Len is the number of connections served.
func (l *Listeners[C]) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// Conns is a snapshot of the connections served.
func (l *Listeners[C]) Conns() []C {
	l.mu.Lock()
	defer l.mu.Unlock()
	cs := make([]C, 0, len(l.conns))
	for c := range l.conns {
		cs = append(cs, c)
	}
	return cs
}

// Close stops accepting: it closes every listener, makes Add refuse, and
// returns the connections served, for the caller to end.
func (l *Listeners[C]) Close() []C {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		if l.running > 0 {
			l.idle = make(chan struct{})
		}
	}
	for ln := range l.listeners {
		ln.Close()
	}
	l.mu.Unlock()
	return l.Conns()
}

// Wait returns nil once Close was called and every connection is done,
// or ctx's error when it ends first.
func (l *Listeners[C]) Wait(ctx context.Context) error {
	l.mu.Lock()
	idle := l.idle
	l.mu.Unlock()
	if idle == nil {
		return nil
	}
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
