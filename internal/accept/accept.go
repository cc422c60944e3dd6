// Package accept is the accept loop every listener of xmppd shares: it
// survives temporary failures (a full descriptor table, an interrupted
// call) by backing off instead of spinning or giving up the socket.
package accept

import (
	"errors"
	"log/slog"
	"net"
	"time"
)

// Loop hands every connection ln accepts to handle, which runs in the
// loop's goroutine and must not block (it starts the connection's own).
// It returns when ln is closed (the error wraps net.ErrClosed).
func Loop(ln net.Listener, log *slog.Logger, handle func(net.Conn)) error {
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// EMFILE and friends, timeouts: back off rather than spin,
			// and keep the socket.
			var ne net.Error
			if !(errors.As(err, &ne) && ne.Timeout()) {
				log.Warn("accept failed", "address", ln.Addr().String(), "err", err)
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			time.Sleep(delay)
			continue
		}
		delay = 0
		handle(nc)
	}
}
